import NIOCore
import Synchronization

/// A graceful shutdown of the PostgreSQL door, as PostgreSQL's fast shutdown looks to its
/// clients: no new connections; a connection waiting for its client's next message ends at
/// once with FATAL 57P01; one that is running a statement ends when it next waits (after its
/// ReadyForQuery), so running statements finish; what is still open after the grace period
/// is closed, which interrupts its work and rolls back its transaction.
final class ConnectionDrain: Sendable {
    private struct Entry {
        let channel: any Channel
        /// Waiting for the client's next message, with nothing running.
        var idle = false
    }
    private struct State {
        var draining = false
        var next = 0
        var connections: [Int: Entry] = [:]
    }
    private let state = Mutex(State())

    var isDraining: Bool { state.withLock { $0.draining } }
    var open: Int { state.withLock { $0.connections.count } }

    /// A connection started; its id, for the calls below.
    func register(_ channel: any Channel) -> Int {
        state.withLock { s in
            s.next += 1
            s.connections[s.next] = Entry(channel: channel)
            return s.next
        }
    }

    func unregister(_ id: Int) {
        state.withLock { _ = $0.connections.removeValue(forKey: id) }
    }

    /// The connection is about to wait for its client (`idle`) or has a message to work on.
    /// True when a drain has begun: the connection should end now instead of waiting.
    func setIdle(_ id: Int, _ idle: Bool) -> Bool {
        state.withLock { s in
            s.connections[id]?.idle = idle
            return s.draining
        }
    }

    /// Begins the drain: idle connections stop reading, so that their loops end and say
    /// goodbye; busy ones see `setIdle` return true once their statement is done.
    func begin() {
        let idle = state.withLock { s -> [any Channel] in
            s.draining = true
            return s.connections.values.filter(\.idle).map(\.channel)
        }
        for channel in idle { Self.stopReading(channel) }
    }

    /// The grace period is over: whatever is still open is closed.
    func closeAll() {
        let all = state.withLock { $0.connections.values.map(\.channel) }
        for channel in all { channel.close(promise: nil) }
    }

    static func stopReading(_ channel: any Channel) {
        // Closing the input ends the connection's message stream while its output stays
        // open for the goodbye. That needs half-closure, which is off otherwise (so that a
        // client going away closes its channel, and that interrupts its running query).
        // Where it is not possible, the channel closes outright.
        channel.setOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .flatMap { channel.close(mode: .input) }
            .whenFailure { _ in channel.close(promise: nil) }
    }
}
