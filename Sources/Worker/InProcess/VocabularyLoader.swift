import Arrow
import DuckDB

/// Reads the engine's vocabulary from DuckDB's system catalog, over a connection of the
/// worker's own (not a client session: it is the engine's knowledge, not client work, so it
/// does not queue behind client queries).
enum VocabularyLoader {
    static func load(_ connection: Connection) throws -> EngineVocabulary {
        var v = EngineVocabulary()
        v.keywords = try strings(connection, "SELECT DISTINCT upper(keyword_name) FROM duckdb_keywords() ORDER BY 1")
            .compactMap { $0[0] }
        for row in try strings(connection, functionKindsSQL) {
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
        v.typeNames = Set(try strings(connection, types).compactMap { $0[0] })
        for from in EngineVocabulary.castProbes {
            for to in EngineVocabulary.castProbes where try castExists(connection, from.sample, to.type) {
                v.casts[from.type, default: []].insert(to.type)
            }
        }
        return v
    }

    static func strings(_ connection: Connection, _ sql: String) throws -> [[String?]] {
        let result = try connection.query(sql)
        var out: [[String?]] = []
        while let batch = try result.nextArrowBatch() {
            // Text columns only (every query here casts to VARCHAR): reading another type as
            // text would misread its buffers.
            guard batch.columns.allSatisfy({ $0.type == .utf8 || $0.type == .largeUtf8 }) else {
                throw DuckDBError(.internalError, "INTERNAL Error: a vocabulary query returned a column that is not text")
            }
            for r in 0..<batch.length {
                out.append(batch.columns.map { $0.isNull(r) ? nil : $0.string(r) })
            }
        }
        return out
    }

    /// DuckDB decides whether a cast exists only when it runs, and says "Unimplemented type
    /// for cast" for a missing one; any other failure (e.g. '1' is no DATE) means the cast
    /// exists and only the value didn't fit.
    static func castExists(_ connection: Connection, _ sample: String, _ type: String) throws -> Bool {
        do {
            _ = try strings(connection, "SELECT CAST(v AS \(type))::VARCHAR FROM (SELECT \(sample) AS v)")
            return true
        } catch let error as DuckDBError {
            return !error.message.contains("Unimplemented type for cast")
        }
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

}
