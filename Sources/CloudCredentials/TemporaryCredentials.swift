import Foundation

/// Keys a cloud's token service handed out for a while: what a worker puts in its DuckDB
/// secret, and replaces before `expiration`. Printing never shows the secret or the token.
public struct TemporaryCredentials: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    public var accessKeyID: String
    public var secretAccessKey: String
    public var sessionToken: String
    public var expiration: Date

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String, expiration: Date) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.expiration = expiration
    }

    public var description: String {
        "TemporaryCredentials(id: \(accessKeyID), expires: \(ISO8601DateFormatter().string(from: expiration)))"
    }

    public var debugDescription: String { description }
}

/// Why credentials could not be obtained; never holds a secret (the token service's own
/// message is kept, the request is not).
public struct CloudCredentialsError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
