import CDuckDB
import Foundation

/// The pinned DuckDB release Tavana is built and tested against.
public enum DuckDBLibrary {
    public static let expectedVersion = "v1.5.5"

    /// The version string of the libduckdb that was actually loaded.
    public static var loadedVersion: String { String(cString: duckdb_library_version()) }

    /// Fails unless the loaded library is the pinned release: a different libduckdb could
    /// change the C ABI we declare by hand, or load extensions built for another version.
    public static func checkVersion() throws {
        let loaded = loadedVersion
        guard loaded == expectedVersion else {
            throw DuckDBError(.invalidConfiguration, "libduckdb \(loaded) is loaded but Tavana needs \(expectedVersion); run `make deps`")
        }
    }
}

/// An open DuckDB database. Thread-safe: any number of connections may be opened and used
/// concurrently (one query at a time per connection).
public final class Database: @unchecked Sendable {
    let handle: duckdb_database
    public let configuration: DatabaseConfiguration

    public init(_ configuration: DatabaseConfiguration = DatabaseConfiguration()) throws {
        try DuckDBLibrary.checkVersion()
        self.configuration = configuration
        var config: duckdb_config?
        guard duckdb_create_config(&config) == DuckDBSuccess, let config else {
            throw DuckDBError(.invalidConfiguration, "could not create a DuckDB configuration")
        }
        var configToDestroy: duckdb_config? = config
        defer { duckdb_destroy_config(&configToDestroy) }
        for (name, value) in configuration.duckdbOptions {
            guard duckdb_set_config(config, name, value) == DuckDBSuccess else {
                throw DuckDBError(.invalidConfiguration, "invalid DuckDB option \(name)=\(value)")
            }
        }
        var db: duckdb_database?
        var error: UnsafeMutablePointer<CChar>?
        let path = configuration.path ?? ":memory:"
        if duckdb_open_ext(path, &db, config, &error) != DuckDBSuccess || db == nil {
            let message = error.map { String(cString: $0) } ?? "could not open \(path)"
            if let error { duckdb_free(error) }
            throw DuckDBError(message: message)
        }
        handle = db!
        // If this throws, deinit still runs (every property is set) and closes the handle.
        try loadExtensions()
    }

    deinit {
        var h: duckdb_database? = handle
        duckdb_close(&h)
    }

    public func connect() throws -> Connection {
        try Connection(database: self)
    }

    /// Loads the configured extensions from the local extension folder (never the network).
    private func loadExtensions() throws {
        guard !configuration.extensions.isEmpty else { return }
        let connection = try connect()
        for name in configuration.extensions {
            guard name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                throw DuckDBError(.invalidConfiguration, "invalid extension name \(name)")
            }
            do {
                try connection.execute("LOAD \(name)")
            } catch let error as DuckDBError {
                throw DuckDBError(.missingExtension, "could not load extension \(name) from \(configuration.extensionDirectory ?? "the default folder"): \(error.message)")
            }
        }
    }
}

extension DuckDBLibrary {
    /// The folder `scripts/fetch-duckdb.sh` fills: `$TAVANA_DUCKDB_HOME`, or
    /// `~/.cache/tavana/duckdb-<version>`.
    public static var home: String {
        let env = ProcessInfo.processInfo.environment
        if let explicit = env["TAVANA_DUCKDB_HOME"], !explicit.isEmpty { return explicit }
        let version = expectedVersion.hasPrefix("v") ? String(expectedVersion.dropFirst()) : expectedVersion
        return "\(NSHomeDirectory())/.cache/tavana/duckdb-\(version)"
    }

    /// Where extensions live, in DuckDB's `<dir>/<version>/<platform>/` layout.
    public static var defaultExtensionDirectory: String { "\(home)/extensions" }
}
