import Crypto
import Foundation
import NIOCore
import Scheduler

/// The server side of one authentication exchange, as a state machine that consumes
/// password messages and returns what to send. No I/O: tested without sockets.
public struct AuthenticationStateMachine: Sendable, Equatable {
    public enum Action: Sendable, Equatable {
        case send(BackendMessage.Kind)
        case succeed
        case fail(ErrorFields)
    }

    enum State: Sendable, Equatable {
        case initial
        case waitingForPassword(salt: [UInt8]?)
        case waitingForSASLInitial
        case waitingForSASLFinal(clientFirstBare: String, serverFirst: String, nonce: String, verifier: SCRAMVerifier)
        case done
    }

    let configuration: CredentialStore
    let user: String
    var state: State = .initial

    public init(configuration: CredentialStore, user: String) {
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
            guard let text = (try? body.readPostgresString()) ?? nil else { return failure }
            if let salt {
                guard let secret = configuration.users[user] else { return failure }
                return verifyMD5(response: text, salt: salt, secret: secret) ? .succeed : failure
            }
            return configuration.verifyPassword(user: user, password: text) ? .succeed : failure
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
            let verifier = configuration.scramVerifier(for: user).verifier
            let serverNonce = Data((0..<18).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
            let nonce = String(clientNonce) + serverNonce
            let serverFirst = "r=\(nonce),s=\(Data(verifier.salt).base64EncodedString()),i=\(verifier.iterations)"
            state = .waitingForSASLFinal(clientFirstBare: bare, serverFirst: serverFirst, nonce: nonce, verifier: verifier)
            return .send(.saslContinue(Array(serverFirst.utf8)))
        case .waitingForSASLFinal(let bare, let serverFirst, let nonce, let verifier):
            state = .done
            // client-final-message-without-proof ",p=" proof: split in bytes, so that no
            // grapheme cluster spanning a comma can shift what is cut off.
            let message = body.readBytes(length: body.readableBytes) ?? []
            guard let comma = message.lastIndex(of: UInt8(ascii: ",")),
                  message[(comma + 1)...].starts(with: Array("p=".utf8)),
                  let proof = Data(base64Encoded: Data(message[(comma + 3)...])), proof.count == 32
            else { return failure }
            let withoutProof = Array(message[..<comma])
            guard withoutProof.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false)
                .contains(where: { $0.elementsEqual("r=\(nonce)".utf8) }) else { return failure }
            let authMessage = Array("\(bare),\(serverFirst),".utf8) + withoutProof
            let clientSignature = SCRAM.hmac(verifier.storedKey, authMessage)
            let clientKey = zip([UInt8](proof), clientSignature).map { $0 ^ $1 }
            guard configuration.users[user] != nil, constantTimeEqual([UInt8](SHA256.hash(data: clientKey)), verifier.storedKey) else { return failure }
            let serverSignature = SCRAM.hmac(verifier.serverKey, authMessage)
            return .send(.saslFinal(Array("v=\(Data(serverSignature).base64EncodedString())".utf8)))
        case .initial, .done:
            state = .done
            return .fail(ErrorFields(severity: "FATAL", sqlState: SQLState.protocolViolation, message: "unexpected password message"))
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
