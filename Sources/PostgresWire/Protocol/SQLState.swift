import DuckDB

/// SQLSTATE codes Tavana sends (PostgreSQL Appendix A).
public enum SQLState {
    public static let successfulCompletion = "00000"
    public static let connectionException = "08000"
    public static let connectionFailure = "08006"
    /// No worker can take the session now (PostgreSQL's "cannot connect now": clients and
    /// poolers retry it).
    public static let cannotConnectNow = "57P03"
    public static let protocolViolation = "08P01"
    public static let featureNotSupported = "0A000"
    public static let invalidTransactionState = "25000"
    public static let noActiveSQLTransaction = "25P01"
    public static let activeSQLTransaction = "25001"
    public static let inFailedSQLTransaction = "25P02"
    public static let invalidAuthorizationSpecification = "28000"
    public static let invalidPassword = "28P01"
    public static let invalidCatalogName = "3D000"
    public static let invalidCursorName = "34000"
    public static let duplicateCursor = "42P03"
    public static let syntaxError = "42601"
    public static let undefinedTable = "42P01"
    public static let undefinedColumn = "42703"
    public static let undefinedFunction = "42883"
    public static let undefinedObject = "42704"
    public static let invalidSchemaName = "3F000"
    public static let syntaxErrorOrAccessRuleViolation = "42000"
    public static let indeterminateDatatype = "42P18"
    public static let dependentObjectsStillExist = "2BP01"
    public static let sequenceGeneratorLimitExceeded = "2200H"
    public static let duplicateTable = "42P07"
    public static let duplicateObject = "42710"
    public static let datatypeMismatch = "42804"
    public static let insufficientPrivilege = "42501"
    public static let invalidPreparedStatementDefinition = "42P14"
    public static let undefinedPreparedStatement = "26000"
    public static let duplicatePreparedStatement = "42P05"
    public static let dataException = "22000"
    public static let divisionByZero = "22012"
    public static let invalidTextRepresentation = "22P02"
    public static let invalidBinaryRepresentation = "22P03"
    public static let numericValueOutOfRange = "22003"
    public static let invalidDatetimeFormat = "22007"
    public static let datetimeFieldOverflow = "22008"
    public static let characterNotInRepertoire = "22021"
    public static let invalidParameterValue = "22023"
    public static let integrityConstraintViolation = "23000"
    public static let notNullViolation = "23502"
    public static let foreignKeyViolation = "23503"
    public static let uniqueViolation = "23505"
    public static let checkViolation = "23514"
    public static let serializationFailure = "40001"
    public static let insufficientResources = "53000"
    public static let outOfMemory = "53200"
    public static let tooManyConnections = "53300"
    public static let programLimitExceeded = "54000"
    public static let tooManyColumns = "54011"
    public static let queryCanceled = "57014"
    public static let adminShutdown = "57P01"
    public static let ioError = "58030"
    public static let internalError = "XX000"

    /// The SQLSTATE for a DuckDB error: by DuckDB's error class first, refined by the
    /// message where one class covers several PostgreSQL conditions.
    public static func forDuckDB(_ error: DuckDBError) -> String {
        forDuckDB(error.type, message: error.message)
    }

    public static func forDuckDB(_ type: DuckDBErrorType, message m: String) -> String {
        switch type {
        case .parser, .syntax:
            return syntaxError
        case .catalog:
            if m.contains("does not exist") {
                if m.contains("Table with name") || m.contains("View with name") { return undefinedTable }
                if m.contains("Scalar Function") || m.contains("Function with name") || m.contains("Macro Function") { return undefinedFunction }
                if m.contains("Schema with name") { return invalidSchemaName }
                if m.contains("Type with name") { return undefinedObject }
                if m.contains("Catalog") { return invalidCatalogName }
                return undefinedObject
            }
            if m.contains("already exists") { return m.contains("Table") ? duplicateTable : duplicateObject }
            return undefinedObject
        case .binder:
            if m.contains("Referenced column") || m.contains("column") && m.contains("not found") { return undefinedColumn }
            if m.contains("No function matches") || m.contains("Function with name") { return undefinedFunction }
            if m.contains("Table with name") && m.contains("does not exist") { return undefinedTable }
            return syntaxErrorOrAccessRuleViolation
        case .conversion:
            return m.contains("out of range") ? numericValueOutOfRange : invalidTextRepresentation
        case .outOfRange:
            return numericValueOutOfRange
        case .divideByZero:
            return divisionByZero
        case .constraint:
            if m.contains("NOT NULL") { return notNullViolation }
            if m.contains("foreign key") || m.contains("FOREIGN KEY") { return foreignKeyViolation }
            if m.contains("CHECK") { return checkViolation }
            if m.contains("unique") || m.contains("PRIMARY KEY") || m.contains("Duplicate key") { return uniqueViolation }
            return integrityConstraintViolation
        case .interrupt:
            return queryCanceled
        case .outOfMemory:
            return outOfMemory
        case .transaction:
            return m.contains("conflict") ? serializationFailure : invalidTransactionState
        case .serialization:
            return serializationFailure
        case .notImplemented:
            return featureNotSupported
        case .permission:
            return insufficientPrivilege
        case .io, .http, .network:
            return ioError
        case .invalidInput:
            return invalidParameterValue
        case .invalidType, .mismatchType:
            return datatypeMismatch
        case .parameterNotResolved, .parameterNotAllowed:
            return indeterminateDatatype
        case .missingExtension, .autoload:
            return featureNotSupported
        case .settings, .invalidConfiguration:
            return invalidParameterValue
        case .dependency:
            return dependentObjectsStillExist
        case .sequence:
            return sequenceGeneratorLimitExceeded
        case .fatal, .internalError:
            return internalError
        default:
            return internalError
        }
    }
}
