import ChatProtocol
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// TLS for real (a generated PKI and mosquitto TLS listeners) and the shipped ACL.
@Suite("TLS and access control", .serialized, .timeLimit(.minutes(3)))
struct SecurityTests {
    /// A broker with four TLS listeners besides the plain one: a valid certificate, an expired one, one for
    /// another host name, and a valid one that requires client certificates.
    final class TLSBroker: Sendable {
        let broker: Mosquitto
        let certificates: TestCertificates
        let valid: Int, expired: Int, elsewhere: Int, clientCertificate: Int

        init() throws {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
                "mqtt-chat-tls-\(UUID().uuidString)"
            )
            try FileManager.default.createDirectory(
                at: directory,
                withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o777]
            )
            let certificates = try TestCertificates(in: directory)
            let ports = try (0..<4).map { _ in try Mosquitto.freePort() }
            (valid, expired, elsewhere, clientCertificate) = (ports[0], ports[1], ports[2], ports[3])
            func listener(_ port: Int, _ certificate: String, requireCertificate: Bool = false) -> String {
                """
                listener \(port) 127.0.0.1
                cafile \(certificates.path("ca.crt"))
                certfile \(certificates.path("\(certificate).crt"))
                keyfile \(certificates.path("\(certificate).key"))
                require_certificate \(requireCertificate)

                """
            }
            broker = try Mosquitto(
                extraConfig: listener(valid, "server") + listener(expired, "expired") + listener(elsewhere, "elsewhere")
                    + listener(clientCertificate, "server", requireCertificate: true)
            )
            try Mosquitto.waitUntilListening(port: clientCertificate, timeout: .seconds(5))
            self.certificates = certificates
        }

        /// Runs the publisher as alice against `port` with extra flags.
        func publish(port: Int, _ flags: [String]) async throws -> ChildProcess {
            let process = try ChildProcess(
                Tool.publisher.path,
                ["-h", "127.0.0.1", "-p", String(port), "-u", "alice", "-t", "chat", "-m", "over TLS"] + flags,
                environment: ["MQTT_PASSWORD": "alice-secret"],
                stdinIsNull: true
            )
            try await process.wait(timeout: .seconds(20))
            return process
        }
    }

    @Test("the right CA connects, and a message goes through TLS both ways")
    func rightCA() async throws {
        let tls = try TLSBroker()
        let ca = tls.certificates.path("ca.crt")
        let listener = try ChildProcess(
            Tool.listener.path,
            [
                "-h", "127.0.0.1", "-p", String(tls.valid), "-u", "bob", "-P", "bob-secret", "--cafile", ca, "-C", "1",
                "-d", "-t", "chat",
            ],
            stdinIsNull: true
        )
        guard await listener.waitForOutput("subscribed to", onStderr: true) else { throw TestFailure(listener.stderr) }
        // TLS asks for Paho's build with it, and so OpenSSL (without TLS neither is loaded: CommandLineTests).
        let libraries = try mappedLibraries(of: listener.pid)
        #expect(libraries.contains { $0.hasPrefix("libpaho-mqtt3as.so") }, "\(libraries.sorted())")
        #expect(libraries.contains { $0.hasPrefix("libssl") }, "\(libraries.sorted())")
        let sent = try await tls.publish(port: tls.valid, ["--cafile", ca])
        #expect(sent.exitCodeIfExited == 0, "\(sent.stderr)")
        #expect(sent.stderr == "")
        #expect(try await listener.wait() == 0)
        #expect(withoutTimes(listener.stdout) == ["<alice> over TLS"])
    }

    @Test("a wrong CA, an expired certificate, a host-name mismatch: one line each and exit 69")
    func refusedCertificates() async throws {
        let tls = try TLSBroker()
        let ca = tls.certificates.path("ca.crt")
        let unverified =
            "failed: certificate verify failed (check --cafile, and that the broker's certificate has not expired).\n"
        let cases: [(port: Int, caFile: String, ending: String)] = [
            (tls.valid, tls.certificates.path("other-ca.crt"), unverified),
            (tls.expired, ca, unverified),
            (tls.elsewhere, ca, "failed: the certificate is not for 127.0.0.1, or this is not a TLS port.\n"),
        ]
        for (port, caFile, ending) in cases {
            let result = try await tls.publish(port: port, ["--cafile", caFile])
            #expect(result.exitCodeIfExited == 69)
            #expect(result.stderr == "publisher: TLS handshake with 127.0.0.1:\(port) " + ending)
        }
    }

    @Test("--insecure skips only the host-name check, and says so")
    func insecure() async throws {
        let tls = try TLSBroker()
        let ca = tls.certificates.path("ca.crt")
        let mismatched = try await tls.publish(port: tls.elsewhere, ["--cafile", ca, "--insecure"])
        #expect(mismatched.exitCodeIfExited == 0)
        #expect(
            mismatched.stderr
                == "publisher: warning: --insecure: the certificate is not checked against the host name 127.0.0.1.\n"
        )
        // The chain is still checked: a certificate from an unknown CA is refused even with --insecure.
        let unknown = try await tls.publish(
            port: tls.elsewhere,
            ["--cafile", tls.certificates.path("other-ca.crt"), "--insecure"]
        )
        #expect(unknown.exitCodeIfExited == 69)
        // And an expired one.
        let expired = try await tls.publish(port: tls.expired, ["--cafile", ca, "--insecure"])
        #expect(expired.exitCodeIfExited == 69)
    }

    @Test("a listener that requires client certificates: refused without, accepted with")
    func clientCertificate() async throws {
        let tls = try TLSBroker()
        let ca = tls.certificates.path("ca.crt")
        let without = try await tls.publish(port: tls.clientCertificate, ["--cafile", ca])
        #expect(without.exitCodeIfExited == 69, "\(without.stderr)")
        #expect(without.stderr.split(separator: "\n").count == 1, "\(without.stderr)")
        let with = try await tls.publish(
            port: tls.clientCertificate,
            [
                "--cafile", ca, "--cert", tls.certificates.path("client.crt"), "--key",
                tls.certificates.path("client.key"),
            ]
        )
        #expect(with.exitCodeIfExited == 0, "\(with.stderr)")
    }

    @Test("the shipped acl.conf: no reading another user's private area, no writing announcements")
    func leastPrivilege() async throws {
        let broker = try Mosquitto()
        let bob = try await broker.client("bob")
        try await bob.subscribe([
            ("private/alice/#", .atLeastOnce), ("private/bob/#", .atLeastOnce), ("announce", .atLeastOnce),
        ])
        // mosquitto grants the subscription to private/alice/# but must not deliver alice's notes to bob.
        let alice = try await broker.client("alice")
        try await alice.publish(topic: "private/alice/notes", payload: Array("secret".utf8))
        let admin = try await broker.client("admin")
        try await admin.publish(topic: "announce", payload: Array("real announcement".utf8))
        try await bob.publish(topic: "private/bob/notes", payload: Array("mine".utf8))
        let received = try await bob.messages.first(2)
        #expect(
            received.map { "\($0.topic) \(String(decoding: $0.payload, as: UTF8.self))" } == [
                "announce real announcement", "private/bob/notes mine",
            ]
        )
        // Writing where the ACL forbids is refused (PUBACK 0x87 under MQTT 5), each on a fresh connection
        // because mosquitto may close the connection after refusing.
        for topic in ["announce", "private/bob/inbox"] {
            let carol = try await broker.client("carol")
            let refused = await #expect(throws: MQTTError.self) {
                try await carol.publish(topic: topic, payload: Array("not allowed".utf8))
            }
            #expect(refused?.code == .notAuthorized, "\(topic)")
            await carol.disconnect()
        }
        await alice.disconnect()
        await bob.disconnect()
        await admin.disconnect()
    }

    @Test("a listener on a topic it may not read warns in plain words")
    func unreadableTopicWarning() async throws {
        // bob may post to dropbox but not read it: mosquitto grants his subscription and drops everything.
        let broker = try Mosquitto(acl: "user bob\ntopic write dropbox\n")
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "Support/pty_run.py"
        ).path
        let session = try ChildProcess(
            "/usr/bin/python3",
            [script, Tool.listener.path] + broker.flags("bob") + ["-t", "dropbox"],
            stdinIsNull: false
        )
        // Ctrl-C once the warning is on the terminal.
        session.write("@wait-for-output did not come back\n@keys \\x03\n")
        session.closeInput()
        #expect(try await session.wait(timeout: .seconds(20)) == 0)
        #expect(
            session.stdout.contains(
                "listener: warning: your own join notice on dropbox did not come back; the broker may not let bob read dropbox (mosquitto's ACL drops such messages without telling)."
            )
        )
    }
}
