/// Rebuilds `ArrayData` from a RecordBatch header and its body, consuming field nodes and
/// buffers in the pre-order the schema dictates.
///
/// Buffers are zero-copy slices of `body`. Because `ArrayAccess` reads without further
/// checks, everything an accessor could touch is validated here: buffer sizes against
/// lengths, offsets ascending and inside their data or child, union type ids and dense
/// offsets, dictionary indices inside their dictionary. Hostile input throws; it never traps.
struct ArrayLoader {
    private let header: RecordBatchHeader
    private let body: Buffer
    private let dictionaries: [Int64: DictionaryArray]
    /// Metadata V4 unions carry a validity buffer, which V5 dropped.
    private let unionsHaveValidity: Bool
    private var nodeIndex = 0
    private var bufferIndex = 0
    private var variadicIndex = 0

    static let maxDepth = 64

    init(header: RecordBatchHeader, body: Buffer, dictionaries: [Int64: DictionaryArray], version: Int16) {
        self.header = header
        self.body = body
        self.dictionaries = dictionaries
        self.unionsHaveValidity = version < MetadataVersion.v5
    }

    /// Loads one top-level column, which must span the whole batch.
    mutating func loadColumn(_ field: Field) throws -> ArrayData {
        let array = try load(field, depth: 0)
        guard array.length == header.length else {
            throw ArrowError.invalidIPC("column '\(field.name)' has \(array.length) rows, the batch \(header.length)")
        }
        return array
    }

    // MARK: - Nodes and buffers

    private mutating func nextNode(_ field: Field) throws -> (length: Int, nullCount: Int) {
        guard nodeIndex < header.nodes.count else {
            throw ArrowError.invalidIPC("no field node left for '\(field.name)'")
        }
        defer { nodeIndex += 1 }
        return header.nodes[nodeIndex]
    }

    private mutating func nextBuffer(atLeast minimum: Int, _ what: String) throws -> Buffer {
        guard bufferIndex < header.buffers.count else { throw ArrowError.invalidIPC("no buffer left for \(what)") }
        let spec = header.buffers[bufferIndex]
        bufferIndex += 1
        guard try Checked.add(spec.offset, spec.length) <= body.count else {
            throw ArrowError.truncated("\(what) buffer \(spec.offset)+\(spec.length) outside a body of \(body.count) bytes")
        }
        guard spec.length >= minimum else {
            throw ArrowError.invalidIPC("\(what) buffer has \(spec.length) bytes, needs \(minimum)")
        }
        return spec.length == 0 ? .empty : body.slice(spec.offset, spec.length)
    }

    private mutating func validity(_ node: (length: Int, nullCount: Int), _ field: Field) throws -> Buffer {
        let needed = node.nullCount > 0 ? Bitmaps.byteCount(bits: node.length) : 0
        let buffer = try nextBuffer(atLeast: needed, "validity of '\(field.name)'")
        // Without nulls the bitmap is never consulted; dropping it keeps the model canonical.
        return node.nullCount > 0 ? buffer : .empty
    }

    // MARK: - Arrays

    private mutating func load(_ field: Field, depth: Int) throws -> ArrayData {
        guard depth < Self.maxDepth else { throw ArrowError.invalidIPC("arrays nested deeper than \(Self.maxDepth)") }
        let node = try nextNode(field)
        let type = field.storageType
        let layout = try PhysicalLayout(type)
        let length = node.length
        let name = "'\(field.name)'"
        var array: ArrayData

        switch layout {
        case .null:
            return ArrayData(type: type, length: length, nullCount: length, buffers: [])
        case .union(let mode):
            array = try loadUnion(field, type: type, mode: mode, length: length, depth: depth)
        case .bool:
            let validity = try validity(node, field)
            let values = try nextBuffer(atLeast: Bitmaps.byteCount(bits: length), "values of \(name)")
            array = ArrayData(type: type, length: length, nullCount: node.nullCount, buffers: [validity, values])
        case .fixed(let width):
            let validity = try validity(node, field)
            let values = try nextBuffer(atLeast: Checked.mul(length, width), "values of \(name)")
            array = ArrayData(type: type, length: length, nullCount: node.nullCount, buffers: [validity, values])
        case .binary(let width):
            let validity = try validity(node, field)
            let offsets = try loadOffsets(length: length, width: width, name)
            let data = try nextBuffer(atLeast: 0, "data of \(name)")
            try Self.checkOffsets(offsets, length: length, width: width, limit: data.count, name)
            array = ArrayData(type: type, length: length, nullCount: node.nullCount, buffers: [validity, offsets, data])
        case .list(let width):
            let validity = try validity(node, field)
            let offsets = try loadOffsets(length: length, width: width, name)
            let child = try load(type.children[0], depth: depth + 1)
            try Self.checkOffsets(offsets, length: length, width: width, limit: child.length, name)
            array = ArrayData(type: type, length: length, nullCount: node.nullCount, buffers: [validity, offsets], children: [child])
        case .fixedSizeList(let size):
            let validity = try validity(node, field)
            let child = try load(type.children[0], depth: depth + 1)
            guard child.length >= (try Checked.mul(length, size)) else {
                throw ArrowError.invalidIPC("child of fixed size list \(name) is too short")
            }
            array = ArrayData(type: type, length: length, nullCount: node.nullCount, buffers: [validity], children: [child])
        case .binaryView:
            array = try loadBinaryView(field, node: node, large: type == .utf8View ? .largeUtf8 : .largeBinary)
        case .listView(let width):
            array = try loadListView(field, node: node, width: width, depth: depth)
        case .structure:
            let validity = try validity(node, field)
            var children: [ArrayData] = []
            for childField in type.children {
                let child = try load(childField, depth: depth + 1)
                guard child.length >= length else { throw ArrowError.invalidIPC("child of struct \(name) is too short") }
                children.append(child)
            }
            array = ArrayData(type: type, length: length, nullCount: node.nullCount, buffers: [validity], children: children)
        }

        if let encoding = field.dictionary {
            array.dictionary = try attachDictionary(encoding, to: array, name)
        }
        return array
    }

    /// A utf8 or binary view array, copied into its plain large form: each 16-byte view holds
    /// a length and either the bytes themselves (12 or fewer) or a prefix, the index of one of
    /// the batch's variadic data buffers and an offset into it. Every view is checked.
    private mutating func loadBinaryView(_ field: Field, node: (length: Int, nullCount: Int), large: ArrowType) throws -> ArrayData {
        let name = "'\(field.name)'"
        let length = node.length
        let validity = try validity(node, field)
        let views = try nextBuffer(atLeast: Checked.mul(length, 16), "views of \(name)")
        guard variadicIndex < header.variadicBufferCounts.count else {
            throw ArrowError.invalidIPC("no variadic buffer count for view array \(name)")
        }
        let count = header.variadicBufferCounts[variadicIndex]
        variadicIndex += 1
        var data: [Buffer] = []
        for k in 0..<count { data.append(try nextBuffer(atLeast: 0, "data buffer \(k) of \(name)")) }
        let probe = ArrayData(type: large, length: length, nullCount: node.nullCount, buffers: [validity])
        var offsets: [Int64] = [0]
        offsets.reserveCapacity(length + 1)
        var bytes: [UInt8] = []
        for i in 0..<length {
            if probe.isValid(i) {
                let at = i * 16
                let size = Int(views.load(at: at, as: Int32.self))
                guard size >= 0 else { throw ArrowError.invalidIPC("view \(i) of \(name) has length \(size)") }
                if size <= 12 {
                    bytes.append(contentsOf: views.bytes[(at + 4)..<(at + 4 + size)])
                } else {
                    let index = Int(views.load(at: at + 8, as: Int32.self))
                    let start = Int(views.load(at: at + 12, as: Int32.self))
                    guard index >= 0, index < data.count, start >= 0, try Checked.add(start, size) <= data[index].count else {
                        throw ArrowError.invalidIPC("view \(i) of \(name) points outside its data buffers")
                    }
                    bytes.append(contentsOf: data[index].bytes[start..<(start + size)])
                }
            }
            offsets.append(Int64(bytes.count))
        }
        let offsetBytes = offsets.withUnsafeBytes { Array($0) }
        return ArrayData(type: large, length: length, nullCount: node.nullCount,
                         buffers: [validity, Buffer(copying: offsetBytes), Buffer(copying: bytes)])
    }

    /// A list view array as a large list over the same child. Only views whose non-empty
    /// ranges follow one another in order can be, which is how writers lay them out;
    /// others are refused rather than gathered.
    private mutating func loadListView(_ field: Field, node: (length: Int, nullCount: Int), width: Int, depth: Int) throws -> ArrayData {
        let name = "'\(field.name)'"
        let length = node.length
        let validity = try validity(node, field)
        let starts = try nextBuffer(atLeast: Checked.mul(length, width), "offsets of \(name)")
        let sizes = try nextBuffer(atLeast: Checked.mul(length, width), "sizes of \(name)")
        let childField = field.type.children[0]
        let child = try load(childField, depth: depth + 1)
        let probe = ArrayData(type: .bool, length: length, nullCount: node.nullCount, buffers: [validity])
        func read(_ b: Buffer, _ i: Int) throws -> Int { try Checked.offset(b, i, width: width) }
        // One pass: each non-empty range must start where the previous one ended; the large
        // list's offsets start at the first range's start (entries before it are empty there).
        var offsets: [Int64] = [0]
        offsets.reserveCapacity(length + 1)
        var end: Int?
        for i in 0..<length {
            let size = probe.isValid(i) ? try read(sizes, i) : 0
            guard size >= 0 else { throw ArrowError.invalidIPC("list view \(i) of \(name) has size \(size)") }
            if size > 0 {
                let start = try read(starts, i)
                guard start >= 0, try Checked.add(start, size) <= child.length else {
                    throw ArrowError.invalidIPC("list view \(i) of \(name) is outside its child")
                }
                if let end, start != end {
                    throw ArrowError.unsupportedType("list view \(name) whose ranges are out of order or overlap")
                }
                if end == nil {
                    for k in offsets.indices { offsets[k] = Int64(start) }
                }
                end = start + size
            }
            offsets.append(Int64(end ?? 0))
        }
        let offsetBytes = offsets.withUnsafeBytes { Array($0) }
        return ArrayData(type: .largeList(childField.withoutViews), length: length, nullCount: node.nullCount,
                         buffers: [validity, Buffer(copying: offsetBytes)], children: [child])
    }

    /// An offsets buffer of `length + 1` entries; an empty array may omit it entirely, in
    /// which case a single zero is supplied so accessors still find offset 0.
    private mutating func loadOffsets(length: Int, width: Int, _ name: String) throws -> Buffer {
        let needed = length == 0 ? 0 : try Checked.mul(Checked.add(length, 1), width)
        let buffer = try nextBuffer(atLeast: needed, "offsets of \(name)")
        return buffer.count >= width ? buffer : Buffer(copying: [UInt8](repeating: 0, count: width))
    }

    /// Offsets must ascend from a non-negative start and end within `limit` (data bytes or child slots).
    private static func checkOffsets(_ offsets: Buffer, length: Int, width: Int, limit: Int, _ name: String) throws {
        var previous = try Checked.offset(offsets, 0, width: width)
        guard previous >= 0 else { throw ArrowError.invalidIPC("negative offset in \(name)") }
        for i in stride(from: 1, through: length, by: 1) {
            let next = try Checked.offset(offsets, i, width: width)
            guard next >= previous else { throw ArrowError.invalidIPC("offsets of \(name) are not ascending at \(i)") }
            previous = next
        }
        guard previous <= limit else {
            throw ArrowError.invalidIPC("offsets of \(name) reach \(previous), past \(limit)")
        }
    }

    private mutating func loadUnion(_ field: Field, type: ArrowType, mode: ArrowType.UnionMode, length: Int, depth: Int) throws -> ArrayData {
        guard case .union(_, let typeIds, let childFields) = type else { throw ArrowError.unsupportedType("\(type)") }
        let name = "'\(field.name)'"
        if unionsHaveValidity { _ = try nextBuffer(atLeast: 0, "validity of union \(name)") }
        let ids = try nextBuffer(atLeast: length, "type ids of \(name)")
        var buffers = [ids]
        if mode == .dense { buffers.append(try nextBuffer(atLeast: Checked.mul(length, 4), "offsets of \(name)")) }
        var children: [ArrayData] = []
        for childField in childFields { children.append(try load(childField, depth: depth + 1)) }

        // Map each int8 type id to its child.
        var childOf = [Int](repeating: -1, count: 128)
        for (index, id) in typeIds.enumerated() { childOf[Int(id)] = index }
        for i in 0..<length {
            let id = Int(ids.load(at: i, as: Int8.self))
            guard id >= 0, childOf[id] >= 0 else { throw ArrowError.invalidIPC("union \(name) has unknown type id \(id) at \(i)") }
            let child = children[childOf[id]]
            if mode == .dense {
                let offset = Int(buffers[1].load(at: i * 4, as: Int32.self))
                guard offset >= 0, offset < child.length else {
                    throw ArrowError.invalidIPC("dense union \(name) offset \(offset) outside its child at \(i)")
                }
            } else if child.length < length {
                throw ArrowError.invalidIPC("child of sparse union \(name) is too short")
            }
        }
        return ArrayData(type: type, length: length, nullCount: 0, buffers: buffers, children: children)
    }

    /// The dictionary for `encoding`, after checking every valid index falls inside it.
    private func attachDictionary(_ encoding: DictionaryEncoding, to indices: ArrayData, _ name: String) throws -> DictionaryArray {
        guard let dictionary = dictionaries[encoding.id] else {
            throw ArrowError.invalidIPC("no dictionary with id \(encoding.id) for \(name)")
        }
        guard case .int(let bits, let signed) = indices.type else {
            throw ArrowError.invalidIPC("dictionary index type of \(name) is \(indices.type)")
        }
        let count = UInt64(dictionary.values.length)
        for i in 0..<indices.length where indices.isValid(i) {
            // Read through a wide type so a hostile uint64 cannot trap on conversion to Int.
            let index: (negative: Bool, magnitude: UInt64)
            switch (bits, signed) {
            case (8, true): let v = indices.value(i, as: Int8.self); index = (v < 0, v.magnitude.toU64)
            case (16, true): let v = indices.value(i, as: Int16.self); index = (v < 0, v.magnitude.toU64)
            case (32, true): let v = indices.value(i, as: Int32.self); index = (v < 0, v.magnitude.toU64)
            case (64, true): let v = indices.value(i, as: Int64.self); index = (v < 0, v.magnitude)
            case (8, false): index = (false, UInt64(indices.value(i, as: UInt8.self)))
            case (16, false): index = (false, UInt64(indices.value(i, as: UInt16.self)))
            case (32, false): index = (false, UInt64(indices.value(i, as: UInt32.self)))
            default: index = (false, indices.value(i, as: UInt64.self))
            }
            guard !index.negative, index.magnitude < count else {
                throw ArrowError.invalidIPC("dictionary index at \(i) of \(name) outside a dictionary of \(count)")
            }
        }
        return dictionary
    }
}

private extension UnsignedInteger {
    var toU64: UInt64 { UInt64(self) }
}
