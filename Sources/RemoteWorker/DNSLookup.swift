#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOPosix

/// The addresses a name resolves to, as numeric host strings, looked up with getaddrinfo
/// on NIO's blocking-I/O pool (never on a cooperative thread).
public enum DNSLookup {
    struct Failure: Error, CustomStringConvertible {
        let code: Int32
        var description: String { String(cString: gai_strerror(code)) }
    }

    public static func addresses(of host: String) async throws -> [String] {
        try await NIOThreadPool.singleton.runIfActive { try resolve(host) }
    }

    static func resolve(_ host: String) throws -> [String] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &list)
        guard status == 0 else { throw Failure(code: status) }
        defer { freeaddrinfo(list) }
        var found: [String] = []
        var node = list
        while let entry = node {
            var name = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if getnameinfo(entry.pointee.ai_addr, entry.pointee.ai_addrlen, &name, socklen_t(name.count), nil, 0, NI_NUMERICHOST) == 0 {
                let text = String(cString: name)
                if !found.contains(text) { found.append(text) }
            }
            node = entry.pointee.ai_next
        }
        return found
    }
}
