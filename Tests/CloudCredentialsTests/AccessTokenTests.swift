import Foundation
import XCTest

@testable import CloudCredentials

final class AccessTokenTests: XCTestCase {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func testAzureADAndGoogleAnswersGiveTheTokenAndItsExpiration() throws {
        let azure = try OAuthTokenResponse.parse(
            service: "Azure AD", status: 200,
            body: #"{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"eyJ0eXAi.x.y"}"#, now: now)
        XCTAssertEqual(azure, AccessToken(token: "eyJ0eXAi.x.y", expiration: now.addingTimeInterval(3599)))
        // IMDS writes its numbers as strings.
        let imds = try OAuthTokenResponse.parse(
            service: "IMDS", status: 200,
            body: #"{"access_token":"t","expires_in":"86399","expires_on":"1800086399","token_type":"Bearer"}"#, now: now)
        XCTAssertEqual(imds.expiration, now.addingTimeInterval(86399))
        XCTAssertFalse("\(imds)".contains("\"t\""), "printing never shows the token")
    }

    func testALifetimeBeyondADayIsTakenAsADay() throws {
        let token = try OAuthTokenResponse.parse(service: "s", status: 200, body: #"{"access_token":"t","expires_in":1e12}"#, now: now)
        XCTAssertEqual(token.expiration, now.addingTimeInterval(86_400))
    }

    func testRefusalsAndBrokenAnswersSayWhatWentWrong() {
        func message(_ status: Int, _ body: String) -> String {
            do {
                _ = try OAuthTokenResponse.parse(service: "Azure AD", status: status, body: body, now: now)
                return "no error"
            } catch let error as CloudCredentialsError {
                return error.message
            } catch {
                return "\(error)"
            }
        }
        XCTAssertEqual(message(401, #"{"error":"invalid_client","error_description":"AADSTS7000215: bad.\r\nTrace ID: 1"}"#),
                       "Azure AD refused the token request: invalid_client: AADSTS7000215: bad.")
        XCTAssertEqual(message(503, "<html>busy</html>"), "Azure AD refused the token request: HTTP 503")
        XCTAssertEqual(message(200, "not json"), "Azure AD answered something other than a JSON object")
        XCTAssertEqual(message(200, #"{"expires_in":10}"#), "Azure AD answered without an access_token")
        XCTAssertEqual(message(200, #"{"access_token":"t"}"#), "Azure AD answered without a usable expires_in")
        XCTAssertEqual(message(200, #"{"access_token":"t","expires_in":-5}"#), "Azure AD answered without a usable expires_in")
        XCTAssertEqual(message(200, #"{"access_token":"t","expires_in":"soon"}"#), "Azure AD answered without a usable expires_in")
        XCTAssertEqual(message(200, "[1,2]"), "Azure AD answered something other than a JSON object")
    }

    func testTheAzureIdentityComesFromTheWebhooksVariablesInOrder() {
        let workload = ["AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c", "AZURE_FEDERATED_TOKEN_FILE": "/var/run/token",
                        "AZURE_CLIENT_SECRET": "s", "AZURE_AUTHORITY_HOST": "https://login.example/"]
        XCTAssertEqual(AzureIdentity(environment: workload, managedIdentity: true),
                       .workloadIdentity(tenantID: "t", clientID: "c", tokenFile: "/var/run/token",
                                         authorityHost: "https://login.example/"),
                       "a federated token file wins over a secret and the managed identity")
        var principal = workload
        principal["AZURE_FEDERATED_TOKEN_FILE"] = ""
        principal["AZURE_AUTHORITY_HOST"] = nil
        XCTAssertEqual(AzureIdentity(environment: principal, managedIdentity: false),
                       .servicePrincipal(tenantID: "t", clientID: "c", secret: "s",
                                         authorityHost: "https://login.microsoftonline.com/"))
        XCTAssertNil(AzureIdentity(environment: ["AZURE_CLIENT_ID": "c"], managedIdentity: false),
                     "the managed identity is asked for, never guessed")
        XCTAssertEqual(AzureIdentity(environment: ["AZURE_CLIENT_ID": "c"], managedIdentity: true),
                       .managedIdentity(endpoint: "http://169.254.169.254/metadata/identity/oauth2/token", clientID: "c"))
        XCTAssertEqual(AzureIdentity(environment: ["AZURE_POD_IDENTITY_AUTHORITY_HOST": "http://127.0.0.1:9/"],
                                     managedIdentity: true),
                       .managedIdentity(endpoint: "http://127.0.0.1:9/metadata/identity/oauth2/token", clientID: nil))
        let secretOne = AzureIdentity(environment: principal, managedIdentity: false)!
        XCTAssertEqual("\(secretOne)", "service_principal(client: c)", "the secret is never printed")
        XCTAssertEqual(secretOne.secretValues, ["s"])
    }

    func testTheTokenRequestsAreWhatAzureADAndIMDSExpect() {
        XCTAssertEqual(AzureIdentity.tokenURL(authorityHost: "https://login.microsoftonline.com/", tenantID: "t 1"),
                       "https://login.microsoftonline.com/t%201/oauth2/v2.0/token")
        let workload = AzureIdentity.workloadIdentity(tenantID: "t", clientID: "c", tokenFile: "/f", authorityHost: "h")
        XCTAssertEqual(workload.clientCredentialsBody(federatedToken: "ey.J+"),
                       "grant_type=client_credentials&client_id=c&scope=https%3A%2F%2Fstorage.azure.com%2F.default"
                       + "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
                       + "&client_assertion=ey.J%2B")
        let principal = AzureIdentity.servicePrincipal(tenantID: "t", clientID: "c", secret: "a&b", authorityHost: "h")
        XCTAssertEqual(principal.clientCredentialsBody(federatedToken: nil),
                       "grant_type=client_credentials&client_id=c&scope=https%3A%2F%2Fstorage.azure.com%2F.default"
                       + "&client_secret=a%26b")
        XCTAssertEqual(AzureIdentity.managedIdentityURL(endpoint: "http://x/metadata/identity/oauth2/token", clientID: "c"),
                       "http://x/metadata/identity/oauth2/token?api-version=2018-02-01"
                       + "&resource=https%3A%2F%2Fstorage.azure.com%2F&client_id=c")
    }

    func testTheMetadataServerIsWhereGoogleLibrariesLookForIt() {
        XCTAssertEqual(GCEMetadataClient(environment: [:]).tokenURL,
                       "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token")
        XCTAssertEqual(GCEMetadataClient(environment: ["GCE_METADATA_HOST": "127.0.0.1:8080"]).tokenURL,
                       "http://127.0.0.1:8080/computeMetadata/v1/instance/service-accounts/default/token")
    }
}
