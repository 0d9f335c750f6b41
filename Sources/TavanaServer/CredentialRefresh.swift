import CloudCredentials
import Foundation
import Logging
import Worker

/// One credential Tavana obtains itself (where DuckDB's own providers fall short) and keeps
/// fresh in a DuckDB secret: AWS keys from a web identity, an Azure AD token, a GCS token from
/// the metadata server.
struct RefreshedCredential: Sendable {
    /// For logs: the cloud and the provider (`aws web_identity`).
    let name: String
    let secret: EmbeddedWorker.RefreshedSecret
    let obtain: @Sendable () async throws -> Obtained

    /// What one exchange gave: when it expires, how it changes the worker's credentials, and
    /// what the log may say about it (never the secret).
    struct Obtained: Sendable {
        let expiration: Date
        let obtainedAt: Date
        let apply: @Sendable (inout ObjectStorageCredentials) -> Void
        let metadata: Logger.Metadata
    }

    /// The credentials the configuration asks Tavana to obtain, in the order they are fetched.
    static func all(_ configuration: ServerConfiguration) -> [RefreshedCredential] {
        var list: [RefreshedCredential] = []
        if let settings = configuration.webIdentity {
            let client = STSClient(settings: settings)
            list.append(RefreshedCredential(name: "aws web_identity", secret: .s3) {
                let keys = try await client.assumeRole()
                return Obtained(expiration: keys.expiration, obtainedAt: Date(), apply: {
                    $0.aws = .keys(id: keys.accessKeyID, secret: keys.secretAccessKey, token: keys.sessionToken)
                    $0.awsKeysSource = "web_identity"
                }, metadata: ["role": "\(settings.roleARN)", "keyID": "\(keys.accessKeyID)", "sts": "\(settings.endpoint)"])
            })
        }
        if let identity = configuration.azureIdentity, let account = configuration.objectStorage.credentials.azure?.account {
            let client = AzureTokenClient(identity: identity)
            let source = identity.kind
            list.append(RefreshedCredential(name: "azure \(source)", secret: .azure) {
                let token = try await client.token()
                return Obtained(expiration: token.expiration, obtainedAt: Date(), apply: {
                    $0.azure = .accessToken(account: account, token: token.token, source: source)
                }, metadata: ["identity": "\(identity)", "account": "\(account)"])
            })
        }
        if configuration.cloudCredentials.gcsWorkloadIdentity {
            let client = GCEMetadataClient(environment: configuration.cloudCredentials.platformEnvironment)
            list.append(RefreshedCredential(name: "gcs workload_identity", secret: .gcs) {
                let token = try await client.token()
                return Obtained(expiration: token.expiration, obtainedAt: Date(), apply: {
                    $0.gcsBearerToken = token.token
                    $0.gcsTokenSource = "workload_identity"
                }, metadata: ["metadataServer": "\(client.host)"])
            })
        }
        return list
    }
}

/// Keeps a worker's secrets on the credentials Tavana obtains: each obtained once before the
/// worker opens (a worker without its storage does not start) and replaced `margin` before it
/// expires, for as long as the server runs. Failed refreshes are retried sooner and sooner as
/// the expiry nears, and logged; the old credentials stay until new ones come.
struct CredentialRefresh: Sendable {
    let started: [(RefreshedCredential, RefreshedCredential.Obtained)]
    let margin: Duration
    let logger: Logger

    /// The first credentials, put into `storage`; nil when Tavana obtains none itself.
    static func start(_ configuration: ServerConfiguration, storage: inout ObjectStorageConfiguration,
                      logger: Logger) async throws -> CredentialRefresh? {
        let credentials = RefreshedCredential.all(configuration)
        if configuration.azureIdentity != nil, storage.credentials.azure?.account == nil {
            logger.warning("an Azure identity is set but no storage account (AZURE_STORAGE_ACCOUNT): no Azure secret is made")
        }
        guard !credentials.isEmpty else { return nil }
        var started: [(RefreshedCredential, RefreshedCredential.Obtained)] = []
        for credential in credentials {
            let first = try await obtainFirst(credential, logger: logger)
            first.apply(&storage.credentials)
            started.append((credential, first))
        }
        return CredentialRefresh(started: started, margin: .seconds(configuration.cloudCredentials.refreshMarginSeconds),
                                 logger: logger)
    }

    /// A few attempts: the token file may appear a moment after the pod starts, and the
    /// metadata server may be slow to answer the first call.
    static func obtainFirst(_ credential: RefreshedCredential, logger: Logger) async throws -> RefreshedCredential.Obtained {
        var attempt = 1
        while true {
            do {
                let obtained = try await credential.obtain()
                log(logger, "object storage credentials obtained", credential, obtained)
                return obtained
            } catch let error as CloudCredentialsError where attempt < 4 {
                logger.warning("object storage credentials: none yet; retrying", metadata: [
                    "provider": "\(credential.name)", "attempt": "\(attempt)", "error": "\(error)"])
                try await Task.sleep(for: .seconds(attempt))
                attempt += 1
            } catch let error as CloudCredentialsError {
                throw ServerConfiguration.ConfigurationError.invalid("object storage: \(credential.name): \(error)")
            }
        }
    }

    /// Replaces one credential before each expiry until cancelled.
    func run(_ credential: RefreshedCredential, from first: RefreshedCredential.Obtained, worker: EmbeddedWorker) async {
        var current = first
        var failures = 0
        while !Task.isCancelled {
            let wait = Self.delay(until: current.expiration, margin: Self.margin(margin, for: current),
                                  failures: failures, now: Date())
            do { try await Task.sleep(for: wait) } catch { return }
            do {
                let next = try await credential.obtain()
                try worker.replaceCredentials(credential.secret, next.apply)
                current = next
                failures = 0
                Self.log(logger, "object storage credentials refreshed", credential, next)
            } catch {
                failures += 1
                let left = current.expiration.timeIntervalSinceNow
                if left > 0 {
                    logger.warning("object storage credentials: refresh failed; the current ones stay until they expire", metadata: [
                        "provider": "\(credential.name)", "error": "\(error)", "secondsLeft": "\(Int(left))",
                        "failures": "\(failures)"])
                } else {
                    logger.error("object storage credentials: refresh failed and they have expired: reads fail until a refresh succeeds",
                                 metadata: ["provider": "\(credential.name)", "error": "\(error)", "failures": "\(failures)"])
                }
            }
        }
    }

    /// The margin for one credential: the configured one, unless the credential does not even
    /// live that long (tokens whose lifetime the service decides), when it is replaced at half
    /// its life instead of over and over.
    static func margin(_ configured: Duration, for obtained: RefreshedCredential.Obtained) -> Duration {
        let lifetime = obtained.expiration.timeIntervalSince(obtained.obtainedAt)
        let lifetimeDuration = Duration.milliseconds(Int64(max(0, min(lifetime, 1e9)) * 1000))
        guard configured >= lifetimeDuration else { return configured }
        return lifetimeDuration / 2
    }

    /// How long to wait before the next exchange: until `margin` before expiry, and after a
    /// failure a quarter of the time left (between 1 and 30 seconds), so that a short outage
    /// is ridden out and a long one is retried often near the end.
    static func delay(until expiration: Date, margin: Duration, failures: Int, now: Date) -> Duration {
        let left = expiration.timeIntervalSince(now)
        if failures > 0 {
            return .milliseconds(Int64(min(30, max(1, left / 4)) * 1000))
        }
        let marginSeconds = Double(margin.components.seconds) + Double(margin.components.attoseconds) / 1e18
        return .milliseconds(Int64(max(1, left - marginSeconds) * 1000))
    }

    static func log(_ logger: Logger, _ message: Logger.Message, _ credential: RefreshedCredential,
                    _ obtained: RefreshedCredential.Obtained) {
        var metadata = obtained.metadata
        metadata["provider"] = "\(credential.name)"
        metadata["expires"] = "\(ISO8601DateFormatter().string(from: obtained.expiration))"
        logger.info(message, metadata: metadata)
    }

    /// Runs `body` with the credentials kept fresh beside it; the refresh stops when `body`
    /// returns.
    static func keepingFresh<T: Sendable>(_ refresh: CredentialRefresh?, worker: EmbeddedWorker,
                                          _ body: () async throws -> T) async throws -> T {
        guard let refresh else { return try await body() }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            for (credential, first) in refresh.started {
                group.addTask { await refresh.run(credential, from: first, worker: worker) }
            }
            defer { group.cancelAll() }
            return try await body()
        }
    }
}
