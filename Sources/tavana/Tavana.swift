import ArgumentParser
import DuckDB
import Scheduler

@main
struct Tavana: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tavana",
        abstract: "Serve DuckDB to many users at once over PostgreSQL wire and Arrow Flight SQL.",
        version: TavanaBuild.version,
        subcommands: [Serve.self, Gateway.self, WorkerCommand.self, Version.self, Query.self, ArrowRoundTrip.self]
    )
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print Tavana's version and the DuckDB library it loaded.")

    func run() throws {
        print("tavana \(TavanaBuild.version)")
        print("duckdb \(DuckDBLibrary.loadedVersion)")
        try DuckDBLibrary.checkVersion()
    }
}
