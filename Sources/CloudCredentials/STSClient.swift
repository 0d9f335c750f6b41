import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Exchanges the pod's web identity token for temporary keys. The token file is read on
/// every call: the kubelet rotates it.
public struct STSClient: Sendable {
    public let settings: WebIdentitySettings
    let http: HTTPClient
    /// How long one exchange may take before it counts as failed.
    public var timeout: TimeAmount = .seconds(15)

    public init(settings: WebIdentitySettings, http: HTTPClient = .shared) {
        self.settings = settings
        self.http = http
    }

    public func assumeRole() async throws -> TemporaryCredentials {
        let token: String
        do {
            token = try String(contentsOfFile: settings.tokenFile, encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            throw CloudCredentialsError("cannot read the web identity token file \(settings.tokenFile): \(error.localizedDescription)")
        }
        guard !token.isEmpty else { throw CloudCredentialsError("the web identity token file \(settings.tokenFile) is empty") }
        var request = HTTPClientRequest(url: settings.endpoint)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded; charset=utf-8")
        request.headers.add(name: "Accept", value: "text/xml")
        request.body = .bytes(ByteBuffer(string: settings.requestBody(token: token)))
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: timeout)
        } catch {
            throw CloudCredentialsError("STS at \(settings.endpoint) did not answer: \(error)")
        }
        let body: ByteBuffer
        do {
            body = try await response.body.collect(upTo: STSResponse.maxBytes)
        } catch {
            throw CloudCredentialsError("STS at \(settings.endpoint) sent an unreadable answer: \(error)")
        }
        return try STSResponse.parse(status: Int(response.status.code), body: String(buffer: body))
    }
}
