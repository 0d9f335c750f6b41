/// Reads `Schema` / `Field` / type tables back into the in-memory model, validating as it
/// goes: nesting depth is capped, and an object budget derived from the metadata size stops
/// a hostile flatbuffer from making many offsets point at one subtree or metadata vector (a
/// DAG whose decoded size would explode while the bytes stay small).
struct SchemaDecoder {
    static let maxDepth = 64
    private var budget: Int

    init(metadataSize: Int) {
        // An honestly written buffer spends at least a 4-byte uoffset per field / key-value.
        budget = metadataSize / 4 + 1
    }

    private mutating func spend(_ objects: Int) throws {
        budget -= objects
        guard budget >= 0 else { throw ArrowError.invalidIPC("schema holds more objects than its bytes can") }
    }

    mutating func schema(_ table: FlatBufferTable) throws -> Schema {
        let endianness = try table.scalar(Slots.Schema.endianness, default: Int16(0))
        guard endianness == 0 else { throw ArrowError.unsupportedType("big-endian IPC data") }
        var fields: [Field] = []
        if let vector = try table.vector(Slots.Schema.fields, elementSize: 4) {
            for i in 0..<vector.count { fields.append(try field(vector.table(i), depth: 0)) }
        }
        return Schema(fields, metadata: try keyValues(table, Slots.Schema.customMetadata))
    }

    private mutating func keyValues(_ table: FlatBufferTable, _ slot: Int) throws -> [KeyValue] {
        guard let vector = try table.vector(slot, elementSize: 4) else { return [] }
        try spend(vector.count)
        var pairs: [KeyValue] = []
        pairs.reserveCapacity(vector.count)
        for i in 0..<vector.count {
            let pair = try vector.table(i)
            pairs.append(KeyValue(try pair.string(Slots.KeyValue.key) ?? "", try pair.string(Slots.KeyValue.value) ?? ""))
        }
        return pairs
    }

    mutating func field(_ table: FlatBufferTable, depth: Int) throws -> Field {
        guard depth < Self.maxDepth else { throw ArrowError.invalidIPC("fields nested deeper than \(Self.maxDepth)") }
        try spend(1)

        var children: [Field] = []
        if let vector = try table.vector(Slots.Field.children, elementSize: 4) {
            for i in 0..<vector.count { children.append(try field(vector.table(i), depth: depth + 1)) }
        }
        let name = try table.string(Slots.Field.name) ?? ""
        let tag = try table.scalar(Slots.Field.typeType, default: UInt8(0))
        guard let typeTable = try table.table(Slots.Field.type) else {
            throw ArrowError.invalidIPC("field '\(name)' has no type")
        }
        let type = try Self.type(tag: tag, table: typeTable, children: children, fieldName: name)
        var dictionary: DictionaryEncoding?
        if let encoding = try table.table(Slots.Field.dictionary) {
            dictionary = try Self.dictionaryEncoding(encoding)
        }
        return Field(
            name, type,
            nullable: try table.bool(Slots.Field.nullable),
            metadata: try keyValues(table, Slots.Field.customMetadata),
            dictionary: dictionary)
    }

    private static func dictionaryEncoding(_ table: FlatBufferTable) throws -> DictionaryEncoding {
        // The spec's default index type is signed int32.
        var indexType = ArrowType.int(bitWidth: 32, signed: true)
        if let intTable = try table.table(Slots.DictionaryEncoding.indexType) {
            indexType = try int(intTable)
        }
        return DictionaryEncoding(
            id: try table.scalar(Slots.DictionaryEncoding.id, default: Int64(0)),
            indexType: indexType,
            ordered: try table.bool(Slots.DictionaryEncoding.isOrdered))
    }

    private static func int(_ table: FlatBufferTable) throws -> ArrowType {
        let bits = Int(try table.scalar(Slots.IntType.bitWidth, default: Int32(0)))
        guard [8, 16, 32, 64].contains(bits) else { throw ArrowError.unsupportedType("int of \(bits) bits") }
        return .int(bitWidth: bits, signed: try table.bool(Slots.IntType.isSigned))
    }

    private static func timeUnit(_ table: FlatBufferTable, _ slot: Int, default value: Int16) throws -> ArrowType.TimeUnit {
        let raw = try table.scalar(slot, default: value)
        guard let unit = ArrowType.TimeUnit(rawValue: raw) else { throw ArrowError.invalidIPC("time unit \(raw)") }
        return unit
    }

    private static func single(_ children: [Field], _ what: String) throws -> Field {
        guard children.count == 1, let child = children.first else {
            throw ArrowError.invalidIPC("\(what) needs exactly one child, has \(children.count)")
        }
        return child
    }

    static func type(tag raw: UInt8, table: FlatBufferTable, children: [Field], fieldName: String) throws -> ArrowType {
        guard let tag = TypeTag(rawValue: raw) else {
            throw ArrowError.unsupportedType("IPC type tag \(raw) (field '\(fieldName)')")
        }
        switch tag {
        case .null: return .null
        case .bool: return .bool
        case .int: return try int(table)
        case .floatingPoint:
            switch try table.scalar(Slots.FloatingPoint.precision, default: Int16(0)) {
            case 0: return .float16
            case 1: return .float32
            case 2: return .float64
            case let p: throw ArrowError.invalidIPC("floating point precision \(p)")
            }
        case .decimal:
            let bits = Int(try table.scalar(Slots.Decimal.bitWidth, default: Int32(128)))
            guard [32, 64, 128, 256].contains(bits) else { throw ArrowError.unsupportedType("decimal of \(bits) bits") }
            return .decimal(
                precision: Int(try table.scalar(Slots.Decimal.precision, default: Int32(0))),
                scale: Int(try table.scalar(Slots.Decimal.scale, default: Int32(0))),
                bitWidth: bits)
        case .utf8: return .utf8
        case .largeUtf8: return .largeUtf8
        case .utf8View: return .utf8View
        case .binaryView: return .binaryView
        case .listView, .largeListView:
            guard children.count == 1 else { throw ArrowError.invalidIPC("list view '\(fieldName)' has \(children.count) children") }
            return tag == .listView ? .listView(children[0]) : .largeListView(children[0])
        case .runEndEncoded: throw ArrowError.unsupportedType("run-end encoded arrays (field '\(fieldName)')")
        case .binary: return .binary
        case .largeBinary: return .largeBinary
        case .fixedSizeBinary:
            let width = Int(try table.scalar(Slots.FixedSizeBinary.byteWidth, default: Int32(0)))
            guard width >= 0 else { throw ArrowError.invalidIPC("fixed size binary width \(width)") }
            return .fixedSizeBinary(byteWidth: width)
        case .date:
            switch try table.scalar(Slots.Date.unit, default: Int16(1)) {
            case 0: return .date32
            case 1: return .date64
            case let u: throw ArrowError.invalidIPC("date unit \(u)")
            }
        case .time:
            let unit = try timeUnit(table, Slots.Time.unit, default: 1)
            let bits = try table.scalar(Slots.Time.bitWidth, default: Int32(32))
            switch (bits, unit) {
            case (32, .second), (32, .millisecond): return .time32(unit)
            case (64, .microsecond), (64, .nanosecond): return .time64(unit)
            default: throw ArrowError.invalidIPC("time of \(bits) bits in \(unit)")
            }
        case .timestamp:
            let unit = try timeUnit(table, Slots.Timestamp.unit, default: 0)
            // Spec: an absent or empty time zone both mean "naive".
            let zone = try table.string(Slots.Timestamp.timezone)
            return .timestamp(unit, timezone: zone?.isEmpty == false ? zone : nil)
        case .duration: return .duration(try timeUnit(table, Slots.Duration.unit, default: 1))
        case .interval:
            let raw = try table.scalar(Slots.Interval.unit, default: Int16(0))
            guard let unit = ArrowType.IntervalUnit(rawValue: raw) else { throw ArrowError.invalidIPC("interval unit \(raw)") }
            return .interval(unit)
        case .list: return .list(try single(children, "list"))
        case .largeList: return .largeList(try single(children, "large list"))
        case .fixedSizeList:
            let size = Int(try table.scalar(Slots.FixedSizeList.listSize, default: Int32(0)))
            guard size >= 0 else { throw ArrowError.invalidIPC("fixed size list size \(size)") }
            return .fixedSizeList(try single(children, "fixed size list"), listSize: size)
        case .structType: return .struct(children)
        case .map:
            let entries = try single(children, "map")
            guard case .struct(let kv) = entries.type, kv.count == 2 else {
                throw ArrowError.invalidIPC("map entries must be a struct of key and value")
            }
            return .map(entries: entries, keysSorted: try table.bool(Slots.Map.keysSorted))
        case .union:
            return try union(table, children: children)
        }
    }

    private static func union(_ table: FlatBufferTable, children: [Field]) throws -> ArrowType {
        let rawMode = try table.scalar(Slots.Union.mode, default: Int16(0))
        guard let mode = ArrowType.UnionMode(rawValue: rawMode) else { throw ArrowError.invalidIPC("union mode \(rawMode)") }
        var typeIds: [Int32] = []
        if let vector = try table.vector(Slots.Union.typeIds, elementSize: 4) {
            // Checked before reading so the count is bounded by the (budgeted) children.
            guard vector.count == children.count else {
                throw ArrowError.invalidIPC("union has \(vector.count) type ids for \(children.count) children")
            }
            for i in 0..<vector.count { typeIds.append(try vector.scalar(i, as: Int32.self)) }
        } else {
            // Without explicit ids, a child's id is its position.
            typeIds = (0..<children.count).map { Int32($0) }
        }
        // Type ids are stored as int8 in the array, and must name children unambiguously.
        guard typeIds.count == children.count, typeIds.allSatisfy({ (0...127).contains($0) }),
              Set(typeIds).count == typeIds.count
        else { throw ArrowError.invalidIPC("union type ids \(typeIds) do not match \(children.count) children") }
        return .union(mode: mode, typeIds: typeIds, children: children)
    }
}
