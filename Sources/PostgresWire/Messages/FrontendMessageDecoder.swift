import NIOCore

/// Splits the byte stream into frontend messages. Before startup completes, messages have no
/// type byte (StartupMessage, SSLRequest, GSSENCRequest, CancelRequest); afterwards every
/// message is a type byte plus an Int32 length that includes itself.
public struct FrontendMessageDecoder: ByteToMessageDecoder {
    public typealias InboundOut = FrontendMessage

    public static let sslRequestCode: Int32 = 80_877_103
    public static let gssEncRequestCode: Int32 = 80_877_104
    public static let cancelRequestCode: Int32 = 80_877_102
    /// A CancelRequest one gateway replica passes to another (1234 in the high half like
    /// PostgreSQL's own request codes, a low half PostgreSQL does not use). Same body.
    public static let forwardedCancelRequestCode: Int32 = 80_877_114
    public static let protocolVersion3: Int32 = 196_608

    /// True until the StartupMessage (or CancelRequest) has been read.
    private var expectingStartup = true
    private let maxMessageSize: Int

    public init(maxMessageSize: Int) {
        self.maxMessageSize = maxMessageSize
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if let message = try Self.decodeOne(from: &buffer, expectingStartup: &expectingStartup, maxMessageSize: maxMessageSize) {
            context.fireChannelRead(wrapInboundOut(message))
            return .continue
        }
        return .needMoreData
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }

    /// Pure decoding step, also used by tests: returns nil when more bytes are needed.
    public static func decodeOne(
        from buffer: inout ByteBuffer, expectingStartup: inout Bool, maxMessageSize: Int
    ) throws -> FrontendMessage? {
        if expectingStartup {
            guard let length = buffer.getInteger(at: buffer.readerIndex, as: Int32.self) else { return nil }
            guard length >= 8 else { throw ProtocolViolation("invalid startup packet length \(length)") }
            guard length <= 10_000 else { throw ProtocolViolation("startup packet too large (\(length) bytes)") }
            guard buffer.readableBytes >= Int(length) else { return nil }
            buffer.moveReaderIndex(forwardBy: 4)
            var body = buffer.readSlice(length: Int(length) - 4)!
            let code = body.readInteger(as: Int32.self)!
            switch code {
            case sslRequestCode: return .sslRequest
            case gssEncRequestCode: return .gssEncRequest
            case cancelRequestCode, forwardedCancelRequestCode:
                guard let pid = body.readInteger(as: Int32.self), let key = body.readInteger(as: Int32.self) else {
                    throw ProtocolViolation("malformed CancelRequest")
                }
                expectingStartup = false
                return .cancelRequest(processID: pid, secretKey: key, forwarded: code == forwardedCancelRequestCode)
            default:
                guard code >> 16 == 3 else {
                    throw ProtocolViolation(
                        "unsupported frontend protocol \(code >> 16).\(code & 0xFFFF): server supports 3.0",
                        sqlState: SQLState.featureNotSupported)
                }
                var parameters: [(String, String)] = []
                while let key = try body.readPostgresString(), !key.isEmpty {
                    guard let value = try body.readPostgresString() else { throw ProtocolViolation("startup parameter \(key) has no value") }
                    parameters.append((key, value))
                }
                expectingStartup = false
                return .startup(.init(protocolVersion: code, parameters: parameters))
            }
        }

        guard buffer.readableBytes >= 5 else { return nil }
        let type = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self)!
        let length = Int(buffer.getInteger(at: buffer.readerIndex + 1, as: Int32.self)!)
        guard length >= 4 else { throw ProtocolViolation("invalid message length \(length) for message type \(printable(type))") }
        guard length <= maxMessageSize else {
            throw ProtocolViolation(
                "message of \(length) bytes exceeds the limit of \(maxMessageSize) bytes",
                sqlState: SQLState.programLimitExceeded)
        }
        guard buffer.readableBytes >= 1 + length else { return nil }
        buffer.moveReaderIndex(forwardBy: 5)
        var body = buffer.readSlice(length: length - 4)!
        let message = try decodeTyped(type, &body)
        guard body.readableBytes == 0 else {
            throw ProtocolViolation("message type \(printable(type)) has \(body.readableBytes) unexpected trailing bytes")
        }
        return message
    }

    private static func decodeTyped(_ type: UInt8, _ body: inout ByteBuffer) throws -> FrontendMessage {
        func string(_ what: String) throws -> String {
            guard let s = try body.readPostgresString() else { throw ProtocolViolation("truncated \(what)") }
            return s
        }
        func int16(_ what: String) throws -> Int16 {
            guard let v = body.readInteger(as: Int16.self) else { throw ProtocolViolation("truncated \(what)") }
            return v
        }
        func count(_ what: String) throws -> Int {
            let n = Int(try int16(what))
            guard n >= 0 else { throw ProtocolViolation("negative count in \(what)") }
            return n
        }
        switch type {
        case UInt8(ascii: "Q"):
            return .query(try string("Query"))
        case UInt8(ascii: "P"):
            let name = try string("Parse")
            let query = try string("Parse")
            let n = try count("Parse")
            var types: [UInt32] = []
            for _ in 0..<n {
                guard let oid = body.readInteger(as: UInt32.self) else { throw ProtocolViolation("truncated Parse") }
                types.append(oid)
            }
            return .parse(.init(name: name, query: query, parameterTypes: types))
        case UInt8(ascii: "B"):
            let portal = try string("Bind")
            let statement = try string("Bind")
            var formats: [Int16] = []
            for _ in 0..<(try count("Bind")) { formats.append(try int16("Bind")) }
            var params: [ByteBuffer?] = []
            for _ in 0..<(try count("Bind")) {
                guard let len = body.readInteger(as: Int32.self) else { throw ProtocolViolation("truncated Bind") }
                if len == -1 {
                    params.append(nil)
                } else {
                    guard len >= 0, let slice = body.readSlice(length: Int(len)) else { throw ProtocolViolation("truncated Bind parameter") }
                    params.append(slice)
                }
            }
            var resultFormats: [Int16] = []
            for _ in 0..<(try count("Bind")) { resultFormats.append(try int16("Bind")) }
            return .bind(.init(portal: portal, statement: statement, parameterFormats: formats, parameters: params, resultFormats: resultFormats))
        case UInt8(ascii: "D"), UInt8(ascii: "C"):
            guard let raw = body.readInteger(as: UInt8.self), let target = FrontendMessage.DescribeTarget(rawValue: raw) else {
                throw ProtocolViolation("invalid \(type == UInt8(ascii: "D") ? "Describe" : "Close") target")
            }
            let name = try string("Describe")
            return type == UInt8(ascii: "D") ? .describe(target, name: name) : .close(target, name: name)
        case UInt8(ascii: "E"):
            let portal = try string("Execute")
            guard let maxRows = body.readInteger(as: Int32.self) else { throw ProtocolViolation("truncated Execute") }
            return .execute(portal: portal, maxRows: maxRows)
        case UInt8(ascii: "S"): return .sync
        case UInt8(ascii: "H"): return .flush
        case UInt8(ascii: "X"): return .terminate
        case UInt8(ascii: "p"):
            return .password(body.readSlice(length: body.readableBytes)!)
        case UInt8(ascii: "d"):
            return .copyDataBytes(body.readSlice(length: body.readableBytes)!)
        case UInt8(ascii: "c"): return .copyDone
        case UInt8(ascii: "f"): return .copyFail(try string("CopyFail"))
        case UInt8(ascii: "F"):
            body.moveReaderIndex(forwardBy: body.readableBytes)
            return .functionCall
        default:
            throw ProtocolViolation("invalid frontend message type \(printable(type))")
        }
    }

    private static func printable(_ b: UInt8) -> String {
        (0x20..<0x7F).contains(b) ? "'\(Character(UnicodeScalar(b)))'" : "0x\(String(b, radix: 16))"
    }
}

extension ByteBuffer {
    /// A NUL-terminated UTF-8 string; nil if no terminator is left. Invalid UTF-8 is rejected
    /// (PostgreSQL would answer 22021 character_not_in_repertoire).
    mutating func readPostgresString() throws -> String? {
        guard let end = readableBytesView.firstIndex(of: 0) else { return nil }
        let length = end - readableBytesView.startIndex
        let bytes = readBytes(length: length)!
        moveReaderIndex(forwardBy: 1)
        guard let s = String(validating: bytes, as: UTF8.self) else {
            throw ProtocolViolation("invalid UTF-8 in message", sqlState: SQLState.characterNotInRepertoire)
        }
        return s
    }

    mutating func writePostgresString(_ s: String) {
        writeString(s)
        writeInteger(UInt8(0))
    }
}
