import AsyncHTTPClient
import Foundation
import NIOCore

/// How a pod proves who it is to Azure AD, as the platform's variables say, for a bearer token
/// to Azure Storage. DuckDB's azure extension can fetch such tokens itself, but `delta_scan`
/// ignores them (its own Azure client does not run the chain), and nothing refreshes a token
/// the extension was handed: so Tavana makes the exchange and replaces the token before it
/// expires (docs/object-storage.md).
public enum AzureIdentity: Sendable, Equatable, CustomStringConvertible {
    /// AKS workload identity: the webhook sets AZURE_TENANT_ID, AZURE_CLIENT_ID,
    /// AZURE_FEDERATED_TOKEN_FILE and AZURE_AUTHORITY_HOST; the file's token is the proof.
    case workloadIdentity(tenantID: String, clientID: String, tokenFile: String, authorityHost: String)
    /// A service principal with a secret (AZURE_CLIENT_SECRET).
    case servicePrincipal(tenantID: String, clientID: String, secret: String, authorityHost: String)
    /// The node's or pod's managed identity, from the instance metadata service; `clientID`
    /// picks one of several user-assigned identities.
    case managedIdentity(endpoint: String, clientID: String?)

    public static let storageScope = "https://storage.azure.com/.default"
    public static let storageResource = "https://storage.azure.com/"
    static let defaultAuthorityHost = "https://login.microsoftonline.com/"
    static let defaultMetadataHost = "http://169.254.169.254"

    /// From the environment: workload identity if its token file is set, else a service
    /// principal if a client secret is, else the managed identity when `managedIdentity` (it
    /// cannot be detected without a network call, so it is asked for); nil otherwise.
    public init?(environment env: [String: String], managedIdentity: Bool) {
        func value(_ name: String) -> String? { env[name].flatMap { $0.isEmpty ? nil : $0 } }
        let authority = value("AZURE_AUTHORITY_HOST") ?? Self.defaultAuthorityHost
        if let tenant = value("AZURE_TENANT_ID"), let client = value("AZURE_CLIENT_ID") {
            if let file = value("AZURE_FEDERATED_TOKEN_FILE") {
                self = .workloadIdentity(tenantID: tenant, clientID: client, tokenFile: file, authorityHost: authority)
                return
            }
            if let secret = value("AZURE_CLIENT_SECRET") {
                self = .servicePrincipal(tenantID: tenant, clientID: client, secret: secret, authorityHost: authority)
                return
            }
        }
        guard managedIdentity else { return nil }
        // AZURE_POD_IDENTITY_AUTHORITY_HOST moves IMDS, as in Azure's own SDKs.
        var host = value("AZURE_POD_IDENTITY_AUTHORITY_HOST") ?? Self.defaultMetadataHost
        while host.hasSuffix("/") { host.removeLast() }
        self = .managedIdentity(endpoint: host + "/metadata/identity/oauth2/token", clientID: value("AZURE_CLIENT_ID"))
    }

    /// The provider's name: workload_identity, service_principal or managed_identity.
    public var kind: String {
        switch self {
        case .workloadIdentity: return "workload_identity"
        case .servicePrincipal: return "service_principal"
        case .managedIdentity: return "managed_identity"
        }
    }

    /// The kind, for logs and errors; never the secret.
    public var description: String {
        switch self {
        case .workloadIdentity(_, let client, _, _): return "workload_identity(client: \(client))"
        case .servicePrincipal(_, let client, _, _): return "service_principal(client: \(client))"
        case .managedIdentity(_, let client): return "managed_identity\(client.map { "(client: \($0))" } ?? "")"
        }
    }

    /// The secret values this identity holds (redacted wherever text might quote them).
    public var secretValues: [String] {
        if case .servicePrincipal(_, _, let secret, _) = self { return [secret] }
        return []
    }

    /// Azure AD's token endpoint for a tenant.
    static func tokenURL(authorityHost: String, tenantID: String) -> String {
        var host = authorityHost
        while host.hasSuffix("/") { host.removeLast() }
        return "\(host)/\(HTTPForms.encode(tenantID))/oauth2/v2.0/token"
    }

    /// The client-credentials form for Azure AD (nil for the managed identity, which is a GET);
    /// `federatedToken` is the token file's content for workload identity.
    func clientCredentialsBody(federatedToken: String?) -> String? {
        switch self {
        case .workloadIdentity(_, let client, _, _):
            return HTTPForms.body([
                ("grant_type", "client_credentials"), ("client_id", client), ("scope", Self.storageScope),
                ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                ("client_assertion", federatedToken ?? ""),
            ])
        case .servicePrincipal(_, let client, let secret, _):
            return HTTPForms.body([
                ("grant_type", "client_credentials"), ("client_id", client), ("scope", Self.storageScope),
                ("client_secret", secret),
            ])
        case .managedIdentity:
            return nil
        }
    }

    /// The managed identity's request URL (IMDS API version 2018-02-01).
    static func managedIdentityURL(endpoint: String, clientID: String?) -> String {
        var url = "\(endpoint)?api-version=2018-02-01&resource=\(HTTPForms.encode(storageResource))"
        if let clientID { url += "&client_id=\(HTTPForms.encode(clientID))" }
        return url
    }
}

/// Obtains Azure Storage bearer tokens for an `AzureIdentity`.
public struct AzureTokenClient: Sendable {
    public let identity: AzureIdentity
    let http: HTTPClient
    public var timeout: TimeAmount = .seconds(15)

    public init(identity: AzureIdentity, http: HTTPClient = .shared) {
        self.identity = identity
        self.http = http
    }

    public func token() async throws -> AccessToken {
        var request: HTTPClientRequest
        let service: String
        switch identity {
        case .workloadIdentity(let tenant, _, let file, let authority):
            let federated = try HTTPForms.readToken(file, what: "federated token")
            request = Self.post(AzureIdentity.tokenURL(authorityHost: authority, tenantID: tenant),
                                identity.clientCredentialsBody(federatedToken: federated) ?? "")
            service = "Azure AD"
        case .servicePrincipal(let tenant, _, _, let authority):
            request = Self.post(AzureIdentity.tokenURL(authorityHost: authority, tenantID: tenant),
                                identity.clientCredentialsBody(federatedToken: nil) ?? "")
            service = "Azure AD"
        case .managedIdentity(let endpoint, let client):
            request = HTTPClientRequest(url: AzureIdentity.managedIdentityURL(endpoint: endpoint, clientID: client))
            request.headers.add(name: "Metadata", value: "true")
            service = "the Azure instance metadata service"
        }
        request.headers.add(name: "Accept", value: "application/json")
        let (status, body) = try await HTTPForms.send(request, service: service, http: http, timeout: timeout,
                                                      maxBytes: OAuthTokenResponse.maxBytes)
        return try OAuthTokenResponse.parse(service: service, status: status, body: body)
    }

    static func post(_ url: String, _ body: String) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.body = .bytes(ByteBuffer(string: body))
        return request
    }
}

/// Obtains Google Cloud Storage bearer tokens from the metadata server, which is how GKE
/// workload identity (and a VM's service account) hands them out. DuckDB's httpfs has no
/// such provider: Tavana fetches the token and refreshes the secret.
public struct GCEMetadataClient: Sendable {
    /// `host[:port]`: GCE_METADATA_HOST, as Google's own libraries read it, else the
    /// metadata server's name.
    public let host: String
    let http: HTTPClient
    public var timeout: TimeAmount = .seconds(15)

    public init(environment env: [String: String], http: HTTPClient = .shared) {
        let given = env["GCE_METADATA_HOST"].flatMap { $0.isEmpty ? nil : $0 }
        self.host = given ?? "metadata.google.internal"
        self.http = http
    }

    public var tokenURL: String { "http://\(host)/computeMetadata/v1/instance/service-accounts/default/token" }

    public func token() async throws -> AccessToken {
        var request = HTTPClientRequest(url: tokenURL)
        request.headers.add(name: "Metadata-Flavor", value: "Google")
        request.headers.add(name: "Accept", value: "application/json")
        let service = "the GCE metadata server"
        let (status, body) = try await HTTPForms.send(request, service: service, http: http, timeout: timeout,
                                                      maxBytes: OAuthTokenResponse.maxBytes)
        return try OAuthTokenResponse.parse(service: service, status: status, body: body)
    }
}
