import FlightProtocol
import Arrow
import DuckDB
import Foundation
import GRPCCore
import Logging
import Scheduler
import SwiftProtobuf
import Worker

/// Implements the Flight service with Flight SQL semantics over the scheduler.
///
/// Sessions: Flight has no connection identity, so state lives with handles, by the rule in
/// the Scheduler's `SessionLeases`: a call naming a transaction or a prepared statement runs
/// in its session; any other (plain SQL, metadata commands) runs in a fresh session that its
/// ticket owns and that closes when `DoGet` ends (or the ticket expires). `GetFlightInfo`
/// starts the query (through admission control) to learn the exact result schema; `DoGet`
/// streams it. Unfetched tickets give their slot back after 60 seconds.
struct FlightSQLService: Arrow_Flight_Protocol_FlightService.SimpleServiceProtocol {
    let scheduler: Scheduler
    let tickets: TicketRegistry
    /// Queries PollFlightInfo started that have not answered yet.
    let polls: PollRegistry
    /// Transactions and prepared statements: the sessions clients hold by id.
    let leases: SessionLeases
    /// Sessions clients keep by their session cookie (SetSessionOptions opens one).
    let clientSessions: ClientSessions
    let serverVersion: String
    let logger: Logger

    /// Who a call comes from, as leases know their owners.
    func owner(_ context: ServerContext) -> LeaseOwner {
        LeaseOwner(peer: context.remotePeer, user: FlightCaller.user ?? "")
    }

    /// The session the caller's cookie names, when it has opened one.
    func clientSession(_ owner: LeaseOwner) -> Session? {
        guard let cookie = FlightCaller.sessionCookie, cookie.sentByClient else { return nil }
        return clientSessions.session(cookie.name, user: owner.user)
    }

    // MARK: - Handshake and discovery (the rest of the service: one file per concern in this folder)

    func handshake(
        request: RPCAsyncSequence<Arrow_Flight_Protocol_HandshakeRequest, any Error>,
        response: RPCWriter<Arrow_Flight_Protocol_HandshakeResponse>,
        context: ServerContext
    ) async throws {
        for try await message in request {
            var reply = Arrow_Flight_Protocol_HandshakeResponse()
            reply.protocolVersion = message.protocolVersion
            try await response.write(reply)
        }
    }

    func listFlights(
        request: Arrow_Flight_Protocol_Criteria,
        response: RPCWriter<Arrow_Flight_Protocol_FlightInfo>,
        context: ServerContext
    ) async throws {}

    func listActions(
        request: Arrow_Flight_Protocol_Empty,
        response: RPCWriter<Arrow_Flight_Protocol_ActionType>,
        context: ServerContext
    ) async throws {
        let actions = [
            ("CreatePreparedStatement", "Prepares a SQL statement; returns a handle and its schemas"),
            ("ClosePreparedStatement", "Closes a prepared statement handle"),
            ("SetSessionOptions", "Opens the session the cookie names and sets catalog, schema or DuckDB settings in it"),
            ("GetSessionOptions", "The session's catalog, schema and the options set"),
            ("CloseSession", "Closes the session the cookie names"),
        ]
        for (type, description) in actions {
            try await response.write(.with { $0.type = type; $0.description_p = description })
        }
    }

    func doExchange(
        request: RPCAsyncSequence<Arrow_Flight_Protocol_FlightData, any Error>,
        response: RPCWriter<Arrow_Flight_Protocol_FlightData>,
        context: ServerContext
    ) async throws {
        throw RPCError(code: .unimplemented, message: "DoExchange is not supported")
    }
}
