import NIOCore

/// Messages a PostgreSQL client sends (protocol 3.0), decoded.
public enum FrontendMessage: Sendable, Equatable {
    /// Messages sent before the first typed message; they carry no type byte.
    case startup(StartupMessage)
    case sslRequest
    case gssEncRequest
    /// `forwarded`: sent by another gateway replica that did not hold the session (our own
    /// request code, `FrontendMessageDecoder.forwardedCancelRequestCode`); never forwarded again.
    case cancelRequest(processID: Int32, secretKey: Int32, forwarded: Bool = false)

    /// PasswordMessage, SASLInitialResponse and SASLResponse share type 'p'; which one it
    /// is depends on the authentication exchange, so the raw body is kept.
    case password(ByteBuffer)
    case query(String)
    case parse(Parse)
    case bind(Bind)
    case describe(DescribeTarget, name: String)
    case execute(portal: String, maxRows: Int32)
    case sync
    case flush
    case close(DescribeTarget, name: String)
    case terminate
    case copyDataBytes(ByteBuffer), copyDone, copyFail(String)
    case functionCall

    public struct StartupMessage: Sendable, Equatable {
        public var protocolVersion: Int32
        public var parameters: [(String, String)]
        public var user: String? { parameters.first { $0.0 == "user" }?.1 }
        public var database: String? { parameters.first { $0.0 == "database" }?.1 }
        public static func == (a: Self, b: Self) -> Bool {
            a.protocolVersion == b.protocolVersion && a.parameters.elementsEqual(b.parameters, by: { $0 == $1 })
        }
    }

    public struct Parse: Sendable, Equatable {
        public var name: String
        public var query: String
        public var parameterTypes: [UInt32]
    }

    public struct Bind: Sendable, Equatable {
        public var portal: String
        public var statement: String
        public var parameterFormats: [Int16]
        public var parameters: [ByteBuffer?]
        public var resultFormats: [Int16]
    }

    public enum DescribeTarget: UInt8, Sendable { case statement = 0x53 /* S */, portal = 0x50 /* P */ }
}

/// Protocol-level errors: the peer sent something that is not a valid message. The
/// connection answers with an ErrorResponse (SQLSTATE 08P01) and closes.
public struct ProtocolViolation: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var sqlState: String
    public init(_ message: String, sqlState: String = SQLState.protocolViolation) {
        self.message = message
        self.sqlState = sqlState
    }
    public var description: String { message }
}
