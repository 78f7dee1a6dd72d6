import Foundation

/// A throwaway PKI made with openssl for the TLS tests: a CA, a second unrelated CA, server certificates
/// (valid, expired, for another name) and a client certificate.
struct TestCertificates {
    let directory: URL

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    init(in directory: URL) throws {
        self.directory = directory
        try openssl([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "30",
            "-subj", "/CN=mqtt-chat test CA",
        ])
        try openssl([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "other-ca.key", "-out", "other-ca.crt", "-days",
            "30", "-subj", "/CN=someone else's CA",
        ])
        try issue("server", subject: "/CN=localhost", altNames: "DNS:localhost,IP:127.0.0.1", days: 30)
        try issue("expired", subject: "/CN=localhost", altNames: "DNS:localhost,IP:127.0.0.1", days: -1)
        try issue("elsewhere", subject: "/CN=elsewhere.example", altNames: "DNS:elsewhere.example", days: 30)
        try issue("client", subject: "/CN=alice", altNames: nil, days: 30)
        // mosquitto drops to its own user and must read the keys.
        for file in try FileManager.default.contentsOfDirectory(atPath: directory.path) {
            chmod(path(file), 0o644)
        }
    }

    private func issue(_ name: String, subject: String, altNames: String?, days: Int) throws {
        try openssl([
            "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(name).key", "-out", "\(name).csr", "-subj", subject,
        ])
        var arguments = [
            "x509", "-req", "-in", "\(name).csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out",
            "\(name).crt", "-days", String(days),
        ]
        if let altNames {
            try "subjectAltName=\(altNames)\n".write(
                to: directory.appendingPathComponent("\(name).ext"),
                atomically: true,
                encoding: .utf8
            )
            arguments += ["-extfile", "\(name).ext"]
        }
        try openssl(arguments)
    }

    private func openssl(_ arguments: [String]) throws {
        let child = try ChildProcess(
            "/bin/sh",
            ["-c", "cd '\(directory.path)' && exec /usr/bin/openssl \"$@\"", "openssl"] + arguments,
            stdinIsNull: true
        )
        while child.exitCodeIfExited == nil { usleep(2_000) }
        guard child.exitCodeIfExited == 0 else {
            throw TestFailure("openssl \(arguments.first ?? "") failed: \(child.stderr)")
        }
    }
}
