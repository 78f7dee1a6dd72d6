import ChatProtocol
import Foundation
var c = MQTTConfiguration(host: "127.0.0.1", port: 18830, clientID: "dbg")
c.username = "alice"; c.password = "alice-secret"
c.reconnect = MQTTReconnectPolicy(initialDelay: .milliseconds(50), maximumDelay: .milliseconds(200))
let client = try MQTTClient(c)
let r = try await client.connect()
print("connected")
Task { for await e in client.events { print("event", e) } }
try await Task.sleep(for: .seconds(1.5))
print("publishing")
for i in 0..<3 { try await client.publish(topic: "chat/x", payload: Array("m\(i)".utf8)); print("published", i) }
await client.disconnect()
