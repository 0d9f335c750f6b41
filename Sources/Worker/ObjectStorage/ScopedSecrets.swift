import DuckDB

/// Storage with credentials of its own: a bucket (or account, or path prefix) that the
/// default secrets must not serve. Each becomes a DuckDB secret with a SCOPE, and DuckDB
/// picks the secret whose scope is the longest prefix of the path a query reads.
public struct ScopedStorage: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, Equatable, CaseIterable {
        case s3, gcs, azure
    }

    public var kind: Kind
    /// The path prefix it serves: `s3://finance`, `gs://partner-bucket/exports/`, `az://account`.
    public var scope: String
    /// Key id and secret (S3, GCS HMAC) or a connection string (Azure). Values from the
    /// environment; never printed.
    public var keyID: String?
    public var secret: String?
    public var connectionString: String?
    /// S3: its own endpoint and region; nil: those of the default configuration.
    public var endpoint: String?
    public var region: String?

    public init(kind: Kind, scope: String, keyID: String? = nil, secret: String? = nil, connectionString: String? = nil,
                endpoint: String? = nil, region: String? = nil) {
        self.kind = kind
        self.scope = scope
        self.keyID = keyID
        self.secret = secret
        self.connectionString = connectionString
        self.endpoint = endpoint
        self.region = region
    }

    /// Names the scope and the kind of credentials, never a value.
    public var description: String { "\(kind.rawValue) \(scope)" }

    var secretValues: [String] { [secret, connectionString].compactMap { $0 } }

    /// Its CREATE SECRET statement, named `tavana_scope_<n>`. `defaults` supplies the region
    /// and endpoint when the scope does not name its own.
    func statement(number: Int, defaults: ObjectStorageConfiguration) -> String {
        var options = ["TYPE \(kind.rawValue)"]
        switch kind {
        case .s3, .gcs:
            options.append("KEY_ID \(SQLText.literal(keyID ?? ""))")
            options.append("SECRET \(SQLText.literal(secret ?? ""))")
            var local = defaults
            if let endpoint { local.endpoint = endpoint }
            if kind == .s3 { options.append("REGION \(SQLText.literal(region ?? defaults.region))") }
            options += local.endpointOptions
        case .azure:
            options.append("CONNECTION_STRING \(SQLText.literal(connectionString ?? ""))")
        }
        options.append("SCOPE \(SQLText.literal(scope))")
        return "CREATE OR REPLACE SECRET tavana_scope_\(number) (\(options.joined(separator: ", ")))"
    }
}
