import Arrow
import DuckDB
import Foundation
import RemoteWorker
import Worker
import WorkerEndpoint
import WorkerProtocol
import XCTest

/// The worker seam over the network, end to end in one process: a gateway's RemoteWorker
/// against a WorkerEndpoint serving a real EmbeddedWorker, over loopback TCP. Where it
/// matters the remote answer is compared with the in-process one, since the point of the
/// protocol is that a front door cannot tell them apart.
final class RemoteWorkerTests: XCTestCase {
    func testTheHelloReportsTheWorker() async throws {
        let worker = try await startWorker(slots: 3, sessionTTL: .seconds(7), id: "worker-a")
        let gateway = try await connect(to: worker.address)
        let load = try XCTUnwrap(gateway.remote.load)
        XCTAssertEqual(load.workerID, "worker-a")
        XCTAssertEqual(load.slots, 3)
        XCTAssertEqual(load.slotsUsed, 0)
        XCTAssertEqual(load.sessionTTL, .seconds(7))
        XCTAssertEqual(load.memoryLimitBytes, 1 << 30)
        XCTAssertFalse(load.draining)
        XCTAssertTrue(gateway.remote.isHealthy)
    }

    func testAPreparedStatementRunsWithTypedParameters() async throws {
        let worker = try await startWorker()
        let gateway = try await connect(to: worker.address)
        let session = try await open(gateway.remote)
        let sql = "SELECT $1::INTEGER + 1 AS i, $2::VARCHAR AS s, $3::INTEGER AS n, $4::DECIMAL(10,2) AS d, $5::INTEGER[] AS l"
        let handle = try await session.prepare(sql)
        XCTAssertEqual(handle.description.columns.map(\.name), ["i", "s", "n", "d", "l"])
        XCTAssertEqual(handle.description.parameterTypes.count, 5)
        XCTAssertEqual(handle.description.statementType, .select)
        XCTAssertTrue(session.pins.contains(.preparedStatements))

        // The description is the one the worker's own session gives.
        let local = try await worker.embedded.openSession(SessionOptions(user: "u"))
        let localHandle = try await local.prepare(sql)
        XCTAssertEqual(handle.description, localHandle.description)
        await local.close()

        let parameters: [DuckDBValue] = [
            .int32(41), .varchar("héllo 🦆"), .null, .decimal(unscaled: -12345, width: 10, scale: 2),
            .list([.int32(1), .null, .int32(3)], element: .integer),
        ]
        let stream = try await session.execute(handle, parameters: parameters)
        XCTAssertEqual(stream.columns, handle.description.columns)
        XCTAssertEqual(stream.statementType, .select)
        XCTAssertNil(stream.rowsChanged)
        let schema = try await stream.schema()
        let first = try await stream.next()
        let batch = try XCTUnwrap(first)
        let end = try await stream.next()
        XCTAssertNil(end, "one row, one batch")
        XCTAssertEqual(batch.schema, schema)
        XCTAssertEqual(batch.length, 1)

        XCTAssertEqual(batch.columns[0].value(0, as: Int32.self), 42)
        XCTAssertEqual(batch.columns[1].string(0), "héllo 🦆")
        XCTAssertTrue(batch.columns[2].isNull(0))
        guard case .decimal(10, 2, let bits) = schema.fields[3].type else { return XCTFail("\(schema.fields[3].type)") }
        let unscaled = bits == 128 ? batch.columns[3].value(0, as: Int128.self) : Int128(batch.columns[3].value(0, as: Int64.self))
        XCTAssertEqual(unscaled, -12345)
        let list = batch.columns[4]
        XCTAssertEqual(list.valueRange(0), 0..<3)
        XCTAssertEqual(list.children[0].value(0, as: Int32.self), 1)
        XCTAssertTrue(list.children[0].isNull(1))
        XCTAssertEqual(list.children[0].value(2, as: Int32.self), 3)

        // The statement stays prepared: run it again with other values.
        let again = try await session.execute(handle, parameters: [.int32(-1), .varchar(""), .int32(7), .decimal(unscaled: 5, width: 10, scale: 2),
                                                                   .list([], element: .integer)])
        let secondBatches = try await readAll(again)
        let second = try XCTUnwrap(secondBatches.first)
        XCTAssertEqual(second.columns[0].value(0, as: Int32.self), 0)
        XCTAssertEqual(second.columns[2].value(0, as: Int32.self), 7)
        XCTAssertEqual(second.columns[4].valueRange(0), 0..<0)

        await session.closeStatement(handle)
        XCTAssertFalse(session.pins.contains(.preparedStatements), "closing the last statement unpins the session")
    }

    func testAManyBatchResultArrivesWhole() async throws {
        let worker = try await startWorker()
        let gateway = try await connect(to: worker.address)
        let session = try await open(gateway.remote)
        let n = 100_000
        let handle = try await session.prepare("SELECT i FROM range(\(n)) t(i)")

        let batches = try await readAll(try await session.execute(handle, parameters: []))
        XCTAssertGreaterThan(batches.count, 1, "DuckDB hands out rows a vector at a time")
        XCTAssertEqual(batches.reduce(0) { $0 + $1.length }, n)
        var sum: Int64 = 0
        for batch in batches {
            for row in 0..<batch.length { sum += batch.columns[0].value(row, as: Int64.self) }
        }
        XCTAssertEqual(sum, Int64(n) * Int64(n - 1) / 2)

        // The same rows as IPC messages, for a front door that forwards them as they are.
        let stream = try await session.execute(handle, parameters: [])
        var decoder = try IPCMessageDecoder(schema: try await stream.schema())
        var rows = 0, messages = 0
        while let batch = try await stream.nextMessages() {
            for message in batch {
                messages += 1
                if case .recordBatch(let b) = try decoder.decode(metadata: message.metadata, body: message.bodyBytes()) {
                    rows += b.length
                }
            }
        }
        XCTAssertEqual(rows, n)
        XCTAssertGreaterThan(messages, 1)
        let after = try await stream.nextMessages()
        XCTAssertNil(after, "an ended stream stays ended")
    }

    func testClosingAStreamEarlyLeavesTheSessionUsable() async throws {
        let worker = try await startWorker()
        let gateway = try await connect(to: worker.address)
        let session = try await open(gateway.remote)
        let big = try await session.prepare("SELECT i FROM range(10000000) t(i)")
        let small = try await session.prepare("SELECT 42::BIGINT AS v")
        // A few times over: the early close must not leak into the statement that follows.
        for round in 0..<5 {
            let stream = try await session.execute(big, parameters: [])
            let some = try await stream.next()
            XCTAssertNotNil(some, "round \(round)")
            stream.close()
            let none = try await stream.next()
            XCTAssertNil(none, "round \(round): a closed stream has no more rows")
            let next = try await readAll(try await session.execute(small, parameters: []))
            XCTAssertEqual(next.first?.columns[0].value(0, as: Int64.self), 42, "round \(round)")
            _ = try await session.run("SELECT 1")
        }
        // The abandoned statements gave their slots back.
        let freed = await eventually(within: .seconds(10)) { worker.endpoint.slots.snapshot.running == 0 }
        XCTAssertTrue(freed, "slots still in use: \(worker.endpoint.slots.snapshot.running)")
    }

    func testRunReportsRowsChanged() async throws {
        let worker = try await startWorker()
        let gateway = try await connect(to: worker.address)
        let session = try await open(gateway.remote)
        let local = try await open(worker.embedded)
        // Whatever the in-process worker says for DDL, the remote one says too.
        let localCreate = try await local.run("CREATE TABLE other (a INTEGER)")
        let create = try await session.run("CREATE TABLE t (a INTEGER)")
        XCTAssertEqual(create, localCreate)
        let inserted = try await session.run("INSERT INTO t VALUES (1), (2), (3)")
        XCTAssertEqual(inserted, 3)
        let updated = try await session.run("UPDATE t SET a = a + 10 WHERE a > 1")
        XCTAssertEqual(updated, 2)
        // Several statements: the last one's count.
        let last = try await session.run("INSERT INTO t VALUES (4); DELETE FROM t WHERE a >= 10")
        XCTAssertEqual(last, 2)

        // A prepared INSERT reports its count on the stream.
        let insert = try await session.prepare("INSERT INTO t SELECT * FROM range(5)")
        let stream = try await session.execute(insert, parameters: [])
        XCTAssertEqual(stream.rowsChanged, 5)
        XCTAssertEqual(stream.statementType, .insert)
        _ = try await readAll(stream)
        let count = try await scalar(session, "SELECT count(*)::BIGINT FROM t")
        XCTAssertEqual(count, 7)
    }

    func testPinsFollowTheSessionsStateOnTheWorker() async throws {
        let worker = try await startWorker()
        let gateway = try await connect(to: worker.address)

        let temp = try await open(gateway.remote)
        XCTAssertEqual(temp.pins, [])
        _ = try await temp.run("CREATE TEMP TABLE scratch (a INTEGER)")
        XCTAssertTrue(temp.pins.contains(.temporaryObjects), "\(temp.pins)")

        let transaction = try await open(gateway.remote)
        try await transaction.beginTransaction()
        XCTAssertTrue(transaction.pins.contains(.transaction), "\(transaction.pins)")
        try await transaction.commit()
        XCTAssertFalse(transaction.pins.contains(.transaction))
        // A transaction begun in SQL pins the session just the same.
        _ = try await transaction.run("BEGIN")
        XCTAssertTrue(transaction.pins.contains(.transaction))
        _ = try await transaction.run("ROLLBACK")
        XCTAssertFalse(transaction.pins.contains(.transaction))

        let settings = try await open(gateway.remote)
        _ = try await settings.run("SET TimeZone = 'Europe/Paris'")
        XCTAssertTrue(settings.pins.contains(.settings), "\(settings.pins)")
    }

    func testATransactionsWorkIsSeenOnlyOnceCommitted() async throws {
        let worker = try await startWorker()
        let gateway = try await connect(to: worker.address)
        let writer = try await open(gateway.remote)
        let reader = try await open(gateway.remote)
        _ = try await writer.run("CREATE TABLE t (a INTEGER)")
        try await writer.beginTransaction()
        _ = try await writer.run("INSERT INTO t VALUES (1)")
        let before = try await scalar(reader, "SELECT count(*)::BIGINT FROM t")
        XCTAssertEqual(before, 0)
        try await writer.commit()
        let after = try await scalar(reader, "SELECT count(*)::BIGINT FROM t")
        XCTAssertEqual(after, 1)
        try await writer.beginTransaction()
        _ = try await writer.run("INSERT INTO t VALUES (2)")
        try await writer.rollback()
        let rolledBack = try await scalar(reader, "SELECT count(*)::BIGINT FROM t")
        XCTAssertEqual(rolledBack, 1)
    }

    func testEngineErrorsArriveAsTheErrorsTheWorkerRaised() async throws {
        let worker = try await startWorker()
        let gateway = try await connect(to: worker.address)
        let session = try await open(gateway.remote)
        let local = try await open(worker.embedded)

        // Binding: a catalog error.
        let missing = "SELECT * FROM no_such_table"
        let remoteMissing = await expectError(DuckDBError.self) { _ = try await session.prepare(missing) }
        let localMissing = await expectError(DuckDBError.self) { _ = try await local.prepare(missing) }
        XCTAssertEqual(remoteMissing?.type, .catalog)
        XCTAssertEqual(remoteMissing, localMissing)
        // And through run().
        let ran = await expectError(DuckDBError.self) { _ = try await session.run(missing) }
        XCTAssertEqual(ran?.type, .catalog)

        // Execution: a conversion error raised while running with a parameter.
        let convert = "SELECT $1::INTEGER AS v"
        let remoteHandle = try await session.prepare(convert)
        let localHandle = try await local.prepare(convert)
        let remoteConversion = await expectError(DuckDBError.self) {
            _ = try await readAll(try await session.execute(remoteHandle, parameters: [.varchar("not a number")]))
        }
        let localConversion = await expectError(DuckDBError.self) {
            _ = try await readAll(try await local.execute(localHandle, parameters: [.varchar("not a number")]))
        }
        XCTAssertEqual(remoteConversion?.type, .conversion)
        XCTAssertEqual(remoteConversion, localConversion)

        // The statement screen's refusals, before DuckDB sees the text.
        let unterminated = "SELECT 1 /* never closed"
        let remoteScreen = await expectError(StatementScreen.Rejection.self) { _ = try await session.prepare(unterminated) }
        let localScreen = await expectError(StatementScreen.Rejection.self) { _ = try await local.prepare(unterminated) }
        XCTAssertNotNil(remoteScreen)
        XCTAssertEqual(remoteScreen, localScreen)

        // An error in the middle of the rows, after some have arrived.
        let midway = "SELECT CASE WHEN i = 150000 THEN error('boom') ELSE i END AS v FROM range(200000) t(i)"
        let remoteMidway = await expectError(DuckDBError.self) {
            _ = try await readAll(try await session.execute(try await session.prepare(midway), parameters: []))
        }
        let localMidway = await expectError(DuckDBError.self) {
            _ = try await readAll(try await local.execute(try await local.prepare(midway), parameters: []))
        }
        // DuckDB itself reports such an error from a parallel pipeline either as the error or,
        // when another of its threads notices first, as an interrupt (seen once in a loaded
        // run, locally): both arrive as errors, and the remote one is the worker's own.
        XCTAssertNotNil(remoteMidway)
        XCTAssertNotNil(localMidway)
        XCTAssertTrue([.invalidInput, .interrupt].contains(remoteMidway?.type), "\(String(describing: remoteMidway))")
        if remoteMidway?.type == localMidway?.type {
            XCTAssertEqual(remoteMidway?.message, localMidway?.message)
        }

        // After all that the session still works.
        let one = try await scalar(session, "SELECT 1::BIGINT")
        XCTAssertEqual(one, 1)
    }

    func testAParameterTheWorkerCannotReadIsAnInvalidInputError() async throws {
        // DECIMAL(0,0) is representable in DuckDBValue but not valid: the in-process worker
        // refuses it as invalid input, and so does the worker on the far side of the wire.
        let worker = try await startWorker()
        let gateway = try await connect(to: worker.address)
        let session = try await open(gateway.remote)
        let local = try await open(worker.embedded)
        let sql = "SELECT $1 AS v"
        let bad = DuckDBValue.decimal(unscaled: 1, width: 0, scale: 0)
        let remoteError = await expectError(DuckDBError.self) {
            _ = try await readAll(try await session.execute(try await session.prepare(sql), parameters: [bad]))
        }
        let localError = await expectError(DuckDBError.self) {
            _ = try await readAll(try await local.execute(try await local.prepare(sql), parameters: [bad]))
        }
        XCTAssertEqual(remoteError?.type, .invalidInput)
        XCTAssertEqual(remoteError?.type, localError?.type)
    }

    func testLoadArrowCreatesATableAndRefusesAnExistingOne() async throws {
        let worker = try await startWorker()
        let gateway = try await connect(to: worker.address)
        let session = try await open(gateway.remote)
        let schema = Schema([Field("id", .int(bitWidth: 64, signed: true)), Field("name", .utf8)])
        let batch = RecordBatch(
            schema: schema, columns: [Columns.int64([1, 2, nil]), Columns.utf8(["a", nil, "ccc"])], length: 3)
        let request = ArrowLoadRequest(catalog: nil, schema: nil, table: "loaded", temporary: false, ifExists: .fail,
                                       ifMissing: .create, arrowSchema: schema)
        let load = try await session.loadArrow(request)
        try await load.append(batch)
        try await load.append(batch)
        let rows = try await load.finish()
        XCTAssertEqual(rows, 6)

        let count = try await scalar(session, "SELECT count(*)::BIGINT FROM loaded")
        XCTAssertEqual(count, 6)
        let ids = try await scalar(session, "SELECT sum(id)::BIGINT FROM loaded")
        XCTAssertEqual(ids, 6)
        let names = try await scalar(session, "SELECT sum(length(name))::BIGINT FROM loaded")
        XCTAssertEqual(names, 8)
        let nulls = try await scalar(session, "SELECT count(*)::BIGINT FROM loaded WHERE name IS NULL AND id = 2")
        XCTAssertEqual(nulls, 2)

        // The conflict is raised when the load begins, as in process, and is the same error.
        let remoteConflict = await expectError(LoadError.self) { _ = try await session.loadArrow(request) }
        let local = try await worker.embedded.openSession(SessionOptions(user: "u"))
        let localConflict = await expectError(LoadError.self) { _ = try await local.loadArrow(request) }
        await local.close()
        guard case .tableExists = remoteConflict else { return XCTFail("\(String(describing: remoteConflict))") }
        XCTAssertEqual(remoteConflict, localConflict)
        XCTAssertEqual(session.pins, [], "a refused load leaves no transaction open")

        // Appending to it instead works.
        var append = request
        append.ifExists = .append
        let more = try await session.loadArrow(append)
        try await more.append(batch)
        let appended = try await more.finish()
        XCTAssertEqual(appended, 3)
        let total = try await scalar(session, "SELECT count(*)::BIGINT FROM loaded")
        XCTAssertEqual(total, 9)
    }

    func testLoadArrowIntoATemporaryTablePinsTheSession() async throws {
        let worker = try await startWorker()
        let gateway = try await connect(to: worker.address)
        let session = try await open(gateway.remote)
        let schema = Schema([Field("v", .int(bitWidth: 64, signed: true))])
        let load = try await session.loadArrow(ArrowLoadRequest(
            catalog: nil, schema: nil, table: "tmp", temporary: true, ifExists: .fail, ifMissing: .create, arrowSchema: schema))
        try await load.append(RecordBatch(schema: schema, columns: [Columns.int64([5, 6])], length: 2))
        let rows = try await load.finish()
        XCTAssertEqual(rows, 2)
        XCTAssertTrue(session.pins.contains(.temporaryObjects), "\(session.pins)")
        let sum = try await scalar(session, "SELECT sum(v)::BIGINT FROM tmp")
        XCTAssertEqual(sum, 11)
    }

    func testAnAbortedLoadLeavesNoTable() async throws {
        // Dropping a load (a client's cancelled ingest) must never commit it: the load ran in a
        // transaction of its own, so even the table it created is gone. Several rounds: the
        // worker must not take the end of the gateway's data for the end of the load.
        let worker = try await startWorker()
        let gateway = try await connect(to: worker.address)
        let session = try await open(gateway.remote)
        let schema = Schema([Field("v", .int(bitWidth: 64, signed: true))])
        let batch = RecordBatch(schema: schema, columns: [Columns.int64([1])], length: 1)
        var committed: [Int] = []
        for round in 0..<30 {
            let table = "dropped_\(round)"
            let load = try await session.loadArrow(ArrowLoadRequest(
                catalog: nil, schema: nil, table: table, temporary: false, ifExists: .fail, ifMissing: .create,
                arrowSchema: schema))
            try await load.append(batch)
            await load.abort()
            do {
                _ = try await session.run("SELECT * FROM \(table)")
                committed.append(round)
            } catch let error as DuckDBError {
                XCTAssertEqual(error.type, .catalog, "round \(round)")
            }
        }
        XCTAssertEqual(committed, [], "rounds whose aborted load was committed anyway")
    }

    func testAnAbortedAppendAddsNoRows() async throws {
        // Appending to an existing table and then dropping the load adds nothing, in process
        // and remote alike (and nothing turns up later either).
        let worker = try await startWorker()
        let gateway = try await connect(to: worker.address)
        let remote = try await open(gateway.remote)
        let local = try await open(worker.embedded)
        let schema = Schema([Field("v", .int(bitWidth: 64, signed: true))])
        let batch = RecordBatch(schema: schema, columns: [Columns.int64([1, 2, 3])], length: 3)
        for (name, session) in [("in process", local), ("remote", remote)] {
            let table = name == "remote" ? "appended_remote" : "appended_local"
            _ = try await session.run("CREATE TABLE \(table) (v BIGINT)")
            for round in 0..<5 {
                do {
                    let load = try await session.loadArrow(ArrowLoadRequest(
                        catalog: nil, schema: nil, table: table, temporary: false, ifExists: .append, ifMissing: .fail,
                        arrowSchema: schema))
                    try await load.append(batch)
                    await load.abort()
                }
                let count = try await scalar(session, "SELECT count(*)::BIGINT FROM \(table)")
                XCTAssertEqual(count, 0, "\(name), round \(round): rows of aborted loads in the table")
                if count != 0 { break }
            }
        }
    }

    func testAnAbortedCSVLoadLeavesNothing() async throws {
        // A COPY FROM STDIN the client cancels (CopyFail) loads no rows.
        let worker = try await startWorker()
        let gateway = try await connect(to: worker.address)
        let session = try await open(gateway.remote)
        _ = try await session.run("CREATE TABLE copied (n INTEGER)")
        let request = CSVLoadRequest(table: "copied", columns: [], header: false, delimiter: UInt8(ascii: ","),
                                     quote: UInt8(ascii: "\""), escape: UInt8(ascii: "\""), null: "")
        for round in 0..<30 {
            let load = try await session.loadCSV(request)
            try await load.write(Array("1\n2\n".utf8))
            await load.abort()
            let count = try await scalar(session, "SELECT count(*)::BIGINT FROM copied")
            XCTAssertEqual(count, 0, "round \(round): the aborted COPY's rows were loaded")
            if count != 0 { break }
        }
    }

    func testALoadInsideATransactionLeavesTheSessionPinned() async throws {
        // The gateway's pins are what the worker last reported. A load inside a client
        // transaction changes nothing about the transaction, so .transaction must stay set
        // while the load runs and after it is dropped, as in process: front doors report the
        // transaction status from it.
        let worker = try await startWorker()
        let gateway = try await connect(to: worker.address)
        let remote = try await open(gateway.remote)
        let local = try await open(worker.embedded)
        let schema = Schema([Field("v", .int(bitWidth: 64, signed: true))])
        let batch = RecordBatch(schema: schema, columns: [Columns.int64([1, 2])], length: 2)
        _ = try await remote.run("CREATE TABLE target (v BIGINT)")
        for (name, session) in [("in process", local), ("remote", remote)] {
            try await session.beginTransaction()
            let load = try await session.loadArrow(ArrowLoadRequest(
                catalog: nil, schema: nil, table: "target", temporary: false, ifExists: .append, ifMissing: .fail,
                arrowSchema: schema))
            XCTAssertTrue(session.pins.contains(.transaction), "\(name): pins while loading are \(session.pins)")
            try await load.append(batch)
            await load.abort()
            XCTAssertTrue(session.pins.contains(.transaction), "\(name): pins after an aborted load are \(session.pins)")
            try await session.rollback()
            XCTAssertFalse(session.pins.contains(.transaction), name)
        }
    }

    func testALoadThatFailsPartWayRaisesTheEnginesError() async throws {
        // Duplicates of a primary key fail while the appender flushes, with rows still
        // arriving: the gateway must raise DuckDB's error, not call the worker unreachable.
        let worker = try await startWorker()
        let gateway = try await connect(to: worker.address)
        let remote = try await open(gateway.remote)
        let local = try await open(worker.embedded)
        _ = try await remote.run("CREATE TABLE keyed (v BIGINT PRIMARY KEY)")
        let schema = Schema([Field("v", .int(bitWidth: 64, signed: true))])
        let duplicates = RecordBatch(schema: schema, columns: [Columns.int64(Array(repeating: 1, count: 50_000))], length: 50_000)
        let request = ArrowLoadRequest(catalog: nil, schema: nil, table: "keyed", temporary: false, ifExists: .append,
                                       ifMissing: .fail, arrowSchema: schema)
        func failure(_ session: any WorkerSession) async -> (any Error)? {
            do {
                let load = try await session.loadArrow(request)
                for _ in 0..<4 { try await load.append(duplicates) }
                _ = try await load.finish()
                return nil
            } catch {
                return error
            }
        }
        let localError = await failure(local)
        let remoteError = await failure(remote)
        let expected = try XCTUnwrap(localError as? DuckDBError, "in process: \(String(describing: localError))")
        let got = try XCTUnwrap(remoteError as? DuckDBError, "remote: \(String(describing: remoteError))")
        XCTAssertEqual(got.type, expected.type)
        XCTAssertTrue(gateway.remote.isHealthy)
        let count = try await scalar(remote, "SELECT count(*)::BIGINT FROM keyed")
        XCTAssertEqual(count, 0, "the failed load left nothing")
    }

    func testLoadCSVFillsATable() async throws {
        let worker = try await startWorker()
        let gateway = try await connect(to: worker.address)
        let session = try await open(gateway.remote)
        _ = try await session.run("CREATE TABLE people (id INTEGER, name VARCHAR)")
        let load = try await session.loadCSV(CSVLoadRequest(
            table: "people", columns: [], header: true, delimiter: UInt8(ascii: ","), quote: UInt8(ascii: "\""),
            escape: UInt8(ascii: "\""), null: ""))
        let text = Array("id,name\n1,ann\n2,\"b, with comma\"\n3,\n".utf8)
        // Bytes in any split, even mid-line.
        for chunk in stride(from: 0, to: text.count, by: 7) {
            try await load.write(Array(text[chunk..<min(chunk + 7, text.count)]))
        }
        let rows = try await load.finish()
        XCTAssertEqual(rows, 3)
        let count = try await scalar(session, "SELECT count(*)::BIGINT FROM people")
        XCTAssertEqual(count, 3)
        let comma = try await scalar(session, "SELECT count(*)::BIGINT FROM people WHERE name = 'b, with comma'")
        XCTAssertEqual(comma, 1)
        let nulls = try await scalar(session, "SELECT count(*)::BIGINT FROM people WHERE name IS NULL")
        XCTAssertEqual(nulls, 1)
    }

    func testABadCSVFailsAtFinishWithTheEnginesError() async throws {
        let worker = try await startWorker()
        let gateway = try await connect(to: worker.address)
        let session = try await open(gateway.remote)
        _ = try await session.run("CREATE TABLE nums (n INTEGER)")
        let request = CSVLoadRequest(table: "nums", columns: [], header: false, delimiter: UInt8(ascii: ","),
                                     quote: UInt8(ascii: "\""), escape: UInt8(ascii: "\""), null: "")
        let load = try await session.loadCSV(request)
        try await load.write(Array("1\nnot a number\n".utf8))
        let error = await expectError(DuckDBError.self) { _ = try await load.finish() }
        XCTAssertNotNil(error)
        XCTAssertFalse(error?.message.contains("tavana-copy") ?? true, "the spool file stays out of the message")
        let count = try await scalar(session, "SELECT count(*)::BIGINT FROM nums")
        XCTAssertEqual(count, 0)
    }

    func testInterruptEndsALongQuery() async throws {
        let worker = try await startWorker()
        let gateway = try await connect(to: worker.address)
        let session = try await open(gateway.remote)
        // Hours of work, unless interrupted.
        let handle = try await session.prepare("SELECT sum(i) AS s FROM range(1000000000000) t(i)")
        let done = Flag()
        let query = Task {
            defer { done.set() }
            _ = try await readAll(try await session.execute(handle, parameters: []))
        }
        let running = await eventually(within: .seconds(10)) { worker.endpoint.slots.snapshot.running == 1 }
        XCTAssertTrue(running)
        // An interrupt that arrives before DuckDB has begun has nothing to stop; give it a moment.
        try await Task.sleep(for: .milliseconds(300))
        XCTAssertFalse(done.isSet, "the query cannot have finished by itself")
        let clock = ContinuousClock()
        let interrupted = clock.now
        session.interrupt()
        let ended = await eventually(within: .seconds(15)) { done.isSet }
        if !ended {
            XCTFail("the query went on after the interrupt")
            query.cancel()
        }
        let error = await expectError(DuckDBError.self) { try await query.value }
        XCTAssertEqual(error?.type, .interrupt)
        XCTAssertLessThan(clock.now - interrupted, .seconds(15))
        let after = try await scalar(session, "SELECT 7::BIGINT")
        XCTAssertEqual(after, 7, "the interrupted session goes on")
    }

    func testAnInterruptWhileTheCallWaitsForASlotKeepsItsQueryFromRunning() async throws {
        // DuckDB forgets an interrupt that comes before its query begins: a call that is still
        // waiting for the worker's slot when the gateway gives up must not start its query
        // afterwards (it would run for hours, holding the slot, for nobody).
        let worker = try await startWorker(slots: 1)
        let gateway = try await connect(to: worker.address)
        let busy = try await open(gateway.remote)
        let long = try await busy.prepare("SELECT sum(i) AS s FROM range(1000000000000) t(i)")
        let first = Task { _ = try await readAll(try await busy.execute(long, parameters: [])) }
        let running = await eventually(within: .seconds(10)) { worker.endpoint.slots.snapshot.running == 1 }
        XCTAssertTrue(running)
        let waiting = try await open(gateway.remote)
        let second = try await waiting.prepare("SELECT sum(i) AS s FROM range(1000000000000) t(i)")
        let done = Flag()
        let queued = Task {
            defer { done.set() }
            _ = try await readAll(try await waiting.execute(second, parameters: []))
        }
        let isQueued = await eventually(within: .seconds(10)) { worker.endpoint.slots.snapshot.queued == 1 }
        XCTAssertTrue(isQueued, "the second call waits for the slot")
        waiting.interrupt()
        try await Task.sleep(for: .milliseconds(300))
        busy.interrupt()
        _ = try? await first.value
        let ended = await eventually(within: .seconds(10)) { done.isSet }
        if !ended {
            XCTFail("the interrupted call ran its query once it got the slot")
            waiting.interrupt()
        }
        let error = await expectError(DuckDBError.self) { try await queued.value }
        XCTAssertEqual(error?.type, .interrupt)
        let freed = await eventually(within: .seconds(10)) { worker.endpoint.slots.snapshot.running == 0 }
        XCTAssertTrue(freed)
        let after = try await scalar(waiting, "SELECT 9::BIGINT")
        XCTAssertEqual(after, 9, "the next statement of the interrupted session runs")
    }

    func testWhatTheGatewayAdmitsWithoutASlotTakesNoneOnTheWorker() async throws {
        // The gateway lets transaction control and settings pass its queue (`AdmissionRule`);
        // the worker must agree, or a BEGIN waits here behind the query holding the only slot
        // while the gateway believes it is not queued at all.
        let worker = try await startWorker(slots: 1)
        let gateway = try await connect(to: worker.address)
        let busy = try await open(gateway.remote)
        let long = try await busy.prepare("SELECT sum(i) AS s FROM range(1000000000000) t(i)")
        let query = Task { _ = try await readAll(try await busy.execute(long, parameters: [])) }
        let running = await eventually(within: .seconds(10)) { worker.endpoint.slots.snapshot.running == 1 }
        XCTAssertTrue(running)
        let other = try await open(gateway.remote)
        let done = Flag()
        let control = Task {
            defer { done.set() }
            for sql in ["BEGIN", "SET TimeZone = 'UTC'", "COMMIT"] {
                let handle = try await other.prepare(sql)
                _ = try await readAll(try await other.execute(handle, parameters: []))
                await other.closeStatement(handle)
            }
        }
        let answered = await eventually(within: .seconds(10)) { done.isSet }
        XCTAssertTrue(answered, "transaction control waited for the busy slot")
        if answered { try await control.value } else { control.cancel() }
        // A query still waits for the slot.
        let select = try await other.prepare("SELECT 1")
        let waiting = Flag()
        let queued = Task {
            defer { waiting.set() }
            _ = try await readAll(try await other.execute(select, parameters: []))
        }
        try await Task.sleep(for: .milliseconds(500))
        XCTAssertFalse(waiting.isSet, "a query ran while the only slot was busy")
        busy.interrupt()
        _ = try? await query.value
        let ran = await eventually(within: .seconds(10)) { waiting.isSet }
        XCTAssertTrue(ran)
        try await queued.value
    }

    func testCancellingAnExecuteStopsTheQueryOnTheWorker() async throws {
        // A client that goes away cancels its call; the worker must interrupt DuckDB rather
        // than leave it running for nobody, holding a slot and the session's turn.
        let worker = try await startWorker()
        let gateway = try await connect(to: worker.address)
        let session = try await open(gateway.remote)
        let handle = try await session.prepare("SELECT sum(i) AS s FROM range(1000000000000) t(i)")
        let query = Task { _ = try await readAll(try await session.execute(handle, parameters: [])) }
        try await assertCancellingStopsTheWorker(query, worker, session)
    }

    func testCancellingARunStopsTheQueryOnTheWorker() async throws {
        let worker = try await startWorker()
        let gateway = try await connect(to: worker.address)
        let session = try await open(gateway.remote)
        let query = Task { _ = try await session.run("CREATE TABLE never AS SELECT sum(i) AS s FROM range(1000000000000) t(i)") }
        try await assertCancellingStopsTheWorker(query, worker, session)
    }

    /// Cancels `query` once the worker runs it and expects the worker to stop it (its slot
    /// freed) and the session to go on.
    func assertCancellingStopsTheWorker(
        _ query: Task<Void, any Error>, _ worker: LocalWorker, _ session: any WorkerSession, line: UInt = #line
    ) async throws {
        let running = await eventually(within: .seconds(10)) { worker.endpoint.slots.snapshot.running == 1 }
        XCTAssertTrue(running, line: line)
        // Let DuckDB get going, so that there is something to interrupt.
        try await Task.sleep(for: .milliseconds(300))
        query.cancel()
        let outcome = await query.result
        XCTAssertThrowsError(try outcome.get(), "the cancelled call must fail", line: line)
        let freed = await eventually(within: .seconds(10)) { worker.endpoint.slots.snapshot.running == 0 }
        XCTAssertTrue(freed, "the worker kept running the abandoned query", line: line)
        guard freed else {
            // Stop it by hand, or the session's turn stays taken for hours and teardown waits.
            session.interrupt()
            _ = await eventually(within: .seconds(15)) { worker.endpoint.slots.snapshot.running == 0 }
            return
        }
        let after = try await scalar(session, "SELECT 8::BIGINT")
        XCTAssertEqual(after, 8, line: line)
    }

    func testVocabularyIsTheWorkersOwn() async throws {
        let worker = try await startWorker()
        let gateway = try await connect(to: worker.address)
        let vocabulary = try await gateway.remote.vocabulary()
        XCTAssertFalse(vocabulary.keywords.isEmpty)
        XCTAssertTrue(vocabulary.keywords.contains { $0.uppercased() == "SELECT" })
        let local = try await worker.embedded.vocabulary()
        XCTAssertEqual(vocabulary, local)
    }

    func testSessionsAreCountedOnTheWorkerAndClosedThere() async throws {
        let worker = try await startWorker()
        let gateway = try await connect(to: worker.address)
        let a = try await open(gateway.remote)
        let b = try await open(gateway.remote)
        XCTAssertEqual(worker.endpoint.sessionCount, 2)
        XCTAssertEqual(gateway.remote.openSessions, 2)
        await a.close()
        await a.close()
        XCTAssertEqual(worker.endpoint.sessionCount, 1)
        XCTAssertEqual(gateway.remote.openSessions, 1, "a second close counts once")
        let error = await expectError(WorkerUnavailable.self) { _ = try await a.run("SELECT 1") }
        XCTAssertNotNil(error, "a closed session is gone on the worker")
        _ = try await b.run("SELECT 1")
    }

    func testAnotherGatewayCannotUseASession() async throws {
        // Session ids are small numbers; a gateway naming another's must be refused.
        let worker = try await startWorker()
        let mine = try await connect(to: worker.address, as: GatewayName(id: "g1", epoch: 1))
        let theirs = try await connect(to: worker.address, as: GatewayName(id: "g2", epoch: 1))
        let session = try await open(mine.remote)
        _ = try await open(theirs.remote)
        XCTAssertEqual(worker.endpoint.sessionCount, 2)
        // The other gateway's heartbeat must not close this gateway's sessions either.
        let hello = await theirs.remote.hello()
        XCTAssertTrue(hello)
        XCTAssertEqual(worker.endpoint.sessionCount, 2)
        _ = try await session.run("SELECT 1")
    }

    func testARestartedGatewaysFirstCallClosesItsEarlierSessions() async throws {
        let worker = try await startWorker()
        let before = try await connect(to: worker.address, as: GatewayName(id: "g1", epoch: 1))
        let old = try await open(before.remote)
        _ = try await old.run("CREATE TEMP TABLE mine (a INTEGER)")
        let stranger = try await connect(to: worker.address, as: GatewayName(id: "g2", epoch: 1))
        let unrelated = try await open(stranger.remote)
        XCTAssertEqual(worker.endpoint.sessionCount, 2)

        // The same gateway, restarted: its first hello closes what the earlier run left.
        _ = try await connect(to: worker.address, as: GatewayName(id: "g1", epoch: 2))
        XCTAssertEqual(worker.endpoint.sessionCount, 1, "only the other gateway's session is left")

        let error = await expectError(WorkerUnavailable.self) { _ = try await old.run("SELECT * FROM mine") }
        XCTAssertNotNil(error)
        let hello = await before.remote.hello()
        XCTAssertFalse(hello, "the old epoch's heartbeat is refused")
        _ = await expectError(WorkerUnavailable.self) { _ = try await before.remote.openSession(SessionOptions(user: "u")) }
        _ = try await unrelated.run("SELECT 1")
    }

    func testTheSessionsOfASilentGatewayExpire() async throws {
        let worker = try await startWorker(sessionTTL: .seconds(1))
        // One heartbeat when it starts and then silence (the connection itself stays up).
        let gateway = try await connect(to: worker.address, heartbeat: .seconds(3600), waitForHealth: false)
        let hello = await gateway.remote.hello()
        XCTAssertTrue(hello)
        let session = try await open(gateway.remote)
        _ = try await session.run("SELECT 1")

        // Not yet: the gateway spoke just now.
        await worker.endpoint.expireOrphans(now: .now)
        XCTAssertEqual(worker.endpoint.sessionCount, 1)
        await worker.endpoint.expireOrphans(now: .now + .seconds(5))
        XCTAssertEqual(worker.endpoint.sessionCount, 0)

        let error = await expectError(WorkerUnavailable.self) { _ = try await session.run("SELECT 1") }
        XCTAssertNotNil(error)
        // The gateway itself is welcome back, with new sessions.
        let fresh = try await open(gateway.remote)
        _ = try await fresh.run("SELECT 1")
    }

    func testADrainingWorkerOpensNoSessionsButServesItsOwn() async throws {
        let worker = try await startWorker()
        let gateway = try await connect(to: worker.address)
        let session = try await open(gateway.remote)
        worker.endpoint.beginDrain()
        let error = await expectError(WorkerUnavailable.self) { _ = try await gateway.remote.openSession(SessionOptions(user: "u")) }
        XCTAssertNotNil(error)
        _ = await gateway.remote.hello()
        XCTAssertEqual(gateway.remote.load?.draining, true)
        XCTAssertFalse(gateway.remote.isHealthy, "a draining worker gets no new sessions")
        let one = try await scalar(session, "SELECT 1::BIGINT")
        XCTAssertEqual(one, 1)
    }

    func testAStoppedWorkerFailsTheSessionsCallsPromptly() async throws {
        let worker = try await startWorker()
        let gateway = try await connect(to: worker.address)
        let session = try await open(gateway.remote)
        await worker.stopServing()
        let clock = ContinuousClock()
        let started = clock.now
        let error = await expectError(WorkerUnavailable.self) { _ = try await session.run("SELECT 1") }
        XCTAssertNotNil(error)
        XCTAssertLessThan(clock.now - started, .seconds(10))
        XCTAssertFalse(gateway.remote.isHealthy)
    }
}
