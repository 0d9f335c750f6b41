import Foundation

/// A bearer token a cloud's identity service handed out for a while (Azure AD, IMDS, the GKE
/// metadata server): what a worker puts in its DuckDB secret, and replaces before
/// `expiration`. Printing never shows the token.
public struct AccessToken: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    public var token: String
    public var expiration: Date

    public init(token: String, expiration: Date) {
        self.token = token
        self.expiration = expiration
    }

    public var description: String { "AccessToken(expires: \(ISO8601DateFormatter().string(from: expiration)))" }
    public var debugDescription: String { description }
}

/// Reads the JSON answer of an OAuth 2.0 token endpoint. Azure AD writes `expires_in` as a
/// number, IMDS as a string, Google as a number; errors come as `error` and
/// `error_description` (Azure AD, Google) or `error` alone.
public enum OAuthTokenResponse {
    /// Longest answer read; real ones are a few KiB (a JWT and a handful of fields).
    public static let maxBytes = 1 << 20
    /// Longest lifetime believed: a token said to last longer is refreshed as if it lasted a
    /// day, so that a wrong clock or a wrong answer cannot postpone the refresh for ever.
    static let maxLifetime: TimeInterval = 86_400

    public static func parse(service: String, status: Int, body: String, now: Date = Date()) throws -> AccessToken {
        let object = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any]
        guard (200..<300).contains(status) else {
            let code = object?["error"].map { "\($0)" } ?? "HTTP \(status)"
            let message = (object?["error_description"] as? String).map { ": \(firstLine($0))" } ?? ""
            throw CloudCredentialsError("\(service) refused the token request: \(code)\(message)")
        }
        guard let object else { throw CloudCredentialsError("\(service) answered something other than a JSON object") }
        guard let token = object["access_token"] as? String, !token.isEmpty else {
            throw CloudCredentialsError("\(service) answered without an access_token")
        }
        guard let lifetime = seconds(object["expires_in"]), lifetime > 0 else {
            throw CloudCredentialsError("\(service) answered without a usable expires_in")
        }
        return AccessToken(token: token, expiration: now.addingTimeInterval(min(lifetime, maxLifetime)))
    }

    static func seconds(_ value: Any?) -> TimeInterval? {
        switch value {
        case let number as NSNumber: return number.doubleValue.isFinite ? number.doubleValue : nil
        case let text as String: return TimeInterval(text).flatMap { $0.isFinite ? $0 : nil }
        default: return nil
        }
    }

    /// Azure AD's descriptions run to several lines (trace and correlation ids): the first one
    /// says what went wrong.
    static func firstLine(_ text: String) -> String {
        String(text.split(whereSeparator: \.isNewline).first ?? "")
    }
}
