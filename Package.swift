// swift-tools-version:6.0
import PackageDescription

/// The tools' own `usleep` and `poll` (ChatCLI/PahoWaits.swift) must be visible to libpaho, which calls them:
/// export them from the executables, whatever the linker would otherwise keep to itself.
let pahoWaits: [LinkerSetting] = [
    .unsafeFlags(["-Xlinker", "--export-dynamic-symbol=usleep", "-Xlinker", "--export-dynamic-symbol=poll"])
]

let package = Package(
    name: "mqtt-chat",
    products: [
        .executable(name: "listener", targets: ["listener"]),
        .executable(name: "publisher", targets: ["publisher"]),
        .library(name: "ChatProtocol", targets: ["ChatProtocol"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2")
    ],
    targets: [
        // Debian's libpaho-mqtt-dev ships no pkg-config file, so the module map names the library itself.
        .systemLibrary(
            name: "CPahoMQTT",
            providers: [.apt(["libpaho-mqtt-dev"])]
        ),
        .target(
            name: "ChatProtocol",
            dependencies: ["CPahoMQTT"]
        ),
        // Flags, exit codes and error reporting shared by both tools.
        .target(
            name: "ChatCLI",
            dependencies: [
                "ChatProtocol",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "listener", dependencies: ["ChatCLI", "ChatProtocol"], linkerSettings: pahoWaits),
        .executableTarget(name: "publisher", dependencies: ["ChatCLI", "ChatProtocol"], linkerSettings: pahoWaits),
        // Fuzz target over the payload decoder and renderer; scripts/fuzz builds it with libFuzzer.
        .executableTarget(name: "ChatFuzzer", dependencies: ["ChatProtocol"]),
        .testTarget(name: "ChatProtocolTests", dependencies: ["ChatProtocol"]),
        .testTarget(
            name: "ChatCLITests",
            dependencies: ["ChatCLI", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["ChatProtocol"],
            exclude: ["Support/pty_run.py"]
        ),
    ]
)
