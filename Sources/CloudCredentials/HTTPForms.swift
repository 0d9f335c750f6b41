import AsyncHTTPClient
import Foundation
import NIOCore

/// What the token exchanges share: form bodies, token files, and one bounded request.
enum HTTPForms {
    /// `application/x-www-form-urlencoded`, every byte outside the unreserved ASCII set encoded.
    static func body(_ fields: [(String, String)]) -> String {
        fields.map { "\(encode($0.0))=\(encode($0.1))" }.joined(separator: "&")
    }

    static func encode(_ text: String) -> String {
        var unreserved = CharacterSet.alphanumerics
        unreserved.insert(charactersIn: "-._~")
        // alphanumerics includes non-ASCII letters: encode everything outside ASCII as well.
        return text.unicodeScalars.map { scalar -> String in
            if scalar.isASCII && unreserved.contains(scalar) { return String(scalar) }
            return String(scalar).utf8.map { String(format: "%%%02X", $0) }.joined()
        }.joined()
    }

    /// A projected token file's content. It is read on every exchange: the kubelet rotates it.
    static func readToken(_ path: String, what: String) throws -> String {
        let token: String
        do {
            token = try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            throw CloudCredentialsError("cannot read the \(what) file \(path): \(error.localizedDescription)")
        }
        guard !token.isEmpty else { throw CloudCredentialsError("the \(what) file \(path) is empty") }
        return token
    }

    /// Sends `request` and reads at most `maxBytes` of the answer: (status, body). Errors name
    /// the service and its URL, never the request's body (it holds the credential).
    static func send(_ request: HTTPClientRequest, service: String, http: HTTPClient, timeout: TimeAmount,
                     maxBytes: Int) async throws -> (Int, String) {
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: timeout)
        } catch {
            throw CloudCredentialsError("\(service) at \(request.url) did not answer: \(error)")
        }
        do {
            let body = try await response.body.collect(upTo: maxBytes)
            return (Int(response.status.code), String(buffer: body))
        } catch {
            throw CloudCredentialsError("\(service) at \(request.url) sent an unreadable answer: \(error)")
        }
    }
}
