/// The version both tools print for --version.
public let chatVersion = "1.0.0"
