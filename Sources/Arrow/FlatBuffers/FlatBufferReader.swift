/// Bounds-checked reading of a finished flatbuffer.
///
/// Input may be truncated or hostile, so every read checks its range and every failure throws
/// `ArrowError.invalidIPC`; nothing here traps on bad data. Reads are unaligned because
/// transports (Flight, sockets) do not promise the 8-byte alignment the format asks for.
public struct FlatBufferView: Sendable {
    public let buffer: Buffer

    public init(_ buffer: Buffer) { self.buffer = buffer }

    public var count: Int { buffer.count }

    func read<T: FixedWidthInteger>(_ position: Int, as: T.Type = T.self) throws -> T {
        let width = MemoryLayout<T>.size
        guard position >= 0, position <= buffer.count - width, let base = buffer.base else {
            throw ArrowError.invalidIPC("flatbuffer read of \(width) bytes at \(position) outside \(buffer.count) bytes")
        }
        return T(littleEndian: base.loadUnaligned(fromByteOffset: position, as: T.self))
    }

    /// The target of the uoffset stored at `position`.
    func follow(_ position: Int) throws -> Int {
        let target = position + Int(try read(position, as: UInt32.self))
        guard target < buffer.count else {
            throw ArrowError.invalidIPC("flatbuffer offset at \(position) points outside the buffer")
        }
        return target
    }

    public func rootTable() throws -> FlatBufferTable {
        try FlatBufferTable(view: self, position: follow(0))
    }
}

/// A table: an soffset to its vtable followed by inline field data.
public struct FlatBufferTable: Sendable {
    let view: FlatBufferView
    let position: Int
    private let vtable: Int
    private let vtableSize: Int
    private let inlineSize: Int

    init(view: FlatBufferView, position: Int) throws {
        self.view = view
        self.position = position
        let soffset = Int(try view.read(position, as: Int32.self))
        vtable = position - soffset
        vtableSize = Int(try view.read(vtable, as: UInt16.self))
        inlineSize = Int(try view.read(vtable + 2, as: UInt16.self))
        guard vtableSize >= 4, vtableSize % 2 == 0, vtable + vtableSize <= view.count else {
            throw ArrowError.invalidIPC("flatbuffer vtable at \(vtable) has bad size \(vtableSize)")
        }
        guard inlineSize >= 4, position + inlineSize <= view.count else {
            throw ArrowError.invalidIPC("flatbuffer table at \(position) has bad size \(inlineSize)")
        }
    }

    /// Absolute position of the field in `slot`, or nil when absent (then it takes its default).
    private func fieldPosition(_ slot: Int, width: Int) throws -> Int? {
        let entry = 4 + 2 * slot
        // Slots past the vtable's end were added to the schema after the writer was built.
        guard entry + 2 <= vtableSize else { return nil }
        let relative = Int(try view.read(vtable + entry, as: UInt16.self))
        guard relative != 0 else { return nil }
        guard relative >= 4, relative + width <= inlineSize else {
            throw ArrowError.invalidIPC("flatbuffer field \(slot) lies outside its table")
        }
        return position + relative
    }

    public func has(_ slot: Int) throws -> Bool {
        try fieldPosition(slot, width: 1) != nil
    }

    public func scalar<T: FixedWidthInteger>(_ slot: Int, default value: T) throws -> T {
        guard let at = try fieldPosition(slot, width: MemoryLayout<T>.size) else { return value }
        return try view.read(at, as: T.self)
    }

    public func bool(_ slot: Int, default value: Bool = false) throws -> Bool {
        try scalar(slot, default: UInt8(value ? 1 : 0)) != 0
    }

    public func table(_ slot: Int) throws -> FlatBufferTable? {
        guard let at = try fieldPosition(slot, width: 4) else { return nil }
        return try FlatBufferTable(view: view, position: view.follow(at))
    }

    public func string(_ slot: Int) throws -> String? {
        guard let vector = try vector(slot, elementSize: 1) else { return nil }
        // FlatBuffers strings are NUL-terminated; a missing terminator means a cut buffer.
        guard try view.read(vector.start + vector.count, as: UInt8.self) == 0 else {
            throw ArrowError.invalidIPC("flatbuffer string at \(vector.start) is not terminated")
        }
        guard vector.count > 0, let base = view.buffer.base else { return "" }
        // Invalid UTF-8 is repaired rather than rejected: names are informational.
        let bytes = UnsafeRawBufferPointer(start: base + vector.start, count: vector.count)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A vector whose elements are `elementSize` bytes each (4 for tables and strings).
    public func vector(_ slot: Int, elementSize: Int) throws -> FlatBufferVector? {
        guard let at = try fieldPosition(slot, width: 4) else { return nil }
        let start = try view.follow(at)
        let count = Int(try view.read(start, as: UInt32.self))
        let available = view.count - (start + 4)
        // Checking the count against the bytes left keeps hostile counts from driving loops.
        guard available >= 0, count <= available / max(elementSize, 1) else {
            throw ArrowError.invalidIPC("flatbuffer vector of \(count) elements overruns the buffer")
        }
        return FlatBufferVector(view: view, start: start + 4, count: count, elementSize: elementSize)
    }
}

/// A vector already checked to fit in the buffer.
public struct FlatBufferVector: Sendable {
    let view: FlatBufferView
    let start: Int
    public let count: Int
    let elementSize: Int

    private func checkIndex(_ index: Int) throws {
        guard index >= 0, index < count else {
            throw ArrowError.invalidIPC("flatbuffer vector index \(index) out of range 0..<\(count)")
        }
    }

    public func table(_ index: Int) throws -> FlatBufferTable {
        try checkIndex(index)
        return try FlatBufferTable(view: view, position: view.follow(start + 4 * index))
    }

    public func scalar<T: FixedWidthInteger>(_ index: Int, as: T.Type = T.self) throws -> T {
        try checkIndex(index)
        return try view.read(start + elementSize * index, as: T.self)
    }

    /// A scalar member of the struct at `index`, `memberOffset` bytes into it.
    public func structMember<T: FixedWidthInteger>(_ index: Int, at memberOffset: Int, as: T.Type = T.self) throws -> T {
        try checkIndex(index)
        return try view.read(start + elementSize * index + memberOffset, as: T.self)
    }
}
