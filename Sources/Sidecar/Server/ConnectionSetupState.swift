/// A connection whose protocol is not settled yet: its TLS handshake runs, or the h2c sniffer
/// waits for the bytes that tell HTTP/2 from HTTP/1.1.
///
/// Until setup finishes the connection serves nothing, so its deadline (the header timeout) and a
/// drain both close it at once; no drain waits for a client that never speaks. Once finished, the
/// protocol handlers own the connection's time.
struct ConnectionSetupState: Equatable {
    enum Phase: Equatable {
        case settingUp
        case finished
        case closed
    }

    /// What the handler does.
    enum Action: Equatable {
        case none
        /// Stop watching the deadline: the protocol handlers take over.
        case cancelDeadline
        /// Close the connection (and stop watching the deadline).
        case close
    }

    private(set) var phase = Phase.settingUp

    /// The protocol is known: the handshake completed, or the sniffer decided.
    mutating func finished() -> Action {
        guard phase == .settingUp else { return .none }
        phase = .finished
        return .cancelDeadline
    }

    /// The deadline passed.
    mutating func deadlinePassed() -> Action {
        closeIfSettingUp()
    }

    /// The server began draining (`ChannelShouldQuiesceEvent`).
    mutating func quiesce() -> Action {
        closeIfSettingUp()
    }

    /// Setup failed (a TLS handshake error).
    mutating func failed() -> Action {
        closeIfSettingUp()
    }

    private mutating func closeIfSettingUp() -> Action {
        guard phase == .settingUp else { return .none }
        phase = .closed
        return .close
    }
}
