/// The physical shape of an array of some type: what buffers it has and how wide they are.
/// The IPC writer and reader both work from this rather than from `ArrowType`, so that the
/// many logical types sharing a layout (timestamps, dates, decimals, ...) take one path.
enum PhysicalLayout: Equatable {
    case null
    case bool
    /// validity + values of `width` bytes each
    case fixed(width: Int)
    /// validity + offsets of `offsetWidth` bytes + data (utf8, binary and their large forms)
    case binary(offsetWidth: Int)
    /// validity + offsets of `offsetWidth` bytes; one child (list, map, large list)
    case list(offsetWidth: Int)
    /// validity; one child with `size` slots per slot
    case fixedSizeList(size: Int)
    /// validity; one child per field
    case structure
    /// type ids (+ int32 offsets when dense); no validity in metadata V5
    case union(ArrowType.UnionMode)
    /// validity + 16-byte views + the batch's variadic data buffers (utf8 and binary views)
    case binaryView
    /// validity + offsets + sizes of `offsetWidth` bytes; one child (list views)
    case listView(offsetWidth: Int)

    init(_ type: ArrowType) throws {
        switch type {
        case .null: self = .null
        case .bool: self = .bool
        case .int(let bits, _):
            guard [8, 16, 32, 64].contains(bits) else { throw ArrowError.unsupportedType("int of \(bits) bits") }
            self = .fixed(width: bits / 8)
        case .decimal(_, _, let bits):
            guard [32, 64, 128, 256].contains(bits) else { throw ArrowError.unsupportedType("decimal of \(bits) bits") }
            self = .fixed(width: bits / 8)
        case .fixedSizeBinary(let width):
            guard width >= 0 else { throw ArrowError.unsupportedType("fixed size binary of width \(width)") }
            self = .fixed(width: width)
        case .float16, .float32, .float64, .date32, .date64, .time32, .time64, .timestamp, .duration, .interval:
            guard let width = type.fixedByteWidth else { throw ArrowError.unsupportedType("\(type)") }
            self = .fixed(width: width)
        case .utf8, .binary: self = .binary(offsetWidth: 4)
        case .largeUtf8, .largeBinary: self = .binary(offsetWidth: 8)
        case .list, .map: self = .list(offsetWidth: 4)
        case .largeList: self = .list(offsetWidth: 8)
        case .fixedSizeList(_, let size):
            guard size >= 0 else { throw ArrowError.unsupportedType("fixed size list of size \(size)") }
            self = .fixedSizeList(size: size)
        case .struct: self = .structure
        case .union(let mode, _, _): self = .union(mode)
        case .utf8View, .binaryView: self = .binaryView
        case .listView: self = .listView(offsetWidth: 4)
        case .largeListView: self = .listView(offsetWidth: 8)
        }
    }

    /// Buffers in metadata V5 (validity included where the layout has one).
    var bufferCount: Int {
        switch self {
        case .null: return 0
        case .structure, .fixedSizeList, .union(.sparse): return 1
        case .bool, .fixed, .list, .union(.dense): return 2
        case .binary, .listView: return 3
        case .binaryView: return 2  // and the variadic buffers the batch names
        }
    }
}

/// Overflow-checked arithmetic for sizes computed from untrusted lengths.
enum Checked {
    static func mul(_ a: Int, _ b: Int) throws -> Int {
        let (r, overflow) = a.multipliedReportingOverflow(by: b)
        guard !overflow else { throw ArrowError.invalidIPC("size overflow (\(a) × \(b))") }
        return r
    }

    static func add(_ a: Int, _ b: Int) throws -> Int {
        let (r, overflow) = a.addingReportingOverflow(b)
        guard !overflow else { throw ArrowError.invalidIPC("size overflow (\(a) + \(b))") }
        return r
    }

    /// Reads offset `index` of an offsets buffer of 4- or 8-byte entries.
    static func offset(_ buffer: Buffer, _ index: Int, width: Int) throws -> Int {
        let at = try mul(index, width)
        guard at >= 0, at <= buffer.count - width else {
            throw ArrowError.invalidIPC("offset \(index) outside a buffer of \(buffer.count) bytes")
        }
        return width == 4 ? Int(buffer.load(at: at, as: Int32.self)) : Int(buffer.load(at: at, as: Int64.self))
    }
}
