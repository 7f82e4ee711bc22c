import CSodium

/// Secret bytes in memory from `sodium_malloc` (guard pages, locked where the OS allows),
/// wiped and freed on deinit. Never copied into ordinary arrays by this module's API.
public final class SecureBytes: @unchecked Sendable { // immutable after init; the pointer is never handed out mutably
    let pointer: UnsafeMutableRawPointer
    public let count: Int

    init(count: Int) {
        precondition(Sodium.ready, "libsodium failed to initialise")
        guard let p = sodium_malloc(count) else { fatalError("sodium_malloc(\(count)) failed: out of memory") }
        pointer = p
        self.count = count
    }

    convenience init(copying bytes: [UInt8]) {
        self.init(count: bytes.count)
        bytes.withUnsafeBytes { pointer.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
    }

    deinit {
        sodium_memzero(pointer, count)
        sodium_free(pointer)
    }

    func withUnsafeBytes<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        try body(UnsafeRawBufferPointer(start: pointer, count: count))
    }
}
