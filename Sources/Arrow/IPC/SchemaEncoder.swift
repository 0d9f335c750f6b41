/// Writes `Schema`, `Field` and type tables into a flatbuffer.
///
/// Defaults are written explicitly: it costs a few bytes and keeps the output independent of
/// which defaults a given reader version assumes. Empty `children` / `fields` vectors are
/// written too, because Arrow C++ rejects fields whose children vector is missing.
enum SchemaEncoder {
    static func schema(_ schema: Schema, into b: inout FlatBufferBuilder) -> FlatBufferOffset {
        let fields = schema.fields.map { field($0, into: &b) }
        let fieldsVector = b.createVector(fields)
        let metadata = keyValues(schema.metadata, into: &b)
        b.startTable()
        b.add(Slots.Schema.endianness, Int16(0))  // Little
        b.add(Slots.Schema.fields, fieldsVector)
        if let metadata { b.add(Slots.Schema.customMetadata, metadata) }
        return b.endTable()
    }

    static func field(_ field: Field, into b: inout FlatBufferBuilder) -> FlatBufferOffset {
        // Children of the VALUE type: a dictionary-encoded field describes its decoded values.
        let children = field.type.children.map { self.field($0, into: &b) }
        let childrenVector = b.createVector(children)
        let name = b.createString(field.name)
        let metadata = keyValues(field.metadata, into: &b)
        let dictionary = field.dictionary.map { dictionaryEncoding($0, into: &b) }
        let (tag, typeTable) = type(field.type, into: &b)
        b.startTable()
        b.add(Slots.Field.name, name)
        b.add(Slots.Field.nullable, field.nullable)
        b.add(Slots.Field.typeType, tag.rawValue)
        b.add(Slots.Field.type, typeTable)
        if let dictionary { b.add(Slots.Field.dictionary, dictionary) }
        b.add(Slots.Field.children, childrenVector)
        if let metadata { b.add(Slots.Field.customMetadata, metadata) }
        return b.endTable()
    }

    /// nil for no pairs, so that absent metadata stays absent.
    static func keyValues(_ pairs: [KeyValue], into b: inout FlatBufferBuilder) -> FlatBufferOffset? {
        guard !pairs.isEmpty else { return nil }
        var tables: [FlatBufferOffset] = []
        for pair in pairs {
            let key = b.createString(pair.key)
            let value = b.createString(pair.value)
            b.startTable()
            b.add(Slots.KeyValue.key, key)
            b.add(Slots.KeyValue.value, value)
            tables.append(b.endTable())
        }
        return b.createVector(tables)
    }

    private static func dictionaryEncoding(_ encoding: DictionaryEncoding, into b: inout FlatBufferBuilder) -> FlatBufferOffset {
        var indexType: FlatBufferOffset?
        if case .int(let bits, let signed) = encoding.indexType {
            indexType = intTable(bits: bits, signed: signed, into: &b)
        }
        b.startTable()
        b.add(Slots.DictionaryEncoding.id, encoding.id)
        if let indexType { b.add(Slots.DictionaryEncoding.indexType, indexType) }
        b.add(Slots.DictionaryEncoding.isOrdered, encoding.ordered)
        b.add(Slots.DictionaryEncoding.dictionaryKind, Int16(0))  // DenseArray
        return b.endTable()
    }

    private static func intTable(bits: Int, signed: Bool, into b: inout FlatBufferBuilder) -> FlatBufferOffset {
        b.startTable()
        b.add(Slots.IntType.bitWidth, Int32(truncatingIfNeeded: bits))
        b.add(Slots.IntType.isSigned, signed)
        return b.endTable()
    }

    /// A table holding only small enum-like scalars.
    private static func unitTable(_ slot: Int, _ unit: Int16, into b: inout FlatBufferBuilder) -> FlatBufferOffset {
        b.startTable()
        b.add(slot, unit)
        return b.endTable()
    }

    private static func emptyTable(into b: inout FlatBufferBuilder) -> FlatBufferOffset {
        b.startTable()
        return b.endTable()
    }

    static func type(_ type: ArrowType, into b: inout FlatBufferBuilder) -> (TypeTag, FlatBufferOffset) {
        switch type {
        case .null: return (.null, emptyTable(into: &b))
        case .bool: return (.bool, emptyTable(into: &b))
        case .int(let bits, let signed): return (.int, intTable(bits: bits, signed: signed, into: &b))
        case .float16: return (.floatingPoint, unitTable(Slots.FloatingPoint.precision, 0, into: &b))
        case .float32: return (.floatingPoint, unitTable(Slots.FloatingPoint.precision, 1, into: &b))
        case .float64: return (.floatingPoint, unitTable(Slots.FloatingPoint.precision, 2, into: &b))
        case .decimal(let precision, let scale, let bits):
            b.startTable()
            b.add(Slots.Decimal.precision, Int32(truncatingIfNeeded: precision))
            b.add(Slots.Decimal.scale, Int32(truncatingIfNeeded: scale))
            b.add(Slots.Decimal.bitWidth, Int32(truncatingIfNeeded: bits))
            return (.decimal, b.endTable())
        case .utf8: return (.utf8, emptyTable(into: &b))
        case .largeUtf8: return (.largeUtf8, emptyTable(into: &b))
        case .binary: return (.binary, emptyTable(into: &b))
        case .largeBinary: return (.largeBinary, emptyTable(into: &b))
        case .fixedSizeBinary(let width):
            b.startTable()
            b.add(Slots.FixedSizeBinary.byteWidth, Int32(truncatingIfNeeded: width))
            return (.fixedSizeBinary, b.endTable())
        case .date32: return (.date, unitTable(Slots.Date.unit, 0, into: &b))  // DAY
        case .date64: return (.date, unitTable(Slots.Date.unit, 1, into: &b))  // MILLISECOND
        case .time32(let unit), .time64(let unit):
            let bits: Int32
            if case .time32 = type { bits = 32 } else { bits = 64 }
            b.startTable()
            b.add(Slots.Time.unit, unit.rawValue)
            b.add(Slots.Time.bitWidth, bits)
            return (.time, b.endTable())
        case .timestamp(let unit, let timezone):
            let zone = timezone.map { b.createString($0) }
            b.startTable()
            b.add(Slots.Timestamp.unit, unit.rawValue)
            if let zone { b.add(Slots.Timestamp.timezone, zone) }
            return (.timestamp, b.endTable())
        case .duration(let unit): return (.duration, unitTable(Slots.Duration.unit, unit.rawValue, into: &b))
        case .interval(let unit): return (.interval, unitTable(Slots.Interval.unit, unit.rawValue, into: &b))
        case .list: return (.list, emptyTable(into: &b))
        case .largeList: return (.largeList, emptyTable(into: &b))
        case .fixedSizeList(_, let size):
            b.startTable()
            b.add(Slots.FixedSizeList.listSize, Int32(truncatingIfNeeded: size))
            return (.fixedSizeList, b.endTable())
        case .struct: return (.structType, emptyTable(into: &b))
        case .map(_, let keysSorted):
            b.startTable()
            b.add(Slots.Map.keysSorted, keysSorted)
            return (.map, b.endTable())
        case .union(let mode, let typeIds, _):
            let ids = b.createVector(typeIds)
            b.startTable()
            b.add(Slots.Union.mode, mode.rawValue)
            b.add(Slots.Union.typeIds, ids)
            return (.union, b.endTable())
        case .utf8View: return (.utf8View, emptyTable(into: &b))
        case .binaryView: return (.binaryView, emptyTable(into: &b))
        case .listView: return (.listView, emptyTable(into: &b))
        case .largeListView: return (.largeListView, emptyTable(into: &b))
        }
    }
}
