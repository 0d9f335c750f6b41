/// Reads structured choices off the front of a fuzz input, the rest being data. Reading past
/// the end yields zeros, so that every input is valid for every target.
struct FuzzInput {
    private let bytes: UnsafeRawBufferPointer
    private var position = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var isEmpty: Bool { position >= bytes.count }

    mutating func byte() -> UInt8 {
        guard position < bytes.count else { return 0 }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func uint32() -> UInt32 {
        (0..<4).reduce(UInt32(0)) { acc, _ in acc << 8 | UInt32(byte()) }
    }

    /// One of `choices`, picked by a byte.
    mutating func pick<T>(_ choices: [T]) -> T { choices[Int(byte()) % choices.count] }

    /// Up to `limit` bytes, their count given by the next byte.
    mutating func chunk(limit: Int = 255) -> [UInt8] {
        let n = min(Int(byte()), limit, bytes.count - min(position, bytes.count))
        defer { position += n }
        return Array(bytes[position..<(position + n)])
    }

    /// Everything not read yet.
    mutating func rest() -> [UInt8] {
        guard position < bytes.count else { return [] }
        defer { position = bytes.count }
        return Array(bytes[position...])
    }
}
