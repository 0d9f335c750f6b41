/// Vtable slot numbers and union tags of Arrow's Schema.fbs / Message.fbs, in one place so
/// the encoder and the decoder cannot disagree. A union field takes two slots: its type tag
/// and then the offset to its value.
enum Slots {
    enum Message { static let version = 0, headerType = 1, header = 2, bodyLength = 3, customMetadata = 4 }
    enum Schema { static let endianness = 0, fields = 1, customMetadata = 2, features = 3 }
    enum Field {
        static let name = 0, nullable = 1, typeType = 2, type = 3, dictionary = 4, children = 5, customMetadata = 6
    }
    enum KeyValue { static let key = 0, value = 1 }
    enum DictionaryEncoding { static let id = 0, indexType = 1, isOrdered = 2, dictionaryKind = 3 }
    enum RecordBatch { static let length = 0, nodes = 1, buffers = 2, compression = 3, variadicBufferCounts = 4 }
    enum DictionaryBatch { static let id = 0, data = 1, isDelta = 2 }

    // Type tables.
    enum IntType { static let bitWidth = 0, isSigned = 1 }
    enum FloatingPoint { static let precision = 0 }
    enum Decimal { static let precision = 0, scale = 1, bitWidth = 2 }
    enum Date { static let unit = 0 }
    enum Time { static let unit = 0, bitWidth = 1 }
    enum Timestamp { static let unit = 0, timezone = 1 }
    enum Interval { static let unit = 0 }
    enum Duration { static let unit = 0 }
    enum FixedSizeBinary { static let byteWidth = 0 }
    enum FixedSizeList { static let listSize = 0 }
    enum Map { static let keysSorted = 0 }
    enum Union { static let mode = 0, typeIds = 1 }
}

/// `union Type` tags of Schema.fbs.
enum TypeTag: UInt8 {
    case null = 1, int, floatingPoint, binary, utf8, bool, decimal, date, time, timestamp, interval
    case list, structType, union, fixedSizeBinary, fixedSizeList, map, duration
    case largeBinary, largeUtf8, largeList
    case runEndEncoded, binaryView, utf8View, listView, largeListView
}

/// `union MessageHeader` tags of Message.fbs.
enum MessageHeaderTag: UInt8 {
    case schema = 1, dictionaryBatch = 2, recordBatch = 3
}

enum MetadataVersion {
    /// V4 (`3`): unions still carry a validity buffer.
    static let v4: Int16 = 3
    /// V5 (`4`): what this writer emits.
    static let v5: Int16 = 4
}

/// Sizes of the inline structs `FieldNode` and `Buffer` (two `long`s each).
enum StructLayout {
    static let pairSize = 16
}
