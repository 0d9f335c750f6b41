/// What the worker's DuckDB knows of its own: its keywords, its built-in functions by kind,
/// its type names and which casts it implements. Front doors report it to clients (Flight
/// SQL's SqlInfo and GetXdbcTypeInfo). It is built into DuckDB and its loaded extensions, so
/// it is the same in every session; the worker reads it once, when first asked. (Only the
/// system catalog is read; user macros are left out.)
public struct EngineVocabulary: Sendable, Equatable {
    public var keywords: [String] = []
    public var numericFunctions: [String] = []
    public var stringFunctions: [String] = []
    public var systemFunctions: [String] = []
    public var datetimeFunctions: [String] = []
    /// Upper-case type names and aliases (`INTEGER`, `TIMESTAMP WITH TIME ZONE`, `JSON`, …).
    public var typeNames: Set<String> = []
    /// The casts DuckDB implements among `castProbes`' types: source type → target types.
    public var casts: [String: Set<String>] = [:]

    public init() {}

    /// The types whose casts are probed, each with a value of it.
    public static let castProbes: [(type: String, sample: String)] = [
        ("BIGINT", "1::BIGINT"),
        ("BLOB", "'\\x01'::BLOB"),
        ("BOOLEAN", "true"),
        ("VARCHAR", "'1'"),
        ("DATE", "DATE '2000-01-01'"),
        ("DECIMAL(18,3)", "1::DECIMAL(18,3)"),
        ("DOUBLE", "1::DOUBLE"),
        ("INTEGER", "1::INTEGER"),
        ("INTERVAL", "INTERVAL 1 DAY"),
        ("FLOAT", "1::FLOAT"),
        ("SMALLINT", "1::SMALLINT"),
        ("TIME", "TIME '00:00:01'"),
        ("TIMESTAMP", "TIMESTAMP '2000-01-01 00:00:01'"),
        ("TINYINT", "1::TINYINT"),
    ]
}
