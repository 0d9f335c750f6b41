import CloudCredentials
import DuckDB
import Foundation
import Scheduler
import Worker

/// Every setting of `tavana serve`, read once at start-up and passed down; nothing reads the
/// environment later. One sub-configuration per component. Sources, lowest priority first:
/// built-in defaults, the JSON config file, `TAVANA_*` environment variables, command-line
/// flags; all three are read into a `SettingsLayer` and applied in that order.
public struct ServerConfiguration: Sendable, Equatable {
    public var host = "127.0.0.1"
    public var logLevel = "info"
    public var postgres = PostgresSettings()
    public var flight = FlightSettings()
    public var http = HTTPSettings()
    public var engine = EngineSettings()
    public var admission = AdmissionSettings()
    public var security = SecuritySettings()
    public var cluster = ClusterSettings()
    /// Object storage the workers sign in to (the chart's `objectStorage.*`, credentials from
    /// the environment).
    public var objectStorage = ObjectStorageConfiguration()
    /// Credentials Tavana obtains and refreshes itself (docs/object-storage.md).
    public var cloudCredentials = CloudCredentialSettings()
    /// The config file's scoped secrets, resolved against the environment's variables.
    public var objectStorageScopes: [SettingsLayer.ScopeDeclaration] = []

    public init() {}

    public struct CloudCredentialSettings: Sendable, Equatable {
        /// Seconds the keys are asked for (STS allows 900 to the role's maximum).
        public var webIdentityDurationSeconds = 3600
        /// Keys are replaced this many seconds before they expire.
        public var refreshMarginSeconds = 300
        /// Azure: ask IMDS for a token when no other identity is set (it cannot be detected
        /// without a network call).
        public var azureManagedIdentity = false
        /// GCS: ask the metadata server for a token (GKE workload identity).
        public var gcsWorkloadIdentity = false
        /// The platform's identity variables, none of them secret except
        /// AZURE_CLIENT_SECRET, which only `azureIdentity` reads (and never prints).
        public var platformEnvironment: [String: String] = [:]

        static let identityVariables = [
            "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_SESSION_NAME", "AWS_REGION", "AWS_DEFAULT_REGION",
            "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS",
            "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_AUTHORITY_HOST", "AZURE_CLIENT_SECRET",
            "AZURE_POD_IDENTITY_AUTHORITY_HOST", "GCE_METADATA_HOST",
        ]
    }

    /// The Azure identity Tavana exchanges for tokens, if the pod has one and no static
    /// credentials (a connection string or account key) are set.
    public var azureIdentity: AzureIdentity? {
        if case .connectionString = objectStorage.credentials.azure { return nil }
        return AzureIdentity(environment: cloudCredentials.platformEnvironment,
                             managedIdentity: cloudCredentials.azureManagedIdentity)
    }

    /// The pod's AWS web identity, if it has one and no static keys are set (static keys win,
    /// as in the AWS SDKs' own order).
    public var webIdentity: WebIdentitySettings? {
        if case .keys = objectStorage.credentials.aws { return nil }
        return WebIdentitySettings(environment: cloudCredentials.platformEnvironment, defaultRegion: objectStorage.region,
                                   durationSeconds: cloudCredentials.webIdentityDurationSeconds)
    }

    /// `tavana gateway` and `tavana worker` (docs/cluster.md).
    public struct ClusterSettings: Sendable, Equatable {
        /// Gateway: the workers, `host:port` each (`--workers`).
        public var workerAddresses: [String] = []
        /// Gateway: a name whose addresses are the workers, re-resolved every few seconds
        /// (`NAME:PORT`, a Kubernetes headless Service).
        public var workerDNS: String?
        /// Gateway: its name on the workers, the same after a restart and different from every
        /// other gateway's; nil: the host name and the PostgreSQL port.
        public var gatewayID: String?
        /// Gateway: the other gateway replicas' PostgreSQL addresses (`host:port`), which get
        /// a CancelRequest this gateway holds no session for.
        public var gatewayPeers: [String] = []
        /// Gateway: a name whose addresses are the gateway replicas (`NAME:PORT`, a headless
        /// Service), looked up at each cancel to forward.
        public var gatewayPeerDNS: String?
        /// Gateway: PEM CA certificates; when given, the gateway connects to its workers with
        /// TLS and verifies their certificates against these (workers serve TLS with
        /// `--tls-cert`/`--tls-key`).
        public var workerTLSCA: String?
        /// Worker: the port gateways call.
        public var workerPort = 9092
        /// Worker: statements that run at once; nil: one per core the container may use.
        public var workerSlots: Int?
        /// Worker: its name in logs and load reports; nil: the host name.
        public var workerID: String?
        /// Worker: seconds a gateway's sessions live without a heartbeat from it.
        public var sessionTTL = 30
        /// Worker: seconds running statements get to finish after SIGTERM.
        public var drainGracePeriod = 25
        /// The shared DuckLake catalog's metadata database (`postgres:host=... dbname=...`,
        /// or a DuckDB file path): every worker attaches it at start as `lake`, and it is
        /// every session's default database, so tables are the same on every worker.
        public var ducklakeMetadata: String?
        /// Where the DuckLake catalog keeps its data files: a folder every worker sees.
        public var ducklakeDataPath: String?
    }

    public struct PostgresSettings: Sendable, Equatable {
        public var port = 5432
        /// Largest frontend message accepted, in bytes (also the longest COPY text line).
        public var maxMessageSize = 64 << 20
        /// Sessions at once (PostgreSQL's max_connections).
        public var maxConnections = 1000
        /// Seconds from connecting to being authenticated (authentication_timeout).
        public var authenticationTimeout = 60
        /// Seconds running statements get to finish after SIGTERM before their connections
        /// are closed (under Kubernetes' default 30 s termination grace period).
        public var shutdownGracePeriod = 25
        /// Bytes of results collected before they are written without waiting for a Flush.
        public var flushThreshold = 256 << 10
    }

    public struct FlightSettings: Sendable, Equatable {
        public var port = 9091
        /// Seconds a bearer token (from basic credentials) stays valid.
        public var tokenLifetime = 24 * 3600
        /// Seconds a ticket waits for its DoGet before its result is dropped.
        public var ticketLifetime = 60
        /// Seconds a prepared statement handle may sit unused before it is closed.
        public var preparedStatementIdleLifetime = 30 * 60
    }

    public struct HTTPSettings: Sendable, Equatable {
        public var port = 8080
    }

    public struct EngineSettings: Sendable, Equatable {
        public var database = ":memory:"
        /// DuckDB threads per query; nil lets DuckDB use every core.
        public var threads: Int?
        public var memoryLimit: String?
        public var tempDirectory: String?
        public var extensionDirectory = DuckDBLibrary.defaultExtensionDirectory
        /// Extensions loaded at start-up; nil means "those of the default set that are installed".
        public var extensions: [String]?
        /// Longest statement text DuckDB is given, in bytes: its parser cannot be interrupted.
        public var maxStatementBytes = 4 << 20
        /// Threads that parse, bind and plan; nil: twice the query slots, at least 4.
        public var parseThreads: Int?
        /// Parse threads one user may hold at once; nil: half of them, at least 1.
        public var parseThreadsPerUser: Int?
        /// Threads that execute and fetch; nil: twice the query slots plus 2.
        public var executionThreads: Int?
        /// Where COPY FROM STDIN data waits for DuckDB; nil: tempDirectory, else the system's.
        public var spoolDirectory: String?
        /// Where the container's limits are read (cgroup v2 or v1), which size DuckDB when
        /// `memoryLimit` / `threads` are not given.
        public var cgroupRoot = "/sys/fs/cgroup"
        /// MiB of the container's memory left outside DuckDB's memory_limit.
        public var memoryReserveMiB = Int(WorkerSizing.defaultReserve >> 20)
        /// Users' SQL reaches only object storage and `allowedDirectories` and changes only
        /// its own session (docs/security.md). Off only for a trusted single-user setup.
        public var sandbox = true
        /// Folders (and URL prefixes) users may read besides object storage; nil: the sample
        /// data in `serve`, nothing on a worker.
        public var allowedDirectories: [String]?
        /// Whether COPY TO / EXPORT DATABASE may write to object storage.
        public var objectStorageWrites = false
        /// Read-only databases every worker attaches at start, by name (docs/object-storage.md).
        public var attachments: [String: String] = [:]
        /// Operator SQL every worker runs at start, after the attachments: views, macros.
        public var startupSQL: [String] = []
    }

    public struct AdmissionSettings: Sendable, Equatable {
        /// Query slots: how many queries run at once (the `--workers` flag).
        public var slots = 2
        /// Queries allowed to wait for a slot; more are refused (SQLSTATE 53000).
        public var maxQueued = 1000
        /// Of those, one user's; nil: no limit beyond maxQueued.
        public var maxQueuedPerUser: Int?
        /// Slots one user may hold at once; nil: all of them.
        public var maxRunningPerUser: Int?
        /// Seconds a query may wait for a slot before it fails (SQLSTATE 53300); 0: no limit.
        public var maxQueueWait = 300

        /// The queue's rules, as the Scheduler applies them.
        public var limits: AdmissionQueue.Limits {
            AdmissionQueue.Limits(slots: slots, runningPerUser: maxRunningPerUser, queued: maxQueued,
                                  queuedPerUser: maxQueuedPerUser, maxWait: maxQueueWait > 0 ? .seconds(maxQueueWait) : nil)
        }
    }

    public struct SecuritySettings: Sendable, Equatable {
        public var authMethod: AuthenticationMethod?
        /// user → secret (plain, md5..., or SCRAM-SHA-256$...). Never logged.
        public var users: [String: String] = [:]
        /// Keys the SCRAM salts of users without a stored verifier; gateway replicas must
        /// share it. nil: a random key for this process.
        public var scramSaltKey: String?
        public var tlsCertificate: String?
        public var tlsKey: String?
    }

    // iceberg needs avro loaded first.
    public static let defaultExtensions = ["httpfs", "aws", "azure", "delta", "avro", "iceberg", "tpch"]

    public enum ConfigurationError: Error, CustomStringConvertible {
        case invalid(String)
        public var description: String {
            switch self { case .invalid(let s): return s }
        }
    }

    // MARK: - Sources

    /// Applies a JSON config file (keys as in `SettingsLayer`).
    public mutating func apply(configFile path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError.invalid("cannot read config file \(path)")
        }
        do {
            try apply(try JSONDecoder().decode(SettingsLayer.self, from: data))
        } catch let error as ConfigurationError {
            throw ConfigurationError.invalid("config file \(path): \(error.description)")
        } catch let error as DecodingError {
            throw ConfigurationError.invalid("config file \(path): \(SettingsLayer.describe(error))")
        }
    }

    /// Environment variables, `TAVANA_PG_PORT` style.
    public mutating func apply(environment: [String: String]) throws {
        try apply(try SettingsLayer(environment: environment))
        // Credentials come only from the platform's own variables, never from the config
        // file or flags (where they would sit in a ConfigMap or in `ps`).
        objectStorage.credentials = ObjectStorageCredentials(environment: environment)
        objectStorage.scoped = try objectStorageScopes.map { try Self.resolve($0, environment) }
        cloudCredentials.platformEnvironment = environment.filter {
            CloudCredentialSettings.identityVariables.contains($0.key) && !$0.value.isEmpty
        }
    }

    /// Settings given by key (command-line flags).
    public mutating func apply(_ strings: [String: String]) throws {
        try apply(try SettingsLayer(strings: strings))
    }

    /// Applies one layer: each setting it has replaces the one before, after its range is
    /// checked.
    public mutating func apply(_ layer: SettingsLayer) throws {
        func ranged(_ key: String, _ value: Int?, _ range: ClosedRange<Int>) throws -> Int? {
            guard let value else { return nil }
            guard range.contains(value) else {
                throw ConfigurationError.invalid("\(key) must be a whole number in \(range.lowerBound)...\(range.upperBound), got \(value)")
            }
            return value
        }
        if let v = layer.host { host = v }
        if let v = layer.logLevel { logLevel = v }
        if let v = try ranged("pgPort", layer.pgPort, 0...65535) { postgres.port = v }
        if let v = try ranged("maxMessageSize", layer.maxMessageSize, 1024...(1 << 30)) { postgres.maxMessageSize = v }
        if let v = try ranged("maxConnections", layer.maxConnections, 1...1_000_000) { postgres.maxConnections = v }
        if let v = try ranged("authenticationTimeout", layer.authenticationTimeout, 1...3600) { postgres.authenticationTimeout = v }
        if let v = try ranged("flushThreshold", layer.flushThreshold, 4096...(64 << 20)) { postgres.flushThreshold = v }
        if let v = try ranged("flightPort", layer.flightPort, 0...65535) { flight.port = v }
        if let v = try ranged("flightTokenLifetime", layer.flightTokenLifetime, 1...(366 * 24 * 3600)) { flight.tokenLifetime = v }
        if let v = try ranged("flightTicketLifetime", layer.flightTicketLifetime, 1...(24 * 3600)) { flight.ticketLifetime = v }
        if let v = try ranged("flightPreparedIdleLifetime", layer.flightPreparedIdleLifetime, 1...(7 * 24 * 3600)) {
            flight.preparedStatementIdleLifetime = v
        }
        if let v = try ranged("httpPort", layer.httpPort, 0...65535) { http.port = v }
        if let v = layer.database { engine.database = v }
        if let v = try ranged("threads", layer.threads, 1...4096) { engine.threads = v }
        if let v = layer.memoryLimit { engine.memoryLimit = v }
        if let v = layer.tempDirectory { engine.tempDirectory = v }
        if let v = layer.extensionDirectory { engine.extensionDirectory = v }
        if let v = layer.extensions { engine.extensions = v }
        if let v = try ranged("maxStatementBytes", layer.maxStatementBytes, 64...(1 << 30)) { engine.maxStatementBytes = v }
        if let v = try ranged("parseThreads", layer.parseThreads, 1...1024) { engine.parseThreads = v }
        if let v = try ranged("parseThreadsPerUser", layer.parseThreadsPerUser, 1...1024) { engine.parseThreadsPerUser = v }
        if let v = try ranged("executionThreads", layer.executionThreads, 2...4096) { engine.executionThreads = v }
        if let v = layer.spoolDirectory { engine.spoolDirectory = v }
        if let v = layer.cgroupRoot { engine.cgroupRoot = v }
        if let v = try ranged("memoryReserve", layer.memoryReserve, 0...(1 << 30)) { engine.memoryReserveMiB = v }
        if let v = try ranged("workers", layer.workers, 1...4096) { admission.slots = v }
        if let v = try ranged("maxQueued", layer.maxQueued, 0...10_000_000) { admission.maxQueued = v }
        if let v = try ranged("maxQueuedPerUser", layer.maxQueuedPerUser, 0...10_000_000) { admission.maxQueuedPerUser = v }
        if let v = try ranged("maxRunningPerUser", layer.maxRunningPerUser, 1...4096) { admission.maxRunningPerUser = v }
        if let v = try ranged("maxQueueWait", layer.maxQueueWait, 0...86_400) { admission.maxQueueWait = v }
        if let v = try ranged("shutdownGracePeriod", layer.shutdownGracePeriod, 0...86_400) { postgres.shutdownGracePeriod = v }
        if let v = layer.authMethod {
            guard let m = AuthenticationMethod(rawValue: v.lowercased()) else {
                throw ConfigurationError.invalid("authMethod must be one of \(AuthenticationMethod.allCases.map(\.rawValue).joined(separator: ", ")), got \(v)")
            }
            security.authMethod = m
        }
        if let v = layer.users { security.users.merge(v) { $1 } }
        if let v = layer.scramSaltKey { security.scramSaltKey = v }
        if let v = layer.tlsCertificate { security.tlsCertificate = v }
        if let v = layer.tlsKey { security.tlsKey = v }
        if let v = layer.workerAddresses { cluster.workerAddresses = v }
        if let v = layer.workerDNS { cluster.workerDNS = v }
        if let v = layer.gatewayID { cluster.gatewayID = v }
        if let v = layer.gatewayPeers { cluster.gatewayPeers = v }
        if let v = layer.gatewayPeerDNS { cluster.gatewayPeerDNS = v.isEmpty ? nil : v }
        if let v = layer.workerTLSCA { cluster.workerTLSCA = v.isEmpty ? nil : v }
        if let v = try ranged("workerPort", layer.workerPort, 0...65535) { cluster.workerPort = v }
        if let v = try ranged("workerSlots", layer.workerSlots, 1...4096) { cluster.workerSlots = v }
        if let v = layer.workerID { cluster.workerID = v }
        if let v = try ranged("workerSessionTTL", layer.workerSessionTTL, 2...86_400) { cluster.sessionTTL = v }
        if let v = try ranged("workerDrainGracePeriod", layer.workerDrainGracePeriod, 0...86_400) { cluster.drainGracePeriod = v }
        if let v = layer.ducklakeMetadata { cluster.ducklakeMetadata = v.isEmpty ? nil : v }
        if let v = layer.ducklakeDataPath { cluster.ducklakeDataPath = v.isEmpty ? nil : v }
        if let v = layer.objectStorageEndpoint { objectStorage.endpoint = v.isEmpty ? nil : v }
        if let v = layer.objectStorageBucket { objectStorage.bucket = v.isEmpty ? nil : v }
        if let v = layer.objectStorageRegion, !v.isEmpty { objectStorage.region = v }
        if let v = layer.objectStorageUrlStyle {
            guard ["", "path", "vhost"].contains(v) else {
                throw ConfigurationError.invalid("objectStorageUrlStyle must be path or vhost, got \(v)")
            }
            objectStorage.urlStyle = v.isEmpty ? nil : v
        }
        if let v = layer.objectStorageUseSSL {
            objectStorage.useSSL = v.isEmpty ? nil : try Self.boolean("objectStorageUseSSL", v)
        }
        if let v = layer.objectStorageWrites { engine.objectStorageWrites = try Self.boolean("objectStorageWrites", v) }
        if let v = layer.sandbox { engine.sandbox = try Self.boolean("sandbox", v) }
        if let v = layer.allowedDirectories { engine.allowedDirectories = v }
        if let v = layer.objectStorageScopes { objectStorageScopes = v }
        if let v = layer.webIdentityDuration {
            guard (900...43_200).contains(v) else {
                throw ConfigurationError.invalid("webIdentityDuration must be 900 to 43200 seconds (what STS allows), got \(v)")
            }
            cloudCredentials.webIdentityDurationSeconds = v
        }
        if let v = layer.gcsEndpoint { objectStorage.gcsEndpoint = v.isEmpty ? nil : v }
        if let v = layer.azureManagedIdentity {
            cloudCredentials.azureManagedIdentity = try Self.boolean("azureManagedIdentity", v)
        }
        if let v = layer.gcsWorkloadIdentity {
            cloudCredentials.gcsWorkloadIdentity = try Self.boolean("gcsWorkloadIdentity", v)
        }
        if let v = layer.credentialRefreshMargin {
            guard v >= 0 else { throw ConfigurationError.invalid("credentialRefreshMargin must be 0 or more seconds, got \(v)") }
            cloudCredentials.refreshMarginSeconds = v
        }
        guard cloudCredentials.refreshMarginSeconds < cloudCredentials.webIdentityDurationSeconds else {
            throw ConfigurationError.invalid("credentialRefreshMargin must be shorter than webIdentityDuration")
        }
        if let v = layer.attach {
            for (name, path) in v {
                try Self.checkAttachment(name: name, path: path)
            }
            engine.attachments = v
        }
        if let v = layer.startupSql { engine.startupSQL = v.filter { !$0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty } }
        if let path = layer.startupSqlFile, !path.isEmpty {
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                throw ConfigurationError.invalid("startupSqlFile \(path) cannot be read as UTF-8 text")
            }
            engine.startupSQL.append(text)
        }
    }

    /// A scoped secret with its credentials read from the variables it names.
    static func resolve(_ declaration: SettingsLayer.ScopeDeclaration, _ env: [String: String]) throws -> ScopedStorage {
        let scope = declaration.scope
        guard let kind = ScopedStorage.Kind(rawValue: declaration.type.lowercased()) else {
            throw ConfigurationError.invalid("objectStorageScopes: \(scope): type must be s3, gcs or azure, got \(declaration.type)")
        }
        let prefixes = kind == .s3 ? ["s3://"] : kind == .gcs ? ["gs://", "gcs://"] : ["az://", "azure://", "abfss://"]
        guard prefixes.contains(where: { scope.hasPrefix($0) && scope.count > $0.count }) else {
            throw ConfigurationError.invalid("objectStorageScopes: \(scope) must start with \(prefixes.joined(separator: " or ")) and name a bucket")
        }
        func variable(_ name: String?, _ what: String) throws -> String {
            guard let name, !name.isEmpty else {
                throw ConfigurationError.invalid("objectStorageScopes: \(scope) needs \(what)")
            }
            guard let value = env[name], !value.isEmpty else {
                throw ConfigurationError.invalid("objectStorageScopes: \(scope): the variable \(name) is not set")
            }
            return value
        }
        switch kind {
        case .s3, .gcs:
            return ScopedStorage(kind: kind, scope: scope, keyID: try variable(declaration.keyIdVariable, "keyIdVariable"),
                                 secret: try variable(declaration.secretVariable, "secretVariable"),
                                 endpoint: declaration.endpoint, region: declaration.region)
        case .azure:
            return ScopedStorage(kind: kind, scope: scope,
                                 connectionString: try variable(declaration.connectionStringVariable, "connectionStringVariable"))
        }
    }

    /// Names the sessions already use, which an attachment may not take.
    static let reservedCatalogNames: Set<String> = ["memory", "system", "temp", "main", sharedCatalogName]

    static func checkAttachment(name: String, path: String) throws {
        func letter(_ b: UInt8) -> Bool { (b | 0x20) >= UInt8(ascii: "a") && (b | 0x20) <= UInt8(ascii: "z") || b == UInt8(ascii: "_") }
        func digit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }
        guard let first = name.utf8.first, letter(first), name.utf8.allSatisfy({ letter($0) || digit($0) }), name.utf8.count <= 63 else {
            throw ConfigurationError.invalid("attach: \(name) is not a database name (letters, digits and _, starting with a letter or _)")
        }
        guard !reservedCatalogNames.contains(name.lowercased()) else {
            throw ConfigurationError.invalid("attach: the name \(name) is taken")
        }
        let target = attachment(path).1
        guard !target.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw ConfigurationError.invalid("attach: \(name) needs a path")
        }
    }

    /// The attachments and start-up SQL, as the statements a worker runs once at start (after
    /// the shared catalog, so views may name its tables; before the sandbox locks the database,
    /// so the operator's statements are not confined). Attached in name order, read-only:
    /// every worker sees the same files, and no session may change them.
    var operatorStartup: [String] {
        engine.attachments.keys.sorted().flatMap { name in
            Self.attachStatements(name: name, path: engine.attachments[name]!)
        } + engine.startupSQL
    }

    /// One attachment, read-only: a DuckDB database file, or a Delta table (`delta:PATH`),
    /// whose snapshot is read again by every query, or (`delta-pinned:PATH`) once at start and
    /// reused by every query until the worker restarts: the fastest way to query a table
    /// that is not written while Tavana serves it.
    static func attachStatements(name: String, path: String) -> [String] {
        let alias = SQLText.identifier(name)
        let (kind, target) = attachment(path)
        switch kind {
        case .deltaPinned:
            // DuckDB pins the snapshot on the first read, not at ATTACH: read it now, so that
            // every worker serves the snapshot of its start, whichever it is asked first.
            return ["ATTACH \(SQLText.literal(target)) AS \(alias) (TYPE delta, PIN_SNAPSHOT, READ_ONLY)",
                    "SELECT * FROM \(alias) LIMIT 0"]
        case .delta:
            return ["ATTACH \(SQLText.literal(target)) AS \(alias) (TYPE delta, READ_ONLY)"]
        case .database:
            return ["ATTACH \(SQLText.literal(target)) AS \(alias) (READ_ONLY)"]
        }
    }

    enum AttachmentKind { case database, delta, deltaPinned }

    /// What an `attach` value names, and the path itself: the one reading of its prefix, for
    /// the check at start and for the statements.
    static func attachment(_ path: String) -> (AttachmentKind, String) {
        if let rest = dropPrefix("delta-pinned:", from: path) { return (.deltaPinned, rest) }
        if let rest = dropPrefix("delta:", from: path) { return (.delta, rest) }
        return (.database, path)
    }

    static func dropPrefix(_ prefix: String, from text: String) -> String? {
        guard text.lowercased().hasPrefix(prefix) else { return nil }
        return String(text.dropFirst(prefix.count)).trimmingCharacters(in: .whitespaces)
    }

    /// The catalog DuckDB names the worker's own database: `memory`, or a file's name
    /// without its extension.
    var ownCatalogName: String {
        if engine.database == ":memory:" || engine.database.isEmpty { return "memory" }
        let file = (engine.database as NSString).lastPathComponent
        return (file as NSString).deletingPathExtension
    }

    /// What every session runs first: the shared catalog as its default database and, when
    /// start-up SQL made views or macros in the worker's own database, that database on the
    /// search path too (so they are found by their bare names).
    var sessionSetup: [String] {
        guard cluster.ducklakeMetadata != nil else { return [] }
        var setup = ["USE \(Self.sharedCatalogName)"]
        if !engine.startupSQL.isEmpty {
            setup.append("SET search_path = \(SQLText.literal("\(Self.sharedCatalogName).main,\(ownCatalogName).main"))")
        }
        return setup
    }

    static func boolean(_ key: String, _ text: String) throws -> Bool {
        switch text.lowercased() {
        case "true", "1", "yes", "on": return true
        case "false", "0", "no", "off": return false
        default: throw ConfigurationError.invalid("\(key) must be true or false, got \(text)")
        }
    }

    // MARK: - What the components get

    public var isLoopback: Bool {
        ["127.0.0.1", "::1", "localhost"].contains(host) || host.hasPrefix("127.")
    }

    /// How clients authenticate: trust only on loopback with no users; otherwise a password
    /// method is required (SCRAM by default).
    public func credentials() throws -> CredentialStore {
        let users = security.users.mapValues(StoredSecret.parse)
        let method = security.authMethod ?? (users.isEmpty ? .trust : .scramSHA256)
        if method == .trust && !isLoopback && security.authMethod == nil {
            throw ConfigurationError.invalid(
                "listening on \(host) needs authentication: set TAVANA_USERS (user:password or a SCRAM/md5 hash), or TAVANA_AUTH_METHOD=trust explicitly")
        }
        if method != .trust && users.isEmpty {
            throw ConfigurationError.invalid("authentication method \(method.rawValue) needs at least one user (TAVANA_USERS)")
        }
        let key: [UInt8]
        if let configured = security.scramSaltKey {
            guard configured.utf8.count >= 16 else {
                throw ConfigurationError.invalid("scramSaltKey must be at least 16 characters")
            }
            key = Array(configured.utf8)
        } else {
            var generator = SystemRandomNumberGenerator()
            key = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        }
        return CredentialStore(method: method, users: users, saltKey: key)
    }

    /// How DuckDB is sized where the configuration does not say: from the container.
    public func sizing(_ limits: ContainerLimits) -> WorkerSizing {
        var sizing = WorkerSizing(limits: limits, reserve: UInt64(engine.memoryReserveMiB) << 20)
        if engine.memoryLimit != nil { sizing.memoryLimitBytes = nil }
        if engine.threads != nil { sizing.threads = nil }
        return sizing
    }

    /// The in-process worker: DuckDB plus its thread pools and parse limits.
    /// `defaultAllowedDirectories`: what users may read when `allowedDirectories` is not set.
    public func workerConfiguration(sizing: WorkerSizing = WorkerSizing(limits: ContainerLimits()),
                                    defaultAllowedDirectories: [String] = []) -> WorkerConfiguration {
        let parse = engine.parseThreads ?? max(4, admission.slots * 2)
        var configuration = WorkerConfiguration(
            database: databaseConfiguration(sizing: sizing), executionThreads: engine.executionThreads ?? admission.slots * 2 + 2,
            parseThreads: parse, parseThreadsPerUser: min(parse, engine.parseThreadsPerUser ?? max(1, parse / 2)),
            maxStatementBytes: engine.maxStatementBytes, spoolDirectory: engine.spoolDirectory,
            objectStorage: objectStorage, startup: sharedCatalogStartup + operatorStartup, sessionSetup: sessionSetup)
        if engine.sandbox {
            var allowed = engine.allowedDirectories ?? defaultAllowedDirectories
            // DuckLake reads and writes its data files through DuckDB's file system, which the
            // sandbox confines too; that folder holds the tables users may read anyway.
            if cluster.ducklakeMetadata != nil, let path = cluster.ducklakeDataPath { allowed.append(path) }
            configuration.sandbox = Sandbox(allowedDirectories: allowed, allowsObjectStorageWrites: engine.objectStorageWrites)
        }
        return configuration
    }

    /// The sample data `make serve` queries (`examples/data` of the working directory), which
    /// `serve` lets users read by default.
    public static func sampleDataDirectories(workingDirectory: String = FileManager.default.currentDirectoryPath) -> [String] {
        let folder = (workingDirectory as NSString).appendingPathComponent("examples/data")
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory) && isDirectory.boolValue ? [folder] : []
    }

    /// The shared catalog's name in every session.
    public static let sharedCatalogName = "lake"

    /// Attaches the shared DuckLake catalog, if one is configured.
    var sharedCatalogStartup: [String] {
        guard let metadata = cluster.ducklakeMetadata else { return [] }
        var options: [String] = []
        if let path = cluster.ducklakeDataPath { options.append("DATA_PATH \(SQLText.literal(path))") }
        let suffix = options.isEmpty ? "" : " (\(options.joined(separator: ", ")))"
        return ["ATTACH \(SQLText.literal("ducklake:" + metadata)) AS \(Self.sharedCatalogName)\(suffix)"]
    }

    /// The DuckDB side of the configuration.
    public func databaseConfiguration(sizing: WorkerSizing = WorkerSizing(limits: ContainerLimits())) -> DatabaseConfiguration {
        var wanted = engine.extensions ?? Self.defaultExtensions.filter {
            FileManager.default.fileExists(atPath: "\(engine.extensionDirectory)/\(DuckDBLibrary.expectedVersion)/linux_amd64/\($0).duckdb_extension")
        }
        // The shared catalog needs DuckLake, and the postgres extension for its metadata there.
        if let metadata = cluster.ducklakeMetadata {
            var needed = ["ducklake"]
            if metadata.hasPrefix("postgres:") { needed.insert("postgres_scanner", at: 0) }
            wanted += needed.filter { !wanted.contains($0) }
        }
        return DatabaseConfiguration(
            path: engine.database, threads: engine.threads ?? sizing.threads,
            memoryLimit: engine.memoryLimit ?? sizing.memoryLimitSetting, tempDirectory: engine.tempDirectory,
            extensionDirectory: engine.extensionDirectory, extensions: wanted)
    }
}
