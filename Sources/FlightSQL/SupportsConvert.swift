import Worker

/// SQL_SUPPORTS_CONVERT (SqlInfo 517): which SqlSupportsConvert codes cast to which, read
/// off the casts the worker's DuckDB implements.
enum SupportsConvert {
    /// Each SqlSupportsConvert code and the DuckDB type it stands for. JDBC's BIT is a
    /// boolean and its FLOAT a double; the two interval kinds are both DuckDB's INTERVAL, the
    /// character kinds VARCHAR and the binary kinds BLOB.
    static let types: [(code: Int32, type: String)] = [
        (0, "BIGINT"), (1, "BLOB"), (2, "BOOLEAN"), (3, "VARCHAR"), (4, "DATE"), (5, "DECIMAL(18,3)"),
        (6, "DOUBLE"), (7, "INTEGER"), (8, "INTERVAL"), (9, "INTERVAL"), (10, "BLOB"), (11, "VARCHAR"),
        (12, "DECIMAL(18,3)"), (13, "FLOAT"), (14, "SMALLINT"), (15, "TIME"), (16, "TIMESTAMP"),
        (17, "TINYINT"), (18, "BLOB"), (19, "VARCHAR"),
    ]

    /// Source code → the codes it casts to, in code order.
    static func map(_ vocabulary: EngineVocabulary) -> [Int32: [Int32]] {
        var map: [Int32: [Int32]] = [:]
        for from in types {
            for to in types where vocabulary.casts[from.type]?.contains(to.type) == true {
                map[from.code, default: []].append(to.code)
            }
        }
        return map
    }
}
