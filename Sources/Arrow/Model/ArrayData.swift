/// One Arrow array: a typed view over buffers, in the layout of the Arrow columnar format.
///
/// `buffers` follows the specification's order for `type` (validity first; then offsets,
/// values or type ids). A missing validity buffer (`count == 0`) means "no nulls".
/// For dictionary-encoded fields, `type` is the index type and `dictionary` holds the values.
public struct ArrayData: Sendable {
    public var type: ArrowType
    public var length: Int
    public var nullCount: Int
    public var offset: Int
    public var buffers: [Buffer]
    public var children: [ArrayData]
    public var dictionary: DictionaryArray?

    public init(
        type: ArrowType, length: Int, nullCount: Int, offset: Int = 0,
        buffers: [Buffer], children: [ArrayData] = [], dictionary: DictionaryArray? = nil
    ) {
        self.type = type
        self.length = length
        self.nullCount = nullCount
        self.offset = offset
        self.buffers = buffers
        self.children = children
        self.dictionary = dictionary
    }

    /// Whether slot `i` (0-based, before `offset`) holds a value.
    @inlinable
    public func isValid(_ i: Int) -> Bool {
        if case .null = type { return false }
        guard nullCount != 0, let validity = buffers.first, validity.count > 0 else { return true }
        return validity.bit(offset + i)
    }

    @inlinable
    public func isNull(_ i: Int) -> Bool { !isValid(i) }
}

/// The values of a dictionary-encoded array. A class, so that every batch that shares a
/// dictionary shares one object (the IPC writer sends a dictionary again only when it changes).
public final class DictionaryArray: Sendable {
    public let valueType: ArrowType
    public let values: ArrayData
    public init(valueType: ArrowType, values: ArrayData) {
        self.valueType = valueType
        self.values = values
    }
}

/// A batch of rows: equal-length columns under one schema.
public struct RecordBatch: Sendable {
    public var schema: Schema
    public var columns: [ArrayData]
    public var length: Int

    public init(schema: Schema, columns: [ArrayData], length: Int) {
        self.schema = schema
        self.columns = columns
        self.length = length
    }
}

public enum ArrowError: Error, Equatable, CustomStringConvertible {
    case invalidFormat(String)
    case unsupportedType(String)
    case invalidIPC(String)
    case truncated(String)

    public var description: String {
        switch self {
        case .invalidFormat(let s): return "invalid Arrow format string: \(s)"
        case .unsupportedType(let s): return "unsupported Arrow type: \(s)"
        case .invalidIPC(let s): return "invalid Arrow IPC data: \(s)"
        case .truncated(let s): return "truncated Arrow IPC data: \(s)"
        }
    }
}
