/// Typed reads of single values. Indexes are logical (the array's `offset` is applied here).
/// These are what row-oriented consumers (the PostgreSQL encoder, tests) use; columnar
/// consumers work on the buffers directly.
extension ArrayData {
    /// A fixed-width value of the values buffer (`buffers[1]`).
    @inlinable
    public func value<T: FixedWidthInteger>(_ i: Int, as: T.Type = T.self) -> T {
        buffers[1].load(at: (offset + i) * MemoryLayout<T>.size, as: T.self)
    }

    @inlinable
    public func float32(_ i: Int) -> Float { buffers[1].load(at: (offset + i) * 4, as: Float.self) }

    @inlinable
    public func float64(_ i: Int) -> Double { buffers[1].load(at: (offset + i) * 8, as: Double.self) }

    @inlinable
    public func bool(_ i: Int) -> Bool { buffers[1].bit(offset + i) }

    /// Raw bytes of a fixed-width slot (decimals, intervals, fixed-size binary).
    public func fixedBytes(_ i: Int) -> UnsafeRawBufferPointer {
        guard let width = type.fixedByteWidth else { preconditionFailure("fixedBytes on \(type)") }
        return UnsafeRawBufferPointer(rebasing: buffers[1].bytes[((offset + i) * width)..<((offset + i + 1) * width)])
    }

    /// Start and end offsets of slot `i` for variable-length types (strings, binaries, lists, maps).
    public func valueRange(_ i: Int) -> Range<Int> {
        switch type {
        case .largeUtf8, .largeBinary, .largeList:
            let start = Int(buffers[1].load(at: (offset + i) * 8, as: Int64.self))
            let end = Int(buffers[1].load(at: (offset + i + 1) * 8, as: Int64.self))
            return start..<end
        case .fixedSizeList(_, let size):
            return ((offset + i) * size)..<((offset + i + 1) * size)
        default:
            let start = Int(buffers[1].load(at: (offset + i) * 4, as: Int32.self))
            let end = Int(buffers[1].load(at: (offset + i + 1) * 4, as: Int32.self))
            return start..<end
        }
    }

    /// The bytes of a string or binary slot.
    public func bytes(_ i: Int) -> UnsafeRawBufferPointer {
        let range = valueRange(i)
        guard !range.isEmpty else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(rebasing: buffers[2].bytes[range])
    }

    public func string(_ i: Int) -> String { String(decoding: bytes(i), as: UTF8.self) }

    /// The dictionary index stored in slot `i` of a dictionary-encoded array.
    public func dictionaryIndex(_ i: Int) -> Int {
        switch type {
        case .int(8, true): return Int(value(i, as: Int8.self))
        case .int(8, false): return Int(value(i, as: UInt8.self))
        case .int(16, true): return Int(value(i, as: Int16.self))
        case .int(16, false): return Int(value(i, as: UInt16.self))
        case .int(32, true): return Int(value(i, as: Int32.self))
        case .int(32, false): return Int(value(i, as: UInt32.self))
        case .int(64, false): return Int(value(i, as: UInt64.self))
        default: return Int(value(i, as: Int64.self))
        }
    }
}
