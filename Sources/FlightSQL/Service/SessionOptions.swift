import DuckDB
import FlightProtocol
import Foundation
import GRPCCore
import Scheduler

/// Flight's session options over the session the caller's cookie names (`ClientSessions`):
/// `catalog` and `schema` choose where unqualified names resolve (ADBC's current catalog and
/// schema); any other name is a DuckDB setting of that session (`SET name = value`).
extension FlightSQLService {
    static let catalogOption = "catalog"
    static let schemaOption = "schema"

    /// Opens the cookie's session if needed, then sets each option in it. An option that
    /// cannot be set is reported in the result (its name unknown, its value refused), not as
    /// a failed call: the others still apply, as the protocol asks.
    func setSessionOptions(
        _ request: Arrow_Flight_Protocol_SetSessionOptionsRequest, owner: LeaseOwner
    ) async throws -> Arrow_Flight_Protocol_SetSessionOptionsResult {
        guard let cookie = FlightCaller.sessionCookie else {
            throw RPCError(code: .failedPrecondition, message: "no session cookie")
        }
        let session = try await clientSessions.open(cookie.name, user: owner.user, sentByClient: cookie.sentByClient)
        var result = Arrow_Flight_Protocol_SetSessionOptionsResult()
        for key in request.sessionOptions.keys.sorted() {
            let outcome = await set(key, request.sessionOptions[key]!, in: session)
            if let outcome {
                var error = Arrow_Flight_Protocol_SetSessionOptionsResult.Error()
                error.value = outcome
                result.errors[key] = error
                logger.debug("session option refused", metadata: ["option": "\(key)", "error": "\(outcome)"])
            }
        }
        return result
    }

    /// The session's catalog and schema: of the cookie's session, or of a new session when the
    /// caller has none (what its statements would see).
    func getSessionOptions(owner: LeaseOwner) async throws -> Arrow_Flight_Protocol_GetSessionOptionsResult {
        let (session, owned) = try await self.session(for: nil, owner: owner)
        defer { if owned { session.close() } }
        let rows = try await Metadata.rows(session, "SELECT current_database()::VARCHAR, current_schema()::VARCHAR")
        var result = Arrow_Flight_Protocol_GetSessionOptionsResult()
        if let row = rows.first {
            if let catalog = row[0] { result.sessionOptions[Self.catalogOption] = .with { $0.stringValue = catalog } }
            if let schema = row[1] { result.sessionOptions[Self.schemaOption] = .with { $0.stringValue = schema } }
        }
        return result
    }

    /// Sets one option; nil when it took.
    func set(
        _ key: String, _ value: Arrow_Flight_Protocol_SessionOptionValue, in session: Session
    ) async -> Arrow_Flight_Protocol_SetSessionOptionsResult.ErrorValue? {
        guard let sql = Self.statement(setting: key, to: value) else {
            return Self.isSettingName(key) ? .invalidValue : .invalidName
        }
        do {
            _ = try await session.collect(sql)
            return nil
        } catch {
            let message = "\(error)"
            // DuckDB names a setting it does not know: the option's name is wrong.
            if message.contains("unrecognized configuration parameter") { return .invalidName }
            // The sandbox lets a session set only per-session settings: the others are not
            // names this session can set.
            if message.contains("permission denied to set parameter") { return .invalidName }
            return .invalidValue
        }
    }

    /// The SQL that sets `key` to `value`; nil when the name or the value cannot be one.
    /// Names are identifiers (never pasted as given) and values literals.
    static func statement(setting key: String, to value: Arrow_Flight_Protocol_SessionOptionValue) -> String? {
        switch key {
        case catalogOption:
            guard case .stringValue(let catalog)? = value.optionValue, !catalog.isEmpty else { return nil }
            return "USE \(SQLText.identifier(catalog))"
        case schemaOption:
            guard case .stringValue(let schema)? = value.optionValue, !schema.isEmpty else { return nil }
            return "SET schema = \(SQLText.literal(schema))"
        default:
            guard isSettingName(key), let literal = literal(value) else { return nil }
            return "SET \(key) = \(literal)"
        }
    }

    static func isSettingName(_ key: String) -> Bool {
        guard let first = key.utf8.first, key.utf8.count <= 128 else { return false }
        let letter = { (b: UInt8) in (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F }
        return letter(first) && key.utf8.allSatisfy { letter($0) || ($0 >= 0x30 && $0 <= 0x39) }
    }

    static func literal(_ value: Arrow_Flight_Protocol_SessionOptionValue) -> String? {
        switch value.optionValue {
        case .stringValue(let s)?: return SQLText.literal(s)
        case .boolValue(let b)?: return b ? "true" : "false"
        case .int64Value(let i)?: return String(i)
        case .doubleValue(let d)?: return d.isFinite ? "\(d)" : nil
        case .stringListValue(let list)?: return "[" + list.values.map(SQLText.literal).joined(separator: ", ") + "]"
        case nil: return nil
        }
    }
}
