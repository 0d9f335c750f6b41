import Foundation

/// One source of settings: the config file (decoded with Codable), the environment or the
/// command line. Every field is optional; `ServerConfiguration.apply(_:)` checks ranges and
/// applies what is set. The config file's keys are these names; a key it does not know is
/// an error (a misspelt setting would otherwise be ignored silently).
public struct SettingsLayer: Sendable, Equatable, Codable {
    public var host: String?
    public var pgPort: Int?
    public var flightPort: Int?
    public var httpPort: Int?
    public var database: String?
    public var workers: Int?
    public var threads: Int?
    public var memoryLimit: String?
    public var tempDirectory: String?
    public var extensionDirectory: String?
    public var extensions: [String]?
    public var maxQueued: Int?
    public var cgroupRoot: String?
    public var shutdownGracePeriod: Int?
    public var memoryReserve: Int?
    public var maxQueuedPerUser: Int?
    public var maxRunningPerUser: Int?
    public var maxQueueWait: Int?
    public var flightTokenLifetime: Int?
    public var flightTicketLifetime: Int?
    public var flightPreparedIdleLifetime: Int?
    public var maxMessageSize: Int?
    public var maxStatementBytes: Int?
    public var maxConnections: Int?
    public var authenticationTimeout: Int?
    public var flushThreshold: Int?
    public var parseThreads: Int?
    public var parseThreadsPerUser: Int?
    public var executionThreads: Int?
    public var spoolDirectory: String?
    public var authMethod: String?
    public var users: [String: String]?
    public var scramSaltKey: String?
    public var tlsCertificate: String?
    public var tlsKey: String?
    public var logLevel: String?
    // Cluster mode.
    public var workerAddresses: [String]?
    public var workerDNS: String?
    public var gatewayID: String?
    public var gatewayPeers: [String]?
    public var gatewayPeerDNS: String?
    public var workerTLSCA: String?
    public var workerPort: Int?
    public var workerSlots: Int?
    public var workerID: String?
    public var workerSessionTTL: Int?
    public var workerDrainGracePeriod: Int?
    public var ducklakeMetadata: String?
    public var ducklakeDataPath: String?
    // Object storage (the chart's objectStorage.*).
    public var objectStorageEndpoint: String?
    public var objectStorageBucket: String?
    public var objectStorageRegion: String?
    public var objectStorageUrlStyle: String?
    public var objectStorageUseSSL: String?
    public var objectStorageWrites: String?
    // The sandbox (docs/security.md).
    public var sandbox: String?
    public var allowedDirectories: [String]?
    // What every worker sets up when it starts (docs/object-storage.md).
    /// Read-only databases attached at start: name -> path (`s3://…/ref.duckdb`).
    public var attach: [String: String]?
    /// SQL run once on each worker at start (views, macros); several statements allowed.
    public var startupSql: [String]?
    /// A file of start-up SQL (a mounted ConfigMap), run after `startupSql`.
    public var startupSqlFile: String?
    /// Buckets or accounts with credentials of their own; config file only.
    public var objectStorageScopes: [ScopeDeclaration]?
    /// Seconds of AWS web identity keys, and how long before their end they are replaced.
    public var webIdentityDuration: Int?
    public var credentialRefreshMargin: Int?
    /// GCS's own endpoint, when it is not objectStorageEndpoint.
    public var gcsEndpoint: String?
    /// Ask the instance metadata service for an Azure token (managed identity).
    public var azureManagedIdentity: String?
    /// Ask the metadata server for a GCS token (GKE workload identity, a VM's service account).
    public var gcsWorkloadIdentity: String?

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case host, pgPort, flightPort, httpPort, database, workers, threads, memoryLimit, tempDirectory
        case extensionDirectory, extensions, maxQueued, flightTokenLifetime, flightTicketLifetime
        case flightPreparedIdleLifetime, maxMessageSize, maxStatementBytes, maxConnections, authenticationTimeout
        case flushThreshold, parseThreads, parseThreadsPerUser, executionThreads, spoolDirectory, authMethod, users
        case scramSaltKey, tlsCertificate, tlsKey, logLevel, maxQueuedPerUser, maxRunningPerUser, maxQueueWait
        case cgroupRoot, memoryReserve, shutdownGracePeriod
        case workerAddresses, workerDNS, gatewayID, workerPort, workerSlots, workerID, workerSessionTTL
        case workerDrainGracePeriod, ducklakeMetadata, ducklakeDataPath, gatewayPeers, gatewayPeerDNS, workerTLSCA
        case objectStorageEndpoint, objectStorageBucket, objectStorageRegion, objectStorageUrlStyle, objectStorageUseSSL
        case objectStorageWrites, sandbox, allowedDirectories, attach, startupSql, startupSqlFile
        case webIdentityDuration, credentialRefreshMargin, objectStorageScopes
        case gcsEndpoint, azureManagedIdentity, gcsWorkloadIdentity
    }

    /// One scoped secret as the config file declares it: which storage, and the names of the
    /// environment variables that hold its credentials (values never sit in the file).
    public struct ScopeDeclaration: Sendable, Equatable, Codable {
        public var type: String
        public var scope: String
        public var keyIdVariable: String?
        public var secretVariable: String?
        public var connectionStringVariable: String?
        public var endpoint: String?
        public var region: String?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case type, scope, keyIdVariable, secretVariable, connectionStringVariable, endpoint, region
        }

        /// Refuses keys it does not know, as the file's top level does: above all a secret
        /// written inline, where only a variable's name belongs.
        public init(from decoder: any Decoder) throws {
            let all = try decoder.container(keyedBy: AnyKey.self)
            let known = Set(CodingKeys.allCases.map(\.rawValue))
            for key in all.allKeys where !known.contains(key.stringValue) {
                throw ServerConfiguration.ConfigurationError.invalid(
                    "objectStorageScopes: unknown key \(key.stringValue) (credentials are named by variable: keyIdVariable, secretVariable, connectionStringVariable)")
            }
            let c = try decoder.container(keyedBy: CodingKeys.self)
            type = try c.decode(String.self, forKey: .type)
            scope = try c.decode(String.self, forKey: .scope)
            keyIdVariable = try c.decodeIfPresent(String.self, forKey: .keyIdVariable)
            secretVariable = try c.decodeIfPresent(String.self, forKey: .secretVariable)
            connectionStringVariable = try c.decodeIfPresent(String.self, forKey: .connectionStringVariable)
            endpoint = try c.decodeIfPresent(String.self, forKey: .endpoint)
            region = try c.decodeIfPresent(String.self, forKey: .region)
        }
    }

    /// The environment variable of each key.
    static let environmentNames: [String: CodingKeys] = [
        "TAVANA_HOST": .host, "TAVANA_PG_PORT": .pgPort, "TAVANA_FLIGHT_PORT": .flightPort,
        "TAVANA_HTTP_PORT": .httpPort, "TAVANA_DATABASE": .database, "TAVANA_WORKERS": .workers,
        "TAVANA_THREADS": .threads, "TAVANA_MEMORY_LIMIT": .memoryLimit, "TAVANA_TEMP_DIRECTORY": .tempDirectory,
        "TAVANA_EXTENSION_DIRECTORY": .extensionDirectory, "TAVANA_EXTENSIONS": .extensions,
        "TAVANA_MAX_QUEUED": .maxQueued, "TAVANA_MAX_MESSAGE_SIZE": .maxMessageSize,
        "TAVANA_AUTH_METHOD": .authMethod, "TAVANA_TLS_CERT": .tlsCertificate, "TAVANA_TLS_KEY": .tlsKey,
        "TAVANA_LOG_LEVEL": .logLevel, "TAVANA_FLIGHT_TOKEN_LIFETIME": .flightTokenLifetime,
        "TAVANA_FLIGHT_TICKET_LIFETIME": .flightTicketLifetime,
        "TAVANA_FLIGHT_PREPARED_IDLE_LIFETIME": .flightPreparedIdleLifetime,
        "TAVANA_MAX_STATEMENT_BYTES": .maxStatementBytes, "TAVANA_PARSE_THREADS": .parseThreads,
        "TAVANA_PARSE_THREADS_PER_USER": .parseThreadsPerUser, "TAVANA_EXECUTION_THREADS": .executionThreads,
        "TAVANA_MAX_CONNECTIONS": .maxConnections, "TAVANA_AUTHENTICATION_TIMEOUT": .authenticationTimeout,
        "TAVANA_FLUSH_THRESHOLD": .flushThreshold, "TAVANA_SPOOL_DIRECTORY": .spoolDirectory,
        "TAVANA_SCRAM_SALT_KEY": .scramSaltKey, "TAVANA_MAX_QUEUED_PER_USER": .maxQueuedPerUser,
        "TAVANA_MAX_RUNNING_PER_USER": .maxRunningPerUser, "TAVANA_MAX_QUEUE_WAIT": .maxQueueWait,
        "TAVANA_CGROUP_ROOT": .cgroupRoot, "TAVANA_MEMORY_RESERVE": .memoryReserve,
        "TAVANA_SHUTDOWN_GRACE_PERIOD": .shutdownGracePeriod,
        "TAVANA_WORKER_ADDRESSES": .workerAddresses, "TAVANA_WORKER_DNS": .workerDNS,
        "TAVANA_GATEWAY_ID": .gatewayID, "TAVANA_WORKER_PORT": .workerPort, "TAVANA_WORKER_SLOTS": .workerSlots,
        "TAVANA_WORKER_ID": .workerID, "TAVANA_WORKER_SESSION_TTL": .workerSessionTTL,
        "TAVANA_WORKER_DRAIN_GRACE_PERIOD": .workerDrainGracePeriod,
        "TAVANA_DUCKLAKE_METADATA": .ducklakeMetadata, "TAVANA_DUCKLAKE_DATA_PATH": .ducklakeDataPath,
        "TAVANA_GATEWAY_PEERS": .gatewayPeers, "TAVANA_GATEWAY_PEER_DNS": .gatewayPeerDNS,
        "TAVANA_WORKER_TLS_CA": .workerTLSCA,
        "TAVANA_OBJECT_STORAGE_ENDPOINT": .objectStorageEndpoint, "TAVANA_OBJECT_STORAGE_BUCKET": .objectStorageBucket,
        "TAVANA_OBJECT_STORAGE_REGION": .objectStorageRegion, "TAVANA_OBJECT_STORAGE_URL_STYLE": .objectStorageUrlStyle,
        "TAVANA_OBJECT_STORAGE_USE_SSL": .objectStorageUseSSL, "TAVANA_OBJECT_STORAGE_WRITES": .objectStorageWrites,
        "TAVANA_SANDBOX": .sandbox, "TAVANA_ALLOWED_DIRECTORIES": .allowedDirectories,
        "TAVANA_ATTACH": .attach, "TAVANA_STARTUP_SQL": .startupSql, "TAVANA_STARTUP_SQL_FILE": .startupSqlFile,
        "TAVANA_WEB_IDENTITY_DURATION": .webIdentityDuration, "TAVANA_CREDENTIAL_REFRESH_MARGIN": .credentialRefreshMargin,
        "TAVANA_GCS_ENDPOINT": .gcsEndpoint, "TAVANA_AZURE_MANAGED_IDENTITY": .azureManagedIdentity,
        "TAVANA_GCS_WORKLOAD_IDENTITY": .gcsWorkloadIdentity,
    ]

    public init(from decoder: any Decoder) throws {
        let all = try decoder.container(keyedBy: AnyKey.self)
        let known = Set(CodingKeys.allCases.map(\.rawValue))
        for key in all.allKeys where !known.contains(key.stringValue) {
            throw ServerConfiguration.ConfigurationError.invalid("unknown setting \(key.stringValue)")
        }
        let c = try decoder.container(keyedBy: CodingKeys.self)
        for key in CodingKeys.allCases where c.contains(key) {
            switch key {
            case .users:
                users = try c.decode([String: String].self, forKey: key)
            case .attach:
                // An object of name: path, or the environment's `name=path,...`.
                if let map = try? c.decode([String: String].self, forKey: key) {
                    attach = map
                } else {
                    try set(key, try c.decode(FlexibleString.self, forKey: key).value)
                }
            case .objectStorageScopes:
                objectStorageScopes = try c.decode([ScopeDeclaration].self, forKey: key)
            case .startupSql:
                // A list of statements, or one string (which may hold several).
                if let list = try? c.decode([String].self, forKey: key) {
                    startupSql = list
                } else {
                    try set(key, try c.decode(FlexibleString.self, forKey: key).value)
                }
            case .extensions, .workerAddresses, .gatewayPeers, .allowedDirectories:
                // A list, or one comma-separated string as in the environment.
                if let list = try? c.decode([String].self, forKey: key) {
                    switch key {
                    case .extensions: extensions = list
                    case .workerAddresses: workerAddresses = list
                    case .allowedDirectories: allowedDirectories = list
                    default: gatewayPeers = list
                    }
                } else {
                    try set(key, try c.decode(FlexibleString.self, forKey: key).value)
                }
            default:
                // Numbers may be written as numbers or as strings ("pgPort": "5433").
                try set(key, try c.decode(FlexibleString.self, forKey: key).value)
            }
        }
    }

    /// From `TAVANA_*` variables; `TAVANA_USERS` is `alice:secret,bob:md5...` (a secret may
    /// itself contain ':', as SCRAM verifiers do).
    public init(environment env: [String: String]) throws {
        for (name, key) in Self.environmentNames {
            if let v = env[name], !v.isEmpty { try set(key, v) }
        }
        if let list = env["TAVANA_USERS"], !list.isEmpty {
            var users: [String: String] = [:]
            for entry in list.split(separator: ",") {
                guard let colon = entry.firstIndex(of: ":") else {
                    throw ServerConfiguration.ConfigurationError.invalid("TAVANA_USERS entries are user:secret")
                }
                users[String(entry[..<colon])] = String(entry[entry.index(after: colon)...])
            }
            self.users = users
        }
    }

    /// From settings by key (the command line's flags).
    public init(strings: [String: String]) throws {
        for (name, value) in strings {
            guard let key = CodingKeys(rawValue: name) else {
                throw ServerConfiguration.ConfigurationError.invalid("unknown setting \(name)")
            }
            try set(key, value)
        }
    }

    /// Sets one field from its text.
    mutating func set(_ key: CodingKeys, _ text: String) throws {
        func int() throws -> Int {
            guard let n = Int(text.trimmingCharacters(in: .whitespaces)) else {
                throw ServerConfiguration.ConfigurationError.invalid("\(key.rawValue) must be a whole number, got \(text)")
            }
            return n
        }
        switch key {
        case .host: host = text
        case .pgPort: pgPort = try int()
        case .flightPort: flightPort = try int()
        case .httpPort: httpPort = try int()
        case .database: database = text
        case .workers: workers = try int()
        case .threads: threads = try int()
        case .memoryLimit: memoryLimit = text
        case .tempDirectory: tempDirectory = text
        case .extensionDirectory: extensionDirectory = text
        case .extensions:
            extensions = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        case .maxQueued: maxQueued = try int()
        case .maxQueuedPerUser: maxQueuedPerUser = try int()
        case .maxRunningPerUser: maxRunningPerUser = try int()
        case .maxQueueWait: maxQueueWait = try int()
        case .cgroupRoot: cgroupRoot = text
        case .shutdownGracePeriod: shutdownGracePeriod = try int()
        case .memoryReserve: memoryReserve = try int()
        case .flightTokenLifetime: flightTokenLifetime = try int()
        case .flightTicketLifetime: flightTicketLifetime = try int()
        case .flightPreparedIdleLifetime: flightPreparedIdleLifetime = try int()
        case .maxMessageSize: maxMessageSize = try int()
        case .maxStatementBytes: maxStatementBytes = try int()
        case .maxConnections: maxConnections = try int()
        case .authenticationTimeout: authenticationTimeout = try int()
        case .flushThreshold: flushThreshold = try int()
        case .parseThreads: parseThreads = try int()
        case .parseThreadsPerUser: parseThreadsPerUser = try int()
        case .executionThreads: executionThreads = try int()
        case .spoolDirectory: spoolDirectory = text
        case .authMethod: authMethod = text
        case .users: throw ServerConfiguration.ConfigurationError.invalid("users is an object of user: secret")
        case .scramSaltKey: scramSaltKey = text
        case .tlsCertificate: tlsCertificate = text
        case .tlsKey: tlsKey = text
        case .logLevel: logLevel = text
        case .workerAddresses:
            workerAddresses = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        case .workerDNS: workerDNS = text
        case .gatewayPeers:
            gatewayPeers = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        case .gatewayPeerDNS: gatewayPeerDNS = text
        case .workerTLSCA: workerTLSCA = text
        case .gatewayID: gatewayID = text
        case .workerPort: workerPort = try int()
        case .workerSlots: workerSlots = try int()
        case .workerID: workerID = text
        case .workerSessionTTL: workerSessionTTL = try int()
        case .workerDrainGracePeriod: workerDrainGracePeriod = try int()
        case .ducklakeMetadata: ducklakeMetadata = text
        case .ducklakeDataPath: ducklakeDataPath = text
        case .objectStorageEndpoint: objectStorageEndpoint = text
        case .objectStorageBucket: objectStorageBucket = text
        case .objectStorageRegion: objectStorageRegion = text
        case .objectStorageUrlStyle: objectStorageUrlStyle = text
        case .objectStorageUseSSL: objectStorageUseSSL = text
        case .objectStorageWrites: objectStorageWrites = text
        case .sandbox: sandbox = text
        case .allowedDirectories:
            allowedDirectories = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        case .attach:
            var map: [String: String] = [:]
            for entry in text.split(separator: ",") {
                guard let equals = entry.firstIndex(of: "=") else {
                    throw ServerConfiguration.ConfigurationError.invalid("attach entries are name=path, got \(entry)")
                }
                map[entry[..<equals].trimmingCharacters(in: .whitespaces)] =
                    entry[entry.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            }
            attach = map
        case .startupSql: startupSql = [text]
        case .startupSqlFile: startupSqlFile = text
        case .webIdentityDuration: webIdentityDuration = try int()
        case .credentialRefreshMargin: credentialRefreshMargin = try int()
        case .gcsEndpoint: gcsEndpoint = text
        case .azureManagedIdentity: azureManagedIdentity = text
        case .gcsWorkloadIdentity: gcsWorkloadIdentity = text
        case .objectStorageScopes:
            throw ServerConfiguration.ConfigurationError.invalid("objectStorageScopes is a list of objects, set in the config file")
        }
    }

    static func describe(_ error: DecodingError) -> String {
        switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .keyNotFound(_, let context), .dataCorrupted(let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }
}

/// Any key of a JSON object (to find the unknown ones).
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// A JSON string, number or boolean, as its text.
struct FlexibleString: Decodable {
    let value: String

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let s = try? c.decode(String.self) {
            value = s
        } else if let i = try? c.decode(Int.self) {
            value = String(i)
        } else if let b = try? c.decode(Bool.self) {
            value = String(b)
        } else {
            throw DecodingError.typeMismatch(String.self, .init(codingPath: c.codingPath, debugDescription: "expected a string or a number"))
        }
    }
}
