import FlightProtocol
import Arrow
import DuckDB
import Foundation
import GRPCCore
import Scheduler
import SwiftProtobuf
import Worker

typealias FlightData = Arrow_Flight_Protocol_FlightData

/// A Flight SQL command, decoded from `FlightDescriptor.cmd` (a packed `google.protobuf.Any`),
/// or a plain UTF-8 SQL string for generic Flight clients.
enum Command {
    /// SQL, and the transaction it belongs to (nil: autocommit in a session of its own).
    case statementQuery(String, transaction: String? = nil)
    case statementUpdate(String, transaction: String? = nil)
    case preparedQuery(String)
    case preparedUpdate(String)
    case ingest(Arrow_Flight_Protocol_Sql_CommandStatementIngest)
    case sqlInfo([UInt32])
    case catalogs
    case dbSchemas(Arrow_Flight_Protocol_Sql_CommandGetDbSchemas)
    case tables(Arrow_Flight_Protocol_Sql_CommandGetTables)
    case tableTypes
    case primaryKeys(Arrow_Flight_Protocol_Sql_CommandGetPrimaryKeys)
    case importedKeys(Arrow_Flight_Protocol_Sql_CommandGetImportedKeys)
    case exportedKeys(Arrow_Flight_Protocol_Sql_CommandGetExportedKeys)
    case crossReference(Arrow_Flight_Protocol_Sql_CommandGetCrossReference)
    case xdbcTypeInfo(Arrow_Flight_Protocol_Sql_CommandGetXdbcTypeInfo)

    static let prefix = "type.googleapis.com/arrow.flight.protocol.sql."

    static func decode(_ cmd: Data) throws -> Command {
        if let any = try? Google_Protobuf_Any(serializedBytes: cmd), any.typeURL.hasPrefix(prefix) {
            return try decode(any: any)
        }
        guard let sql = String(data: cmd, encoding: .utf8), !sql.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw RPCError(code: .invalidArgument, message: "the descriptor's command is neither a Flight SQL command nor UTF-8 SQL")
        }
        return .statementQuery(sql)
    }

    static func decode(any: Google_Protobuf_Any) throws -> Command {
        do {
            if any.isA(Arrow_Flight_Protocol_Sql_CommandStatementQuery.self) {
                let c = try Arrow_Flight_Protocol_Sql_CommandStatementQuery(unpackingAny: any)
                return .statementQuery(c.query, transaction: transactionID(c.hasTransactionID ? c.transactionID : nil))
            }
            if any.isA(Arrow_Flight_Protocol_Sql_CommandStatementUpdate.self) {
                let c = try Arrow_Flight_Protocol_Sql_CommandStatementUpdate(unpackingAny: any)
                return .statementUpdate(c.query, transaction: transactionID(c.hasTransactionID ? c.transactionID : nil))
            }
            if any.isA(Arrow_Flight_Protocol_Sql_CommandPreparedStatementQuery.self) {
                let c = try Arrow_Flight_Protocol_Sql_CommandPreparedStatementQuery(unpackingAny: any)
                return .preparedQuery(String(decoding: c.preparedStatementHandle, as: UTF8.self))
            }
            if any.isA(Arrow_Flight_Protocol_Sql_CommandPreparedStatementUpdate.self) {
                let c = try Arrow_Flight_Protocol_Sql_CommandPreparedStatementUpdate(unpackingAny: any)
                return .preparedUpdate(String(decoding: c.preparedStatementHandle, as: UTF8.self))
            }
            if any.isA(Arrow_Flight_Protocol_Sql_CommandStatementIngest.self) {
                return .ingest(try Arrow_Flight_Protocol_Sql_CommandStatementIngest(unpackingAny: any))
            }
            if any.isA(Arrow_Flight_Protocol_Sql_CommandGetSqlInfo.self) {
                return .sqlInfo(try Arrow_Flight_Protocol_Sql_CommandGetSqlInfo(unpackingAny: any).info)
            }
            if any.isA(Arrow_Flight_Protocol_Sql_CommandGetCatalogs.self) { return .catalogs }
            if any.isA(Arrow_Flight_Protocol_Sql_CommandGetDbSchemas.self) {
                return .dbSchemas(try Arrow_Flight_Protocol_Sql_CommandGetDbSchemas(unpackingAny: any))
            }
            if any.isA(Arrow_Flight_Protocol_Sql_CommandGetTables.self) {
                return .tables(try Arrow_Flight_Protocol_Sql_CommandGetTables(unpackingAny: any))
            }
            if any.isA(Arrow_Flight_Protocol_Sql_CommandGetTableTypes.self) { return .tableTypes }
            if any.isA(Arrow_Flight_Protocol_Sql_CommandGetPrimaryKeys.self) {
                return .primaryKeys(try Arrow_Flight_Protocol_Sql_CommandGetPrimaryKeys(unpackingAny: any))
            }
            if any.isA(Arrow_Flight_Protocol_Sql_CommandGetImportedKeys.self) {
                return .importedKeys(try Arrow_Flight_Protocol_Sql_CommandGetImportedKeys(unpackingAny: any))
            }
            if any.isA(Arrow_Flight_Protocol_Sql_CommandGetExportedKeys.self) {
                return .exportedKeys(try Arrow_Flight_Protocol_Sql_CommandGetExportedKeys(unpackingAny: any))
            }
            if any.isA(Arrow_Flight_Protocol_Sql_CommandGetCrossReference.self) {
                return .crossReference(try Arrow_Flight_Protocol_Sql_CommandGetCrossReference(unpackingAny: any))
            }
            if any.isA(Arrow_Flight_Protocol_Sql_CommandGetXdbcTypeInfo.self) {
                return .xdbcTypeInfo(try Arrow_Flight_Protocol_Sql_CommandGetXdbcTypeInfo(unpackingAny: any))
            }
        } catch {
            throw RPCError(code: .invalidArgument, message: "malformed \(any.typeURL): \(error)")
        }
        throw RPCError(code: .unimplemented, message: "Tavana does not support \(any.typeURL)")
    }
}

/// A transaction id as sent by clients (empty means none).
func transactionID(_ data: Data?) -> String? {
    guard let data, !data.isEmpty else { return nil }
    return String(decoding: data, as: UTF8.self)
}

/// Packs a message as a `google.protobuf.Any` and serializes it (Flight SQL's convention for
/// tickets, action bodies and action results).
func packAny(_ message: some SwiftProtobuf.Message) throws -> Data {
    let any = try Google_Protobuf_Any(message: message)
    return try any.serializedData()
}

