import Arrow
import DuckDB
import Foundation
import Logging
import SwiftProtobuf
import Worker
import WorkerProtocol
import XCTest

/// The seam's values on the wire and back. A worker port is reachable from the network, so
/// besides round trips these check that input no gateway would send is refused with a
/// WireError rather than trapping the worker.
final class WireTypesTests: XCTestCase {
    /// Through protobuf bytes, as the value crosses the network.
    func overTheWire<M: SwiftProtobuf.Message>(_ message: M) throws -> M {
        try M(serializedBytes: message.serializedData())
    }

    func assertWireError(_ body: @autoclosure () throws -> some Any, _ what: String, line: UInt = #line) {
        XCTAssertThrowsError(try body(), what, line: line) { error in
            XCTAssertTrue(error is WireError, "\(what): expected a WireError, got \(type(of: error)): \(error)", line: line)
        }
    }

    // MARK: Logical types

    static let simpleTypes: [LogicalType] = [
        .invalid, .boolean, .tinyint, .smallint, .integer, .bigint, .utinyint, .usmallint, .uinteger, .ubigint,
        .hugeint, .uhugeint, .float, .double, .varchar, .blob, .bit, .bignum, .date, .time, .timeNS, .timeTZ,
        .timestamp, .timestampS, .timestampMS, .timestampNS, .timestampTZ, .interval, .uuid, .sqlNull,
    ]

    static let compositeTypes: [LogicalType] = [
        .decimal(width: 1, scale: 0), .decimal(width: 18, scale: 3), .decimal(width: 38, scale: 38),
        .enum([]), .enum(["sad", "it's ok", "happy"]),
        .list(.integer), .list(.list(.varchar)),
        .array(.double, size: 3), .array(.list(.integer), size: 0),
        .struct([]), .struct([("a", .integer), ("b c", .list(.varchar)), ("", .boolean)]),
        .map(key: .varchar, value: .list(.decimal(width: 9, scale: 2))),
        .union([("n", .integer), ("s", .varchar)]),
        .other(0), .other(42), .other(-7), .other(Int32.max),
        // Every composite inside every other.
        .struct([
            ("m", .map(key: .enum(["x"]), value: .union([("l", .array(.struct([("u", .uuid)]), size: 2))]))),
            ("o", .list(.other(99))),
        ]),
    ]

    func testEveryLogicalTypeRoundTrips() throws {
        for type in Self.simpleTypes + Self.compositeTypes {
            let wire = WireLogicalType(type)
            XCTAssertEqual(try wire.decoded(), type, "\(type)")
            XCTAssertEqual(try overTheWire(wire).decoded(), type, "\(type) through bytes")
        }
    }

    func testTheSimpleTypesHaveNamesOfTheirOwn() {
        // Two simple types under one name would decode as one of them.
        let kinds = Self.simpleTypes.map { WireLogicalType($0).kind }
        XCTAssertEqual(Set(kinds).count, Self.simpleTypes.count, "\(kinds)")
    }

    func testNestedFieldNamesAndOrderSurvive() throws {
        // Equality of LogicalType goes through its description; check the structure directly too.
        let type = LogicalType.struct([("z", .integer), ("a", .union([("q", .varchar), ("p", .blob)]))])
        guard case .struct(let fields) = try overTheWire(WireLogicalType(type)).decoded() else { return XCTFail() }
        XCTAssertEqual(fields.map(\.name), ["z", "a"])
        guard case .union(let members) = fields[1].type else { return XCTFail("\(fields[1].type)") }
        XCTAssertEqual(members.map(\.name), ["q", "p"])
        XCTAssertEqual(members.map(\.type), [.varchar, .blob])
    }

    func testMalformedTypesAreRefused() {
        func type(_ kind: String, _ build: (inout WireLogicalType) -> Void = { _ in }) -> WireLogicalType {
            var t = WireLogicalType()
            t.kind = kind
            build(&t)
            return t
        }
        func child(_ t: WireLogicalType, name: String = "") -> Tavana_Worker_V1_NamedType {
            var n = Tavana_Worker_V1_NamedType()
            n.name = name
            n.type = t
            return n
        }
        let integer = WireLogicalType(.integer)
        let bogus = type("geometry")
        let cases: [(String, WireLogicalType)] = [
            ("unknown kind", bogus),
            ("empty kind", type("")),
            ("kind in another case", type("INTEGER")),
            ("decimal width 0", type("decimal") { $0.width = 0 }),
            ("decimal width 39", type("decimal") { $0.width = 39; $0.scale = 2 }),
            ("decimal negative width", type("decimal") { $0.width = -1 }),
            ("decimal scale above width", type("decimal") { $0.width = 5; $0.scale = 6 }),
            ("decimal negative scale", type("decimal") { $0.width = 5; $0.scale = -1 }),
            ("array size -1", type("array") { $0.size = -1; $0.children = [child(integer)] }),
            ("array size Int64.min", type("array") { $0.size = .min; $0.children = [child(integer)] }),
            ("array without its element", type("array") { $0.size = 2 }),
            ("list without its element", type("list")),
            ("map without its value", type("map") { $0.children = [child(integer, name: "key")] }),
            ("map without children", type("map")),
            ("list of an unknown kind", type("list") { $0.children = [child(bogus)] }),
            ("struct with an unknown kind", type("struct") { $0.children = [child(integer, name: "a"), child(bogus, name: "b")] }),
            ("union with a bad decimal", type("union") { $0.children = [child(type("decimal") { $0.width = 40 }, name: "d")] }),
            ("map with a bad key", type("map") { $0.children = [child(bogus), child(integer)] }),
            ("deeply nested", type("list") { $0.children = [child(type("array") { $0.size = 1; $0.children = [child(type("list"))] })] }),
        ]
        for (what, wire) in cases {
            assertWireError(try wire.decoded(), what)
            assertWireError(try overTheWire(wire).decoded(), "\(what) through bytes")
        }
    }

    func testAnAbsentChildTypeIsRefused() {
        // A child whose type field is missing altogether reads as the empty kind.
        var list = WireLogicalType()
        list.kind = "list"
        list.children = [Tavana_Worker_V1_NamedType()]
        assertWireError(try list.decoded(), "list of a missing type")
    }

    // MARK: Values

    static let values: [DuckDBValue] = [
        .null,
        .bool(false), .bool(true),
        .int8(.min), .int8(0), .int8(.max),
        .int16(.min), .int16(.max),
        .int32(.min), .int32(0), .int32(.max),
        .int64(.min), .int64(.max),
        .uint8(0), .uint8(.max), .uint16(.max), .uint32(.max), .uint64(0), .uint64(.max),
        .hugeint(.min), .hugeint(-1), .hugeint(0), .hugeint(1), .hugeint(.max),
        .hugeint(Int128(Int64.min) - 1), .hugeint(Int128(UInt64.max) + 1),
        .uhugeint(0), .uhugeint(UInt128(UInt64.max) + 1), .uhugeint(.max),
        .float(0), .float(-1.5), .float(.infinity), .float(-.greatestFiniteMagnitude), .float(.leastNonzeroMagnitude),
        .double(.pi), .double(-.infinity), .double(-0.0), .double(.leastNonzeroMagnitude),
        .decimal(unscaled: 0, width: 1, scale: 0),
        .decimal(unscaled: -12345, width: 10, scale: 2),
        .decimal(unscaled: 12345, width: 5, scale: 5),
        // The extremes of DECIMAL(38,0) and the extremes of the 128 bits.
        .decimal(unscaled: 99_999_999_999_999_999_999_999_999_999_999_999_999, width: 38, scale: 0),
        .decimal(unscaled: -99_999_999_999_999_999_999_999_999_999_999_999_999, width: 38, scale: 38),
        .decimal(unscaled: .min, width: 38, scale: 10), .decimal(unscaled: .max, width: 38, scale: 10),
        .varchar(""), .varchar("héllo, 世界 🦆"), .varchar("nul\u{0}inside"),
        .blob([]), .blob([0, 1, 0x7F, 0x80, 0xFF]),
        .date(.min), .date(-1), .date(19_723), .date(.max),
        .time(0), .time(86_399_999_999),
        .timestamp(.min), .timestamp(1_704_067_200_000_000), .timestampTZ(-1), .timestampTZ(.max),
        .interval(months: 0, days: 0, micros: 0), .interval(months: -1, days: Int32.max, micros: Int64.min),
        .uuid(0), .uuid(.max), .uuid(0x0011_2233_4455_6677_8899_AABB_CCDD_EEFF),
        .list([], element: .varchar),
        .list([.int32(1), .null, .int32(3)], element: .integer),
        .list([.list([.hugeint(.min)], element: .hugeint), .list([], element: .hugeint), .null], element: .list(.hugeint)),
        .typedNull(.varchar), .typedNull(.decimal(width: 18, scale: 3)),
        .list([.decimal(unscaled: -5, width: 3, scale: 1)], element: .decimal(width: 3, scale: 1)),
        .list([.list([.list([.varchar("deep")], element: .varchar)], element: .list(.varchar))], element: .list(.list(.varchar))),
    ]

    func testEveryValueRoundTrips() throws {
        for value in Self.values {
            let wire = WireValue(value)
            XCTAssertEqual(try wire.decoded(), value, "\(value)")
            XCTAssertEqual(try overTheWire(wire).decoded(), value, "\(value) through bytes")
        }
    }

    func testDefaultValuedKindsAreKeptAcrossBytes() throws {
        // proto3 drops default scalars, but not a oneof's chosen member: zero, false and
        // empty still say which kind they are.
        for value: DuckDBValue in [.bool(false), .int8(0), .uint64(0), .float(0), .varchar(""), .blob([]), .date(0), .null] {
            XCTAssertEqual(try overTheWire(WireValue(value)).decoded(), value, "\(value)")
        }
        XCTAssertEqual(try WireValue().decoded(), .null, "a value with no kind at all is NULL")
    }

    func testNotANumberSurvivesBitForBit() throws {
        // NaN is unequal to itself, so it is compared by its bits.
        let quiet = Double.nan, signalling = Float.signalingNaN
        guard case .double(let d) = try overTheWire(WireValue(.double(quiet))).decoded() else { return XCTFail() }
        XCTAssertEqual(d.bitPattern, quiet.bitPattern)
        guard case .float(let f) = try overTheWire(WireValue(.float(signalling))).decoded() else { return XCTFail() }
        XCTAssertTrue(f.isNaN)
    }

    func testHugeIntegersTravelAsTheirTwoHalves() {
        // The wire layout is part of the protocol: high and low 64 bits, two's complement.
        guard case .hugeint(let w) = WireValue(.hugeint(-1)).kind else { return XCTFail() }
        XCTAssertEqual(w.high, .max)
        XCTAssertEqual(w.low, .max)
        guard case .hugeint(let m) = WireValue(.hugeint(.min)).kind else { return XCTFail() }
        XCTAssertEqual(m.high, 1 << 63)
        XCTAssertEqual(m.low, 0)
        guard case .uhugeint(let u) = WireValue(.uhugeint(UInt128(7) << 64 | 9)).kind else { return XCTFail() }
        XCTAssertEqual(u.high, 7)
        XCTAssertEqual(u.low, 9)
    }

    func testIntegersThatDoNotFitTheirKindAreRefused() {
        func value(_ kind: WireValue.OneOf_Kind) -> WireValue {
            var v = WireValue()
            v.kind = kind
            return v
        }
        func decimal(width: UInt32, scale: UInt32) -> WireValue {
            var d = WireValue.Decimal()
            d.low = 1
            d.width = width
            d.scale = scale
            return value(.decimal(d))
        }
        var badList = WireValue.List()
        badList.element = WireLogicalType(.tinyint)
        badList.values = [WireValue(.int8(1)), value(.int8(300))]
        var badElement = WireValue.List()
        badElement.element.kind = "no such type"
        var deep = WireValue.List()
        deep.element = WireLogicalType(.list(.tinyint))
        deep.values = [value(.list(badList))]
        let cases: [(String, WireValue)] = [
            ("int8 holding 300", value(.int8(300))),
            ("int8 holding -129", value(.int8(-129))),
            ("int16 holding 40000", value(.int16(40_000))),
            ("int16 holding Int32.min", value(.int16(.min))),
            ("uint8 holding 256", value(.uint8(256))),
            ("uint16 holding 70000", value(.uint16(70_000))),
            ("uint16 holding UInt32.max", value(.uint16(.max))),
            ("decimal width 0", decimal(width: 0, scale: 0)),
            ("decimal width 39", decimal(width: 39, scale: 0)),
            ("decimal width UInt32.max", decimal(width: .max, scale: 0)),
            ("decimal scale above width", decimal(width: 4, scale: 5)),
            ("list holding a bad value", value(.list(badList))),
            ("list of an unknown element type", value(.list(badElement))),
            ("list of a list holding a bad value", value(.list(deep))),
        ]
        for (what, wire) in cases {
            assertWireError(try wire.decoded(), what)
            assertWireError(try overTheWire(wire).decoded(), "\(what) through bytes")
        }
    }

    // MARK: Columns and descriptions

    func testColumnsKeepTheirAliasAndTellNoneFromEmpty() throws {
        for column in [
            ColumnDescription(name: "j", type: .varchar, alias: "JSON"),
            ColumnDescription(name: "plain", type: .list(.integer)),
            ColumnDescription(name: "", type: .integer, alias: ""),
        ] {
            XCTAssertEqual(try overTheWire(WireColumn(column)).decoded(), column, "\(column)")
        }
        var bad = WireColumn(ColumnDescription(name: "x", type: .integer))
        bad.type.kind = "nope"
        assertWireError(try bad.decoded(), "column of an unknown type")
    }

    func testADescriptionDuckDBMadeRoundTrips() async throws {
        // The description of a real statement, with the Arrow schema DuckDB derived for it.
        let worker = try EmbeddedWorker(
            configuration: WorkerConfiguration(
                database: DatabaseConfiguration(), executionThreads: 2, parseThreads: 1, parseThreadsPerUser: 1,
                maxStatementBytes: 1 << 20),
            logger: Logger(label: "test"))
        let session = try await worker.openSession(SessionOptions(user: "u"))
        let handle = try await session.prepare("""
            SELECT $1::INTEGER AS i, [1.5, NULL]::DECIMAL(9,2)[] AS l, {'a': 'x', 'b': [true]} AS s,
                   MAP {'k': 1} AS m, '{"a": 1}'::JSON AS j, [1, 2]::BIGINT[2] AS a
            """)
        let description = handle.description
        XCTAssertEqual(description.columns.count, 6, "\(description)")
        XCTAssertEqual(description.columns.first { $0.name == "j" }?.alias, "JSON")
        XCTAssertNotNil(description.arrowSchema)
        XCTAssertEqual(try overTheWire(WireStatementDescription(description)).decoded(), description)
        // A column typed by a parameter: DuckDB knows neither it nor the schema until it runs.
        let untyped = try await session.prepare("SELECT $1 AS v").description
        XCTAssertNil(untyped.arrowSchema)
        XCTAssertEqual(try overTheWire(WireStatementDescription(untyped)).decoded(), untyped)
        await session.close()
        try await worker.shutdown()
    }

    func testADescriptionWithoutSchemaStaysWithoutOne() throws {
        let description = StatementDescription(
            statementType: .insert, parameterTypes: [.varchar, .invalid], columns: [ColumnDescription(name: "Count", type: .bigint)],
            arrowSchema: nil)
        XCTAssertEqual(try overTheWire(WireStatementDescription(description)).decoded(), description)
    }

    func testAnUnknownStatementTypeReadsAsInvalid() throws {
        // A newer worker may know statement types this gateway does not; that is no error.
        var wire = WireStatementDescription()
        wire.statementType = 9_999
        XCTAssertEqual(try wire.decoded().statementType, .invalid)
    }

    func testBadSchemaBytesAreRefusedNotTrapped() throws {
        XCTAssertThrowsError(try WireSchema.decode(Data([1, 2, 3])))
        XCTAssertThrowsError(try WireSchema.decode(Data(repeating: 0xFF, count: 64)))
        var wire = WireStatementDescription(StatementDescription(
            statementType: .select, parameterTypes: [], columns: [], arrowSchema: nil))
        wire.arrowSchema = Data([0x10, 0, 0, 0, 0xFF])
        XCTAssertThrowsError(try wire.decoded())
        // Another IPC message where a schema is expected.
        let schema = Schema([Field("a", .int(bitWidth: 32, signed: true), nullable: false)])
        var writer = IPCStreamWriter(schema: schema)
        let batch = RecordBatch(
            schema: schema,
            columns: [ArrayData(type: .int(bitWidth: 32, signed: true), length: 1, nullCount: 0,
                                buffers: [.empty, Buffer(copying: [1, 0, 0, 0] as [UInt8])])],
            length: 1)
        let message = try XCTUnwrap(try writer.messages(for: batch).last)
        XCTAssertThrowsError(try WireSchema.decode(Data(message.metadata)))
    }

    func testSchemasRoundTrip() throws {
        let schema = Schema([
            Field("i", .int(bitWidth: 64, signed: true), nullable: false),
            Field("s", .utf8, metadata: [KeyValue("k", "v")]),
            Field("e", .utf8, dictionary: DictionaryEncoding(id: 0, indexType: .int(bitWidth: 8, signed: false))),
            Field("l", .list(Field("item", .decimal(precision: 38, scale: 4, bitWidth: 128)))),
            Field("st", .struct([Field("a", .bool), Field("b", .timestamp(.microsecond, timezone: "UTC"))])),
        ], metadata: [KeyValue("origin", "test")])
        XCTAssertEqual(try WireSchema.decode(WireSchema.encode(schema)), schema)
    }

    // MARK: Batches and vocabulary

    func testBatchMessagesKeepTheirBytes() throws {
        let messages = [
            IPCMessage(metadata: [1, 2, 3], bodyParts: [Buffer(copying: [4, 5] as [UInt8]), Buffer(copying: [6] as [UInt8])]),
            IPCMessage(metadata: [7], bodyParts: []),
        ]
        let back = try overTheWire(WireBatch(messages)).ipcMessages
        XCTAssertEqual(back.map(\.metadata), [[1, 2, 3], [7]])
        // The body travels as one padded run of bytes.
        XCTAssertEqual(back.map { $0.bodyBytes() }, messages.map { $0.bodyBytes() })
        XCTAssertEqual(back[0].bodyBytes().count, 16)
    }

    func testVocabularyRoundTrips() throws {
        var vocabulary = EngineVocabulary()
        vocabulary.keywords = ["SELECT", "FROM"]
        vocabulary.numericFunctions = ["abs"]
        vocabulary.stringFunctions = ["lower", "upper"]
        vocabulary.systemFunctions = ["current_user"]
        vocabulary.datetimeFunctions = []
        vocabulary.typeNames = ["INTEGER", "JSON", "TIMESTAMP WITH TIME ZONE"]
        vocabulary.casts = ["BIGINT": ["VARCHAR", "DOUBLE"], "BLOB": []]
        XCTAssertEqual(try overTheWire(Tavana_Worker_V1_VocabularyReply(vocabulary)).decoded, vocabulary)
    }
}
