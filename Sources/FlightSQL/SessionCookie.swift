import Foundation
import GRPCCore

/// The Flight SQL session cookie (`arrow_flight_session_id`), read from each call and handed
/// out to callers that have none.
///
/// Every call without a valid cookie gets `set-cookie: arrow_flight_session_id=NAME` with a
/// new random name; a client with cookie middleware (ADBC's `with_cookie_middleware`, or any
/// gRPC client that keeps cookies) sends it back from then on. The name alone holds nothing:
/// a session opens under it when the client asks for one (SetSessionOptions), and from then on
/// the client's statements run in that session (`ClientSessions`). Clients without cookies
/// keep a fresh session per statement, as before. A name is only accepted in the form the
/// server hands out (a lowercase UUID): the session table holds nothing a client spelled.
struct FlightSessionCookieInterceptor: ServerInterceptor {
    static let cookieName = "arrow_flight_session_id"

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>,
        context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        let sent = Self.sessionName(in: request.metadata[stringValues: "cookie"])
        let cookie = FlightCaller.SessionCookie(name: sent ?? UUID().uuidString.lowercased(), sentByClient: sent != nil)
        var response = try await FlightCaller.$sessionCookie.withValue(cookie) { try await next(request, context) }
        if case .success(var contents) = response.accepted {
            if sent == nil { contents.metadata.addString("\(Self.cookieName)=\(cookie.name)", forKey: "set-cookie") }
            let producer = contents.producer
            contents.producer = { writer in try await FlightCaller.$sessionCookie.withValue(cookie) { try await producer(writer) } }
            response.accepted = .success(contents)
        }
        return response
    }

    /// The session name among `Cookie` headers ("a=1; arrow_flight_session_id=…"), if one is
    /// there in the form this server hands out.
    static func sessionName<S: Sequence<String>>(in headers: S) -> String? {
        for header in headers {
            for pair in header.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == cookieName else { continue }
                let value = parts[1].trimmingCharacters(in: .whitespaces)
                if isServerName(value) { return value }
            }
        }
        return nil
    }

    static func isServerName(_ value: String) -> Bool {
        guard value.utf8.count == 36, let uuid = UUID(uuidString: value) else { return false }
        return uuid.uuidString.lowercased() == value
    }
}
