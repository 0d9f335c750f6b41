import Foundation
import Scheduler
import XCTest

@testable import TavanaServer

final class ConfigurationTests: XCTestCase {
    func file(_ json: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tavana-\(UUID().uuidString).json").path
        try Data(json.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    func testFlagsOverrideEnvironmentWhichOverridesTheFileWhichOverridesDefaults() throws {
        var c = ServerConfiguration()
        XCTAssertEqual(c.postgres.port, 5432)
        try c.apply(configFile: try file(#"{"pgPort": 6000, "flightPort": "6001", "workers": 3, "database": "/data/a.duckdb"}"#))
        XCTAssertEqual([c.postgres.port, c.flight.port, c.admission.slots], [6000, 6001, 3])
        try c.apply(environment: ["TAVANA_PG_PORT": "7000", "TAVANA_DATABASE": "/data/b.duckdb", "TAVANA_UNRELATED": "x"])
        XCTAssertEqual(c.postgres.port, 7000)
        XCTAssertEqual(c.flight.port, 6001, "the environment leaves what it does not set")
        try c.apply(["pgPort": "8000"])
        XCTAssertEqual(c.postgres.port, 8000)
        XCTAssertEqual(c.engine.database, "/data/b.duckdb")
    }

    func testObjectStorageSettingsFromTheFileAndTheEnvironment() throws {
        var c = ServerConfiguration()
        try c.apply(configFile: try file(#"{"objectStorageEndpoint": "http://minio:9000", "objectStorageBucket": "lake"}"#))
        try c.apply(environment: [
            "TAVANA_OBJECT_STORAGE_REGION": "eu-central-1", "TAVANA_OBJECT_STORAGE_USE_SSL": "false",
            "TAVANA_OBJECT_STORAGE_URL_STYLE": "vhost", "AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "secret",
        ])
        XCTAssertEqual(c.objectStorage.endpoint, "http://minio:9000")
        XCTAssertEqual(c.objectStorage.bucket, "lake")
        XCTAssertEqual(c.objectStorage.region, "eu-central-1")
        XCTAssertEqual(c.objectStorage.urlStyle, "vhost")
        XCTAssertEqual(c.objectStorage.useSSL, false)
        XCTAssertEqual(c.objectStorage.credentials.aws, .keys(id: "id", secret: "secret", token: nil))
        XCTAssertEqual(c.workerConfiguration().objectStorage, c.objectStorage, "workers get them")
        XCTAssertThrowsError(try c.apply(environment: ["TAVANA_OBJECT_STORAGE_USE_SSL": "maybe"]))
        XCTAssertThrowsError(try c.apply(environment: ["TAVANA_OBJECT_STORAGE_URL_STYLE": "sideways"]))
        // Keys belong in the environment (a Secret), not in a config file.
        XCTAssertThrowsError(try c.apply(configFile: try file(#"{"awsSecretAccessKey": "x"}"#)))
    }

    func testReadOnlyAttachmentsAndStartUpSQLRunOnEveryWorkerInThatOrder() throws {
        var c = ServerConfiguration()
        let sqlFile = try file("CREATE MACRO twice(x) AS x * 2;\nCREATE VIEW v2 AS SELECT twice(21) AS n;")
        try c.apply(configFile: try file(#"""
            {"attach": {"ref": "s3://bucket/it's/ref.duckdb", "local_db": "/data/local.duckdb"},
             "startupSql": ["CREATE VIEW people AS SELECT * FROM ref.people"], "startupSqlFile": "\#(sqlFile)"}
            """#))
        XCTAssertEqual(c.workerConfiguration().startup, [
            "ATTACH '/data/local.duckdb' AS \"local_db\" (READ_ONLY)",
            "ATTACH 's3://bucket/it''s/ref.duckdb' AS \"ref\" (READ_ONLY)",
            "CREATE VIEW people AS SELECT * FROM ref.people",
            "CREATE MACRO twice(x) AS x * 2;\nCREATE VIEW v2 AS SELECT twice(21) AS n;",
        ], "attachments in name order, then the statements, then the file")
        XCTAssertEqual(c.workerConfiguration().sessionSetup, [], "without a shared catalog the views are in the default database")
        // With the shared catalog as the sessions' default, the worker's own database stays on
        // the search path, so the views and macros are found by their names.
        try c.apply(environment: ["TAVANA_DUCKLAKE_METADATA": "postgres:dbname=lake"])
        let worker = c.workerConfiguration()
        XCTAssertEqual(worker.startup.first, "ATTACH 'ducklake:postgres:dbname=lake' AS lake", "the shared catalog first: views may use it")
        XCTAssertEqual(worker.sessionSetup, ["USE lake", "SET search_path = 'lake.main,memory.main'"])
        c.engine.database = "/data/ref-2.duckdb"
        XCTAssertEqual(c.workerConfiguration().sessionSetup.last, "SET search_path = 'lake.main,ref-2.main'")

        // The environment's forms.
        var e = ServerConfiguration()
        try e.apply(environment: ["TAVANA_ATTACH": "a=s3://b/a.duckdb, b = gs://b/b.duckdb", "TAVANA_STARTUP_SQL": "SELECT 1; SELECT 2"])
        XCTAssertEqual(e.engine.attachments, ["a": "s3://b/a.duckdb", "b": "gs://b/b.duckdb"])
        XCTAssertEqual(e.engine.startupSQL, ["SELECT 1; SELECT 2"])

        // Delta tables: read afresh by every query, or pinned to the snapshot read at start.
        var d = ServerConfiguration()
        try d.apply(environment: ["TAVANA_ATTACH": "sales=delta:s3://b/sales,codes=delta-pinned: az://c/codes"])
        XCTAssertEqual(d.workerConfiguration().startup, [
            "ATTACH 'az://c/codes' AS \"codes\" (TYPE delta, PIN_SNAPSHOT, READ_ONLY)",
            "SELECT * FROM \"codes\" LIMIT 0",
            "ATTACH 's3://b/sales' AS \"sales\" (TYPE delta, READ_ONLY)",
        ])

        // Names that would clash with the sessions' own, or break the statement, are refused.
        for bad in ["a=delta:", "a=delta-pinned: ", "a=", "=s3://x", "1st=s3://x", "lake=s3://x", "memory=s3://x", "a-b=s3://x", "a\"b=s3://x", "noequals"] {
            var b = ServerConfiguration()
            XCTAssertThrowsError(try b.apply(environment: ["TAVANA_ATTACH": bad]), bad)
        }
        var missing = ServerConfiguration()
        XCTAssertThrowsError(try missing.apply(environment: ["TAVANA_STARTUP_SQL_FILE": "/nonexistent/startup.sql"]))
    }

    func testWebIdentityIsUsedOnlyWithoutStaticKeysAndItsTimesAreChecked() throws {
        var c = ServerConfiguration()
        let irsa = ["AWS_ROLE_ARN": "arn:aws:iam::1:role/r", "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/token"]
        try c.apply(environment: irsa)
        XCTAssertEqual(c.webIdentity?.endpoint, "https://sts.us-east-1.amazonaws.com")
        XCTAssertEqual(c.webIdentity?.durationSeconds, 3600)
        try c.apply(["objectStorageRegion": "eu-north-1"])
        XCTAssertEqual(c.webIdentity?.endpoint, "https://sts.eu-north-1.amazonaws.com", "the region given later still counts")
        try c.apply(environment: irsa.merging(["AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "s"]) { a, _ in a })
        XCTAssertNil(c.webIdentity, "static keys win")
        XCTAssertFalse(c.cloudCredentials.platformEnvironment.keys.contains("AWS_SECRET_ACCESS_KEY"), "no secret is kept")
        for bad in [["TAVANA_WEB_IDENTITY_DURATION": "899"], ["TAVANA_WEB_IDENTITY_DURATION": "43201"],
                    ["TAVANA_CREDENTIAL_REFRESH_MARGIN": "-1"], ["TAVANA_CREDENTIAL_REFRESH_MARGIN": "3600"]] {
            var b = ServerConfiguration()
            XCTAssertThrowsError(try b.apply(environment: bad), "\(bad)")
        }
    }

    func testKeysAreReplacedAheadOfExpiryAndRetriedSoonerAfterAFailure() {
        let now = Date(timeIntervalSince1970: 1_000_000)
        let inAnHour = now.addingTimeInterval(3600)
        XCTAssertEqual(CredentialRefresh.delay(until: inAnHour, margin: .seconds(300), failures: 0, now: now), .seconds(3300))
        XCTAssertEqual(CredentialRefresh.delay(until: now.addingTimeInterval(10), margin: .seconds(300), failures: 0, now: now),
                       .seconds(1), "already inside the margin: at once, but never in a busy loop")
        XCTAssertEqual(CredentialRefresh.delay(until: inAnHour, margin: .seconds(300), failures: 1, now: now), .seconds(30))
        XCTAssertEqual(CredentialRefresh.delay(until: now.addingTimeInterval(20), margin: .seconds(300), failures: 2, now: now), .seconds(5))
        XCTAssertEqual(CredentialRefresh.delay(until: now.addingTimeInterval(-60), margin: .seconds(300), failures: 9, now: now),
                       .seconds(1), "expired: keep trying every second")
    }

    func testATokenShorterThanTheMarginIsReplacedAtHalfItsLife() {
        let start = Date(timeIntervalSince1970: 1_000_000)
        func obtained(lifetime: TimeInterval) -> RefreshedCredential.Obtained {
            .init(expiration: start.addingTimeInterval(lifetime), obtainedAt: start, apply: { _ in }, metadata: [:])
        }
        XCTAssertEqual(CredentialRefresh.margin(.seconds(300), for: obtained(lifetime: 3600)), .seconds(300))
        XCTAssertEqual(CredentialRefresh.margin(.seconds(896), for: obtained(lifetime: 900)), .seconds(896),
                       "a margin inside the lifetime stands")
        XCTAssertEqual(CredentialRefresh.margin(.seconds(300), for: obtained(lifetime: 6)), .seconds(3))
        XCTAssertEqual(CredentialRefresh.margin(.seconds(300), for: obtained(lifetime: -5)), .zero)
        XCTAssertEqual(CredentialRefresh.delay(until: start.addingTimeInterval(6), margin: .seconds(3), failures: 0, now: start),
                       .seconds(3))
    }

    func testAzureAndGCSIdentitiesComeFromThePlatformAndStaticCredentialsWin() throws {
        var c = ServerConfiguration()
        let workload = ["AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c", "AZURE_FEDERATED_TOKEN_FILE": "/var/run/azure",
                        "AZURE_STORAGE_ACCOUNT": "acct"]
        try c.apply(environment: workload)
        XCTAssertEqual(c.azureIdentity?.kind, "workload_identity")
        XCTAssertEqual(RefreshedCredential.all(c).map(\.name), ["azure workload_identity"])
        try c.apply(environment: workload.merging(["AZURE_STORAGE_KEY": "k"]) { a, _ in a })
        XCTAssertNil(c.azureIdentity, "an account key wins")
        XCTAssertEqual(RefreshedCredential.all(c).map(\.name), [])

        var m = ServerConfiguration()
        try m.apply(environment: ["AZURE_STORAGE_ACCOUNT": "acct"])
        XCTAssertNil(m.azureIdentity, "no managed identity unless asked for")
        try m.apply(environment: ["AZURE_STORAGE_ACCOUNT": "acct", "TAVANA_AZURE_MANAGED_IDENTITY": "true",
                                  "TAVANA_GCS_WORKLOAD_IDENTITY": "true", "GCE_METADATA_HOST": "127.0.0.1:1",
                                  "TAVANA_GCS_ENDPOINT": "http://127.0.0.1:2"])
        XCTAssertEqual(m.azureIdentity?.kind, "managed_identity")
        XCTAssertEqual(RefreshedCredential.all(m).map(\.name), ["azure managed_identity", "gcs workload_identity"])
        XCTAssertEqual(m.objectStorage.gcsEndpoint, "http://127.0.0.1:2")
        var bad = ServerConfiguration()
        XCTAssertThrowsError(try bad.apply(environment: ["TAVANA_GCS_WORKLOAD_IDENTITY": "maybe"]))
    }

    func testScopedSecretsTakeTheirKeysFromTheVariablesTheConfigFileNames() throws {
        var c = ServerConfiguration()
        try c.apply(configFile: try file(#"""
            {"objectStorageEndpoint": "http://127.0.0.1:9000", "objectStorageScopes": [
              {"type": "s3", "scope": "s3://finance", "keyIdVariable": "FIN_ID", "secretVariable": "FIN_SECRET",
               "endpoint": "http://127.0.0.1:9001", "region": "eu-west-1"},
              {"type": "gcs", "scope": "gs://partner/exports/", "keyIdVariable": "P_ID", "secretVariable": "P_SECRET"},
              {"type": "azure", "scope": "az://account", "connectionStringVariable": "AZ_CONN"}]}
            """#))
        try c.apply(environment: ["FIN_ID": "fin-id", "FIN_SECRET": "fin-s3cr3t", "P_ID": "p-id", "P_SECRET": "p-s3cr3t",
                                  "AZ_CONN": "AccountName=a;AccountKey=k3y"])
        let statements = c.workerConfiguration().objectStorage.secretStatements()
        XCTAssertEqual(Array(statements.dropFirst()), [
            "CREATE OR REPLACE SECRET tavana_scope_1 (TYPE s3, KEY_ID 'fin-id', SECRET 'fin-s3cr3t', REGION 'eu-west-1', "
                + "ENDPOINT '127.0.0.1:9001', URL_STYLE 'path', USE_SSL false, SCOPE 's3://finance')",
            "CREATE OR REPLACE SECRET tavana_scope_2 (TYPE gcs, KEY_ID 'p-id', SECRET 'p-s3cr3t', "
                + "ENDPOINT '127.0.0.1:9000', URL_STYLE 'path', USE_SSL false, SCOPE 'gs://partner/exports/')",
            "CREATE OR REPLACE SECRET tavana_scope_3 (TYPE azure, CONNECTION_STRING 'AccountName=a;AccountKey=k3y', SCOPE 'az://account')",
        ])
        XCTAssertEqual(c.objectStorage.redact("fin-s3cr3t p-s3cr3t AccountName=a;AccountKey=k3y"), "*** *** ***")
        XCTAssertEqual(c.objectStorage.scoped.map(\.description), ["s3 s3://finance", "gcs gs://partner/exports/", "azure az://account"])
        // A variable that is not set, a scope of another kind, a missing variable name.
        XCTAssertThrowsError(try c.apply(environment: [:])) { XCTAssertTrue("\($0)".contains("FIN_ID is not set")) }
        for bad in [#"{"type": "s3", "scope": "gs://x", "keyIdVariable": "A", "secretVariable": "B"}"#,
                    #"{"type": "s3", "scope": "s3://", "keyIdVariable": "A", "secretVariable": "B"}"#,
                    #"{"type": "ftp", "scope": "ftp://x", "keyIdVariable": "A", "secretVariable": "B"}"#,
                    #"{"type": "s3", "scope": "s3://x", "keyIdVariable": "A"}"#,
                    #"{"type": "s3", "scope": "s3://x", "keyIdVariable": "A", "secretVariable": "B", "secret": "inline"}"#] {
            var b = ServerConfiguration()
            XCTAssertThrowsError(try {
                try b.apply(configFile: try file(#"{"objectStorageScopes": [\#(bad)]}"#))
                try b.apply(environment: ["A": "a", "B": "b"])
            }(), bad)
        }
    }

    func testClusterSettings() throws {
        var c = ServerConfiguration()
        try c.apply(environment: [
            "TAVANA_WORKER_ADDRESSES": "10.0.0.1:9092, [::1]:9093", "TAVANA_WORKER_SLOTS": "8",
            "TAVANA_DUCKLAKE_METADATA": "postgres:host=db dbname=lake", "TAVANA_DUCKLAKE_DATA_PATH": "/shared/it's/",
        ])
        XCTAssertEqual(c.cluster.workerAddresses, ["10.0.0.1:9092", "[::1]:9093"])
        XCTAssertEqual(c.cluster.workerSlots, 8)
        XCTAssertThrowsError(try c.apply(["workerSlots": "0"]))
        XCTAssertThrowsError(try c.apply(["workerSessionTTL": "1"]))
        // The shared catalog: attached at start (text quoted), the sessions' default, and the
        // extensions it needs loaded even when the list is given.
        c.engine.extensions = ["httpfs"]
        let worker = c.workerConfiguration()
        XCTAssertEqual(worker.startup, ["ATTACH 'ducklake:postgres:host=db dbname=lake' AS lake (DATA_PATH '/shared/it''s/')"])
        XCTAssertEqual(worker.sessionSetup, ["USE lake"])
        XCTAssertEqual(worker.database.extensions, ["httpfs", "postgres_scanner", "ducklake"])
        try c.apply(configFile: try file(#"{"workerAddresses": ["a:1", "b:2"], "gatewayID": "g"}"#))
        XCTAssertEqual(c.cluster.workerAddresses, ["a:1", "b:2"])
        XCTAssertEqual(c.cluster.gatewayID, "g")
    }

    func testQueueLimits() throws {
        var c = ServerConfiguration()
        XCTAssertEqual(c.admission.limits, AdmissionQueue.Limits(slots: 2, queued: 1000, maxWait: .seconds(300)))
        try c.apply(configFile: try file(#"{"workers": 8, "maxQueuedPerUser": 50, "maxRunningPerUser": 3}"#))
        try c.apply(environment: ["TAVANA_MAX_QUEUE_WAIT": "0"])
        XCTAssertEqual(c.admission.limits, AdmissionQueue.Limits(slots: 8, runningPerUser: 3, queued: 1000, queuedPerUser: 50))
        XCTAssertNil(c.admission.limits.maxWait, "0 waits without limit")
        try c.apply(["maxQueueWait": "45"])
        XCTAssertEqual(c.admission.limits.maxWait, .seconds(45))
        XCTAssertThrowsError(try c.apply(["maxRunningPerUser": "0"]))
        // Limits beyond the slots or the queue are clamped to them.
        let clamped = AdmissionQueue.Limits(slots: 2, runningPerUser: 9, queued: 10, queuedPerUser: 99)
        XCTAssertEqual([clamped.runningPerUser, clamped.queuedPerUser], [2, 10])
    }

    func testTheFileIsCheckedKeyByKey() throws {
        var c = ServerConfiguration()
        XCTAssertThrowsError(try c.apply(configFile: try file(#"{"pgport": 1}"#))) { error in
            XCTAssertTrue("\(error)".contains("unknown setting pgport"), "\(error)")
        }
        XCTAssertThrowsError(try c.apply(configFile: try file(#"{"pgPort": 70000}"#))) { error in
            XCTAssertTrue("\(error)".contains("pgPort must be a whole number in 0...65535"), "\(error)")
        }
        XCTAssertThrowsError(try c.apply(configFile: try file(#"{"workers": "many"}"#)))
        XCTAssertThrowsError(try c.apply(configFile: try file(#"[1, 2]"#)))
        XCTAssertThrowsError(try c.apply(configFile: "/nonexistent/tavana.json"))
    }

    func testListsAndUsers() throws {
        var c = ServerConfiguration()
        try c.apply(configFile: try file(#"{"extensions": ["tpch", "json"], "users": {"alice": "pw"}}"#))
        XCTAssertEqual(c.engine.extensions, ["tpch", "json"])
        try c.apply(environment: ["TAVANA_EXTENSIONS": "httpfs, delta", "TAVANA_USERS": "bob:SCRAM-SHA-256$4096:a:b$c:d,carol:x"])
        XCTAssertEqual(c.engine.extensions, ["httpfs", "delta"])
        XCTAssertEqual(c.security.users, ["alice": "pw", "bob": "SCRAM-SHA-256$4096:a:b$c:d", "carol": "x"])
        XCTAssertThrowsError(try c.apply(environment: ["TAVANA_USERS": "nocolon"]))
    }

    func testAuthenticationDefaults() throws {
        var c = ServerConfiguration()
        XCTAssertEqual(try c.credentials().method, .trust, "loopback without users trusts")
        c.host = "0.0.0.0"
        XCTAssertThrowsError(try c.credentials(), "anywhere else needs users")
        c.security.users = ["alice": "pw"]
        XCTAssertEqual(try c.credentials().method, .scramSHA256)
        c.security.scramSaltKey = "short"
        XCTAssertThrowsError(try c.credentials())
        c.security.scramSaltKey = "a key every replica shares"
        let a = try c.credentials(), b = try c.credentials()
        XCTAssertEqual(a.derivedSalt(for: "alice"), b.derivedSalt(for: "alice"), "replicas agree on salts")
        XCTAssertTrue(a.verifyPassword(user: "alice", password: "pw"))
        XCTAssertFalse(a.verifyPassword(user: "alice", password: "pW"))
        XCTAssertFalse(a.verifyPassword(user: "mallory", password: "pw"))
    }

    func testWorkerSizingFollowsTheSlots() {
        var c = ServerConfiguration()
        c.admission.slots = 3
        let w = c.workerConfiguration()
        XCTAssertEqual(w.executionThreads, 8)
        XCTAssertEqual(w.parseThreads, 6)
        XCTAssertEqual(w.parseThreadsPerUser, 3)
        c.engine.parseThreads = 1
        XCTAssertEqual(c.workerConfiguration().parseThreadsPerUser, 1)
    }
}
