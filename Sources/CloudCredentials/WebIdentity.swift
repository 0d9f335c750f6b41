import Foundation

/// AWS web identity (what EKS's IRSA and Pod Identity webhooks give a pod): a role to assume
/// and a file holding a token the cluster's identity provider signed, exchanged at STS's
/// `AssumeRoleWithWebIdentity` for temporary keys. DuckDB's aws extension cannot be pointed
/// at another STS endpoint and, where it fails, silently falls back to the node's instance
/// role, so Tavana makes this exchange itself (docs/object-storage.md).
public struct WebIdentitySettings: Sendable, Equatable {
    public var roleARN: String
    public var tokenFile: String
    public var sessionName: String
    /// Where STS is: `AWS_ENDPOINT_URL_STS`, else `AWS_ENDPOINT_URL`, else the region's own.
    public var endpoint: String
    /// How long the keys are asked for, in seconds.
    public var durationSeconds: Int

    public init(roleARN: String, tokenFile: String, sessionName: String, endpoint: String, durationSeconds: Int = 3600) {
        self.roleARN = roleARN
        self.tokenFile = tokenFile
        self.sessionName = sessionName
        self.endpoint = endpoint
        self.durationSeconds = durationSeconds
    }

    /// From the variables the EKS webhook sets (`AWS_ROLE_ARN`, `AWS_WEB_IDENTITY_TOKEN_FILE`,
    /// optional `AWS_ROLE_SESSION_NAME`, `AWS_REGION`, `AWS_ENDPOINT_URL_STS`); nil when the
    /// pod has no web identity.
    public init?(environment env: [String: String], defaultRegion: String, durationSeconds: Int = 3600,
                 hostName: String = ProcessInfo.processInfo.hostName) {
        func value(_ name: String) -> String? { env[name].flatMap { $0.isEmpty ? nil : $0 } }
        guard let role = value("AWS_ROLE_ARN"), let file = value("AWS_WEB_IDENTITY_TOKEN_FILE") else { return nil }
        let region = value("AWS_REGION") ?? value("AWS_DEFAULT_REGION") ?? defaultRegion
        self.init(
            roleARN: role, tokenFile: file,
            sessionName: value("AWS_ROLE_SESSION_NAME") ?? Self.sessionName(for: hostName),
            endpoint: value("AWS_ENDPOINT_URL_STS") ?? value("AWS_ENDPOINT_URL") ?? "https://sts.\(region).amazonaws.com",
            durationSeconds: durationSeconds)
    }

    /// STS allows 2 to 64 of `[A-Za-z0-9+=,.@_-]` as a session name: the host name (the pod's),
    /// with anything else replaced.
    static func sessionName(for host: String) -> String {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+=,.@_-")
        let cleaned = String(("tavana-" + host).map { allowed.contains($0) ? $0 : "-" }.prefix(64))
        return cleaned
    }

    /// The form-encoded body of the request (STS's query protocol; the call is not signed:
    /// the token is the proof).
    public func requestBody(token: String) -> String {
        HTTPForms.body([
            ("Action", "AssumeRoleWithWebIdentity"), ("Version", "2011-06-15"), ("RoleArn", roleARN),
            ("RoleSessionName", sessionName), ("WebIdentityToken", token), ("DurationSeconds", String(durationSeconds)),
        ])
    }
}

/// Reads STS's XML answer. The response's shape is fixed and small (four leaf elements on
/// success, Code and Message on failure), so a scan for those elements is enough; a full XML
/// parser would add libxml2 to the runtime image for this alone.
public enum STSResponse {
    /// Longest answer read; STS's are about 2 KiB.
    public static let maxBytes = 1 << 20

    public static func parse(status: Int, body: String) throws -> TemporaryCredentials {
        guard (200..<300).contains(status) else {
            let code = element("Code", in: body) ?? "HTTP \(status)"
            let message = element("Message", in: body) ?? "no message"
            throw CloudCredentialsError("STS AssumeRoleWithWebIdentity failed: \(code): \(message)")
        }
        guard let id = element("AccessKeyId", in: body), let secret = element("SecretAccessKey", in: body),
              let token = element("SessionToken", in: body), let expires = element("Expiration", in: body)
        else {
            throw CloudCredentialsError("STS AssumeRoleWithWebIdentity answered without credentials")
        }
        guard let expiration = parseDate(expires) else {
            throw CloudCredentialsError("STS AssumeRoleWithWebIdentity answered an unreadable expiration: \(expires)")
        }
        return TemporaryCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: token, expiration: expiration)
    }

    /// The text of the first `<name>…</name>`, entities decoded; nil if there is none.
    static func element(_ name: String, in body: String) -> String? {
        guard let open = body.range(of: "<\(name)>"),
              let close = body.range(of: "</\(name)>", range: open.upperBound..<body.endIndex) else { return nil }
        let raw = body[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespacesAndNewlines)
        return raw.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&apos;", with: "'")
            .replacingOccurrences(of: "&amp;", with: "&")
    }

    /// ISO 8601, with or without fractional seconds (STS writes `2026-12-03T23:59:59Z`).
    static func parseDate(_ text: String) -> Date? {
        let plain = ISO8601DateFormatter()
        if let date = plain.date(from: text) { return date }
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return fractional.date(from: text)
    }
}
