/// How to open a DuckDB database. Tavana's own defaults (no network for extensions,
/// extensions from a local folder) are applied on top of these by `Database`.
public struct DatabaseConfiguration: Sendable, Equatable {
    /// File path, or ":memory:" (also nil) for an in-memory database.
    public var path: String?
    /// Worker threads for one query; nil lets DuckDB use every core.
    public var threads: Int?
    /// DuckDB memory limit, e.g. "4GB"; nil is DuckDB's default (80% of RAM).
    public var memoryLimit: String?
    /// Where operators spill when a query exceeds the memory limit.
    public var tempDirectory: String?
    /// Folder laid out as DuckDB expects (`<dir>/v1.5.5/<platform>/<name>.duckdb_extension`).
    public var extensionDirectory: String?
    /// Extensions loaded at open time from `extensionDirectory`.
    public var extensions: [String]
    /// Any further DuckDB options (name → value), applied last.
    public var options: [String: String]

    public init(
        path: String? = nil, threads: Int? = nil, memoryLimit: String? = nil,
        tempDirectory: String? = nil, extensionDirectory: String? = nil,
        extensions: [String] = [], options: [String: String] = [:]
    ) {
        self.path = path
        self.threads = threads
        self.memoryLimit = memoryLimit
        self.tempDirectory = tempDirectory
        self.extensionDirectory = extensionDirectory
        self.extensions = extensions
        self.options = options
    }

    /// The configuration options passed to `duckdb_open_ext`, in order.
    var duckdbOptions: [(String, String)] {
        // DuckDB fetches a missing extension from the network the moment a query needs it;
        // Tavana never downloads at run time, so both are always off.
        var result: [(String, String)] = [
            ("autoinstall_known_extensions", "false"),
            ("autoload_known_extensions", "false"),
            ("allow_community_extensions", "false"),
        ]
        if let threads { result.append(("threads", String(threads))) }
        if let memoryLimit { result.append(("memory_limit", memoryLimit)) }
        if let tempDirectory { result.append(("temp_directory", tempDirectory)) }
        if let extensionDirectory { result.append(("extension_directory", extensionDirectory)) }
        for (k, v) in options.sorted(by: { $0.key < $1.key }) { result.append((k, v)) }
        return result
    }
}
