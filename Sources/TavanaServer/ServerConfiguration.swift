import DuckDB
import Foundation
import PostgresWire
import Worker

/// Every setting of `tavana serve`, read once at start-up. Sources, lowest priority first:
/// built-in defaults, the JSON config file, `TAVANA_*` environment variables, command-line
/// flags. The struct is passed down; nothing reads the environment later.
public struct ServerConfiguration: Sendable, Equatable {
    public var host = "127.0.0.1"
    public var pgPort = 5432
    public var flightPort = 9091
    public var httpPort = 8080
    public var database = ":memory:"
    /// Query slots: how many queries run at once (the embedded "workers").
    public var workers = 2
    /// DuckDB threads per query; nil lets DuckDB use every core.
    public var threads: Int?
    public var memoryLimit: String?
    public var tempDirectory: String?
    public var extensionDirectory = DuckDBLibrary.defaultExtensionDirectory
    /// Extensions loaded at start-up; nil means "those of the default set that are installed".
    public var extensions: [String]?
    /// Queries allowed to wait for a slot; more are refused (SQLSTATE 53000).
    public var maxQueued = 1000
    /// How long a Flight bearer token (from basic credentials) stays valid, in seconds.
    public var flightTokenLifetime = 24 * 3600
    /// Largest PostgreSQL message accepted, in bytes.
    public var maxMessageSize = 64 << 20
    /// Longest statement text DuckDB is given, in bytes (longer ones fail with 54000 /
    /// INVALID_ARGUMENT): DuckDB's parser cannot be interrupted, so this bounds its work.
    public var maxStatementBytes = 4 << 20
    /// PostgreSQL sessions allowed at once (max_connections); more are refused with 53300.
    public var maxConnections = 1000
    /// Seconds a PostgreSQL client has to authenticate (authentication_timeout).
    public var authenticationTimeout = 60
    /// Threads that parse, bind and plan statements; nil: twice the query slots, at least 4.
    public var parseThreads: Int?
    /// Parse threads one user may hold at once; nil: half of them, at least 1.
    public var parseThreadsPerUser: Int?
    public var authMethod: AuthenticationMethod?
    /// user → secret (plain, md5..., or SCRAM-SHA-256$...). Never logged.
    public var users: [String: String] = [:]
    public var tlsCertificate: String?
    public var tlsKey: String?
    public var logLevel = "info"

    // iceberg needs avro loaded first.
    public static let defaultExtensions = ["httpfs", "aws", "azure", "delta", "avro", "iceberg", "tpch"]

    public init() {}

    public enum ConfigurationError: Error, CustomStringConvertible {
        case invalid(String)
        public var description: String {
            switch self { case .invalid(let s): return s }
        }
    }

    /// Applies a JSON config file. Keys are the property names above.
    public mutating func apply(configFile path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError.invalid("cannot read config file \(path)")
        }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ConfigurationError.invalid("config file \(path) is not a JSON object")
        }
        var strings: [String: String] = [:]
        for (k, v) in object {
            switch v {
            case let s as String: strings[k] = s
            case let n as NSNumber: strings[k] = n.stringValue
            case let list as [String]: strings[k] = list.joined(separator: ",")
            case let users as [String: String] where k == "users": self.users.merge(users) { $1 }
            default: throw ConfigurationError.invalid("config file \(path): unsupported value for \(k)")
            }
        }
        let known: Set<String> = [
            "host", "pgPort", "flightPort", "httpPort", "database", "workers", "threads", "memoryLimit",
            "tempDirectory", "extensionDirectory", "extensions", "maxQueued", "maxMessageSize", "authMethod",
            "tlsCertificate", "tlsKey", "logLevel", "flightTokenLifetime", "maxStatementBytes", "parseThreads",
            "parseThreadsPerUser", "maxConnections", "authenticationTimeout",
        ]
        for key in strings.keys where !known.contains(key) {
            throw ConfigurationError.invalid("config file \(path): unknown setting \(key)")
        }
        try apply(strings)
    }

    /// Environment variables, `TAVANA_PG_PORT` style.
    public mutating func apply(environment env: [String: String]) throws {
        var strings: [String: String] = [:]
        let names: [String: String] = [
            "TAVANA_HOST": "host", "TAVANA_PG_PORT": "pgPort", "TAVANA_FLIGHT_PORT": "flightPort",
            "TAVANA_HTTP_PORT": "httpPort", "TAVANA_DATABASE": "database", "TAVANA_WORKERS": "workers",
            "TAVANA_THREADS": "threads", "TAVANA_MEMORY_LIMIT": "memoryLimit", "TAVANA_TEMP_DIRECTORY": "tempDirectory",
            "TAVANA_EXTENSION_DIRECTORY": "extensionDirectory", "TAVANA_EXTENSIONS": "extensions",
            "TAVANA_MAX_QUEUED": "maxQueued", "TAVANA_MAX_MESSAGE_SIZE": "maxMessageSize",
            "TAVANA_AUTH_METHOD": "authMethod", "TAVANA_TLS_CERT": "tlsCertificate", "TAVANA_TLS_KEY": "tlsKey",
            "TAVANA_LOG_LEVEL": "logLevel", "TAVANA_FLIGHT_TOKEN_LIFETIME": "flightTokenLifetime",
            "TAVANA_MAX_STATEMENT_BYTES": "maxStatementBytes", "TAVANA_PARSE_THREADS": "parseThreads",
            "TAVANA_PARSE_THREADS_PER_USER": "parseThreadsPerUser", "TAVANA_MAX_CONNECTIONS": "maxConnections",
            "TAVANA_AUTHENTICATION_TIMEOUT": "authenticationTimeout",
        ]
        for (envName, key) in names {
            if let v = env[envName], !v.isEmpty { strings[key] = v }
        }
        try apply(strings)
        if let users = env["TAVANA_USERS"], !users.isEmpty {
            // "alice:secret,bob:md5..." — a secret may itself contain ':' (SCRAM verifiers).
            for entry in users.split(separator: ",") {
                guard let colon = entry.firstIndex(of: ":") else {
                    throw ConfigurationError.invalid("TAVANA_USERS entries are user:secret")
                }
                self.users[String(entry[..<colon])] = String(entry[entry.index(after: colon)...])
            }
        }
    }

    /// Applies settings given by name (config keys); shared by the file, environment and flags.
    public mutating func apply(_ s: [String: String]) throws {
        func int(_ key: String, _ range: ClosedRange<Int>) throws -> Int? {
            guard let v = s[key] else { return nil }
            guard let n = Int(v), range.contains(n) else {
                throw ConfigurationError.invalid("\(key) must be a whole number in \(range.lowerBound)...\(range.upperBound), got \(v)")
            }
            return n
        }
        if let v = s["host"] { host = v }
        if let v = try int("pgPort", 0...65535) { pgPort = v }
        if let v = try int("flightPort", 0...65535) { flightPort = v }
        if let v = try int("httpPort", 0...65535) { httpPort = v }
        if let v = s["database"] { database = v }
        if let v = try int("workers", 1...4096) { workers = v }
        if let v = try int("threads", 1...4096) { threads = v }
        if let v = s["memoryLimit"] { memoryLimit = v }
        if let v = s["tempDirectory"] { tempDirectory = v }
        if let v = s["extensionDirectory"] { extensionDirectory = v }
        if let v = s["extensions"] { extensions = v.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
        if let v = try int("maxQueued", 0...10_000_000) { maxQueued = v }
        if let v = try int("maxMessageSize", 1024...(1 << 30)) { maxMessageSize = v }
        if let v = try int("flightTokenLifetime", 1...(366 * 24 * 3600)) { flightTokenLifetime = v }
        if let v = try int("maxStatementBytes", 64...(1 << 30)) { maxStatementBytes = v }
        if let v = try int("parseThreads", 1...1024) { parseThreads = v }
        if let v = try int("parseThreadsPerUser", 1...1024) { parseThreadsPerUser = v }
        if let v = try int("maxConnections", 1...1_000_000) { maxConnections = v }
        if let v = try int("authenticationTimeout", 1...3600) { authenticationTimeout = v }
        if let v = s["authMethod"] {
            guard let m = AuthenticationMethod(rawValue: v.lowercased()) else {
                throw ConfigurationError.invalid("authMethod must be one of \(AuthenticationMethod.allCases.map(\.rawValue).joined(separator: ", ")), got \(v)")
            }
            authMethod = m
        }
        if let v = s["tlsCertificate"] { tlsCertificate = v }
        if let v = s["tlsKey"] { tlsKey = v }
        if let v = s["logLevel"] { logLevel = v }
    }

    public var isLoopback: Bool {
        ["127.0.0.1", "::1", "localhost"].contains(host) || host.hasPrefix("127.")
    }

    /// How clients authenticate: trust only on loopback with no users; otherwise a password
    /// method is required (SCRAM by default).
    public func authentication() throws -> AuthenticationConfiguration {
        let users = self.users.mapValues(StoredSecret.parse)
        let method = authMethod ?? (users.isEmpty ? .trust : .scramSHA256)
        if method == .trust && !isLoopback && authMethod == nil {
            throw ConfigurationError.invalid(
                "listening on \(host) needs authentication: set TAVANA_USERS (user:password or a SCRAM/md5 hash), or TAVANA_AUTH_METHOD=trust explicitly")
        }
        if method != .trust && users.isEmpty {
            throw ConfigurationError.invalid("authentication method \(method.rawValue) needs at least one user (TAVANA_USERS)")
        }
        return AuthenticationConfiguration(method: method, users: users)
    }

    /// The in-process worker: DuckDB plus its thread pools and parse limits.
    public func workerConfiguration() -> WorkerConfiguration {
        let parse = parseThreads ?? max(4, workers * 2)
        return WorkerConfiguration(
            database: databaseConfiguration(), executionThreads: workers * 2 + 2, parseThreads: parse,
            parseThreadsPerUser: min(parse, parseThreadsPerUser ?? max(1, parse / 2)),
            maxStatementBytes: maxStatementBytes)
    }

    /// The DuckDB side of the configuration.
    public func databaseConfiguration() -> DatabaseConfiguration {
        let wanted = extensions ?? Self.defaultExtensions.filter {
            FileManager.default.fileExists(atPath: "\(extensionDirectory)/\(DuckDBLibrary.expectedVersion)/linux_amd64/\($0).duckdb_extension")
        }
        return DatabaseConfiguration(
            path: database, threads: threads, memoryLimit: memoryLimit, tempDirectory: tempDirectory,
            extensionDirectory: extensionDirectory, extensions: wanted)
    }
}
