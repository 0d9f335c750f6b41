import NIOCore

/// Messages the server sends, encoded straight into a ByteBuffer. DataRow has a fast path of
/// its own (`beginDataRow` / `endDataRow`): its fields are written column by column by
/// `ColumnValueEncoder` straight into the outgoing buffer, and only the framing is here.
public enum BackendMessage: Sendable, Equatable {
    case authenticationOK
    case authenticationCleartextPassword
    case authenticationMD5Password(salt: [UInt8])
    case authenticationSASL(mechanisms: [String])
    case authenticationSASLContinue(ByteBuffer)
    case authenticationSASLFinal(ByteBuffer)
    case parameterStatus(String, String)
    case backendKeyData(processID: Int32, secretKey: Int32)
    case readyForQuery(TransactionStatus)
    case rowDescription([ColumnDescriptor])
    case parameterDescription([UInt32])
    case noData
    case commandComplete(String)
    case emptyQueryResponse
    case parseComplete
    case bindComplete
    case closeComplete
    case portalSuspended
    case error(ErrorFields)
    case notice(ErrorFields)
    /// The newest minor version of protocol 3 we speak, and options we did not recognise.
    case negotiateProtocolVersion(newestMinor: Int32, unrecognized: [String])
    /// COPY in text format (every column text); the count is checked by the caller.
    case copyOutResponse(columns: Int)
    case copyInResponse(columns: Int)
    case copyData([UInt8])
    case copyDone

    public enum TransactionStatus: UInt8, Sendable, Equatable {
        case idle = 0x49  // I
        case inTransaction = 0x54  // T
        case failed = 0x45  // E
    }

    public struct ColumnDescriptor: Sendable, Equatable {
        public var name: String
        public var tableOID: UInt32 = 0
        public var columnAttribute: Int16 = 0
        public var typeOID: UInt32
        public var typeSize: Int16
        public var typeModifier: Int32
        public var format: Int16
    }
}

/// The fields of an ErrorResponse or NoticeResponse.
public struct ErrorFields: Sendable, Equatable, Error {
    public var severity: String
    public var sqlState: String
    public var message: String
    public var detail: String?
    public var hint: String?
    /// 1-based character position in the query text.
    public var position: Int?

    public init(severity: String = "ERROR", sqlState: String, message: String, detail: String? = nil, hint: String? = nil, position: Int? = nil) {
        self.severity = severity
        self.sqlState = sqlState
        self.message = message
        self.detail = detail
        self.hint = hint
        self.position = position
    }
}

extension ByteBuffer {
    /// Writes one complete backend message (type byte, length, body).
    public mutating func writeBackendMessage(_ message: BackendMessage) {
        func framed(_ type: Character, _ body: (inout ByteBuffer) -> Void) {
            writeInteger(type.asciiValue!)
            let lengthIndex = writerIndex
            writeInteger(Int32(0))
            body(&self)
            setInteger(Int32(writerIndex - lengthIndex), at: lengthIndex)
        }
        switch message {
        case .authenticationOK:
            framed("R") { $0.writeInteger(Int32(0)) }
        case .authenticationCleartextPassword:
            framed("R") { $0.writeInteger(Int32(3)) }
        case .authenticationMD5Password(let salt):
            framed("R") {
                $0.writeInteger(Int32(5))
                $0.writeBytes(salt)
            }
        case .authenticationSASL(let mechanisms):
            framed("R") {
                $0.writeInteger(Int32(10))
                for m in mechanisms { $0.writePostgresString(m) }
                $0.writeInteger(UInt8(0))
            }
        case .authenticationSASLContinue(var data):
            framed("R") {
                $0.writeInteger(Int32(11))
                $0.writeBuffer(&data)
            }
        case .authenticationSASLFinal(var data):
            framed("R") {
                $0.writeInteger(Int32(12))
                $0.writeBuffer(&data)
            }
        case .parameterStatus(let k, let v):
            framed("S") {
                $0.writePostgresString(k)
                $0.writePostgresString(v)
            }
        case .backendKeyData(let pid, let key):
            framed("K") {
                $0.writeInteger(pid)
                $0.writeInteger(key)
            }
        case .readyForQuery(let status):
            framed("Z") { $0.writeInteger(status.rawValue) }
        case .rowDescription(let columns):
            framed("T") {
                $0.writeInteger(Int16(truncatingIfNeeded: columns.count))  // checked by PreparedInfo.checkShape
                for c in columns {
                    $0.writePostgresString(c.name)
                    $0.writeInteger(c.tableOID)
                    $0.writeInteger(c.columnAttribute)
                    $0.writeInteger(c.typeOID)
                    $0.writeInteger(c.typeSize)
                    $0.writeInteger(c.typeModifier)
                    $0.writeInteger(c.format)
                }
            }
        case .parameterDescription(let oids):
            framed("t") {
                $0.writeInteger(UInt16(truncatingIfNeeded: oids.count))  // checked by PreparedInfo.checkShape
                for o in oids { $0.writeInteger(o) }
            }
        case .noData: framed("n") { _ in }
        case .commandComplete(let tag): framed("C") { $0.writePostgresString(tag) }
        case .emptyQueryResponse: framed("I") { _ in }
        case .parseComplete: framed("1") { _ in }
        case .bindComplete: framed("2") { _ in }
        case .closeComplete: framed("3") { _ in }
        case .portalSuspended: framed("s") { _ in }
        case .error(let f): framed("E") { $0.writeErrorFields(f) }
        case .notice(let f): framed("N") { $0.writeErrorFields(f) }
        case .negotiateProtocolVersion(let minor, let options):
            framed("v") {
                $0.writeInteger(minor)
                $0.writeInteger(Int32(truncatingIfNeeded: options.count))
                for o in options { $0.writePostgresString(o) }
            }
        case .copyOutResponse(let columns), .copyInResponse(let columns):
            let isOut: Bool
            if case .copyOutResponse = message { isOut = true } else { isOut = false }
            framed(isOut ? "H" : "G") {
                $0.writeInteger(UInt8(0))  // text format
                $0.writeInteger(Int16(truncatingIfNeeded: columns))
                for _ in 0..<columns { $0.writeInteger(Int16(0)) }
            }
        case .copyData(let bytes):
            framed("d") { $0.writeBytes(bytes) }
        case .copyDone:
            framed("c") { _ in }
        }
    }

    /// Starts a DataRow of `columns` fields; returns where its length goes, for `endDataRow`.
    public mutating func beginDataRow(columns: Int) -> (start: Int, length: Int) {
        let start = writerIndex
        writeInteger(UInt8(ascii: "D"))
        let lengthIndex = writerIndex
        writeInteger(Int32(0))
        writeInteger(Int16(truncatingIfNeeded: columns))
        return (start, lengthIndex)
    }

    /// Ends a DataRow: writes its length, or, if the row is longer than `limit` (the
    /// protocol's lengths are Int32), removes it and returns false.
    public mutating func endDataRow(_ row: (start: Int, length: Int), limit: Int) -> Bool {
        let length = writerIndex - row.length
        guard length <= limit else {
            moveWriterIndex(to: row.start)
            return false
        }
        setInteger(Int32(length), at: row.length)
        return true
    }

    private mutating func writeErrorFields(_ f: ErrorFields) {
        func field(_ code: Character, _ value: String?) {
            guard let value else { return }
            writeInteger(code.asciiValue!)
            writePostgresString(value)
        }
        field("S", f.severity)
        field("V", f.severity)
        field("C", f.sqlState)
        field("M", f.message)
        field("D", f.detail)
        field("H", f.hint)
        field("P", f.position.map(String.init))
        writeInteger(UInt8(0))
    }
}
