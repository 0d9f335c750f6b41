/// Arrow logical types, as far as Tavana produces or consumes them.
///
/// A dictionary-encoded field keeps its *value* type here; the encoding itself (index type,
/// dictionary id) lives on `Field.dictionary`, which mirrors how the IPC schema describes it.
public indirect enum ArrowType: Hashable, Sendable {
    case null
    case bool
    case int(bitWidth: Int, signed: Bool)
    case float16
    case float32
    case float64
    /// Decimal stored as a two's-complement integer of `bitWidth` bits (32, 64, 128 or 256).
    case decimal(precision: Int, scale: Int, bitWidth: Int)
    case utf8
    case largeUtf8
    case binary
    case largeBinary
    case fixedSizeBinary(byteWidth: Int)
    case date32
    case date64
    case time32(TimeUnit)
    case time64(TimeUnit)
    /// `timezone == nil` is a naive timestamp.
    case timestamp(TimeUnit, timezone: String?)
    case duration(TimeUnit)
    case interval(IntervalUnit)
    case list(Field)
    case largeList(Field)
    case fixedSizeList(Field, listSize: Int)
    case `struct`([Field])
    /// `entries` is a non-nullable struct field with two children, key and value.
    case map(entries: Field, keysSorted: Bool)
    case union(mode: UnionMode, typeIds: [Int32], children: [Field])
    /// The view layouts (Arrow 1.4): read from IPC only. `IPCMessageDecoder` hands their
    /// arrays out in the plain large forms (`largeUtf8`, `largeBinary`, `largeList`), which is
    /// what the rest of Tavana (and DuckDB) consume; nothing produces or writes them.
    case utf8View
    case binaryView
    case listView(Field)
    case largeListView(Field)

    public enum TimeUnit: Int16, Hashable, Sendable { case second = 0, millisecond, microsecond, nanosecond }
    public enum IntervalUnit: Int16, Hashable, Sendable { case yearMonth = 0, dayTime, monthDayNano }
    public enum UnionMode: Int16, Hashable, Sendable { case sparse = 0, dense }

    /// Children of nested types, in the order their arrays appear in `ArrayData.children`.
    public var children: [Field] {
        switch self {
        case .list(let f), .largeList(let f), .fixedSizeList(let f, _), .listView(let f), .largeListView(let f): return [f]
        case .struct(let fields): return fields
        case .map(let entries, _): return [entries]
        case .union(_, _, let children): return children
        default: return []
        }
    }

    /// Width in bytes of one value for fixed-width primitive types, nil otherwise.
    /// (`bool` is bit-packed and reports nil.)
    public var fixedByteWidth: Int? {
        switch self {
        case .int(let bits, _): return bits / 8
        case .float16: return 2
        case .float32: return 4
        case .float64: return 8
        case .decimal(_, _, let bits): return bits / 8
        case .fixedSizeBinary(let w): return w
        case .date32: return 4
        case .date64: return 8
        case .time32: return 4
        case .time64: return 8
        case .timestamp, .duration: return 8
        case .interval(.yearMonth): return 4
        case .interval(.dayTime): return 8
        case .interval(.monthDayNano): return 16
        default: return nil
        }
    }

    /// The type arrays of this type are handed out as: view layouts become their plain large
    /// forms, at any depth.
    public var withoutViews: ArrowType {
        switch self {
        case .utf8View: return .largeUtf8
        case .binaryView: return .largeBinary
        case .listView(let f), .largeListView(let f): return .largeList(f.withoutViews)
        case .list(let f): return .list(f.withoutViews)
        case .largeList(let f): return .largeList(f.withoutViews)
        case .fixedSizeList(let f, let n): return .fixedSizeList(f.withoutViews, listSize: n)
        case .struct(let fields): return .struct(fields.map(\.withoutViews))
        case .map(let entries, let sorted): return .map(entries: entries.withoutViews, keysSorted: sorted)
        case .union(let mode, let ids, let children): return .union(mode: mode, typeIds: ids, children: children.map(\.withoutViews))
        default: return self
        }
    }

    /// The number of buffers an array of this type has in the IPC/C layout
    /// (validity included; none for null and unions in metadata V5).
    public var bufferCount: Int {
        switch self {
        case .null: return 0
        case .union(.sparse, _, _): return 1
        case .union(.dense, _, _): return 2
        case .struct, .fixedSizeList: return 1
        case .list, .largeList, .map: return 2
        case .utf8, .largeUtf8, .binary, .largeBinary: return 3
        default: return 2
        }
    }
}

/// How a field's values are dictionary-encoded.
public struct DictionaryEncoding: Hashable, Sendable {
    public var id: Int64
    /// Integer type of the indices (`.int(bitWidth:signed:)`).
    public var indexType: ArrowType
    public var ordered: Bool

    public init(id: Int64, indexType: ArrowType, ordered: Bool = false) {
        self.id = id
        self.indexType = indexType
        self.ordered = ordered
    }
}

/// A named, typed column (or child of a nested type).
public struct Field: Hashable, Sendable {
    public var name: String
    public var type: ArrowType
    public var nullable: Bool
    /// Ordered key/value pairs; order is kept so that round trips are byte-stable.
    public var metadata: [KeyValue]
    public var dictionary: DictionaryEncoding?

    public init(
        _ name: String, _ type: ArrowType, nullable: Bool = true,
        metadata: [KeyValue] = [], dictionary: DictionaryEncoding? = nil
    ) {
        self.name = name
        self.type = type
        self.nullable = nullable
        self.metadata = metadata
        self.dictionary = dictionary
    }

    /// The type of the array that physically stores this field: the index type for
    /// dictionary-encoded fields, the value type otherwise.
    public var storageType: ArrowType { dictionary?.indexType ?? type }

    /// The field as decoded arrays carry it (`ArrowType.withoutViews`).
    public var withoutViews: Field {
        var f = self
        f.type = type.withoutViews
        return f
    }
}

public struct KeyValue: Hashable, Sendable {
    public var key: String
    public var value: String
    public init(_ key: String, _ value: String) {
        self.key = key
        self.value = value
    }
}

public struct Schema: Hashable, Sendable {
    public var fields: [Field]
    public var metadata: [KeyValue]
    public init(_ fields: [Field], metadata: [KeyValue] = []) {
        self.fields = fields
        self.metadata = metadata
    }
}
