import Worker
import FlightProtocol
import Arrow
import Foundation

/// GetSqlInfo: what the server and its SQL dialect (DuckDB's) can do, for ADBC's GetInfo,
/// the Flight SQL JDBC driver's DatabaseMetaData and BI tools. Every claim was checked
/// against DuckDB; where DuckDB lacks a feature the answer says so.
extension Metadata {
    /// One SqlInfo value: the dense union's children, by type id 0…5.
    enum InfoValue: Equatable {
        case string(String), bool(Bool), bigint(Int64), int32(Int32)
        case stringList([String])
        case int32ListMap([Int32: [Int32]])

        var typeID: Int8 {
            switch self {
            case .string: return 0
            case .bool: return 1
            case .bigint: return 2
            case .int32: return 3
            case .stringList: return 4
            case .int32ListMap: return 5
            }
        }
    }

    typealias Info = Arrow_Flight_Protocol_Sql_SqlInfo

    /// A bitmask with the given bit positions set (the proto's "bitmask of …" items).
    static func bits(_ positions: Int...) -> InfoValue {
        .int32(positions.reduce(Int32(0)) { $0 | (1 << Int32($1)) })
    }

    /// Everything Tavana answers, in id order.
    static func infoValues(serverVersion: String, preparedTimeout: Duration, vocabulary: EngineVocabulary)
        -> [(Info, InfoValue)]
    {
        serverInfo(serverVersion: serverVersion, preparedTimeout: preparedTimeout)
            + syntaxInfo(vocabulary) + limitsInfo() + transactionInfo()
    }

    /// FLIGHT_SQL_SERVER_*: the server itself.
    static func serverInfo(serverVersion: String, preparedTimeout: Duration) -> [(Info, InfoValue)] {
        let preparedMillis = preparedTimeout.components.seconds * 1000
        return [
            (.flightSqlServerName, .string("Tavana")),
            (.flightSqlServerVersion, .string(serverVersion)),
            (.flightSqlServerArrowVersion, .string("1.5.0")),  // the Arrow IPC format version written
            (.flightSqlServerReadOnly, .bool(false)),
            (.flightSqlServerSql, .bool(true)),
            (.flightSqlServerSubstrait, .bool(false)),
            // SQL_SUPPORTED_TRANSACTION_TRANSACTION: Begin/EndTransaction; DuckDB has no savepoints.
            (.flightSqlServerTransaction, .int32(Int32(Arrow_Flight_Protocol_Sql_SqlSupportedTransaction.transaction.rawValue))),
            (.flightSqlServerCancel, .bool(true)),
            (.flightSqlServerBulkIngestion, .bool(true)),
            (.flightSqlServerIngestTransactionsSupported, .bool(true)),
            // Prepared statements expire after this long unused; transactions never do.
            (.flightSqlServerStatementTimeout, .int32(Int32(clamping: preparedMillis))),
            (.flightSqlServerTransactionTimeout, .int32(0)),
        ]
    }

    /// SQL_* syntax items (500…540): DuckDB's dialect.
    static func syntaxInfo(_ v: EngineVocabulary) -> [(Info, InfoValue)] {
        [
            // DuckDB has no CREATE/DROP DATABASE: catalogs come and go with ATTACH/DETACH.
            (.sqlDdlCatalog, .bool(false)),
            (.sqlDdlSchema, .bool(true)),
            (.sqlDdlTable, .bool(true)),
            // Identifiers keep their case but match case-insensitively, quoted or not.
            (.sqlIdentifierCase, .int32(Int32(Arrow_Flight_Protocol_Sql_SqlSupportedCaseSensitivity.sqlCaseSensitivityCaseInsensitive.rawValue))),
            (.sqlIdentifierQuoteChar, .string("\"")),
            (.sqlQuotedIdentifierCase, .int32(Int32(Arrow_Flight_Protocol_Sql_SqlSupportedCaseSensitivity.sqlCaseSensitivityCaseInsensitive.rawValue))),
            (.sqlAllTablesAreSelectable, .bool(true)),
            // DuckDB's default_null_order is NULLS LAST, ascending and descending alike.
            (.sqlNullOrdering, .int32(Int32(Arrow_Flight_Protocol_Sql_SqlNullOrdering.sqlNullsSortedAtEnd.rawValue))),
            (.sqlKeywords, .stringList(v.keywords)),
            (.sqlNumericFunctions, .stringList(v.numericFunctions)),
            (.sqlStringFunctions, .stringList(v.stringFunctions)),
            (.sqlSystemFunctions, .stringList(v.systemFunctions)),
            (.sqlDatetimeFunctions, .stringList(v.datetimeFunctions)),
            // The escape the metadata commands' LIKE patterns use (ESCAPE '\').
            (.sqlSearchStringEscape, .string("\\")),
            // Unquoted identifiers may contain '$' (a$b), beyond letters, digits and '_'.
            (.sqlExtraNameCharacters, .string("$")),
            (.sqlSupportsColumnAliasing, .bool(true)),
            // NULL + 1 and 'a' || NULL are NULL.
            (.sqlNullPlusNullIsNull, .bool(true)),
            (.sqlSupportsConvert, .int32ListMap(SupportsConvert.map(v))),
            (.sqlSupportsTableCorrelationNames, .bool(true)),
            // Correlation names may repeat the table's own name (FROM t AS t).
            (.sqlSupportsDifferentTableCorrelationNames, .bool(false)),
            (.sqlSupportsExpressionsInOrderBy, .bool(true)),
            (.sqlSupportsOrderByUnrelated, .bool(true)),
            // GROUP BY columns that are not selected, with or without all selected ones.
            (.sqlSupportedGroupBy, bits(0, 1)),
            (.sqlSupportsLikeEscapeClause, .bool(true)),
            (.sqlSupportsNonNullableColumns, .bool(true)),
            // ODBC's core grammar and SQL-92 beyond entry level include GRANT/REVOKE, CREATE
            // DOMAIN and ASSERTION, which DuckDB lacks: only the minimum / entry levels.
            (.sqlSupportedGrammar, bits(0)),
            (.sqlAnsi92SupportedLevel, bits(0)),
            // PRIMARY KEY, UNIQUE, FOREIGN KEY (REFERENCES), CHECK and DEFAULT.
            (.sqlSupportsIntegrityEnhancementFacility, .bool(true)),
            (.sqlOuterJoinsSupportLevel, .int32(Int32(Arrow_Flight_Protocol_Sql_SqlOuterJoinsSupportLevel.sqlFullOuterJoins.rawValue))),
            (.sqlSchemaTerm, .string("schema")),
            // DuckDB has no stored procedures; its user-defined routines are functions (macros).
            (.sqlProcedureTerm, .string("function")),
            (.sqlCatalogTerm, .string("catalog")),
            (.sqlCatalogAtStart, .bool(true)),
            // Schema and catalog names qualify CREATE INDEX targets; there are no procedure
            // calls or privilege statements to qualify.
            (.sqlSchemasSupportedActions, bits(1)),
            (.sqlCatalogsSupportedActions, bits(1)),
            // No cursors: no positioned UPDATE/DELETE, and SELECT … FOR UPDATE is refused.
            (.sqlSupportedPositionedCommands, .int32(0)),
            (.sqlSelectForUpdateSupported, .bool(false)),
            (.sqlStoredProceduresSupported, .bool(false)),
            // Subqueries in comparisons, EXISTS, IN and ANY/ALL, correlated or not.
            (.sqlSupportedSubqueries, bits(0, 1, 2, 3)),
            (.sqlCorrelatedSubqueriesSupported, .bool(true)),
            (.sqlSupportedUnions, bits(0, 1)),
        ]
    }

    /// SQL_MAX_* (541…561): DuckDB sets none of these limits; 0 means "no limit".
    static func limitsInfo() -> [(Info, InfoValue)] {
        let unlimited: [Info] = [
            .sqlMaxBinaryLiteralLength, .sqlMaxCharLiteralLength, .sqlMaxColumnNameLength,
            .sqlMaxColumnsInGroupBy, .sqlMaxColumnsInIndex, .sqlMaxColumnsInOrderBy, .sqlMaxColumnsInSelect,
            .sqlMaxColumnsInTable, .sqlMaxConnections, .sqlMaxCursorNameLength, .sqlMaxIndexLength,
            .sqlDbSchemaNameLength, .sqlMaxProcedureNameLength, .sqlMaxCatalogNameLength, .sqlMaxRowSize,
        ]
        let after: [Info] = [.sqlMaxStatementLength, .sqlMaxStatements, .sqlMaxTableNameLength,
                             .sqlMaxTablesInSelect, .sqlMaxUsernameLength]
        // With no row size limit there is nothing for BLOBs to count towards.
        return unlimited.map { ($0, .bigint(0)) } + [(.sqlMaxRowSizeIncludesBlobs, .bool(false))]
            + after.map { ($0, .bigint(0)) }
    }

    /// SQL_* transaction and result set items (562…576).
    static func transactionInfo() -> [(Info, InfoValue)] {
        typealias Level = Arrow_Flight_Protocol_Sql_SqlTransactionIsolationLevel
        let forwardOnly = Arrow_Flight_Protocol_Sql_SqlSupportedResultSetType.sqlResultSetTypeForwardOnly.rawValue
        let readOnly = Arrow_Flight_Protocol_Sql_SqlSupportedResultSetConcurrency.sqlResultSetConcurrencyReadOnly.rawValue
        return [
            // DuckDB's MVCC gives each transaction a snapshot (snapshot isolation): no dirty,
            // non-repeatable or phantom reads, which is REPEATABLE READ in PostgreSQL's terms.
            // It is the only level.
            (.sqlDefaultTransactionIsolation, .int32(Int32(Level.sqlTransactionRepeatableRead.rawValue))),
            (.sqlTransactionsSupported, .bool(true)),
            (.sqlSupportedTransactionsIsolationLevels, bits(Level.sqlTransactionRepeatableRead.rawValue)),
            // DDL is transactional in DuckDB: it neither commits nor is ignored.
            (.sqlDataDefinitionCausesTransactionCommit, .bool(false)),
            (.sqlDataDefinitionsInTransactionsIgnored, .bool(false)),
            // Results stream forward only and are read-only.
            (.sqlSupportedResultSetTypes, bits(forwardOnly)),
            (.sqlSupportedConcurrenciesForResultSetUnspecified, bits(readOnly)),
            (.sqlSupportedConcurrenciesForResultSetForwardOnly, bits(readOnly)),
            (.sqlSupportedConcurrenciesForResultSetScrollSensitive, .int32(0)),
            (.sqlSupportedConcurrenciesForResultSetScrollInsensitive, .int32(0)),
            // A prepared update runs once per parameter row sent with DoPut.
            (.sqlBatchUpdatesSupported, .bool(true)),
            (.sqlSavepointsSupported, .bool(false)),
            // Parameters bind by position ($name parameters cannot be bound over Flight SQL).
            (.sqlNamedParametersSupported, .bool(false)),
            // No LOB locators: a value read is always a copy.
            (.sqlLocatorsUpdateCopy, .bool(true)),
            // DuckDB's CALL runs table functions, not stored functions with a return value.
            (.sqlStoredFunctionsUsingCallSyntaxSupported, .bool(false)),
        ]
    }

    static var sqlInfoSchema: Schema {
        let int32 = ArrowType.int(bitWidth: 32, signed: true)
        let union = ArrowType.union(mode: .dense, typeIds: [0, 1, 2, 3, 4, 5], children: [
            Field("string_value", .utf8, nullable: true),
            Field("bool_value", .bool, nullable: true),
            Field("bigint_value", .int(bitWidth: 64, signed: true), nullable: true),
            Field("int32_bitmask", int32, nullable: true),
            Field("string_list", .list(Field("item", .utf8, nullable: true)), nullable: true),
            Field("int32_to_int32_list_map", .map(
                entries: Field("entries", .struct([
                    Field("key", int32, nullable: false),
                    Field("value", .list(Field("item", int32, nullable: true)), nullable: true),
                ]), nullable: false),
                keysSorted: false), nullable: true),
        ])
        return Schema([
            Field("info_name", .int(bitWidth: 32, signed: false), nullable: false),
            Field("value", union, nullable: false),
        ])
    }

    /// The requested items (all when none are named) in the order asked; ids Tavana does not
    /// know are skipped, as the proto says.
    static func selectInfo(_ requested: [UInt32], from all: [(Info, InfoValue)]) -> [(UInt32, InfoValue)] {
        let numbered = all.map { (UInt32($0.0.rawValue), $0.1) }
        guard !requested.isEmpty else { return numbered }
        let byID = Dictionary(numbered, uniquingKeysWith: { first, _ in first })
        var seen = Set<UInt32>()
        return requested.compactMap { id in
            guard seen.insert(id).inserted, let value = byID[id] else { return nil }
            return (id, value)
        }
    }

    static func sqlInfo(
        _ requested: [UInt32], serverVersion: String, preparedTimeout: Duration, vocabulary: EngineVocabulary
    ) -> RecordBatch {
        let all = infoValues(serverVersion: serverVersion, preparedTimeout: preparedTimeout, vocabulary: vocabulary)
        return sqlInfoBatch(selectInfo(requested, from: all))
    }

    /// The dense union column: each value goes to its type's child, at the next offset there.
    static func sqlInfoBatch(_ items: [(UInt32, InfoValue)]) -> RecordBatch {
        var typeIds: [Int8] = []
        var offsets: [Int32] = []
        var strings: [String?] = [], bools: [Bool?] = [], bigints: [Int64?] = [], int32s: [Int32?] = []
        var lists: [[String]?] = [], maps: [[Int32: [Int32]]?] = []
        for (_, value) in items {
            typeIds.append(value.typeID)
            switch value {
            case .string(let s): offsets.append(Int32(strings.count)); strings.append(s)
            case .bool(let b): offsets.append(Int32(bools.count)); bools.append(b)
            case .bigint(let v): offsets.append(Int32(bigints.count)); bigints.append(v)
            case .int32(let v): offsets.append(Int32(int32s.count)); int32s.append(v)
            case .stringList(let l): offsets.append(Int32(lists.count)); lists.append(l)
            case .int32ListMap(let m): offsets.append(Int32(maps.count)); maps.append(m)
            }
        }
        let schema = sqlInfoSchema
        guard case .union(_, _, let children) = schema.fields[1].type else { fatalError("unreachable") }
        let unionArray = ArrayData(
            type: schema.fields[1].type, length: items.count, nullCount: 0,
            buffers: [Build.bytes(typeIds), Build.bytes(offsets)],
            children: [
                Build.strings(strings), Build.bools(bools),
                Build.fixed(bigints, type: .int(bitWidth: 64, signed: true)),
                Build.fixed(int32s, type: .int(bitWidth: 32, signed: true)),
                Build.stringLists(lists, type: children[4].type),
                Build.int32ListMaps(maps, type: children[5].type),
            ])
        return RecordBatch(
            schema: schema,
            columns: [Build.fixed(items.map { Optional($0.0) }, type: .int(bitWidth: 32, signed: false)), unionArray],
            length: items.count)
    }
}
