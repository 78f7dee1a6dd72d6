import CPahoMQTT
import ChatProtocol

extension MQTTError {
    /// A Paho return code from a call that failed before reaching the broker.
    static func paho(_ rc: Int32, doing action: String) -> MQTTError {
        MQTTError(Code(rawValue: rc), "Could not \(action): \(pahoText(rc)) (Paho error \(rc)).")
    }

    /// Paho's own text for a return code; NULL where Paho has none (or none is loaded).
    static func pahoText(_ rc: Int32) -> String {
        cpaho_strerror(rc).map { String(cString: $0) } ?? "unknown error"
    }

    /// The broker's reason text for an MQTT reason code; NULL where Paho has none.
    static func reasonText(_ reason: Int32) -> String {
        cpaho_reasonText(MQTTReasonCodes(rawValue: UInt32(bitPattern: reason))).map { String(cString: $0) }
            ?? "reason code \(reason)"
    }

    /// Reads a failure callback. Under MQTT 5 a refused publish comes as code 0 with the reason code set, a
    /// refused connect as the reason code in `code`; under 3.1.1 a refused connect carries the CONNACK code.
    static func failure(
        code: Int32,
        reason: Int32,
        text: String?,
        for kind: ClientCore.RequestKind,
        v311: Bool = false
    ) -> MQTTError {
        let mqttCode: Code
        if reason >= 0x80 {
            mqttCode = Code(rawValue: reason)
        } else if code > 0 {
            mqttCode = v311 ? .fromConnack311(code) : Code(rawValue: code)
        } else {
            mqttCode = Code(rawValue: code == 0 ? MQTTASYNC_FAILURE : code)
        }
        // Paho's fixed texts for a connect that got no CONNACK: the socket closed after CONNECT went out,
        // or its connect timeout ran out.
        if case .connect = kind, mqttCode == .failure, text == "TCP connect completion failure" {
            return MQTTError(.connectionClosed, "The broker closed the connection before answering the CONNECT.")
        }
        if case .connect = kind, mqttCode == .failure, text == "TCP connect timeout" {
            return MQTTError(.timedOut, "No answer from the broker to the CONNECT.")
        }
        let detail = mqttCode.rawValue > 0 ? reasonText(mqttCode.rawValue) : (text ?? pahoText(mqttCode.rawValue))
        switch (kind, mqttCode) {
        case (.connect, .badUserNameOrPassword):
            return MQTTError(mqttCode, "The broker refused the user name or password.")
        case (.connect, .notAuthorized):
            return MQTTError(mqttCode, "The broker refused the connection: not authorized.")
        case (.publish, .notAuthorized):
            return MQTTError(mqttCode, "The broker refused the publish: not authorized by its ACL.")
        case (.connect, _):
            return MQTTError(mqttCode, "The broker refused the connection: \(detail).")
        case (.publish, _):
            return MQTTError(mqttCode, "The publish failed: \(detail).")
        case (.subscribe, _):
            return MQTTError(mqttCode, "The subscription failed: \(detail).")
        case (.unsubscribe, _):
            return MQTTError(mqttCode, "The unsubscribe failed: \(detail).")
        case (.disconnect, _):
            return MQTTError(mqttCode, "The disconnect failed: \(detail).")
        }
    }
}
