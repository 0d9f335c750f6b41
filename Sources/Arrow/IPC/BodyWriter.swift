/// Flattens arrays into an IPC body: one `FieldNode` per array and its buffers, pre-order
/// depth-first, with every array re-based to offset 0 (IPC has no array offset).
///
/// Re-basing copies only where it must: byte-aligned bitmaps, fixed-width values and
/// variable-length data are zero-copy slices; unaligned bitmaps are shifted and offsets that
/// do not start at 0 are rewritten.
struct BodyWriter {
    private(set) var nodes: [(length: Int64, nullCount: Int64)] = []
    private(set) var buffers: [Buffer] = []

    static let maxDepth = 64

    mutating func append(_ array: ArrayData, field: Field, depth: Int = 0) throws {
        guard depth < Self.maxDepth else { throw ArrowError.invalidIPC("arrays nested deeper than \(Self.maxDepth)") }
        let type = field.storageType
        let layout = try PhysicalLayout(type)
        guard try PhysicalLayout(array.type) == layout else {
            throw ArrowError.invalidIPC("column '\(field.name)' holds \(array.type), schema says \(type)")
        }
        guard array.buffers.count >= layout.bufferCount else {
            throw ArrowError.invalidIPC("column '\(field.name)' has \(array.buffers.count) buffers, \(type) needs \(layout.bufferCount)")
        }
        let children = type.children
        guard array.children.count >= children.count else {
            throw ArrowError.invalidIPC("column '\(field.name)' has \(array.children.count) children, \(type) needs \(children.count)")
        }
        let length = array.length, offset = array.offset
        guard length >= 0, offset >= 0 else { throw ArrowError.invalidIPC("negative length or offset in '\(field.name)'") }

        switch layout {
        case .binaryView, .listView:
            // Decoded arrays hold their plain forms (`ArrowType.withoutViews`); nothing makes views.
            throw ArrowError.unsupportedType("writing \(type)")
        case .null:
            nodes.append((Int64(length), Int64(length)))
            return
        case .union:
            nodes.append((Int64(length), 0))
        default:
            let (nullCount, validity) = try Self.validity(array)
            nodes.append((Int64(length), Int64(nullCount)))
            buffers.append(validity)
        }

        switch layout {
        case .null:
            break
        case .bool:
            buffers.append(try Bitmaps.slice(array.buffers[1], bitOffset: offset, length: length))
        case .fixed(let width):
            buffers.append(try Self.bytes(array.buffers[1], from: Checked.mul(offset, width), count: Checked.mul(length, width)))
        case .binary(let width):
            let (offsets, range) = try Self.rebaseOffsets(array.buffers[1], offset: offset, length: length, width: width)
            buffers.append(offsets)
            buffers.append(try Self.bytes(array.buffers[2], from: range.lowerBound, count: range.count))
        case .list(let width):
            let (offsets, range) = try Self.rebaseOffsets(array.buffers[1], offset: offset, length: length, width: width)
            buffers.append(offsets)
            let child = try Self.slice(array.children[0], from: range.lowerBound, count: range.count)
            try append(child, field: children[0], depth: depth + 1)
        case .fixedSizeList(let size):
            let child = try Self.slice(array.children[0], from: Checked.mul(offset, size), count: Checked.mul(length, size))
            try append(child, field: children[0], depth: depth + 1)
        case .structure:
            for (i, childField) in children.enumerated() {
                try append(Self.slice(array.children[i], from: offset, count: length), field: childField, depth: depth + 1)
            }
        case .union(.sparse):
            buffers.append(try Self.bytes(array.buffers[0], from: offset, count: length))
            for (i, childField) in children.enumerated() {
                try append(Self.slice(array.children[i], from: offset, count: length), field: childField, depth: depth + 1)
            }
        case .union(.dense):
            // Dense offsets point into whole children, so slicing the parent leaves them valid.
            buffers.append(try Self.bytes(array.buffers[0], from: offset, count: length))
            buffers.append(try Self.bytes(array.buffers[1], from: Checked.mul(offset, 4), count: Checked.mul(length, 4)))
            for (i, childField) in children.enumerated() {
                try append(array.children[i], field: childField, depth: depth + 1)
            }
        case .binaryView, .listView:
            break
        }
    }

    /// Null count and re-based validity; no nulls means an empty buffer, as the format allows.
    private static func validity(_ array: ArrayData) throws -> (Int, Buffer) {
        guard let bitmap = array.buffers.first, bitmap.count > 0, array.nullCount != 0 else { return (0, .empty) }
        // A negative count is "unknown" (C data interface); count it rather than guess.
        let nulls = array.nullCount > 0
            ? array.nullCount
            : try Bitmaps.countZeros(bitmap, bitOffset: array.offset, length: array.length)
        guard nulls > 0 else { return (0, .empty) }
        return (nulls, try Bitmaps.slice(bitmap, bitOffset: array.offset, length: array.length))
    }

    private static func bytes(_ buffer: Buffer, from start: Int, count: Int) throws -> Buffer {
        guard count > 0 else { return .empty }
        guard start >= 0, try Checked.add(start, count) <= buffer.count else {
            throw ArrowError.invalidIPC("buffer of \(buffer.count) bytes too short for bytes \(start)+\(count)")
        }
        return buffer.slice(start, count)
    }

    /// Logical slice of a child; its null count is recounted later unless trivially known.
    private static func slice(_ child: ArrayData, from start: Int, count: Int) throws -> ArrayData {
        guard start >= 0, count >= 0, try Checked.add(start, count) <= child.length else {
            throw ArrowError.invalidIPC("child of length \(child.length) too short for slots \(start)+\(count)")
        }
        guard start != 0 || count != child.length else { return child }
        var sliced = child
        sliced.offset += start
        sliced.length = count
        if sliced.nullCount != 0 { sliced.nullCount = -1 }
        return sliced
    }

    private static let zeroOffset = Buffer(copying: [UInt8](repeating: 0, count: 8))

    /// Offsets for slots `offset..<offset+length`, rewritten to start at 0, and the range of
    /// child slots / data bytes they cover.
    private static func rebaseOffsets(_ buffer: Buffer, offset: Int, length: Int, width: Int) throws -> (Buffer, Range<Int>) {
        // An empty array still carries one offset (0); producers may have sent none at all.
        guard length > 0 else { return (zeroOffset.slice(0, width), 0..<0) }
        let first = try Checked.offset(buffer, offset, width: width)
        let last = try Checked.offset(buffer, Checked.add(offset, length), width: width)
        guard first >= 0, first <= last else { throw ArrowError.invalidIPC("offsets \(first)...\(last) are not ascending") }
        let count = (length + 1) * width
        if first == 0 { return (buffer.slice(offset * width, count), 0..<last) }
        let out = OwnedBytes(zeroed: count)
        for i in 0...length {
            let value = try Checked.offset(buffer, offset + i, width: width)
            guard value >= first, value <= last else { throw ArrowError.invalidIPC("offsets are not ascending") }
            if width == 4 {
                out.pointer.storeBytes(of: Int32(value - first), toByteOffset: i * 4, as: Int32.self)
            } else {
                out.pointer.storeBytes(of: Int64(value - first), toByteOffset: i * 8, as: Int64.self)
            }
        }
        return (Buffer(base: UnsafeRawPointer(out.pointer), count: count, owner: out), first..<last)
    }
}
