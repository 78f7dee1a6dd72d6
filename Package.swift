// swift-tools-version:6.0
// mqtt-chat is licensed under the Apache License, Version 2.0 (LICENSE). It uses, without including them,
// Debian's Eclipse Paho MQTT C (EPL-2.0 or EDL-1.0) and libedit (BSD-3-Clause), both opened at run time.
import PackageDescription

#if canImport(Glibc)
    import Glibc

    /// Packed relative relocations (DT_RELR) need glibc 2.36 (Debian 12) to load; older systems link without.
    let glibcHasRELR: Bool = {
        var text = [CChar](repeating: 0, count: 64)  // "glibc 2.36"
        guard confstr(Int32(_CS_GNU_LIBC_VERSION), &text, text.count) > 0 else { return false }
        let name = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let version = name.split(separator: " ").last?.split(separator: ".").compactMap { Int($0) }
        guard let version, version.count >= 2 else { return false }
        return (version[0], version[1]) >= (2, 36)
    }()
#else
    let glibcHasRELR = false
#endif

/// How the tools are linked.
/// - The tools' own `usleep`, `poll` and `writev` (MQTTPaho/PahoWaits.swift) must be visible to libpaho, which calls them:
///   export them from the executables, whatever the linker would otherwise keep to itself.
/// - Nothing else exported: `-static-stdlib` links with `-export-dynamic`, which put our modules', swift-crypto's
///   and BoringSSL's 10,000 symbols into the dynamic symbol table, 0.8 MB that the dynamic linker reads at
///   every start (it looks up each library symbol in the executable first); the listener's peak went down by
///   0.6-0.9 MiB. The last of the two flags wins.
/// - With lld, relative relocations packed (RELR): the static Swift runtime's 38,000 relocations take 7 KB
///   instead of 900 KB that every start reads; the listener's peak memory went from 12.2 to 11.3 MiB.
let toolLinking: [LinkerSetting] =
    [.unsafeFlags(["-Xlinker", "--export-dynamic-symbol=usleep", "-Xlinker", "--export-dynamic-symbol=poll"])]
    + [.unsafeFlags(["-Xlinker", "--export-dynamic-symbol=writev", "-Xlinker", "--no-export-dynamic"])]
    + (glibcHasRELR ? [.unsafeFlags(["-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs"])] : [])

let package = Package(
    name: "mqtt-chat",
    products: [
        .executable(name: "listener", targets: ["listener"]),
        .executable(name: "publisher", targets: ["publisher"]),
        .library(name: "ChatProtocol", targets: ["ChatProtocol"]),
        .library(name: "MQTTPaho", targets: ["MQTTPaho"]),
    ],
    dependencies: [
        // End-to-end encryption (ChatCrypto): Ed25519, X25519, HPKE (RFC 9180), ChaChaPoly; scrypt from _CryptoExtras.
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        // The publisher's queue of lines waiting for a slot at QoS 0 (LinePublisher).
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
    ],
    targets: [
        // Paho's headers (Debian's libpaho-mqtt-dev) and the loader that opens its library at run time, the
        // build with TLS or the one without (PahoLoader.c).
        .target(name: "CPahoMQTT"),
        // The prompt's line editor: Debian's libedit (libedit-dev's headers), opened at run time by a prompt at a
        // terminal, and what a chat prompt adds around it (LineEditor.c).
        .target(name: "CLineEditor"),
        // The chat: wire format, topic layout, state reducers, router, command table, listener model, rendering,
        // and the MQTT vocabulary and transport protocol the chat talks to (no Paho).
        .target(name: "ChatProtocol"),
        // Everything Paho behind ChatProtocol's MQTTTransport: the client, its threads, callbacks and
        // workarounds, the libc waits the tools define for Paho, the loader (CPahoMQTT).
        .target(name: "MQTTPaho", dependencies: ["ChatProtocol", "CPahoMQTT"]),
        // The tools' command lines (declared once: parser, help, man pages, completions, config file), exit
        // codes and error reporting.
        // End-to-end encryption: keys, sealing and opening private and group messages, trust on first use.
        // Pure (the tools read and write the key files: ChatCLI's KeyStore); a target of its own so
        // ChatProtocol stays free of swift-crypto.
        .target(
            name: "ChatCrypto",
            dependencies: [
                "ChatProtocol",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]
        ),
        .target(name: "ChatCLI", dependencies: ["ChatProtocol", "ChatCrypto", "MQTTPaho", "CLineEditor"]),
        .executableTarget(
            name: "listener",
            dependencies: ["ChatCLI", "ChatCrypto", "ChatProtocol", "MQTTPaho"],
            linkerSettings: toolLinking
        ),
        .executableTarget(
            name: "publisher",
            dependencies: [
                "ChatCLI", "ChatCrypto", "ChatProtocol", "MQTTPaho",
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            linkerSettings: toolLinking
        ),
        // Fuzz target over the payload decoder and renderer; scripts/fuzz builds it with libFuzzer.
        .executableTarget(name: "ChatFuzzer", dependencies: ["ChatProtocol"]),
        .testTarget(name: "ChatProtocolTests", dependencies: ["ChatProtocol"]),
        .testTarget(name: "ChatCLITests", dependencies: ["ChatCLI", "ChatProtocol"]),
        .testTarget(name: "ChatCryptoTests", dependencies: ["ChatCrypto"]),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["ChatProtocol", "ChatCrypto", "MQTTPaho"],
            exclude: ["Support/pty_run.py"]
        ),
    ]
)
