/// A read-only view of contiguous bytes that some owner keeps alive.
///
/// Arrow buffers are never copied when they move between layers: a `Buffer` only points
/// into memory owned by `owner` (a DuckDB-exported ArrowArray, an IPC message body, or a
/// Swift allocation), and holding the buffer holds the owner.
public struct Buffer: @unchecked Sendable {
    public let base: UnsafeRawPointer?
    public let count: Int
    /// Whatever must stay alive for `base` to stay valid.
    public let owner: AnyObject?

    public init(base: UnsafeRawPointer?, count: Int, owner: AnyObject?) {
        self.base = count == 0 ? nil : base
        self.count = count
        self.owner = owner
    }

    public static let empty = Buffer(base: nil, count: 0, owner: nil)

    /// A buffer that owns a copy of `bytes`.
    public init<C: Collection>(copying bytes: C) where C.Element == UInt8 {
        let storage = OwnedBytes(bytes)
        self.init(base: UnsafeRawPointer(storage.pointer), count: storage.count, owner: storage)
    }

    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    @inlinable
    public func load<T>(at byteOffset: Int, as type: T.Type) -> T {
        precondition(byteOffset >= 0 && byteOffset + MemoryLayout<T>.size <= count, "Arrow buffer read out of bounds")
        return base!.loadUnaligned(fromByteOffset: byteOffset, as: T.self)
    }

    /// Bit `index` of a bit-packed buffer (validity bitmaps, booleans), LSB first.
    @inlinable
    public func bit(_ index: Int) -> Bool {
        let byte: UInt8 = load(at: index >> 3, as: UInt8.self)
        return byte & (1 << UInt8(index & 7)) != 0
    }

    public func slice(_ offset: Int, _ length: Int) -> Buffer {
        precondition(offset >= 0 && length >= 0 && offset + length <= count, "Arrow buffer slice out of bounds")
        return Buffer(base: base.map { $0 + offset }, count: length, owner: owner)
    }
}

/// Heap bytes with a stable address, for buffers Swift code creates.
public final class OwnedBytes: @unchecked Sendable {
    public let pointer: UnsafeMutableRawPointer
    public let count: Int

    public init<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        count = bytes.count
        // Arrow asks for 8-byte alignment at least; 64 keeps SIMD-friendly consumers happy.
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 64)
        let copied = bytes.withContiguousStorageIfAvailable { src -> Bool in
            if let base = src.baseAddress { pointer.copyMemory(from: base, byteCount: src.count) }
            return true
        }
        if copied == nil {
            var i = 0
            for b in bytes {
                pointer.storeBytes(of: b, toByteOffset: i, as: UInt8.self)
                i += 1
            }
        }
    }

    /// `count` bytes for the caller to fill before anyone reads them.
    public init(uninitialized count: Int) {
        self.count = count
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 64)
    }

    public init(zeroed count: Int) {
        self.count = count
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 64)
        pointer.initializeMemory(as: UInt8.self, repeating: 0, count: max(count, 1))
    }

    deinit { pointer.deallocate() }
}
