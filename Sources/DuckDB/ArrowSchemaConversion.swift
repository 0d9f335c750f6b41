import Arrow
import CArrowABI
import CDuckDB
import Foundation

/// DuckDB logical types → an Arrow schema, through DuckDB's own converter (so the schema is
/// exactly the one its Arrow batches carry), with the connection's Arrow options.
enum ArrowSchemaConversion {
    /// Takes ownership of `types` (destroys them).
    static func schema(
        types: inout [duckdb_logical_type?], names: [String], options: duckdb_arrow_options?
    ) throws -> Schema {
        defer { for i in types.indices { duckdb_destroy_logical_type(&types[i]) } }
        let cStrings = names.map { strdup($0) }
        defer { for s in cStrings { free(s) } }
        var cNames: [UnsafePointer<CChar>?] = cStrings.map { UnsafePointer($0) }
        var schema = ArrowSchema()
        defer { tavana_arrow_schema_release(&schema) }
        let count = idx_t(names.count)
        try types.withUnsafeMutableBufferPointer { typesPtr in
            try cNames.withUnsafeMutableBufferPointer { namesPtr in
                try withUnsafeMutablePointer(to: &schema) { schemaPtr in
                    try check(duckdb_to_arrow_schema(options, typesPtr.baseAddress, namesPtr.baseAddress, count, schemaPtr))
                }
            }
        }
        return try withUnsafePointer(to: &schema) { try CDataImport.importSchema($0) }
    }
}
