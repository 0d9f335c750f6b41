import CDuckDB

/// DuckDB's error classes (the C API's `duckdb_error_type`), in DuckDB's numbering.
public enum DuckDBErrorType: Int32, Sendable, CaseIterable {
    case invalid = 0, outOfRange, conversion, unknownType, decimal, mismatchType, divideByZero,
        objectSize, invalidType, serialization, transaction, notImplemented, expression, catalog,
        parser, planner, scheduler, executor, constraint, index, stat, connection, syntax, settings,
        binder, network, optimizer, nullPointer, io, interrupt, fatal, internalError, invalidInput,
        outOfMemory, permission, parameterNotResolved, parameterNotAllowed, dependency, http,
        missingExtension, autoload, sequence, invalidConfiguration

    /// The prefix DuckDB puts in front of messages of this class ("Catalog Error: ...").
    /// Errors from `duckdb_prepare` come without a type; the prefix tells it.
    static let messagePrefixes: [(String, DuckDBErrorType)] = [
        ("Out of Range Error", .outOfRange), ("Conversion Error", .conversion),
        ("Unknown Type Error", .unknownType), ("Decimal Error", .decimal),
        ("Mismatch Type Error", .mismatchType), ("Divide by Zero Error", .divideByZero),
        ("Object Size Error", .objectSize), ("Invalid type Error", .invalidType),
        ("Serialization Error", .serialization), ("TransactionContext Error", .transaction),
        ("Transaction Error", .transaction), ("Not implemented Error", .notImplemented),
        ("Expression Error", .expression), ("Catalog Error", .catalog), ("Parser Error", .parser),
        ("Planner Error", .planner), ("Scheduler Error", .scheduler), ("Executor Error", .executor),
        ("Constraint Error", .constraint), ("Index Error", .index), ("Stat Error", .stat),
        ("Connection Error", .connection), ("Syntax Error", .syntax), ("Settings Error", .settings),
        ("Binder Error", .binder), ("Network Error", .network), ("Optimizer Error", .optimizer),
        ("NullPointer Error", .nullPointer), ("IO Error", .io), ("INTERRUPT Error", .interrupt),
        ("FATAL Error", .fatal), ("INTERNAL Error", .internalError), ("Invalid Input Error", .invalidInput),
        ("Out of Memory Error", .outOfMemory), ("Permission Error", .permission),
        ("Parameter Not Resolved Error", .parameterNotResolved),
        ("Parameter Not Allowed Error", .parameterNotAllowed), ("Dependency Error", .dependency),
        ("HTTP Error", .http), ("Missing Extension Error", .missingExtension),
        ("Extension Autoloading Error", .autoload), ("Sequence Error", .sequence),
        ("Invalid Configuration Error", .invalidConfiguration),
    ]

    static func fromMessage(_ message: String) -> DuckDBErrorType {
        for (prefix, type) in messagePrefixes where message.hasPrefix(prefix + ":") { return type }
        return .invalid
    }
}

/// An error raised by DuckDB (or by this wrapper before calling it), with DuckDB's class
/// and message; front doors map `type` to SQLSTATEs or gRPC status codes.
public struct DuckDBError: Error, Sendable, CustomStringConvertible, Equatable {
    public var type: DuckDBErrorType
    public var message: String

    public init(_ type: DuckDBErrorType, _ message: String) {
        self.type = type
        self.message = message
    }

    /// An error whose class is read from its message's prefix.
    init(message: String) {
        self.init(DuckDBErrorType.fromMessage(message), message)
    }

    init(_ raw: duckdb_error_type, message: String) {
        let type = DuckDBErrorType(rawValue: raw) ?? .invalid
        // Some paths report INVALID although the message says what happened.
        self.init(type == .invalid ? DuckDBErrorType.fromMessage(message) : type, message)
    }

    public var description: String { message }

    /// The message without DuckDB's "Xxx Error: " prefix.
    public var messageWithoutPrefix: String {
        for (prefix, _) in DuckDBErrorType.messagePrefixes where message.hasPrefix(prefix + ": ") {
            return String(message.dropFirst(prefix.count + 2))
        }
        return message
    }

    public var isInterrupt: Bool { type == .interrupt }
}

/// Consumes a `duckdb_error_data`, turning it into a Swift error if it holds one.
func check(_ errorData: duckdb_error_data?) throws {
    guard let data = errorData else { return }
    var owned: duckdb_error_data? = data
    defer { duckdb_destroy_error_data(&owned) }
    guard duckdb_error_data_has_error(data) else { return }
    let message = duckdb_error_data_message(data).map { String(cString: $0) } ?? "unknown DuckDB error"
    throw DuckDBError(duckdb_error_data_error_type(data), message: message)
}
