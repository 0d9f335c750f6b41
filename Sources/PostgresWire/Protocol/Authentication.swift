import Crypto
import Foundation
import NIOCore

/// How clients prove who they are (chosen per server, like a one-line pg_hba.conf).
public enum AuthenticationMethod: String, Sendable, CaseIterable {
    case trust
    case password
    case md5
    case scramSHA256 = "scram-sha-256"
}

/// A user's stored secret. Plain passwords are accepted in configuration for convenience
/// but hashes are preferred (`tavana hash-password`): `md5<hex>` or PostgreSQL's
/// `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`.
public enum StoredSecret: Sendable, Equatable {
    case plain(String)
    case md5(String)  // "md5" + md5(password + user), as PostgreSQL stores it
    case scram(SCRAMVerifier)

    public static func parse(_ text: String) -> StoredSecret {
        if text.hasPrefix("SCRAM-SHA-256$"), let v = SCRAMVerifier(text) { return .scram(v) }
        if text.hasPrefix("md5"), text.count == 35, text.dropFirst(3).allSatisfy(\.isHexDigit) { return .md5(text) }
        return .plain(text)
    }
}

public struct SCRAMVerifier: Sendable, Equatable {
    public var iterations: Int
    public var salt: [UInt8]
    public var storedKey: [UInt8]
    public var serverKey: [UInt8]

    public init?(_ text: String) {
        // SCRAM-SHA-256$4096:<salt b64>$<StoredKey b64>:<ServerKey b64>
        let parts = text.dropFirst("SCRAM-SHA-256$".count).split(separator: "$")
        guard parts.count == 2 else { return nil }
        let head = parts[0].split(separator: ":"), keys = parts[1].split(separator: ":")
        guard head.count == 2, keys.count == 2, let i = Int(head[0]), i > 0,
              let salt = Data(base64Encoded: String(head[1])), let sk = Data(base64Encoded: String(keys[0])),
              let svk = Data(base64Encoded: String(keys[1])), sk.count == 32, svk.count == 32
        else { return nil }
        iterations = i
        self.salt = [UInt8](salt)
        storedKey = [UInt8](sk)
        serverKey = [UInt8](svk)
    }

    public init(password: String, salt: [UInt8], iterations: Int) {
        let salted = SCRAM.saltedPassword(password, salt: salt, iterations: iterations)
        let clientKey = SCRAM.hmac(salted, "Client Key")
        self.iterations = iterations
        self.salt = salt
        storedKey = [UInt8](SHA256.hash(data: clientKey))
        serverKey = SCRAM.hmac(salted, "Server Key")
    }

    public var text: String {
        "SCRAM-SHA-256$\(iterations):\(Data(salt).base64EncodedString())$\(Data(storedKey).base64EncodedString()):\(Data(serverKey).base64EncodedString())"
    }
}

enum SCRAM {
    /// Per-process secret for salts of users whose password is stored in plain text (and of
    /// unknown users): 16 bytes, as PostgreSQL uses, stable for one user within a process.
    static let saltKey = SymmetricKey(size: .bits256)

    static func derivedSalt(for user: String) -> [UInt8] {
        Array([UInt8](HMAC<SHA256>.authenticationCode(for: Array(user.utf8), using: saltKey)).prefix(16))
    }

    static func hmac(_ key: [UInt8], _ message: String) -> [UInt8] { hmac(key, Array(message.utf8)) }
    static func hmac(_ key: [UInt8], _ message: [UInt8]) -> [UInt8] {
        [UInt8](HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key)))
    }

    /// Hi() of RFC 5802: PBKDF2 with HMAC-SHA-256 and one output block.
    static func saltedPassword(_ password: String, salt: [UInt8], iterations: Int) -> [UInt8] {
        let key = SymmetricKey(data: Array(password.utf8))
        var u = [UInt8](HMAC<SHA256>.authenticationCode(for: salt + [0, 0, 0, 1], using: key))
        var result = u
        for _ in 1..<max(iterations, 1) {
            u = [UInt8](HMAC<SHA256>.authenticationCode(for: u, using: key))
            for i in 0..<result.count { result[i] ^= u[i] }
        }
        return result
    }
}

func md5Hex(_ bytes: [UInt8]) -> String {
    Insecure.MD5.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
}

/// The users a server accepts, and how.
public struct AuthenticationConfiguration: Sendable {
    public var method: AuthenticationMethod
    public var users: [String: StoredSecret]

    public init(method: AuthenticationMethod, users: [String: StoredSecret]) {
        self.method = method
        self.users = users
    }

    public static let trust = AuthenticationConfiguration(method: .trust, users: [:])
}

/// The server side of one authentication exchange, as a state machine that consumes
/// password messages and returns what to send. No I/O: tested without sockets.
public struct AuthenticationStateMachine: Sendable {
    public enum Action: Sendable, Equatable {
        case send(BackendMessage.Kind)
        case succeed
        case fail(ErrorFields)
    }

    enum State: Sendable {
        case initial
        case waitingForPassword(salt: [UInt8]?)
        case waitingForSASLInitial
        case waitingForSASLFinal(clientFirstBare: String, serverFirst: String, nonce: String, verifier: SCRAMVerifier)
        case done
    }

    let configuration: AuthenticationConfiguration
    let user: String
    var state: State = .initial

    public init(configuration: AuthenticationConfiguration, user: String) {
        self.configuration = configuration
        self.user = user
    }

    private var failure: Action {
        .fail(ErrorFields(severity: "FATAL", sqlState: SQLState.invalidPassword,
                          message: "password authentication failed for user \"\(user)\""))
    }

    /// First step, right after the StartupMessage.
    public mutating func start() -> Action {
        switch configuration.method {
        case .trust:
            state = .done
            return .succeed
        case .password:
            state = .waitingForPassword(salt: nil)
            return .send(.cleartextPassword)
        case .md5:
            let salt = (0..<4).map { _ in UInt8.random(in: 0...255) }
            state = .waitingForPassword(salt: salt)
            return .send(.md5Password(salt: salt))
        case .scramSHA256:
            state = .waitingForSASLInitial
            return .send(.sasl(["SCRAM-SHA-256"]))
        }
    }

    /// A 'p' message from the client.
    public mutating func receive(_ body: ByteBuffer) -> Action {
        var body = body
        switch state {
        case .waitingForPassword(let salt):
            state = .done
            guard let text = (try? body.readPostgresString()) ?? nil, let secret = configuration.users[user] else { return failure }
            if let salt {
                return verifyMD5(response: text, salt: salt, secret: secret) ? .succeed : failure
            }
            return verifyCleartext(text, secret: secret) ? .succeed : failure
        case .waitingForSASLInitial:
            guard let mechanism = (try? body.readPostgresString()) ?? nil, mechanism == "SCRAM-SHA-256",
                  let length = body.readInteger(as: Int32.self), length >= 0,
                  let message = body.readString(length: Int(length))
            else {
                state = .done
                return .fail(ErrorFields(severity: "FATAL", sqlState: SQLState.protocolViolation,
                                         message: "malformed SASLInitialResponse or unsupported SASL mechanism"))
            }
            // client-first-message: gs2 header ("n,," — no channel binding) then "n=...,r=nonce".
            guard message.hasPrefix("n,,") || message.hasPrefix("y,,") else {
                state = .done
                return .fail(ErrorFields(severity: "FATAL", sqlState: SQLState.protocolViolation,
                                         message: "SCRAM channel binding is not supported"))
            }
            let bare = String(message.dropFirst(3))
            guard let clientNonce = bare.split(separator: ",").first(where: { $0.hasPrefix("r=") })?.dropFirst(2) else {
                state = .done
                return .fail(ErrorFields(severity: "FATAL", sqlState: SQLState.protocolViolation, message: "SCRAM nonce missing"))
            }
            // Unknown users get a made-up verifier with a stable 16-byte salt, so that the
            // exchange looks the same as for a real user and does not reveal who exists.
            let verifier = scramVerifier() ?? SCRAMVerifier(password: UUID().uuidString, salt: SCRAM.derivedSalt(for: user), iterations: 4096)
            let serverNonce = Data((0..<18).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
            let nonce = String(clientNonce) + serverNonce
            let serverFirst = "r=\(nonce),s=\(Data(verifier.salt).base64EncodedString()),i=\(verifier.iterations)"
            state = .waitingForSASLFinal(clientFirstBare: bare, serverFirst: serverFirst, nonce: nonce, verifier: verifier)
            return .send(.saslContinue(Array(serverFirst.utf8)))
        case .waitingForSASLFinal(let bare, let serverFirst, let nonce, let verifier):
            state = .done
            let message = body.readString(length: body.readableBytes) ?? ""
            let parts = message.split(separator: ",", omittingEmptySubsequences: false)
            guard let proofPart = parts.last, proofPart.hasPrefix("p="),
                  parts.contains(where: { $0 == "r=\(nonce)" }),
                  let proof = Data(base64Encoded: String(proofPart.dropFirst(2))), proof.count == 32
            else { return failure }
            let withoutProof = message[..<message.index(message.endIndex, offsetBy: -(proofPart.count + 1))]
            let authMessage = "\(bare),\(serverFirst),\(withoutProof)"
            let clientSignature = SCRAM.hmac(verifier.storedKey, authMessage)
            let clientKey = zip([UInt8](proof), clientSignature).map { $0 ^ $1 }
            guard configuration.users[user] != nil, [UInt8](SHA256.hash(data: clientKey)) == verifier.storedKey else { return failure }
            let serverSignature = SCRAM.hmac(verifier.serverKey, authMessage)
            return .send(.saslFinal(Array("v=\(Data(serverSignature).base64EncodedString())".utf8)))
        case .initial, .done:
            state = .done
            return .fail(ErrorFields(severity: "FATAL", sqlState: SQLState.protocolViolation, message: "unexpected password message"))
        }
    }

    private func scramVerifier() -> SCRAMVerifier? {
        switch configuration.users[user] {
        case .scram(let v): return v
        case .plain(let p): return SCRAMVerifier(password: p, salt: SCRAM.derivedSalt(for: user), iterations: 4096)
        default: return nil
        }
    }

    private func verifyCleartext(_ password: String, secret: StoredSecret) -> Bool {
        switch secret {
        case .plain(let p): return constantTimeEqual(Array(p.utf8), Array(password.utf8))
        case .md5(let stored): return constantTimeEqual(Array(stored.utf8), Array(("md5" + md5Hex(Array((password + user).utf8))).utf8))
        case .scram(let v): return constantTimeEqual(SCRAMVerifier(password: password, salt: v.salt, iterations: v.iterations).storedKey, v.storedKey)
        }
    }

    private func verifyMD5(response: String, salt: [UInt8], secret: StoredSecret) -> Bool {
        let stored: String
        switch secret {
        case .plain(let p): stored = "md5" + md5Hex(Array((p + user).utf8))
        case .md5(let s): stored = s
        case .scram: return false  // an MD5 exchange cannot be checked against a SCRAM verifier
        }
        let expected = "md5" + md5Hex(Array(stored.dropFirst(3).utf8) + salt)
        return constantTimeEqual(Array(expected.utf8), Array(response.utf8))
    }
}

func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var diff: UInt8 = 0
    for i in 0..<a.count { diff |= a[i] ^ b[i] }
    return diff == 0
}

extension BackendMessage {
    /// Authentication requests, as values the state machine can return and tests compare.
    public enum Kind: Sendable, Equatable {
        case cleartextPassword
        case md5Password(salt: [UInt8])
        case sasl([String])
        case saslContinue([UInt8])
        case saslFinal([UInt8])

        var message: BackendMessage {
            switch self {
            case .cleartextPassword: return .authenticationCleartextPassword
            case .md5Password(let s): return .authenticationMD5Password(salt: s)
            case .sasl(let m): return .authenticationSASL(mechanisms: m)
            case .saslContinue(let b): return .authenticationSASLContinue(ByteBuffer(bytes: b))
            case .saslFinal(let b): return .authenticationSASLFinal(ByteBuffer(bytes: b))
            }
        }
    }
}
