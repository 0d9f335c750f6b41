import DuckDB
import Logging
import Worker
import XCTest

/// The DuckDB secrets a worker makes from its object-storage settings and environment.
final class ObjectStorageSecretsTests: XCTestCase {
    func testNothingConfiguredMakesNoSecret() {
        XCTAssertEqual(ObjectStorageConfiguration().secretStatements(), [])
        XCTAssertEqual(ObjectStorageConfiguration(credentials: ObjectStorageCredentials(environment: [:])).secretStatements(), [])
    }

    func testStaticKeysWithACustomEndpoint() {
        let env = ["AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "se'cret", "AWS_SESSION_TOKEN": "tok"]
        let config = ObjectStorageConfiguration(endpoint: "http://127.0.0.1:9000/", region: "eu-west-1",
                                                credentials: ObjectStorageCredentials(environment: env))
        XCTAssertEqual(config.secretStatements(), [
            "CREATE OR REPLACE SECRET tavana_s3 (TYPE s3, PROVIDER config, KEY_ID 'AKID', SECRET 'se''cret', "
                + "SESSION_TOKEN 'tok', REGION 'eu-west-1', ENDPOINT '127.0.0.1:9000', URL_STYLE 'path', USE_SSL false)",
        ])
    }

    func testWithoutKeysTheCredentialChainIsUsed() {
        let config = ObjectStorageConfiguration(bucket: "b", region: "us-east-2", urlStyle: "vhost")
        XCTAssertEqual(config.secretStatements(), [
            "CREATE OR REPLACE SECRET tavana_s3 (TYPE s3, PROVIDER credential_chain, VALIDATION 'none', REGION 'us-east-2', URL_STYLE 'vhost')",
        ])
    }

    func testAnHTTPSEndpointOrAnExplicitSettingDecidesTLS() {
        var config = ObjectStorageConfiguration(endpoint: "https://storage.example:443")
        XCTAssertTrue(config.secretStatements()[0].hasSuffix("USE_SSL true)"))
        config.useSSL = false
        XCTAssertTrue(config.secretStatements()[0].hasSuffix("USE_SSL false)"))
        config = ObjectStorageConfiguration(endpoint: "minio:9000")
        XCTAssertTrue(config.secretStatements()[0].contains("ENDPOINT 'minio:9000'"))
        XCTAssertTrue(config.secretStatements()[0].hasSuffix("USE_SSL true)"))
    }

    func testGCSAndAzureCredentialsMakeTheirOwnSecretsOnly() {
        let env = ["GCS_HMAC_KEY_ID": "gid", "GCS_HMAC_SECRET": "gsecret", "AZURE_STORAGE_CONNECTION_STRING": "AccountName=a;AccountKey=k"]
        let statements = ObjectStorageConfiguration(credentials: ObjectStorageCredentials(environment: env)).secretStatements()
        XCTAssertEqual(statements, [
            "CREATE OR REPLACE SECRET tavana_gcs (TYPE gcs, KEY_ID 'gid', SECRET 'gsecret')",
            "CREATE OR REPLACE SECRET tavana_azure (TYPE azure, CONNECTION_STRING 'AccountName=a;AccountKey=k')",
        ])
    }

    func testAnAzureAccountWithAKeyOrAloneOrWithATokenMakesTheRightSecret() {
        let keyed = ObjectStorageCredentials(environment: ["AZURE_STORAGE_ACCOUNT": "acct", "AZURE_STORAGE_KEY": "a2V5"])
        XCTAssertEqual(ObjectStorageConfiguration(credentials: keyed).azureSecretStatement(),
                       "CREATE OR REPLACE SECRET tavana_azure (TYPE azure, CONNECTION_STRING "
                       + "'DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;EndpointSuffix=core.windows.net')")
        XCTAssertEqual(keyed.azure?.account, "acct")
        XCTAssertEqual(ObjectStorageConfiguration(credentials: keyed).redact("key a2V5 leaked"), "key *** leaked")
        let alone = ObjectStorageCredentials(environment: ["AZURE_STORAGE_ACCOUNT": "acct"])
        XCTAssertEqual(ObjectStorageConfiguration(credentials: alone).azureSecretStatement(),
                       "CREATE OR REPLACE SECRET tavana_azure (TYPE azure, PROVIDER credential_chain, ACCOUNT_NAME 'acct')")
        var token = alone
        token.azure = .accessToken(account: "acct", token: "eyJ.tok'en", source: "workload_identity")
        let config = ObjectStorageConfiguration(credentials: token)
        XCTAssertEqual(config.azureSecretStatement(),
                       "CREATE OR REPLACE SECRET tavana_azure (TYPE azure, PROVIDER access_token, "
                       + "ACCESS_TOKEN 'eyJ.tok''en', ACCOUNT_NAME 'acct')")
        XCTAssertEqual("\(token)", "aws=credential_chain azure=workload_identity(account: acct)")
        XCTAssertEqual(config.redact("token eyJ.tok'en"), "token ***")
        XCTAssertNil(ObjectStorageConfiguration().azureSecretStatement())
    }

    func testAGCSBearerTokenWinsOverHMACAndGCSMayHaveItsOwnEndpoint() {
        var credentials = ObjectStorageCredentials(environment: ["GCS_HMAC_KEY_ID": "gid", "GCS_HMAC_SECRET": "gsecret"])
        var config = ObjectStorageConfiguration(endpoint: "http://127.0.0.1:9000", credentials: credentials)
        XCTAssertEqual(config.gcsSecretStatement(),
                       "CREATE OR REPLACE SECRET tavana_gcs (TYPE gcs, KEY_ID 'gid', SECRET 'gsecret', "
                       + "ENDPOINT '127.0.0.1:9000', URL_STYLE 'path', USE_SSL false)", "the shared endpoint by default")
        credentials.gcsBearerToken = "ya29.token"
        credentials.gcsTokenSource = "workload_identity"
        config.credentials = credentials
        config.gcsEndpoint = "https://gcs.internal:8443/"
        XCTAssertEqual(config.gcsSecretStatement(),
                       "CREATE OR REPLACE SECRET tavana_gcs (TYPE gcs, BEARER_TOKEN 'ya29.token', "
                       + "ENDPOINT 'gcs.internal:8443', URL_STYLE 'path', USE_SSL true)")
        XCTAssertEqual("\(credentials)", "aws=credential_chain gcs=workload_identity")
        XCTAssertEqual(config.redact("ya29.token"), "***")
    }

    func testSecretValuesAreRedactedAndNeverDescribed() {
        let env = ["AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "hunter2", "GCS_HMAC_KEY_ID": "g", "GCS_HMAC_SECRET": "gs3"]
        let config = ObjectStorageConfiguration(credentials: ObjectStorageCredentials(environment: env))
        XCTAssertEqual(config.redact("bad secret hunter2 near gs3"), "bad secret *** near ***")
        XCTAssertEqual("\(config.credentials)", "aws=keys gcs=hmac")
        for printed in ["\(config)", String(reflecting: config), "\(config.credentials.aws)"] {
            XCTAssertFalse(printed.contains("hunter2") || printed.contains("gs3"), printed)
        }
    }

    func testAWorkerThatCannotMakeTheSecretFailsToStartWithoutQuotingIt() throws {
        // No httpfs loaded: DuckDB knows no secret type s3, so the worker must not start.
        let env = ["AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "hunter2"]
        var logger = Logger(label: "test")
        logger.logLevel = .error
        XCTAssertThrowsError(try EmbeddedWorker(configuration: WorkerConfiguration(
            database: DatabaseConfiguration(threads: 1), executionThreads: 2, parseThreads: 1, parseThreadsPerUser: 1,
            maxStatementBytes: 1 << 20,
            objectStorage: ObjectStorageConfiguration(credentials: ObjectStorageCredentials(environment: env))),
            logger: logger)) { error in
            let message = (error as? DuckDBError)?.message ?? "\(error)"
            XCTAssertTrue(message.hasPrefix("object storage: "), message)
            XCTAssertFalse(message.contains("hunter2"), message)
        }
    }
}
