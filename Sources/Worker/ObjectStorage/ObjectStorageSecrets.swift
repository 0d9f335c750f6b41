import DuckDB

/// Where object storage is and how to sign in to it, as the chart's `objectStorage.*` values
/// and the platform's credential variables give them. A worker turns this into DuckDB
/// secrets when it starts (`secretStatements`), so users' `s3://`, `gs://` and `az://`
/// paths work without any CREATE SECRET of their own.
public struct ObjectStorageConfiguration: Sendable, Equatable {
    /// `host:port` or a URL (`http://127.0.0.1:9000`); nil: the cloud's own endpoint.
    public var endpoint: String?
    /// GCS's own endpoint, when it is not `endpoint` (nil: `endpoint`, else Google's).
    public var gcsEndpoint: String?
    /// The default bucket (used for paths Tavana chooses itself; users may name any bucket).
    public var bucket: String?
    public var region: String
    /// `path` or `vhost`; nil: `path` with a custom endpoint, DuckDB's default otherwise.
    public var urlStyle: String?
    /// nil: from the endpoint's scheme (`http://` is no TLS), else TLS.
    public var useSSL: Bool?
    public var credentials: ObjectStorageCredentials
    /// Buckets or accounts with credentials of their own (docs/object-storage.md).
    public var scoped: [ScopedStorage] = []

    public init(endpoint: String? = nil, bucket: String? = nil, region: String = "us-east-1", urlStyle: String? = nil,
                useSSL: Bool? = nil, credentials: ObjectStorageCredentials = ObjectStorageCredentials()) {
        self.endpoint = endpoint
        self.bucket = bucket
        self.region = region
        self.urlStyle = urlStyle
        self.useSSL = useSSL
        self.credentials = credentials
    }

    /// The endpoint as DuckDB's ENDPOINT option wants it (no scheme, no trailing slash) and
    /// whether its scheme asks for TLS.
    var endpointParts: (host: String, tls: Bool?)? {
        guard var text = endpoint, !text.isEmpty else { return nil }
        var tls: Bool?
        if text.lowercased().hasPrefix("http://") { text.removeFirst(7); tls = false }
        else if text.lowercased().hasPrefix("https://") { text.removeFirst(8); tls = true }
        while text.hasSuffix("/") { text.removeLast() }
        return (text, tls)
    }

    /// A custom endpoint's options (none without one): S3-compatible servers want path-style
    /// URLs unless told otherwise.
    var endpointOptions: [String] {
        guard let parts = endpointParts else { return [] }
        return ["ENDPOINT \(SQLText.literal(parts.host))", "URL_STYLE \(SQLText.literal(urlStyle ?? "path"))",
                "USE_SSL \((useSSL ?? parts.tls ?? true) ? "true" : "false")"]
    }

    /// CREATE SECRET statements, in the order they must run; none when nothing is configured
    /// (DuckDB keeps its own defaults). Secret values appear only
    /// here; `redact` hides them in anything derived from these statements (errors).
    public func secretStatements() -> [String] {
        var statements: [String] = []
        if let s3 = s3SecretStatement() { statements.append(s3) }
        if let gcs = gcsSecretStatement() { statements.append(gcs) }
        if let azure = azureSecretStatement() { statements.append(azure) }
        for (index, storage) in scoped.enumerated() {
            statements.append(storage.statement(number: index + 1, defaults: self))
        }
        return statements
    }

    /// The S3 secret alone (nil when no S3 storage is configured): made at start, and made
    /// again whenever temporary keys are replaced.
    public func s3SecretStatement() -> String? {
        var wantsS3 = endpoint != nil || bucket != nil
        if case .keys = credentials.aws { wantsS3 = true }
        guard wantsS3 else { return nil }
        var s3: [String] = ["TYPE s3"]
        switch credentials.aws {
        case .keys(let id, let secret, let token):
            s3.append("PROVIDER config")
            s3.append("KEY_ID \(SQLText.literal(id))")
            s3.append("SECRET \(SQLText.literal(secret))")
            if let token { s3.append("SESSION_TOKEN \(SQLText.literal(token))") }
        case .chain:
            // The aws extension's chain: web identity (IRSA), environment, instance profile.
            // Without VALIDATION 'none' DuckDB refuses the secret when the chain finds nothing
            // at start, and the worker would not start at all (a GKE pod with a bucket set);
            // so it starts, and a read then fails with S3's own answer.
            s3.append("PROVIDER credential_chain")
            s3.append("VALIDATION 'none'")
        }
        s3.append("REGION \(SQLText.literal(region))")
        if endpointParts != nil {
            s3 += endpointOptions
        } else {
            if let urlStyle { s3.append("URL_STYLE \(SQLText.literal(urlStyle))") }
            if let useSSL { s3.append("USE_SSL \(useSSL ? "true" : "false")") }
        }
        return "CREATE OR REPLACE SECRET tavana_s3 (\(s3.joined(separator: ", ")))"
    }

    /// The GCS secret alone: HMAC keys, or a bearer token Tavana obtained (made again on
    /// each refresh); nil without either.
    public func gcsSecretStatement() -> String? {
        var options = ["TYPE gcs"]
        if let token = credentials.gcsBearerToken {
            options.append("BEARER_TOKEN \(SQLText.literal(token))")
        } else if let gcs = credentials.gcsHMAC {
            options += ["KEY_ID \(SQLText.literal(gcs.id))", "SECRET \(SQLText.literal(gcs.secret))"]
        } else {
            return nil
        }
        options += gcsEndpointOptions
        return "CREATE OR REPLACE SECRET tavana_gcs (\(options.joined(separator: ", ")))"
    }

    /// GCS's endpoint options: its own endpoint if one is set, else the shared one (S3-compatible
    /// test servers serve both APIs), else Google's.
    var gcsEndpointOptions: [String] {
        guard let gcsEndpoint, !gcsEndpoint.isEmpty else { return endpointOptions }
        var copy = self
        copy.endpoint = gcsEndpoint
        copy.urlStyle = nil
        return copy.endpointOptions
    }

    /// The Azure secret alone (nil without Azure storage): made at start, and made again with
    /// each new token.
    public func azureSecretStatement() -> String? {
        guard let azure = credentials.azure else { return nil }
        switch azure {
        case .connectionString(let text):
            return "CREATE OR REPLACE SECRET tavana_azure (TYPE azure, CONNECTION_STRING \(SQLText.literal(text)))"
        case .accessToken(let account, let token, _):
            return "CREATE OR REPLACE SECRET tavana_azure (TYPE azure, PROVIDER access_token, "
                + "ACCESS_TOKEN \(SQLText.literal(token)), ACCOUNT_NAME \(SQLText.literal(account)))"
        case .chain(let account):
            // The extension's own chain (CLI, managed identity, environment): used only when
            // Tavana has nothing better, since delta_scan does not follow it.
            return "CREATE OR REPLACE SECRET tavana_azure (TYPE azure, PROVIDER credential_chain, ACCOUNT_NAME \(SQLText.literal(account)))"
        }
    }

    /// `text` with every secret value replaced, for errors and logs.
    public func redact(_ text: String) -> String {
        var out = text
        for value in credentials.secretValues + scoped.flatMap(\.secretValues) where !value.isEmpty {
            out = out.replacingOccurrences(of: value, with: "***")
        }
        return out
    }
}

/// The credentials a worker finds in its environment (what `existingSecret` or workload
/// identity put there). Values never reach logs; `description` names only their kinds.
public struct ObjectStorageCredentials: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    public enum AWS: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
        case keys(id: String, secret: String, token: String?)
        case chain

        /// Printing never shows the secret or the token.
        public var description: String {
            switch self {
            case .keys(let id, _, let token): return "keys(id: \(id)\(token == nil ? "" : ", with a session token"))"
            case .chain: return "credential_chain"
            }
        }

        public var debugDescription: String { description }
    }

    /// How the Azure secret signs in; nil: no Azure storage.
    public enum Azure: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
        /// A connection string (given, or built from an account name and key).
        case connectionString(String)
        /// A bearer token Tavana obtained for the account (`source` names how, for logs).
        case accessToken(account: String, token: String, source: String)
        /// Only an account name: the azure extension's own credential chain.
        case chain(account: String)

        public var description: String {
            switch self {
            case .connectionString: return "connection_string"
            case .accessToken(let account, _, let source): return "\(source)(account: \(account))"
            case .chain(let account): return "credential_chain(account: \(account))"
            }
        }

        public var debugDescription: String { description }

        public var account: String? {
            switch self {
            case .connectionString(let text):
                return text.split(separator: ";").first { $0.hasPrefix("AccountName=") }.map { String($0.dropFirst(12)) }
            case .accessToken(let account, _, _), .chain(let account): return account
            }
        }
    }

    public var aws: AWS
    public var azure: Azure?
    /// A GCS bearer token Tavana obtained (from the metadata server); wins over HMAC keys.
    public var gcsBearerToken: String?
    public var gcsHMAC: (id: String, secret: String)? {
        get { gcsKeys.map { (id: $0.id, secret: $0.secret) } }
        set { gcsKeys = newValue.map { Pair($0.id, $0.secret) } }
    }
    public var azureConnectionString: String? {
        if case .connectionString(let text) = azure { return text }
        return nil
    }
    /// Where `aws` keys came from when Tavana obtained them itself (`web_identity`), for logs.
    public var awsKeysSource: String?
    /// Where `gcsBearerToken` came from, for logs.
    public var gcsTokenSource: String?
    private var gcsKeys: Pair?

    private struct Pair: Sendable, Equatable {
        let id: String, secret: String
        init(_ id: String, _ secret: String) { self.id = id; self.secret = secret }
    }

    public init(aws: AWS = .chain, gcsHMAC: (id: String, secret: String)? = nil, azureConnectionString: String? = nil) {
        self.aws = aws
        self.gcsKeys = gcsHMAC.map { Pair($0.id, $0.secret) }
        self.azure = azureConnectionString.map { .connectionString($0) }
    }

    /// From the platform's standard variables: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
    /// AWS_SESSION_TOKEN, GCS_HMAC_KEY_ID / GCS_HMAC_SECRET, AZURE_STORAGE_CONNECTION_STRING,
    /// else AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY (or alone, for the extension's chain).
    public init(environment env: [String: String]) {
        func value(_ name: String) -> String? { env[name].flatMap { $0.isEmpty ? nil : $0 } }
        if let id = value("AWS_ACCESS_KEY_ID"), let secret = value("AWS_SECRET_ACCESS_KEY") {
            aws = .keys(id: id, secret: secret, token: value("AWS_SESSION_TOKEN"))
        } else {
            aws = .chain
        }
        if let id = value("GCS_HMAC_KEY_ID"), let secret = value("GCS_HMAC_SECRET") { gcsKeys = Pair(id, secret) }
        if let connection = value("AZURE_STORAGE_CONNECTION_STRING") {
            azure = .connectionString(connection)
        } else if let account = value("AZURE_STORAGE_ACCOUNT") {
            if let key = value("AZURE_STORAGE_KEY") {
                azure = .connectionString(
                    "DefaultEndpointsProtocol=https;AccountName=\(account);AccountKey=\(key);EndpointSuffix=core.windows.net")
            } else {
                azure = .chain(account: account)
            }
        }
    }

    var secretValues: [String] {
        var values: [String] = []
        if case .keys(_, let secret, let token) = aws {
            values.append(secret)
            if let token { values.append(token) }
        }
        if let gcsKeys { values.append(gcsKeys.secret) }
        if let gcsBearerToken { values.append(gcsBearerToken) }
        switch azure {
        case .connectionString(let text):
            values.append(text)
            // The key alone, too: an error may quote just that part.
            if let key = text.split(separator: ";").first(where: { $0.hasPrefix("AccountKey=") }) {
                values.append(String(key.dropFirst(11)))
            }
        case .accessToken(_, let token, _): values.append(token)
        case .chain, nil: break
        }
        return values
    }

    public var description: String {
        var kinds: [String] = []
        switch aws {
        case .keys: kinds.append("aws=\(awsKeysSource ?? "keys")")
        case .chain: kinds.append("aws=credential_chain")
        }
        if gcsBearerToken != nil { kinds.append("gcs=\(gcsTokenSource ?? "bearer_token")") }
        else if gcsKeys != nil { kinds.append("gcs=hmac") }
        if let azure { kinds.append("azure=\(azure)") }
        return kinds.joined(separator: " ")
    }

    public var debugDescription: String { description }
}
