import FlightProtocol
import Arrow
import DuckDB
import Foundation
import GRPCCore
import Logging
import Scheduler
import SwiftProtobuf
import Worker

/// Transactions (BeginTransaction / EndTransaction), rollback when a connection goes, and
/// cancelling a ticket's query.
extension FlightSQLService {

    /// A client connection closed: the transactions it left open are rolled back (as a
    /// PostgreSQL server does when a client goes away mid-transaction).
    func connectionClosed(peer: String) {
        let orphans = leases.connectionClosed(peer: peer)
        guard orphans > 0 else { return }
        logger.info("rolling back transactions of a closed connection", metadata: [
            "peer": "\(peer)", "transactions": "\(orphans)",
        ])
    }

    func endTransaction(
        _ id: String, _ action: Arrow_Flight_Protocol_Sql_ActionEndTransactionRequest.EndTransaction, owner: LeaseOwner
    ) async throws {
        let commit: Bool
        switch action {
        case .commit: commit = true
        case .rollback: commit = false
        default: throw RPCError(code: .invalidArgument, message: "EndTransaction needs COMMIT or ROLLBACK")
        }
        try await leases.endTransaction(id, commit: commit, owner: owner)
    }

    /// Cancels the query behind a FlightInfo's ticket: interrupts it and drops the ticket, or
    /// interrupts the DoGet streaming it. Returns false when the ticket is unknown (fetched
    /// to the end, or expired).
    func cancel(_ info: Arrow_Flight_Protocol_FlightInfo) -> Bool {
        // A query PollFlightInfo left running (no ticket yet).
        if let pollID = PollRegistry.id(of: info.flightDescriptor) {
            let found = polls.cancel(pollID)
            logger.debug("cancel of a polled query", metadata: ["found": "\(found)"])
            return found
        }
        guard let ticket = info.endpoint.first?.ticket.ticket else { return false }
        let id = Self.ticketID(ticket)
        if let pending = tickets.takePending(id) {
            pending.session?.cancel()
            pending.release()
            return true
        }
        // Being streamed by a DoGet: interrupting the query ends that stream with CANCELLED.
        if let streaming = tickets.streamingResult(id), let session = streaming.session {
            session.cancel()
            return true
        }
        return false
    }
}
