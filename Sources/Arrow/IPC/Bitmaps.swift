/// Bit-packed buffer helpers (validity bitmaps and boolean values, LSB first).
enum Bitmaps {
    static func byteCount(bits: Int) -> Int { (bits + 7) / 8 }

    /// Bits `[bitOffset, bitOffset + length)` of `buffer` re-based to start at bit 0.
    /// Byte-aligned starts are sliced without copying; others are shifted into a new buffer
    /// (IPC arrays have no offset, so the bits themselves must move).
    static func slice(_ buffer: Buffer, bitOffset: Int, length: Int) throws -> Buffer {
        let bytes = byteCount(bits: length)
        guard bitOffset >= 0, length >= 0, byteCount(bits: bitOffset + length) <= buffer.count else {
            throw ArrowError.invalidIPC("bitmap of \(buffer.count) bytes too short for bits \(bitOffset)+\(length)")
        }
        if bitOffset % 8 == 0 { return buffer.slice(bitOffset / 8, bytes) }
        let out = OwnedBytes(zeroed: bytes)
        let shift = bitOffset % 8
        let first = bitOffset / 8
        let sourceEnd = byteCount(bits: bitOffset + length)
        for j in 0..<bytes {
            let low = buffer.load(at: first + j, as: UInt8.self) >> UInt8(shift)
            let high = first + j + 1 < sourceEnd ? buffer.load(at: first + j + 1, as: UInt8.self) << UInt8(8 - shift) : 0
            out.pointer.storeBytes(of: low | high, toByteOffset: j, as: UInt8.self)
        }
        // Clear the bits past `length` so identical content encodes to identical bytes.
        if length % 8 != 0 {
            let last = out.pointer.load(fromByteOffset: bytes - 1, as: UInt8.self)
            out.pointer.storeBytes(of: last & UInt8((1 << (length % 8)) - 1), toByteOffset: bytes - 1, as: UInt8.self)
        }
        return Buffer(base: UnsafeRawPointer(out.pointer), count: bytes, owner: out)
    }

    /// Number of zero bits in `[bitOffset, bitOffset + length)`; the buffer must be long enough.
    static func countZeros(_ buffer: Buffer, bitOffset: Int, length: Int) throws -> Int {
        guard bitOffset >= 0, length >= 0, byteCount(bits: bitOffset + length) <= buffer.count else {
            throw ArrowError.invalidIPC("bitmap of \(buffer.count) bytes too short for bits \(bitOffset)+\(length)")
        }
        var set = 0
        for i in bitOffset..<(bitOffset + length) where buffer.bit(i) { set += 1 }
        return length - set
    }
}
