import CSodium

/// The Swift face of libsodium. C types never appear in this module's API.
public enum Sodium {
    /// Initialises libsodium once; safe to call from any thread.
    public static let ready: Bool = { sodium_init() >= 0 }()

    /// BLAKE2b with the given output length (16–64 bytes).
    public static func blake2b(_ input: [UInt8], length: Int = 32, key: [UInt8] = []) -> [UInt8] {
        input.withUnsafeBufferPointer { blake2b($0, length: length, key: key) }
    }

    /// The same over bytes in place (a frame inside a read buffer, without copying it out first).
    public static func blake2b(_ input: UnsafeBufferPointer<UInt8>, length: Int = 32, key: [UInt8] = []) -> [UInt8] {
        precondition(ready, "libsodium failed to initialise")
        precondition(length >= 16 && length <= 64, "BLAKE2b output must be 16–64 bytes")
        var out = [UInt8](repeating: 0, count: length)
        let rc = key.withUnsafeBufferPointer { k in
            crypto_generichash(&out, length, input.baseAddress, UInt64(input.count),
                               k.isEmpty ? nil : k.baseAddress, k.count)
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

extension Sodium {
    static let b64Alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    static let b64Table: [UInt8] = {
        var t = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in b64Alphabet.enumerated() { t[Int(c)] = UInt8(i) }
        return t
    }()

    /// Standard base64 with padding. Table-driven (not constant time): for public data such as
    /// envelopes; libsodium's constant-time codec is several times slower on large payloads.
    public static func base64Encode(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        base64Encode(bytes, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the standard base64 of `bytes` to `out`.
    public static func base64Encode(_ bytes: [UInt8], into out: inout [UInt8]) {
        let a = b64Alphabet
        var i = 0
        while i + 3 <= bytes.count {
            let v = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out.append(a[Int(v >> 18 & 63)]); out.append(a[Int(v >> 12 & 63)]); out.append(a[Int(v >> 6 & 63)]); out.append(a[Int(v & 63)])
            i += 3
        }
        let rest = bytes.count - i
        if rest > 0 {
            let v = UInt32(bytes[i]) << 16 | (rest == 2 ? UInt32(bytes[i + 1]) << 8 : 0)
            out.append(a[Int(v >> 18 & 63)]); out.append(a[Int(v >> 12 & 63)])
            out.append(rest == 2 ? a[Int(v >> 6 & 63)] : 61)
            out.append(61)
        }
    }

    /// Decodes standard base64 (padding required when the length needs it); nil when malformed or
    /// not canonical (non-zero bits after the last byte): every byte string has one encoding.
    public static func base64Decode(_ text: String) -> [UInt8]? {
        var t = text
        return t.withUTF8 { base64Decode($0) }
    }

    /// Decodes standard base64 from raw bytes (an envelope's payload, without copying it into a String).
    public static func base64Decode(_ src: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        let n = src.count
        guard n % 4 == 0 else { return nil }
        if n == 0 { return [] }
        var pad = 0
        if src[n - 1] == 61 { pad += 1 }
        if src[n - 2] == 61 { pad += 1 }
        let outCount = n / 4 * 3 - pad
        var ok = true
        let out = [UInt8](unsafeUninitializedCapacity: outCount) { dst, count in
            b64Table.withUnsafeBufferPointer { table in
                var i = 0, o = 0
                let full = pad > 0 ? n - 4 : n
                while i < full {
                    let c0 = table[Int(src[i])], c1 = table[Int(src[i + 1])], c2 = table[Int(src[i + 2])], c3 = table[Int(src[i + 3])]
                    if (c0 | c1 | c2 | c3) & 0xC0 != 0 { ok = false; break }
                    let v = UInt32(c0) << 18 | UInt32(c1) << 12 | UInt32(c2) << 6 | UInt32(c3)
                    dst[o] = UInt8(truncatingIfNeeded: v >> 16); dst[o + 1] = UInt8(truncatingIfNeeded: v >> 8); dst[o + 2] = UInt8(truncatingIfNeeded: v)
                    i += 4; o += 3
                }
                if ok && pad > 0 {
                    let c0 = table[Int(src[i])], c1 = table[Int(src[i + 1])]
                    let c2 = pad == 2 ? 0 : table[Int(src[i + 2])]
                    // the bits past the last byte must be zero: otherwise several texts decode to
                    // the same bytes, and a signed envelope could be re-encoded under a new record id
                    let spare = pad == 2 ? c1 & 0x0F : c2 & 0x03
                    if (c0 | c1 | c2) & 0xC0 != 0 || spare != 0 { ok = false } else {
                        let v = UInt32(c0) << 18 | UInt32(c1) << 12 | UInt32(c2) << 6
                        dst[o] = UInt8(truncatingIfNeeded: v >> 16)
                        if pad == 1 { dst[o + 1] = UInt8(truncatingIfNeeded: v >> 8) }
                    }
                }
            }
            count = ok ? outCount : 0
        }
        return ok ? out : nil
    }
}
