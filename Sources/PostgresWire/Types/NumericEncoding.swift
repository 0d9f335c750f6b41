import NIOCore

// PostgreSQL's numeric in binary: int16 ndigits, int16 weight, int16 sign, int16 dscale,
// then ndigits base-10000 digits (int16), most significant first. The value is
// sum(digit[i] * 10000^(weight - i)); leading and trailing zero digits are not sent.

let numericPositive: UInt16 = 0x0000
let numericNegative: UInt16 = 0x4000
let numericNaN: UInt16 = 0xC000
let numericPositiveInfinity: UInt16 = 0xD000
let numericNegativeInfinity: UInt16 = 0xF000

extension RawOut {
    /// The bytes `numericBinary(digits:...)` needs at most for `digitCount` digits.
    static func numericBinaryBound(digitCount: Int, scale: Int) -> Int {
        8 + 2 * ((digitCount + 3) / 4 + (max(scale, 0) + 3) / 4 + 2)
    }

    /// A numeric given as ASCII decimal digits (most significant first) with `scale` of them
    /// after the decimal point.
    mutating func numericBinary(digits: UnsafeBufferPointer<UInt8>, negative: Bool, scale: Int) {
        let scale = max(scale, 0)
        let intLen = digits.count - scale
        let intGroups = intLen > 0 ? (intLen + 3) / 4 : 0
        let fracGroups = (scale + 3) / 4
        let total = intGroups + fracGroups
        // PostgreSQL's numeric counts groups in 16 bits (131072 digits before the point);
        // a value beyond that has no numeric form there, so it goes as NaN.
        guard intGroups <= Int(Int16.max), total <= Int(UInt16.max), scale <= Int(UInt16.max) else {
            numericSpecial(numericNaN)
            return
        }
        // Position of digits[0] in the zero-padded sequence that the groups cut into fours.
        let padLeft = intGroups * 4 - intLen

        func group(_ g: Int) -> UInt16 {
            var v: UInt16 = 0
            for p in (g * 4)..<(g * 4 + 4) {
                let j = p - padLeft
                let d: UInt16 = (j >= 0 && j < digits.count) ? UInt16(digits[j] &- asciiZero) : 0
                v = v &* 10 &+ d
            }
            return v
        }

        var first = 0
        while first < total && group(first) == 0 { first += 1 }
        guard first < total else {
            integer(UInt16(0))
            integer(UInt16(0))
            integer(numericPositive)
            integer(UInt16(scale))
            return
        }
        var last = total - 1
        while group(last) == 0 { last -= 1 }
        integer(UInt16(last - first + 1))
        integer(Int16(intGroups - 1 - first))
        integer(negative ? numericNegative : numericPositive)
        integer(UInt16(scale))
        for g in first...last { integer(group(g)) }
    }

    /// Needs 56 bytes plus scale / 2.
    mutating func numericBinary(magnitude: UInt128, negative: Bool, scale: Int) {
        withDecimalDigits(magnitude) { numericBinary(digits: $0, negative: negative, scale: scale) }
    }

    /// numeric NaN / ±Infinity (PostgreSQL 14+). Needs 8 bytes.
    mutating func numericSpecial(_ sign: UInt16) {
        integer(UInt16(0))
        integer(UInt16(0))
        integer(sign)
        integer(UInt16(0))
    }
}

extension ByteBuffer {
    mutating func writeNumericBinary(digits: UnsafeBufferPointer<UInt8>, negative: Bool, scale: Int) {
        writeRaw(max: RawOut.numericBinaryBound(digitCount: digits.count, scale: scale)) {
            $0.numericBinary(digits: digits, negative: negative, scale: scale)
        }
    }
}

// MARK: - DuckDB BIGNUM

/// log2(10) × 131072 / 8: the magnitude of the largest number PostgreSQL's numeric holds.
let bignumMaxMagnitudeBytes = 54_400

/// DuckDB's BIGNUM blob: a 3-byte header (top bit set for non-negative numbers, low bits the
/// byte count), then the magnitude big-endian; negative numbers have every byte inverted.
/// Returns the sign and the decimal digits (no leading zeros; "0" for zero), or nil if malformed.
///
/// The conversion takes time quadratic in the size, and SQL can make a BIGNUM of a million
/// digits cheaply (by squaring): beyond PostgreSQL's own numeric range (131072 digits,
/// 54,400 bytes of magnitude) the value is not converted (nil, sent as NaN), so that one
/// value cannot hold a thread for seconds.
func bignumDecimalDigits(_ raw: UnsafeRawBufferPointer) -> (negative: Bool, digits: [UInt8])? {
    guard raw.count >= 3, raw.count - 3 <= bignumMaxMagnitudeBytes else { return nil }
    let negative = raw[0] & 0x80 == 0
    var limbs: [UInt32] = []  // big-endian 32-bit limbs of the magnitude
    let bytes = raw.count - 3
    limbs.reserveCapacity(bytes / 4 + 1)
    var acc: UInt32 = 0
    var accBytes = (bytes % 4 == 0) ? 4 : bytes % 4
    for i in 3..<raw.count {
        let b = negative ? ~raw[i] : raw[i]
        acc = acc << 8 | UInt32(b)
        accBytes -= 1
        if accBytes == 0 {
            limbs.append(acc)
            acc = 0
            accBytes = 4
        }
    }
    // Repeated division by 10^9, collecting base-10^9 chunks from the least significant end.
    var chunks: [UInt32] = []
    var start = 0
    while start < limbs.count && limbs[start] == 0 { start += 1 }
    while start < limbs.count {
        var rem: UInt64 = 0
        for i in start..<limbs.count {
            let cur = rem << 32 | UInt64(limbs[i])
            limbs[i] = UInt32(cur / 1_000_000_000)
            rem = cur % 1_000_000_000
        }
        chunks.append(UInt32(rem))
        while start < limbs.count && limbs[start] == 0 { start += 1 }
    }
    if chunks.isEmpty { return (false, [asciiZero]) }
    var digits: [UInt8] = []
    digits.reserveCapacity(chunks.count * 9)
    for (k, chunk) in chunks.reversed().enumerated() {
        var tmp: [UInt8] = []
        var x = chunk
        repeat {
            tmp.append(asciiZero + UInt8(x % 10))
            x /= 10
        } while x != 0
        if k > 0 { while tmp.count < 9 { tmp.append(asciiZero) } }
        digits.append(contentsOf: tmp.reversed())
    }
    return (negative, digits)
}
