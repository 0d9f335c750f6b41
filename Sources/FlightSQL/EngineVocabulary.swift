import DuckDB
import Foundation
import Scheduler
import Synchronization

/// What the running DuckDB knows, as SqlInfo and GetXdbcTypeInfo report it: its keywords,
/// its built-in functions by kind, its type names and which casts it implements.
///
/// All of it is built into DuckDB and its loaded extensions, so it is the same in every
/// session: it is read once, on the first request that needs it, and kept for the life of
/// the service. (Only the system catalog is read; user macros are left out.)
struct EngineVocabulary: Sendable {
    var keywords: [String] = []
    var numericFunctions: [String] = []
    var stringFunctions: [String] = []
    var systemFunctions: [String] = []
    var datetimeFunctions: [String] = []
    /// Upper-case type names and aliases (`INTEGER`, `TIMESTAMP WITH TIME ZONE`, `JSON`, …).
    var typeNames: Set<String> = []
    /// SQL_SUPPORTS_CONVERT: SqlSupportsConvert code → the codes it casts to.
    var conversions: [Int32: [Int32]] = [:]

    static func load(_ session: Session) async throws -> EngineVocabulary {
        var v = EngineVocabulary()
        v.keywords = try await Metadata.rows(session, "SELECT DISTINCT upper(keyword_name) FROM duckdb_keywords() ORDER BY 1")
            .compactMap { $0[0] }
        for row in try await Metadata.rows(session, functionKindsSQL) {
            guard let kind = row[0], let name = row[1] else { continue }
            switch kind {
            case "numeric": v.numericFunctions.append(name)
            case "string": v.stringFunctions.append(name)
            case "system": v.systemFunctions.append(name)
            case "datetime": v.datetimeFunctions.append(name)
            default: break
            }
        }
        let types = "SELECT DISTINCT upper(type_name) FROM duckdb_types() UNION SELECT DISTINCT logical_type FROM duckdb_types()"
        v.typeNames = Set(try await Metadata.rows(session, types).compactMap { $0[0] })
        v.conversions = try await conversions(session)
        return v
    }

    static let numericTypes = """
        ['TINYINT', 'SMALLINT', 'INTEGER', 'BIGINT', 'HUGEINT', 'UTINYINT', 'USMALLINT', 'UINTEGER', 'UBIGINT',
         'UHUGEINT', 'FLOAT', 'DOUBLE', 'DECIMAL']
        """

    /// Sorts DuckDB's scalar functions into the four JDBC/ODBC lists. DuckDB tags only a few
    /// functions with a category, so the rest are sorted by signature: any date/time/interval
    /// argument or result → datetime; numbers in, a number out → numeric; text first, text
    /// or a count or flag out → string. System functions are the session and catalog
    /// look-ups (current_*, version, nextval, …). A function may be in several lists.
    /// Operators ('+', '~~'), internal helpers ('__…') and the ICU collation functions are
    /// left out.
    static let functionKindsSQL = """
        WITH functions AS (
            SELECT function_name AS name, categories,
                   coalesce(return_type, '') AS result, coalesce(parameter_types, []) AS params
            FROM duckdb_functions()
            WHERE database_name = 'system' AND schema_name = 'main' AND function_type IN ('scalar', 'macro')
              AND regexp_full_match(function_name, '[a-z][a-z0-9_]*')
              AND NOT starts_with(function_name, 'icu_collate_')
        ),
        classified AS (
            SELECT name, categories,
                   list_has_any(params || [result], ['DATE', 'TIME', 'TIME_NS', 'TIME WITH TIME ZONE', 'TIMESTAMP',
                                                     'TIMESTAMP_NS', 'TIMESTAMP WITH TIME ZONE', 'INTERVAL']) AS temporal,
                   list_contains(\(numericTypes), result) AS numeric_result,
                   list_bool_and(list_transform(params, lambda p: list_contains(\(numericTypes), p))) AS numeric_params,
                   params[1] = 'VARCHAR' AND result IN ('VARCHAR', 'VARCHAR[]', 'BIGINT', 'INTEGER', 'BOOLEAN') AS text_params,
                   name LIKE 'current\\_%' ESCAPE '\\'
                       OR name IN ('version', 'typeof', 'user', 'session_user', 'nextval', 'currval',
                                   'txid_current', 'getvariable', 'in_search_path', 'ifnull', 'nullif') AS system
            FROM functions
        )
        SELECT DISTINCT kind, name FROM (
            SELECT 'system' AS kind, name FROM classified WHERE system AND NOT temporal
            UNION ALL
            SELECT 'datetime', name FROM classified WHERE temporal
            UNION ALL
            SELECT 'numeric', name FROM classified
            WHERE NOT system AND (list_contains(categories, 'numeric') OR (numeric_result AND coalesce(numeric_params, true)))
            UNION ALL
            SELECT 'string', name FROM classified
            WHERE NOT system
              AND (list_has_any(categories, ['string', 'regex', 'text_similarity']) OR (text_params AND NOT temporal))
        )
        ORDER BY kind, name
        """

    /// The SqlSupportsConvert codes with the DuckDB type each stands for and a value of it.
    /// JDBC's BIT is a boolean and its FLOAT a double; the two interval kinds are both
    /// DuckDB's INTERVAL.
    static let convertTypes: [(code: Int32, type: String, sample: String)] = [
        (0, "BIGINT", "1::BIGINT"),
        (1, "BLOB", "'\\x01'::BLOB"),
        (2, "BOOLEAN", "true"),
        (3, "VARCHAR", "'1'"),
        (4, "DATE", "DATE '2000-01-01'"),
        (5, "DECIMAL(18,3)", "1::DECIMAL(18,3)"),
        (6, "DOUBLE", "1::DOUBLE"),
        (7, "INTEGER", "1::INTEGER"),
        (8, "INTERVAL", "INTERVAL 1 DAY"),
        (9, "INTERVAL", "INTERVAL 1 MONTH"),
        (10, "BLOB", "'\\x01'::BLOB"),
        (11, "VARCHAR", "'1'"),
        (12, "DECIMAL(18,3)", "1::DECIMAL(18,3)"),
        (13, "FLOAT", "1::FLOAT"),
        (14, "SMALLINT", "1::SMALLINT"),
        (15, "TIME", "TIME '00:00:01'"),
        (16, "TIMESTAMP", "TIMESTAMP '2000-01-01 00:00:01'"),
        (17, "TINYINT", "1::TINYINT"),
        (18, "BLOB", "'\\x01'::BLOB"),
        (19, "VARCHAR", "'1'"),
    ]

    /// Which CASTs DuckDB implements, found by trying each on a value. DuckDB decides this
    /// only when a cast runs, and says "Unimplemented type for cast" for a missing one; any
    /// other failure (e.g. '1' is no DATE) means the cast exists and only the value didn't fit.
    static func conversions(_ session: Session) async throws -> [Int32: [Int32]] {
        var implemented: [String: Bool] = [:]
        var map: [Int32: [Int32]] = [:]
        for from in convertTypes {
            for to in convertTypes {
                let key = "\(from.sample) -> \(to.type)"
                if implemented[key] == nil {
                    implemented[key] = try await castExists(session, from.sample, to.type)
                }
                if implemented[key] == true { map[from.code, default: []].append(to.code) }
            }
        }
        return map
    }

    static func castExists(_ session: Session, _ sample: String, _ type: String) async throws -> Bool {
        do {
            _ = try await Metadata.rows(session, "SELECT CAST(v AS \(type))::VARCHAR FROM (SELECT \(sample) AS v)")
            return true
        } catch let error as DuckDBError {
            return !error.message.contains("Unimplemented type for cast")
        }
    }
}

/// The vocabulary of the worker the service talks to, read through a session the first time
/// it is asked for and kept by the service (it is built into DuckDB, the same in every
/// session).
final class VocabularyCache: Sendable {
    private let cache = Mutex<EngineVocabulary?>(nil)

    func vocabulary(_ scheduler: Scheduler) async throws -> EngineVocabulary {
        if let known = cache.withLock({ $0 }) { return known }
        let session = try await scheduler.openSession(user: FlightCaller.user ?? "")
        defer { session.close() }
        let loaded = try await EngineVocabulary.load(session)
        // Two first requests may both load; they read the same catalog, so either may win.
        cache.withLock { $0 = loaded }
        return loaded
    }
}
