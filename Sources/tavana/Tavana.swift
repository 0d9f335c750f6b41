import ArgumentParser
import DuckDB

@main
struct Tavana: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tavana",
        abstract: "Serve DuckDB to many users at once over PostgreSQL wire and Arrow Flight SQL.",
        version: TavanaVersion.string,
        subcommands: [Serve.self, Version.self, Query.self, ArrowRoundTrip.self]
    )
}

enum TavanaVersion {
    static let string = "0.1.0"
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print Tavana's version and the DuckDB library it loaded.")

    func run() throws {
        print("tavana \(TavanaVersion.string)")
        print("duckdb \(DuckDBLibrary.loadedVersion)")
        try DuckDBLibrary.checkVersion()
    }
}
