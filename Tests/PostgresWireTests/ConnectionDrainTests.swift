import NIOCore
import NIOEmbedded
import XCTest

@testable import PostgresWire

/// The drain's bookkeeping: who is idle, what a drain does to idle and busy connections.
final class ConnectionDrainTests: XCTestCase {
    func connected() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 5432)).wait()
        return channel
    }

    func testIdleConnectionsStopAtOnceAndBusyOnesWhenTheyNextWait() throws {
        let drain = ConnectionDrain()
        let idleChannel = try connected()
        let busyChannel = try connected()
        let idle = drain.register(idleChannel)
        let busy = drain.register(busyChannel)
        XCTAssertEqual(drain.open, 2)
        XCTAssertFalse(drain.setIdle(idle, true), "no drain yet: go on waiting")
        XCTAssertFalse(drain.setIdle(busy, false))

        drain.begin()
        XCTAssertTrue(drain.isDraining)
        // The idle one's reading stopped (an EmbeddedChannel cannot half-close, so it closed).
        XCTAssertFalse(idleChannel.isActive)
        XCTAssertTrue(busyChannel.isActive, "a running statement is left to finish")
        XCTAssertTrue(drain.setIdle(busy, true), "done: end now instead of waiting")

        drain.unregister(idle)
        drain.unregister(busy)
        XCTAssertEqual(drain.open, 0)
        // A connection that starts during a drain sees it at once.
        let late = drain.register(EmbeddedChannel())
        XCTAssertTrue(drain.setIdle(late, true))
    }

    func testCloseAllClosesWhatIsLeft() throws {
        let drain = ConnectionDrain()
        let channel = try connected()
        _ = drain.register(channel)
        drain.begin()
        XCTAssertTrue(channel.isActive)
        drain.closeAll()
        XCTAssertFalse(channel.isActive)
    }
}
