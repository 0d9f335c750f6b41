import DuckDB
import Foundation

/// What users' SQL may reach on a worker that many users share: the configured object storage,
/// the folders an operator allows, and its own session; not the worker's files, not the
/// platform's credentials, not settings that every session shares.
///
/// Two layers. DuckDB's own settings do what they can: `enable_external_access = false` with
/// `allowed_directories` confines every file system call (reads, writes, globs, ATTACH,
/// INSTALL, LOAD) to the allowed prefixes, and DuckDB refuses to undo either setting while the
/// database runs. `lock_configuration` would also freeze the settings, but it freezes the
/// per-session ones too (TimeZone, which every session sets), so it is not used; a statement
/// check (`check(_:)`) refuses instead what DuckDB's settings leave open:
///
/// - SET, RESET and PRAGMA of anything but the per-session settings in `sessionSettings`;
///   DuckDB applies most settings to every session of the database, whichever session sets them;
/// - ATTACH, DETACH, CREATE/DROP SECRET: databases and secrets are shared by every session;
/// - COPY TO and EXPORT DATABASE anywhere but object storage, and there only when writes are
///   allowed; IMPORT DATABASE, which runs SQL from files past this check;
/// - FORCE CHECKPOINT, which aborts other sessions' transactions;
/// - the functions in `refusedFunctions` (logging, server-wide switches, connections to
///   PostgreSQL servers, catalog maintenance that deletes files), and the shared catalog's
///   metadata database, by name wherever they appear, also inside `query('...')`.
///
/// The check reads tokens (`SQLTokens`) of text whose comments the screen has blanked; it is
/// linear in the text and allocates only for the leading words of each statement and for
/// names long enough to be refused.
public struct Sandbox: Sendable, Equatable {
    /// Local folders (absolute, ending in "/") and URL prefixes users' SQL may read besides
    /// object storage.
    public private(set) var allowedDirectories: [String]
    /// Whether COPY TO and EXPORT DATABASE may write to object storage.
    public var allowsObjectStorageWrites: Bool

    /// Object storage, reachable only through the secrets the worker made at start (users
    /// cannot make their own).
    public static let objectStoragePrefixes = ["s3://", "s3a://", "s3n://", "r2://", "gs://", "gcs://", "az://", "azure://", "abfss://"]

    /// Settings DuckDB applies to the session that sets them only (each checked by a test
    /// against DuckDB itself), and that reach nothing outside the session. PostgreSQL's own
    /// session parameters (application_name, DateStyle, extra_float_digits, ...) never get
    /// here: the PostgreSQL front door answers them.
    public static let sessionSettings: [String] = [
        "TimeZone", "Calendar", "search_path", "schema", "integer_division", "errors_as_json",
        "ordered_aggregate_threshold", "explain_output", "scalar_subquery_error_on_multiple_rows",
        "ieee_floating_point_ops", "late_materialization_max_rows",
    ]
    static let sessionSettingNames = Set(sessionSettings.map { $0.lowercased() })

    /// PRAGMAs that only read the catalog or the version.
    static let readOnlyPragmas: Set<String> = [
        "table_info", "show", "show_tables", "show_tables_expanded", "show_databases", "database_list",
        "database_size", "storage_info", "metadata_info", "version", "platform", "user_agent", "functions",
        "collations",
    ]

    /// Functions and views refused wherever they are named, upper-cased, with the reason.
    static let refusedFunctions: [String: String] = {
        var refused: [String: String] = [:]
        let groups: [(String, [String])] = [
            ("it reads or changes the worker's log, which holds every session's statements",
             ["enable_logging", "disable_logging", "truncate_duckdb_logs", "duckdb_logs", "duckdb_logs_parsed", "duckdb_log_contexts"]),
            ("it changes the worker for every session",
             ["enable_object_cache", "disable_object_cache", "enable_checkpoint_on_shutdown", "disable_checkpoint_on_shutdown",
              "force_checkpoint", "enable_profiling", "enable_profile", "disable_profiling", "disable_profile",
              "enable_progress_bar", "disable_progress_bar", "enable_print_progress_bar", "disable_print_progress_bar",
              "enable_verification", "disable_verification", "verify_external", "disable_verify_external",
              "verify_fetch_row", "disable_verify_fetch_row", "verify_parallelism", "disable_verify_parallelism",
              "verify_serializer", "disable_verify_serializer"]),
            ("it changes the worker's credentials or keys for every session", ["load_aws_credentials", "add_parquet_key"]),
            ("it runs SQL that this check never sees", ["json_execute_serialized_sql"]),
            ("it connects from the worker to a PostgreSQL server",
             ["postgres_attach", "postgres_execute", "postgres_query", "postgres_scan", "postgres_scan_pushdown", "postgres_configure_pool"]),
            ("it changes the shared catalog's options or deletes or adds its files",
             ["ducklake_set_option", "ducklake_add_data_files", "ducklake_cleanup_old_files", "ducklake_delete_orphaned_files",
              "ducklake_expire_snapshots"]),
        ]
        for (reason, names) in groups {
            for name in names { refused[name.uppercased()] = reason }
        }
        return refused
    }()
    /// Functions that run SQL given as text (`query`) or name a table by text (`query_table`).
    static let textRunners: Set<String> = ["QUERY", "QUERY_TABLE"]
    /// Lengths of the words worth upper-casing to compare: refused names and the text runners;
    /// any word at least as long as the metadata prefix is compared too.
    static let checkedLengths = Set(refusedFunctions.keys.map(\.utf8.count) + textRunners.map(\.utf8.count))

    /// DuckLake attaches its metadata database under this prefix; writing there corrupts the
    /// shared catalog for everyone.
    static let hiddenDatabasePrefix = "__DUCKLAKE_METADATA_"

    /// - Parameters:
    ///   - allowedDirectories: folders (relative ones against `workingDirectory`) and URL
    ///     prefixes (`https://data.example.com/`) users may read.
    public init(allowedDirectories: [String] = [], allowsObjectStorageWrites: Bool = false,
                workingDirectory: String = FileManager.default.currentDirectoryPath) {
        self.allowedDirectories = allowedDirectories.map { Self.resolve($0, against: workingDirectory) }
        self.allowsObjectStorageWrites = allowsObjectStorageWrites
    }

    /// A folder as DuckDB compares it: absolute, `..` resolved, ending in "/" (so that
    /// `/data` does not also allow `/database`). URL prefixes stay as given.
    static func resolve(_ path: String, against workingDirectory: String) -> String {
        if path.contains("://") { return path }
        let absolute = path.hasPrefix("/") ? path : (workingDirectory as NSString).appendingPathComponent(path)
        let standard = (absolute as NSString).standardizingPath
        return standard.hasSuffix("/") ? standard : standard + "/"
    }

    /// The statements that put DuckDB's own protection in place, run once after start-up
    /// (which may attach databases and needs the access they take away). `alsoAllowing`:
    /// folders of Tavana's own that DuckDB must read (the spool, a shared catalog's data).
    public func databaseStatements(alsoAllowing own: [String] = []) -> [String] {
        var seen = Set<String>()
        let all = (Self.objectStoragePrefixes + allowedDirectories + own.map { Self.resolve($0, against: "/") })
            .filter { seen.insert($0).inserted }
        return [
            "SET allowed_directories = [\(all.map(SQLText.literal).joined(separator: ", "))]",
            "SET enable_external_access = false",
        ]
    }

    // MARK: - The statement check

    /// Refuses (DuckDB's permission error, SQLSTATE 42501 / PERMISSION_DENIED) a statement of
    /// `sql` that would reach past the sandbox. `sql` has had its comments blanked.
    public func check(_ sql: String) throws {
        var tokens = SQLTokens(Array(sql.utf8))
        var statement = StatementScan()
        while let raw = tokens.nextRaw() {
            if raw.kind == .symbol(UInt8(ascii: ";")) && tokens.depth == 0 {
                try finish(statement, tokens)
                statement = StatementScan()
                continue
            }
            try scan(raw, into: &statement, tokens)
        }
        try finish(statement, tokens)
    }

    /// What one statement's scan keeps: its first tokens, and what follows a top-level TO.
    struct StatementScan {
        static let headLength = 32
        var head: [SQLTokens.Token] = []
        var previousWasTopLevelTo = false
        /// The token after the first TO outside parentheses (COPY's target).
        var copyTarget: SQLTokens.Token?
        /// The first literal outside parentheses (EXPORT DATABASE's folder).
        var firstTopLevelLiteral: [UInt8]?
        /// Inside `query(` / `query_table(`: how far its one literal argument has come.
        var queryCall: QueryCall = .none

        enum QueryCall: Equatable {
            case none
            case named(String)
            case opened(String)
            case argument(String, SQLTokens.Raw)
        }
    }

    private func scan(_ raw: SQLTokens.Raw, into scan: inout StatementScan, _ tokens: SQLTokens) throws {
        if scan.head.count < StatementScan.headLength { scan.head.append(tokens.token(raw)) }
        let topLevel = tokens.depth == 0 && raw.kind != .symbol(UInt8(ascii: ")"))
        if scan.previousWasTopLevelTo {
            scan.previousWasTopLevelTo = false
            if scan.copyTarget == nil { scan.copyTarget = tokens.token(raw) }
        }
        if raw.kind == .literal && topLevel && scan.firstTopLevelLiteral == nil {
            scan.firstTopLevelLiteral = Array(tokens.s[raw.range])
        }
        if raw.kind == .word && topLevel && raw.range.count == 2 && tokens.upper(raw.range) == "TO" {
            scan.previousWasTopLevelTo = true
        }
        // query('...') and query_table('...') run SQL given as text: the text is checked too,
        // so it must be there to check, one string constant.
        switch scan.queryCall {
        case .none: break
        case .named(let name):
            scan.queryCall = raw.kind == .symbol(UInt8(ascii: "(")) ? .opened(name) : .none
        case .opened(let name):
            guard raw.kind == .literal else { throw Self.refusal("\(name)() in the sandbox takes one string constant") }
            scan.queryCall = .argument(name, raw)
        case .argument(let name, let argument):
            guard raw.kind == .symbol(UInt8(ascii: ")")) else {
                throw Self.refusal("\(name)() in the sandbox takes one string constant")
            }
            let text = tokens.unquoted(argument.range, quote: UInt8(ascii: "'"))
            if name == "query" { try check(text) } else { try checkName(text.uppercased()) }
            scan.queryCall = .none
        }
        let name: String
        switch raw.kind {
        case .word:
            let length = raw.range.count
            guard Self.checkedLengths.contains(length) || length >= Self.hiddenDatabasePrefix.utf8.count,
                  !StatementScreen.isDigit(tokens.s[raw.range.lowerBound]) else { return }
            name = tokens.upper(raw.range)
        case .quoted:
            guard raw.range.count >= 5 else { return }
            name = tokens.unquoted(raw.range).uppercased()
        default:
            return
        }
        if Self.textRunners.contains(name) {
            scan.queryCall = .named(name.lowercased())
            return
        }
        try checkName(name)
    }

    /// Refuses a refused function's name, or a name in the shared catalog's metadata database
    /// (also as part of a dotted name given as text: `'__ducklake_metadata_lake.main.t'`).
    private func checkName(_ upper: String) throws {
        if let reason = Self.refusedFunctions[upper] {
            throw Self.refusal("\(upper.lowercased()): \(reason)")
        }
        if upper.contains(Self.hiddenDatabasePrefix) {
            throw Self.refusal("the shared catalog's metadata database: it belongs to Tavana, and writing there would break the catalog for everyone")
        }
    }

    private func finish(_ scan: StatementScan, _ tokens: SQLTokens) throws {
        switch scan.queryCall {
        case .none, .named: break
        case .opened(let name), .argument(let name, _):
            throw Self.refusal("\(name)() in the sandbox takes one string constant")
        }
        var head = scan.head[...]
        // EXPLAIN [ANALYZE] [(options)] and PREPARE name [(types)] AS wrap the statement that counts.
        if head.first == .word("EXPLAIN") {
            head = head.dropFirst()
            if head.first == .word("ANALYZE") { head = head.dropFirst() }
            if head.first == .symbol(UInt8(ascii: "(")) {
                head = head.drop { $0 != .symbol(UInt8(ascii: ")")) }.dropFirst()
            }
        }
        if head.first == .word("PREPARE") {
            guard let asIndex = head.firstIndex(of: .word("AS")) else { return }
            head = head[(asIndex + 1)...]
        }
        guard case .word(let first)? = head.first else { return }
        let rest = head.dropFirst()
        switch first {
        case "SET", "RESET":
            try checkSetting(rest, statement: first)
        case "PRAGMA":
            try checkPragma(rest)
        case "LOAD", "INSTALL":
            throw Self.refusal("\(first): extensions come with Tavana and are loaded when the worker starts")
        case "FORCE":
            if rest.first == .word("INSTALL") {
                throw Self.refusal("FORCE INSTALL: extensions come with Tavana and are loaded when the worker starts")
            }
            if rest.first == .word("CHECKPOINT") {
                throw Self.refusal("FORCE CHECKPOINT: it aborts the transactions of every other session")
            }
        case "UPDATE" where rest.first == .word("EXTENSIONS"):
            throw Self.refusal("UPDATE EXTENSIONS: extensions come with Tavana")
        case "ATTACH", "DETACH":
            throw Self.refusal("\(first): attached databases are shared by every session of the worker; an operator attaches them at start (docs/security.md)")
        case "CREATE", "DROP":
            let modifiers: Set<SQLTokens.Token> = [.word("OR"), .word("REPLACE"), .word("PERSISTENT"), .word("TEMP"), .word("TEMPORARY")]
            if rest.drop(while: { modifiers.contains($0) }).first == .word("SECRET") {
                throw Self.refusal("\(first) SECRET: secrets are shared by every session of the worker; object storage credentials come from the worker's configuration")
            }
        case "IMPORT":
            throw Self.refusal("IMPORT DATABASE: it runs statements from files")
        case "COPY":
            if rest.first == .word("FROM") && rest.dropFirst().first == .word("DATABASE") { return }
            if let target = scan.copyTarget { try checkWrite(target, statement: "COPY TO") }
        case "EXPORT":
            try checkWrite(scan.firstTopLevelLiteral.map(SQLTokens.Token.literal) ?? .symbol(0), statement: "EXPORT DATABASE")
        default:
            break
        }
    }

    /// `SET [SESSION|LOCAL|GLOBAL] name ...`, `RESET ...`, `SET VARIABLE ...`.
    private func checkSetting(_ words: ArraySlice<SQLTokens.Token>, statement: String) throws {
        var rest = words
        if rest.first == .word("GLOBAL") {
            throw Self.refusal("\(statement) GLOBAL: it changes the setting for every session of the worker")
        }
        if rest.first == .word("SESSION") || rest.first == .word("LOCAL") { rest = rest.dropFirst() }
        if rest.first == .word("VARIABLE") { return }  // variables belong to the session
        var name: String
        switch rest.first {
        case .word(let w)?: name = w.lowercased()
        case .quoted(let q)?: name = q.lowercased()
        default: return  // not a setting DuckDB knows either; its parser answers
        }
        if name == "time" && rest.dropFirst().first == .word("ZONE") { name = "timezone" }
        if name == "all" && statement == "RESET" {
            throw Self.refusal("RESET ALL: it would reset settings every session shares")
        }
        if rest.dropFirst().first == .symbol(UInt8(ascii: ".")) { name += "." }
        try checkSettingName(name)
    }

    private func checkSettingName(_ name: String) throws {
        guard Self.sessionSettingNames.contains(name) else {
            throw Self.refusal("to set parameter \"\(name)\": it is not a per-session setting; sessions may set \(Self.sessionSettings.joined(separator: ", "))",
                               prefix: "permission denied ")
        }
    }

    /// `PRAGMA name`, `PRAGMA name(args)`, `PRAGMA name = value`.
    private func checkPragma(_ words: ArraySlice<SQLTokens.Token>) throws {
        let name: String
        switch words.first {
        case .word(let w)?: name = w.lowercased()
        case .quoted(let q)?: name = q.lowercased()
        default: return
        }
        if words.dropFirst().first == .symbol(UInt8(ascii: "=")) {
            try checkSettingName(name)
            return
        }
        guard Self.readOnlyPragmas.contains(name) else {
            throw Self.refusal("PRAGMA \(name): only PRAGMAs that read the catalog are allowed (\(Self.readOnlyPragmas.sorted().joined(separator: ", ")))")
        }
    }

    /// A write goes to object storage, when writes are allowed, or nowhere.
    private func checkWrite(_ target: SQLTokens.Token, statement: String) throws {
        guard case .literal(let bytes) = target else {
            throw Self.refusal("\(statement) writes only to object storage, given as a string ('s3://bucket/path')")
        }
        let path = String(decoding: bytes, as: UTF8.self)
        let remote = Self.objectStoragePrefixes.contains { path.lowercased().hasPrefix($0) }
        guard remote else {
            throw Self.refusal("\(statement) '\(path)': only object storage (\(Self.objectStoragePrefixes.joined(separator: ", "))) can be written, not the worker's files")
        }
        guard allowsObjectStorageWrites else {
            throw Self.refusal("\(statement) '\(path)': writing to object storage is off (objectStorageWrites)")
        }
    }

    static func refusal(_ what: String, prefix: String = "permission denied for ") -> DuckDBError {
        DuckDBError(.permission, "Permission Error: \(prefix)\(what) (Tavana's sandbox)")
    }
}
