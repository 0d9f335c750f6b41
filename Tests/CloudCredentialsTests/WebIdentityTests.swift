import Foundation
import XCTest

@testable import CloudCredentials

final class WebIdentityTests: XCTestCase {
    func testSettingsComeFromTheWebhooksVariablesAndStayNilWithoutThem() throws {
        XCTAssertNil(WebIdentitySettings(environment: ["AWS_ROLE_ARN": "arn:aws:iam::1:role/r"], defaultRegion: "us-east-1"))
        XCTAssertNil(WebIdentitySettings(environment: ["AWS_WEB_IDENTITY_TOKEN_FILE": "/t"], defaultRegion: "us-east-1"))
        let regional = try XCTUnwrap(WebIdentitySettings(
            environment: ["AWS_ROLE_ARN": "arn:aws:iam::1:role/r", "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/token",
                          "AWS_REGION": "eu-west-1"],
            defaultRegion: "us-east-1", hostName: "worker-7f9 (pod)"))
        XCTAssertEqual(regional.endpoint, "https://sts.eu-west-1.amazonaws.com")
        XCTAssertEqual(regional.sessionName, "tavana-worker-7f9--pod-", "only the characters STS allows")
        XCTAssertEqual(WebIdentitySettings(
            environment: ["AWS_ROLE_ARN": "r", "AWS_WEB_IDENTITY_TOKEN_FILE": "/t"], defaultRegion: "ap-south-1")?.endpoint,
            "https://sts.ap-south-1.amazonaws.com", "the object storage region when the pod names none")
        let local = try XCTUnwrap(WebIdentitySettings(
            environment: ["AWS_ROLE_ARN": "r", "AWS_WEB_IDENTITY_TOKEN_FILE": "/t", "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
                          "AWS_ENDPOINT_URL_STS": "http://127.0.0.1:2", "AWS_ROLE_SESSION_NAME": "mine"],
            defaultRegion: "us-east-1"))
        XCTAssertEqual(local.endpoint, "http://127.0.0.1:2", "the STS-specific endpoint wins")
        XCTAssertEqual(local.sessionName, "mine")
        XCTAssertEqual(WebIdentitySettings.sessionName(for: String(repeating: "x", count: 100)).count, 64)
    }

    func testTheRequestBodyIsFormEncoded() {
        let settings = WebIdentitySettings(roleARN: "arn:aws:iam::123:role/a b", tokenFile: "/t", sessionName: "s",
                                           endpoint: "http://x", durationSeconds: 900)
        XCTAssertEqual(settings.requestBody(token: "ey.J+/=é"),
                       "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123%3Arole%2Fa%20b"
                       + "&RoleSessionName=s&WebIdentityToken=ey.J%2B%2F%3D%C3%A9&DurationSeconds=900")
    }

    func testASuccessfulAnswerGivesTheKeysAndTheirExpiration() throws {
        let body = """
            <AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
              <AssumeRoleWithWebIdentityResult>
                <Credentials>
                  <SessionToken>FwoG&amp;token/+=</SessionToken>
                  <SecretAccessKey>wJalr/secret</SecretAccessKey>
                  <Expiration>2026-12-04T01:00:00Z</Expiration>
                  <AccessKeyId>ASIAEXAMPLE</AccessKeyId>
                </Credentials>
              </AssumeRoleWithWebIdentityResult>
            </AssumeRoleWithWebIdentityResponse>
            """
        let credentials = try STSResponse.parse(status: 200, body: body)
        XCTAssertEqual(credentials.accessKeyID, "ASIAEXAMPLE")
        XCTAssertEqual(credentials.secretAccessKey, "wJalr/secret")
        XCTAssertEqual(credentials.sessionToken, "FwoG&token/+=")
        XCTAssertEqual(credentials.expiration, ISO8601DateFormatter().date(from: "2026-12-04T01:00:00Z"))
        XCTAssertFalse("\(credentials)".contains("secret"), "printing hides the secret")
        XCTAssertFalse("\(credentials)".contains("token"), "and the token")
        // Fractional seconds, as some STS stand-ins write them.
        let fractional = body.replacingOccurrences(of: "01:00:00Z", with: "01:00:00.250Z")
        XCTAssertEqual(try STSResponse.parse(status: 200, body: fractional).expiration.timeIntervalSince(credentials.expiration), 0.25,
                       accuracy: 0.001)
    }

    func testFailuresSayWhatSTSSaid() {
        let denied = "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>Not authorized</Message></Error></ErrorResponse>"
        XCTAssertThrowsError(try STSResponse.parse(status: 403, body: denied)) { error in
            XCTAssertEqual("\(error)", "STS AssumeRoleWithWebIdentity failed: AccessDenied: Not authorized")
        }
        XCTAssertThrowsError(try STSResponse.parse(status: 502, body: "")) { error in
            XCTAssertEqual("\(error)", "STS AssumeRoleWithWebIdentity failed: HTTP 502: no message")
        }
        XCTAssertThrowsError(try STSResponse.parse(status: 200, body: "<AccessKeyId>A</AccessKeyId>"))
        let badDate = "<AccessKeyId>A</AccessKeyId><SecretAccessKey>S</SecretAccessKey><SessionToken>T</SessionToken><Expiration>soon</Expiration>"
        XCTAssertThrowsError(try STSResponse.parse(status: 200, body: badDate)) { error in
            XCTAssertTrue("\(error)".contains("unreadable expiration"))
        }
        // An unclosed element is no element.
        XCTAssertNil(STSResponse.element("AccessKeyId", in: "<AccessKeyId>A"))
    }
}
