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
        let token = try HTTPForms.readToken(settings.tokenFile, what: "web identity token")
        var request = HTTPClientRequest(url: settings.endpoint)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded; charset=utf-8")
        request.headers.add(name: "Accept", value: "text/xml")
        request.body = .bytes(ByteBuffer(string: settings.requestBody(token: token)))
        let (status, body) = try await HTTPForms.send(request, service: "STS", http: http, timeout: timeout,
                                                      maxBytes: STSResponse.maxBytes)
        return try STSResponse.parse(status: status, body: body)
    }
}
