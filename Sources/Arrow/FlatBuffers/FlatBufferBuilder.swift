/// A finished object (table, vector or string) inside a `FlatBufferBuilder`.
///
/// FlatBuffers are built back to front, so an object's final address is unknown until the
/// buffer is finished; what is stable is its distance from the END of the buffer.
public struct FlatBufferOffset: Hashable, Sendable {
    let fromEnd: Int
}

/// A minimal FlatBuffers builder: tables with scalar / offset fields, strings, vectors of
/// scalars, of offsets, and of 16-byte two-`long` structs (all Arrow metadata needs).
///
/// Data is written back to front (children before parents) because FlatBuffers offsets are
/// unsigned and must point forward. Every scalar is aligned to its size relative to the end
/// of the buffer, and `finish` pads the front so the total size is a multiple of the largest
/// alignment used; that makes "aligned from the end" equal to "aligned from the start".
public struct FlatBufferBuilder: Sendable {
    /// Bytes live in `storage[head...]`; free space is below `head`. Bytes below `head` are
    /// never written before `head` moves past them, so padding is already zero.
    private var storage: [UInt8]
    private var head: Int
    private var maxAlignment = 1
    /// Fields of the table being built: (slot, distance from end of the field's start).
    private var tableFields: [(slot: Int, fromEnd: Int)]?
    private var tableStart = 0

    public init(capacity: Int = 256) {
        storage = [UInt8](repeating: 0, count: max(capacity, 16))
        head = storage.count
    }

    /// Bytes written so far.
    public var size: Int { storage.count - head }

    // MARK: - Low level

    private mutating func reserve(_ n: Int) {
        guard head < n else { return }
        var newCount = storage.count * 2
        while newCount - size < n { newCount *= 2 }
        var grown = [UInt8](repeating: 0, count: newCount)
        let used = size
        grown.withUnsafeMutableBytes { dst in
            storage.withUnsafeBytes { src in
                dst.baseAddress!.advanced(by: newCount - used)
                    .copyMemory(from: src.baseAddress!.advanced(by: head), byteCount: used)
            }
        }
        storage = grown
        head = newCount - used
    }

    /// Pads so that, after `additional` more bytes, the size is a multiple of `alignment`.
    private mutating func align(_ alignment: Int, additional: Int = 0) {
        maxAlignment = max(maxAlignment, alignment)
        let padding = (alignment - ((size + additional) % alignment)) % alignment
        reserve(padding)
        for _ in 0..<padding {
            head -= 1
            storage[head] = 0
        }
    }

    /// Prepends a little-endian scalar without aligning (callers align first).
    private mutating func push<T: FixedWidthInteger>(_ value: T) {
        let width = MemoryLayout<T>.size
        reserve(width)
        head -= width
        let at = head
        storage.withUnsafeMutableBytes { $0.storeBytes(of: value.littleEndian, toByteOffset: at, as: T.self) }
    }

    /// Overwrites a scalar already written at `fromEnd`.
    private mutating func patch<T: FixedWidthInteger>(_ value: T, atFromEnd fromEnd: Int) {
        let at = storage.count - fromEnd
        storage.withUnsafeMutableBytes { $0.storeBytes(of: value.littleEndian, toByteOffset: at, as: T.self) }
    }

    /// Prepends a uoffset to `target`; the value is the forward distance from the uoffset.
    private mutating func pushOffset(to target: FlatBufferOffset) {
        align(4)
        // After the push the uoffset is at distance size+4 from the end; the target at fromEnd.
        push(UInt32(size + 4 - target.fromEnd))
    }

    private func requireNoOpenTable() {
        // Nesting is a programming error in this module, never a consequence of input data.
        precondition(tableFields == nil, "FlatBuffers objects cannot be created inside a table")
    }

    // MARK: - Strings and vectors

    public mutating func createString(_ string: String) -> FlatBufferOffset {
        requireNoOpenTable()
        let utf8 = Array(string.utf8)
        align(4, additional: utf8.count + 1)
        push(UInt8(0))
        reserve(utf8.count)
        head -= utf8.count
        storage.replaceSubrange(head..<(head + utf8.count), with: utf8)
        push(UInt32(utf8.count))
        return FlatBufferOffset(fromEnd: size)
    }

    /// A vector of uoffsets (vector of tables or strings).
    public mutating func createVector(_ offsets: [FlatBufferOffset]) -> FlatBufferOffset {
        requireNoOpenTable()
        align(4, additional: 4 * offsets.count)
        for target in offsets.reversed() { pushOffset(to: target) }
        push(UInt32(offsets.count))
        return FlatBufferOffset(fromEnd: size)
    }

    /// A vector of scalars.
    public mutating func createVector<T: FixedWidthInteger>(_ scalars: [T]) -> FlatBufferOffset {
        requireNoOpenTable()
        let width = MemoryLayout<T>.size
        // The length prefix needs 4-alignment, the elements their own; satisfying 4 first and
        // then `width` keeps both (padding added for width 8 is a multiple of 4).
        align(4, additional: width * scalars.count)
        align(width, additional: width * scalars.count)
        for value in scalars.reversed() { push(value) }
        push(UInt32(scalars.count))
        return FlatBufferOffset(fromEnd: size)
    }

    /// A vector of structs made of two `long`s (Arrow's `FieldNode` and `Buffer`).
    public mutating func createStructVector(_ pairs: [(Int64, Int64)]) -> FlatBufferOffset {
        requireNoOpenTable()
        align(4, additional: 16 * pairs.count)
        align(8, additional: 16 * pairs.count)
        for pair in pairs.reversed() {
            push(pair.1)  // back to front: second member first
            push(pair.0)
        }
        push(UInt32(pairs.count))
        return FlatBufferOffset(fromEnd: size)
    }

    // MARK: - Tables

    public mutating func startTable() {
        requireNoOpenTable()
        tableFields = []
        tableStart = size
    }

    public mutating func add<T: FixedWidthInteger>(_ slot: Int, _ value: T) {
        precondition(tableFields != nil, "add outside a table")
        align(MemoryLayout<T>.size)
        push(value)
        recordField(slot)
    }

    public mutating func add(_ slot: Int, _ value: Bool) {
        add(slot, UInt8(value ? 1 : 0))
    }

    public mutating func add(_ slot: Int, _ offset: FlatBufferOffset) {
        precondition(tableFields != nil, "add outside a table")
        pushOffset(to: offset)
        recordField(slot)
    }

    /// Remembers that the field just written belongs to `slot` of the open table.
    private mutating func recordField(_ slot: Int) {
        let fromEnd = size
        tableFields?.append((slot, fromEnd))
    }

    public mutating func endTable() -> FlatBufferOffset {
        guard let fields = tableFields else { preconditionFailure("endTable without startTable") }
        tableFields = nil
        // The table starts with an soffset to its vtable, patched once the vtable exists.
        align(4)
        push(Int32(0))
        let table = size
        let slotCount = (fields.map(\.slot).max() ?? -1) + 1
        var entries = [UInt16](repeating: 0, count: slotCount)
        for field in fields { entries[field.slot] = UInt16(table - field.fromEnd) }
        // vtable: [vtable size, table inline size, field offsets...], written back to front.
        for entry in entries.reversed() { push(entry) }
        push(UInt16(table - tableStart))
        push(UInt16(4 + 2 * slotCount))
        let vtable = size
        // vtable position = table position - soffset; the vtable precedes the table.
        patch(Int32(vtable - table), atFromEnd: table)
        return FlatBufferOffset(fromEnd: table)
    }

    /// Writes the root uoffset and returns the finished buffer.
    public mutating func finish(root: FlatBufferOffset) -> [UInt8] {
        requireNoOpenTable()
        align(max(maxAlignment, 4), additional: 4)
        pushOffset(to: root)
        return Array(storage[head...])
    }
}
