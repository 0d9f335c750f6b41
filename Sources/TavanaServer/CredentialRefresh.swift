import CloudCredentials
import Foundation
import Logging
import Worker

/// Keeps a worker's S3 secret on temporary keys from the pod's web identity: obtained once
/// before the worker opens (a worker without its storage does not start) and replaced
/// `margin` before they expire, for as long as the server runs. Failed refreshes are retried
/// sooner and sooner as the expiry nears, and logged; the old keys stay until new ones come.
struct WebIdentityRefresh: Sendable {
    let client: STSClient
    let margin: Duration
    let logger: Logger

    init?(_ configuration: ServerConfiguration, logger: Logger) {
        guard let settings = configuration.webIdentity else { return nil }
        client = STSClient(settings: settings)
        margin = .seconds(configuration.cloudCredentials.refreshMarginSeconds)
        self.logger = logger
    }

    /// The first keys, with a few attempts (the token file may appear a moment after the pod
    /// starts); then `storage` uses them.
    func obtainFirst(into storage: inout ObjectStorageConfiguration) async throws -> TemporaryCredentials {
        var attempt = 1
        while true {
            do {
                let keys = try await client.assumeRole()
                storage.credentials.aws = .keys(id: keys.accessKeyID, secret: keys.secretAccessKey, token: keys.sessionToken)
                storage.credentials.awsKeysSource = "web_identity"
                log("object storage keys obtained", keys)
                return keys
            } catch let error as CloudCredentialsError where attempt < 4 {
                logger.warning("web identity: no keys yet; retrying", metadata: ["attempt": "\(attempt)", "error": "\(error)"])
                try await Task.sleep(for: .seconds(attempt))
                attempt += 1
            } catch let error as CloudCredentialsError {
                throw ServerConfiguration.ConfigurationError.invalid("object storage: web identity: \(error)")
            }
        }
    }

    /// With a web identity configured: the first keys, put into `storage`, and the refresh
    /// that will replace them; nil without one.
    static func start(_ configuration: ServerConfiguration, storage: inout ObjectStorageConfiguration,
                      logger: Logger) async throws -> (WebIdentityRefresh, TemporaryCredentials)? {
        guard let refresh = WebIdentityRefresh(configuration, logger: logger) else { return nil }
        let first = try await refresh.obtainFirst(into: &storage)
        return (refresh, first)
    }

    /// Replaces the keys before each expiry until cancelled.
    func run(from first: TemporaryCredentials, worker: EmbeddedWorker) async {
        var current = first
        var failures = 0
        while !Task.isCancelled {
            let wait = Self.delay(until: current.expiration, margin: margin, failures: failures, now: Date())
            do { try await Task.sleep(for: wait) } catch { return }
            do {
                let keys = try await client.assumeRole()
                try worker.replaceAWSKeys(id: keys.accessKeyID, secret: keys.secretAccessKey, token: keys.sessionToken)
                current = keys
                failures = 0
                log("object storage keys refreshed", keys)
            } catch {
                failures += 1
                let left = current.expiration.timeIntervalSinceNow
                if left > 0 {
                    logger.warning("web identity: refresh failed; the current keys stay until they expire", metadata: [
                        "error": "\(error)", "secondsLeft": "\(Int(left))", "failures": "\(failures)"])
                } else {
                    logger.error("web identity: refresh failed and the keys have expired: object storage reads fail until a refresh succeeds",
                                 metadata: ["error": "\(error)", "failures": "\(failures)"])
                }
            }
        }
    }

    /// How long to wait before the next exchange: until `margin` before expiry, and after a
    /// failure a quarter of the time left (between 1 and 30 seconds), so that a short STS
    /// outage is ridden out and a long one is retried often near the end.
    static func delay(until expiration: Date, margin: Duration, failures: Int, now: Date) -> Duration {
        let left = expiration.timeIntervalSince(now)
        if failures > 0 {
            return .milliseconds(Int64(min(30, max(1, left / 4)) * 1000))
        }
        let marginSeconds = Double(margin.components.seconds)
        return .milliseconds(Int64(max(1, left - marginSeconds) * 1000))
    }

    private func log(_ message: Logger.Message, _ keys: TemporaryCredentials) {
        logger.info(message, metadata: [
            "role": "\(client.settings.roleARN)", "keyID": "\(keys.accessKeyID)",
            "expires": "\(ISO8601DateFormatter().string(from: keys.expiration))", "sts": "\(client.settings.endpoint)",
        ])
    }
}

extension WebIdentityRefresh {
    /// Runs `body` with the keys kept fresh beside it; the refresh stops when `body` returns.
    static func keepingFresh<T: Sendable>(
        _ refresh: (WebIdentityRefresh, TemporaryCredentials)?, worker: EmbeddedWorker, _ body: () async throws -> T
    ) async throws -> T {
        guard let (refresh, first) = refresh else { return try await body() }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await refresh.run(from: first, worker: worker) }
            defer { group.cancelAll() }
            return try await body()
        }
    }
}
