import TestSupport
import XCTest

@testable import Worker

final class StatementScreenTests: XCTestCase {
    let screen = StatementScreen(maxBytes: 1 << 20)

    func testPlainStatementsPassUnchanged() throws {
        for sql in ["SELECT 1", "SELECT 2 * 3 / 4", "SELECT '/*'", "SELECT $$ /* $$", "SELECT \"/*x\" FROM t", "-- /* line\nSELECT 1",
                    "SELECT E'\\' /*'", "SELECT $a$ /* $b$ */ $a$"] {
            XCTAssertEqual(try screen.screen(sql), sql, sql)
        }
    }

    func testBlockCommentsBecomeSpacesKeepingLinesAndCharacters() throws {
        XCTAssertEqual(try screen.screen("SELECT /* c */ 1"), "SELECT         1")
        let nested = "/* a /* b */ c */"
        XCTAssertEqual(try screen.screen("SELECT \(nested) 1"), "SELECT " + String(repeating: " ", count: nested.count) + " 1")
        XCTAssertEqual(try screen.screen("SELECT /* é\nx */ 1"), "SELECT     \n     1")
        XCTAssertEqual(try screen.screen("SELECT 1 " + String(repeating: "/**/", count: 3)), "SELECT 1 " + String(repeating: " ", count: 12))
        let sql = "SELECT /* ü */ nosuch"
        let screened = try screen.screen(sql)
        XCTAssertEqual(screened.count, sql.count)
        XCTAssertEqual(screened.firstIndex(of: "n").map { screened.distance(from: screened.startIndex, to: $0) },
                       sql.firstIndex(of: "n").map { sql.distance(from: sql.startIndex, to: $0) })
    }

    func testUnterminatedCommentIsRejectedWithItsPosition() {
        XCTAssertThrowsError(try screen.screen("SELECT é /* a /* b */")) { error in
            guard case .unterminatedComment(let position, let near) = error as? StatementScreen.Rejection else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(position, 10)
            XCTAssertEqual(near, "/* a /* b */")
        }
        XCTAssertThrowsError(try screen.screen(String(repeating: "/*", count: 100_000)))
        XCTAssertThrowsError(try screen.screen("SELECT 1 " + String(repeating: "*/", count: 1000)))
    }

    func testUnterminatedLiteralsAreLeftToDuckDB() throws {
        for sql in ["SELECT 'abc", "SELECT \"abc", "SELECT $x$ abc", "SELECT E'\\'"] {
            XCTAssertEqual(try screen.screen(sql), sql)
        }
    }

    func testLengthLimit() {
        let small = StatementScreen(maxBytes: 10)
        XCTAssertNoThrow(try small.screen("SELECT 123"))
        XCTAssertThrowsError(try small.screen("SELECT 1234")) { error in
            XCTAssertEqual(error as? StatementScreen.Rejection, .tooLong(bytes: 11, limit: 10))
        }
        // Bytes, not characters.
        XCTAssertThrowsError(try small.screen("SELECT 'é'"))
    }

    func testLongDollarTagsAndManyDollarsStayLinear() throws {
        // A long tag and a body full of near-misses: each `$` compares only up to a mismatch.
        let tag = "$" + String(repeating: "t", count: 5_000) + "$"
        let body = String(repeating: "$" + String(repeating: "t", count: 4_999), count: 200)
        let sql = "SELECT " + tag + body + " /* " + tag + " /* 1"
        XCTAssertThrowsError(try screen.screen(sql))  // the closing tag ends the quote; then an unterminated comment
        XCTAssertEqual(StatementScreen.endOfDollarQuote(Array("$1 /* */".utf8), from: 0), 1)
        XCTAssertEqual(StatementScreen.endOfDollarQuote(Array("a$b$ x".utf8), from: 1), 2)
    }

    func testCopyToWithANonASCIIDelimiterIsRefused() {
        for sql in ["COPY (SELECT 1) TO '/tmp/o.csv' (DELIMITER 'é')", "COPY t TO 'o.csv' WITH (FORMAT csv, DELIM = 'é')",
                    "copy t to 'o.csv' (sep '€')", "EXPORT DATABASE 'd' (FORMAT csv, DELIMITER E'é')",
                    "COPY t TO 'o.csv' (DELIMITER $$é$$)", "COPY /* c */ t TO 'o.csv' (SEPARATOR 'é')"] {
            XCTAssertThrowsError(try screen.screen(sql), sql) { error in
                guard case .unsupported? = error as? StatementScreen.Rejection else { return XCTFail("\(error)") }
            }
        }
        for sql in ["COPY t FROM 'in.csv' (DELIMITER 'é')", "COPY t TO 'o.csv' (DELIMITER 'ab')", "COPY t TO 'o.csv' (DELIMITER 'aé')",
                    "COPY t TO 'é.csv' (QUOTE '\"')", "SELECT 'COPY t TO x (DELIMITER é)'", "COPY (SELECT 'é' AS delimiter) TO 'o.csv'"] {
            XCTAssertNoThrow(try screen.screen(sql), sql)
        }
    }

    /// Random statements built from the pieces that matter: every output has the input's
    /// length in characters and line breaks, and contains no `/*` outside literals.
    func testRandomPiecesKeepShape() throws {
        var rng = SplitMix(seed: 20261201)
        let pieces = ["SELECT ", "1", " ", "/*", "*/", "'", "''", "\"", "$$", "$q$", "--", "\n", "é", "E'", "\\", "x", ";"]
        for _ in 0..<5_000 {
            let sql = (0..<Int.random(in: 1...30, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }.joined()
            guard let out = try? screen.screen(sql) else { continue }
            XCTAssertEqual(out.count, sql.count, sql)
            XCTAssertEqual(out.filter { $0 == "\n" }.count, sql.filter { $0 == "\n" }.count, sql)
        }
    }
}
