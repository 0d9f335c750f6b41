/// Format code of a value on the wire (RowDescription, Bind).
public enum PostgresFormat: Int16, Sendable {
    case text = 0
    case binary = 1
}

/// A PostgreSQL data type as RowDescription and ParameterDescription present it.
public struct PostgresType: Hashable, Sendable, CustomStringConvertible {
    /// `pg_type.oid`.
    public var oid: UInt32
    /// `pg_type.typname`, e.g. "int4" or "_int4".
    public var name: String
    /// `pg_type.typlen`: the fixed width in bytes, -1 for varlena types.
    public var typlen: Int16
    /// The type modifier: -1, or e.g. `((precision << 16) | scale) + 4` for numeric.
    public var typmod: Int32

    public init(oid: UInt32, name: String, typlen: Int16, typmod: Int32 = -1) {
        self.oid = oid
        self.name = name
        self.typlen = typlen
        self.typmod = typmod
    }

    public var description: String {
        if oid == PostgresType.numericOID, typmod >= 4 {
            let m = typmod - 4
            return "numeric(\(m >> 16),\(m & 0xFFFF))"
        }
        return name
    }

    // MARK: OIDs

    public static let boolOID: UInt32 = 16
    public static let byteaOID: UInt32 = 17
    public static let charOID: UInt32 = 18
    public static let nameOID: UInt32 = 19
    public static let int8OID: UInt32 = 20
    public static let int2OID: UInt32 = 21
    public static let int4OID: UInt32 = 23
    public static let textOID: UInt32 = 25
    public static let oidOID: UInt32 = 26
    public static let jsonOID: UInt32 = 114
    public static let xmlOID: UInt32 = 142
    public static let float4OID: UInt32 = 700
    public static let float8OID: UInt32 = 701
    public static let unknownOID: UInt32 = 705
    public static let bpcharOID: UInt32 = 1042
    public static let varcharOID: UInt32 = 1043
    public static let dateOID: UInt32 = 1082
    public static let timeOID: UInt32 = 1083
    public static let timestampOID: UInt32 = 1114
    public static let timestamptzOID: UInt32 = 1184
    public static let intervalOID: UInt32 = 1186
    public static let timetzOID: UInt32 = 1266
    public static let bitOID: UInt32 = 1560
    public static let varbitOID: UInt32 = 1562
    public static let numericOID: UInt32 = 1700
    public static let uuidOID: UInt32 = 2950
    public static let jsonbOID: UInt32 = 3802

    // MARK: Scalar types

    public static let bool = PostgresType(oid: 16, name: "bool", typlen: 1)
    public static let bytea = PostgresType(oid: 17, name: "bytea", typlen: -1)
    public static let char = PostgresType(oid: 18, name: "char", typlen: 1)
    public static let name = PostgresType(oid: 19, name: "name", typlen: 64)
    public static let int8 = PostgresType(oid: 20, name: "int8", typlen: 8)
    public static let int2 = PostgresType(oid: 21, name: "int2", typlen: 2)
    public static let int4 = PostgresType(oid: 23, name: "int4", typlen: 4)
    public static let text = PostgresType(oid: 25, name: "text", typlen: -1)
    public static let oid = PostgresType(oid: 26, name: "oid", typlen: 4)
    public static let json = PostgresType(oid: 114, name: "json", typlen: -1)
    public static let xml = PostgresType(oid: 142, name: "xml", typlen: -1)
    public static let float4 = PostgresType(oid: 700, name: "float4", typlen: 4)
    public static let float8 = PostgresType(oid: 701, name: "float8", typlen: 8)
    public static let unknown = PostgresType(oid: 705, name: "unknown", typlen: -2)
    public static let bpchar = PostgresType(oid: 1042, name: "bpchar", typlen: -1)
    public static let varchar = PostgresType(oid: 1043, name: "varchar", typlen: -1)
    public static let date = PostgresType(oid: 1082, name: "date", typlen: 4)
    public static let time = PostgresType(oid: 1083, name: "time", typlen: 8)
    public static let timestamp = PostgresType(oid: 1114, name: "timestamp", typlen: 8)
    public static let timestamptz = PostgresType(oid: 1184, name: "timestamptz", typlen: 8)
    public static let interval = PostgresType(oid: 1186, name: "interval", typlen: 16)
    public static let timetz = PostgresType(oid: 1266, name: "timetz", typlen: 12)
    public static let bit = PostgresType(oid: 1560, name: "bit", typlen: -1)
    public static let varbit = PostgresType(oid: 1562, name: "varbit", typlen: -1)
    public static let numeric = PostgresType(oid: 1700, name: "numeric", typlen: -1)
    public static let uuid = PostgresType(oid: 2950, name: "uuid", typlen: 16)
    public static let jsonb = PostgresType(oid: 3802, name: "jsonb", typlen: -1)

    /// numeric(precision, scale), with the typmod PostgreSQL reports for it.
    /// Outside PostgreSQL's limits (precision 1 to 1000, scale 0 to the precision) the typmod
    /// is -1, "unconstrained numeric", rather than an overflowing number.
    public static func numeric(precision: Int, scale: Int) -> PostgresType {
        guard (1...1000).contains(precision), (0...precision).contains(scale) else {
            return PostgresType(oid: numericOID, name: "numeric", typlen: -1)
        }
        return PostgresType(oid: numericOID, name: "numeric", typlen: -1, typmod: Int32((precision << 16) | scale) + 4)
    }

    // MARK: Array types

    public static let boolArray = PostgresType(oid: 1000, name: "_bool", typlen: -1)
    public static let byteaArray = PostgresType(oid: 1001, name: "_bytea", typlen: -1)
    public static let charArray = PostgresType(oid: 1002, name: "_char", typlen: -1)
    public static let nameArray = PostgresType(oid: 1003, name: "_name", typlen: -1)
    public static let int2Array = PostgresType(oid: 1005, name: "_int2", typlen: -1)
    public static let int4Array = PostgresType(oid: 1007, name: "_int4", typlen: -1)
    public static let textArray = PostgresType(oid: 1009, name: "_text", typlen: -1)
    public static let bpcharArray = PostgresType(oid: 1014, name: "_bpchar", typlen: -1)
    public static let varcharArray = PostgresType(oid: 1015, name: "_varchar", typlen: -1)
    public static let int8Array = PostgresType(oid: 1016, name: "_int8", typlen: -1)
    public static let float4Array = PostgresType(oid: 1021, name: "_float4", typlen: -1)
    public static let float8Array = PostgresType(oid: 1022, name: "_float8", typlen: -1)
    public static let oidArray = PostgresType(oid: 1028, name: "_oid", typlen: -1)
    public static let timestampArray = PostgresType(oid: 1115, name: "_timestamp", typlen: -1)
    public static let dateArray = PostgresType(oid: 1182, name: "_date", typlen: -1)
    public static let timeArray = PostgresType(oid: 1183, name: "_time", typlen: -1)
    public static let timestamptzArray = PostgresType(oid: 1185, name: "_timestamptz", typlen: -1)
    public static let intervalArray = PostgresType(oid: 1187, name: "_interval", typlen: -1)
    public static let numericArray = PostgresType(oid: 1231, name: "_numeric", typlen: -1)
    public static let timetzArray = PostgresType(oid: 1270, name: "_timetz", typlen: -1)
    public static let jsonArray = PostgresType(oid: 199, name: "_json", typlen: -1)
    public static let uuidArray = PostgresType(oid: 2951, name: "_uuid", typlen: -1)
    public static let jsonbArray = PostgresType(oid: 3807, name: "_jsonb", typlen: -1)

    /// Element type → array type, for every array type Tavana knows.
    static let arrayPairs: [(element: PostgresType, array: PostgresType)] = [
        (.bool, .boolArray), (.bytea, .byteaArray), (.char, .charArray), (.name, .nameArray),
        (.int2, .int2Array), (.int4, .int4Array), (.text, .textArray), (.bpchar, .bpcharArray),
        (.varchar, .varcharArray), (.int8, .int8Array), (.float4, .float4Array), (.float8, .float8Array),
        (.oid, .oidArray), (.timestamp, .timestampArray), (.date, .dateArray), (.time, .timeArray),
        (.timestamptz, .timestamptzArray), (.interval, .intervalArray), (.numeric, .numericArray),
        (.timetz, .timetzArray), (.json, .jsonArray), (.uuid, .uuidArray), (.jsonb, .jsonbArray),
    ]

    private static let arrayByElement: [UInt32: PostgresType] = {
        var d: [UInt32: PostgresType] = [:]
        for p in arrayPairs { d[p.element.oid] = p.array }
        return d
    }()

    private static let elementByArray: [UInt32: PostgresType] = {
        var d: [UInt32: PostgresType] = [:]
        for p in arrayPairs { d[p.array.oid] = p.element }
        return d
    }()

    private static let byOID: [UInt32: PostgresType] = {
        var d: [UInt32: PostgresType] = [:]
        let scalars: [PostgresType] = [
            .bool, .bytea, .char, .name, .int8, .int2, .int4, .text, .oid, .json, .xml, .float4, .float8,
            .unknown, .bpchar, .varchar, .date, .time, .timestamp, .timestamptz, .interval, .timetz, .bit,
            .varbit, .numeric, .uuid, .jsonb,
        ]
        for t in scalars { d[t.oid] = t }
        for p in arrayPairs { d[p.array.oid] = p.array }
        return d
    }()

    /// The array type whose elements are of this type (typmod is not carried over).
    public var arrayType: PostgresType? { PostgresType.arrayByElement[oid] }

    /// The element type, if this is an array type.
    public var elementType: PostgresType? { PostgresType.elementByArray[oid] }

    /// The known type with this OID (typmod -1).
    public static func known(oid: UInt32) -> PostgresType? { byOID[oid] }
}

/// An error turning a value into or out of its PostgreSQL representation, with the
/// SQLSTATE PostgreSQL uses for it.
public struct PostgresTypeError: Error, Sendable, Equatable, CustomStringConvertible {
    public var sqlState: String
    public var message: String

    public init(sqlState: String, message: String) {
        self.sqlState = sqlState
        self.message = message
    }

    public var description: String { "\(sqlState): \(message)" }

    static let invalidTextRepresentation = SQLState.invalidTextRepresentation
    static let numericValueOutOfRange = SQLState.numericValueOutOfRange
    static let invalidDatetimeFormat = SQLState.invalidDatetimeFormat
    static let datetimeFieldOverflow = SQLState.datetimeFieldOverflow
    static let invalidBinaryRepresentation = SQLState.invalidBinaryRepresentation
    static let protocolViolation = SQLState.protocolViolation
    static let featureNotSupported = SQLState.featureNotSupported
    static let characterNotInRepertoire = SQLState.characterNotInRepertoire
    static let invalidParameterValue = SQLState.invalidParameterValue

    static func invalidText(_ type: String, _ text: String) -> PostgresTypeError {
        PostgresTypeError(sqlState: invalidTextRepresentation, message: "invalid input syntax for type \(type): \"\(text)\"")
    }

    static func outOfRange(_ text: String, _ type: String) -> PostgresTypeError {
        PostgresTypeError(sqlState: numericValueOutOfRange, message: "value \"\(text)\" is out of range for type \(type)")
    }

    static func badDatetime(_ type: String, _ text: String) -> PostgresTypeError {
        PostgresTypeError(sqlState: invalidDatetimeFormat, message: "invalid input syntax for type \(type): \"\(text)\"")
    }

    static func datetimeOutOfRange(_ text: String) -> PostgresTypeError {
        PostgresTypeError(sqlState: datetimeFieldOverflow, message: "date/time field value out of range: \"\(text)\"")
    }

    static func binaryLength(_ type: String, expected: Int, got: Int) -> PostgresTypeError {
        PostgresTypeError(
            sqlState: protocolViolation,
            message: "incorrect binary data format: \(type) needs \(expected) bytes, got \(got)")
    }

    static func badBinary(_ message: String) -> PostgresTypeError {
        PostgresTypeError(sqlState: invalidBinaryRepresentation, message: message)
    }
}
