import Crypto
import Foundation

/// How clients prove who they are (chosen per server, like a one-line pg_hba.conf).
public enum AuthenticationMethod: String, Sendable, CaseIterable, Codable {
    case trust
    case password
    case md5
    case scramSHA256 = "scram-sha-256"
}

/// The users a server accepts and how, for both front doors: PostgreSQL's exchanges
/// (cleartext, MD5, SCRAM) and Flight's basic credentials check passwords here, in
/// constant time.
public struct CredentialStore: Sendable, Equatable {
    public var method: AuthenticationMethod
    public var users: [String: StoredSecret]
    /// Keys the made-up SCRAM salts of users stored in plain text and of unknown users
    /// (which must look like real ones). From configuration, so that every gateway replica
    /// offers a client the same salt.
    public var saltKey: [UInt8]

    public init(method: AuthenticationMethod, users: [String: StoredSecret], saltKey: [UInt8]) {
        self.method = method
        self.users = users
        self.saltKey = saltKey
    }

    public static func trust(saltKey: [UInt8] = Array(repeating: 0, count: 32)) -> CredentialStore {
        CredentialStore(method: .trust, users: [:], saltKey: saltKey)
    }

    /// Whether `password` is `user`'s, whatever form the secret is stored in. Unknown users
    /// cost the same work as known ones and fail.
    public func verifyPassword(user: String, password: String) -> Bool {
        guard let secret = users[user] else {
            _ = SCRAMVerifier(password: password, salt: derivedSalt(for: user), iterations: 4096)
            return false
        }
        switch secret {
        case .plain(let p):
            return constantTimeEqual(Array(p.utf8), Array(password.utf8))
        case .md5(let stored):
            return constantTimeEqual(Array(stored.utf8), Array(("md5" + md5Hex(Array((password + user).utf8))).utf8))
        case .scram(let v):
            return constantTimeEqual(SCRAMVerifier(password: password, salt: v.salt, iterations: v.iterations).storedKey, v.storedKey)
        }
    }

    /// A stable 16-byte salt for `user` (PostgreSQL's length), keyed by `saltKey`.
    public func derivedSalt(for user: String) -> [UInt8] {
        Array([UInt8](HMAC<SHA256>.authenticationCode(for: Array(user.utf8), using: SymmetricKey(data: saltKey))).prefix(16))
    }

    /// The SCRAM verifier a SCRAM exchange with `user` uses: the stored one, one derived from
    /// a plain password, or a made-up one for an unknown user.
    public func scramVerifier(for user: String) -> (verifier: SCRAMVerifier, known: Bool) {
        switch users[user] {
        case .scram(let v): return (v, true)
        case .plain(let p): return (SCRAMVerifier(password: p, salt: derivedSalt(for: user), iterations: 4096), true)
        case .md5, nil:
            let made = SCRAMVerifier(password: UUID().uuidString, salt: derivedSalt(for: user), iterations: 4096)
            return (made, false)
        }
    }
}

/// A user's stored secret. Plain passwords are accepted in configuration for convenience
/// but hashes are preferred: `md5<hex>` or PostgreSQL's
/// `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`.
public enum StoredSecret: Sendable, Equatable {
    case plain(String)
    case md5(String)  // "md5" + md5(password + user), as PostgreSQL stores it
    case scram(SCRAMVerifier)

    public static func parse(_ text: String) -> StoredSecret {
        if text.hasPrefix("SCRAM-SHA-256$"), let v = SCRAMVerifier(text) { return .scram(v) }
        if text.hasPrefix("md5"), text.utf8.count == 35, text.dropFirst(3).allSatisfy(\.isHexDigit) { return .md5(text) }
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
        guard head.count == 2, keys.count == 2, let i = Int(head[0]), i > 0, i <= 10_000_000,
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

/// SCRAM-SHA-256's building blocks (RFC 5802, RFC 7677).
public enum SCRAM {
    public static func hmac(_ key: [UInt8], _ message: String) -> [UInt8] { hmac(key, Array(message.utf8)) }
    public static func hmac(_ key: [UInt8], _ message: [UInt8]) -> [UInt8] {
        [UInt8](HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key)))
    }

    /// Hi() of RFC 5802: PBKDF2 with HMAC-SHA-256 and one output block.
    public static func saltedPassword(_ password: String, salt: [UInt8], iterations: Int) -> [UInt8] {
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

public func md5Hex(_ bytes: [UInt8]) -> String {
    Insecure.MD5.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
}

/// Compares secrets without an early exit, so that timing does not tell how much matched.
public func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var diff: UInt8 = 0
    for i in 0..<a.count { diff |= a[i] ^ b[i] }
    return diff == 0
}
