import CSodium

/// The Swift face of libsodium. C types never appear in this module's API.
public enum Sodium {
    /// Initialises libsodium once; safe to call from any thread.
    public static let ready: Bool = { sodium_init() >= 0 }()

    /// BLAKE2b with the given output length (16–64 bytes).
    public static func blake2b(_ input: [UInt8], length: Int = 32, key: [UInt8] = []) -> [UInt8] {
        precondition(ready, "libsodium failed to initialise")
        precondition(length >= 16 && length <= 64, "BLAKE2b output must be 16–64 bytes")
        var out = [UInt8](repeating: 0, count: length)
        let rc = input.withUnsafeBufferPointer { inp in
            key.withUnsafeBufferPointer { k in
                crypto_generichash(&out, length, inp.baseAddress, UInt64(inp.count),
                                   k.isEmpty ? nil : k.baseAddress, k.count)
            }
        }
        precondition(rc == 0, "crypto_generichash failed")
        return out
    }

    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }
}
