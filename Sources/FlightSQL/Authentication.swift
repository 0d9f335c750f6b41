import Foundation
import GRPCCore
import Synchronization

/// Password authentication for Flight: HTTP Basic credentials (usually on `Handshake`) are
/// checked against the server's users and answered with a bearer token in the `authorization`
/// response header; later calls present `authorization: Bearer <token>`. With no
/// authenticator (trust), no header is needed.
public final class FlightAuthenticator: Sendable {
    let verify: @Sendable (_ user: String, _ password: String) -> Bool
    private let tokens: TokenStore

    /// Tokens stay valid for `tokenLifetime` seconds; then the client authenticates again.
    public init(tokenLifetime: TimeInterval = 24 * 3600, verify: @escaping @Sendable (_ user: String, _ password: String) -> Bool) {
        self.verify = verify
        self.tokens = TokenStore(lifetime: tokenLifetime)
    }

    /// The token to hand back and the user it belongs to, or an UNAUTHENTICATED error.
    func authenticate(_ header: String?) throws -> (token: String, user: String) {
        guard let header, let space = header.firstIndex(of: " ") else {
            throw RPCError(code: .unauthenticated, message: "authentication required (basic credentials or a bearer token)")
        }
        let scheme = header[..<space].lowercased()
        let value = header[header.index(after: space)...].trimmingCharacters(in: .whitespaces)
        switch scheme {
        case "basic":
            guard let data = Data(base64Encoded: value), let text = String(data: data, encoding: .utf8),
                  let colon = text.firstIndex(of: ":") else {
                throw RPCError(code: .unauthenticated, message: "malformed basic credentials")
            }
            let user = String(text[..<colon]), password = String(text[text.index(after: colon)...])
            guard verify(user, password) else {
                throw RPCError(code: .unauthenticated, message: "password authentication failed for user \"\(user)\"")
            }
            return (tokens.issue(for: user), user)
        case "bearer":
            guard let user = tokens.user(of: value) else {
                throw RPCError(code: .unauthenticated, message: "unknown or expired bearer token")
            }
            return (value, user)
        default:
            throw RPCError(code: .unauthenticated, message: "unsupported authorization scheme '\(scheme)'")
        }
    }
}

final class TokenStore: Sendable {
    private let tokens = Mutex<[String: (user: String, expires: Date)]>([:])
    let lifetime: TimeInterval

    init(lifetime: TimeInterval) { self.lifetime = lifetime }

    func issue(for user: String) -> String {
        var bytes = [UInt8](repeating: 0, count: 32)
        var rng = SystemRandomNumberGenerator()
        for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255, using: &rng) }
        let token = Data(bytes).base64EncodedString()
        let now = Date()
        tokens.withLock { tokens in
            tokens = tokens.filter { $0.value.expires > now }
            tokens[token] = (user, now + lifetime)
        }
        return token
    }

    /// The user a valid token belongs to; nil if unknown or expired.
    func user(of token: String) -> String? {
        tokens.withLock { $0[token].flatMap { $0.expires > Date() ? $0.user : nil } }
    }
}

/// Rejects unauthenticated calls and returns the bearer token in the response headers.
struct FlightAuthInterceptor: ServerInterceptor {
    let authenticator: FlightAuthenticator

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>,
        context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        let header = request.metadata[stringValues: "authorization"].first(where: { _ in true })
        let (token, user) = try authenticator.authenticate(header)
        // The handler's body runs in the response producer, after `next` returns: the
        // caller's identity has to be set around both.
        var response = try await FlightCaller.$user.withValue(user) { try await next(request, context) }
        if case .success(var contents) = response.accepted {
            contents.metadata.addString("Bearer \(token)", forKey: "authorization")
            let producer = contents.producer
            contents.producer = { writer in try await FlightCaller.$user.withValue(user) { try await producer(writer) } }
            response.accepted = .success(contents)
        }
        return response
    }
}

/// Who is calling, for the length of a Flight call: the authenticated user, or nil when the
/// server trusts every caller.
enum FlightCaller {
    @TaskLocal static var user: String?
    /// The caller's session cookie (`FlightSessionCookieInterceptor`); nil outside a call.
    @TaskLocal static var sessionCookie: SessionCookie?

    struct SessionCookie: Sendable {
        var name: String
        /// The client sent it (else the server handed it out with this call's response).
        var sentByClient: Bool
    }
}
