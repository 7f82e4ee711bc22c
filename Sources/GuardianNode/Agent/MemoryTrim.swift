import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Hands freed heap memory back to the system. glibc keeps what an audit freed in its arenas (one
/// per thread that allocated, up to 8 per core) until something else in that arena needs it; after
/// a burst of audits that is hundreds of MB of resident memory nothing uses. `malloc_trim` is
/// glibc's (its header is not in Swift's Glibc module), so it is looked up at run time.
enum MemoryTrim {
    typealias Trim = @convention(c) (Int) -> Int32
    static let trim: Trim? = {
        #if os(Linux)
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return nil }
        return unsafeBitCast(symbol, to: Trim.self)
        #else
        return nil
        #endif
    }()

    static func now() { _ = trim?(0) }
}
