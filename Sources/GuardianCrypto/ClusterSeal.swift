import Foundation

/// The cluster's shared keys. Every datagram and push-pull frame is sealed with the primary key;
/// any installed key opens, so a key can be rotated with no downtime: install the new key on every
/// node, make it primary everywhere, then remove the old one.
public struct ClusterKeyring: Sendable {
    public struct Key: Sendable {
        /// First 4 bytes of BLAKE2b(key): names the key in every packet header.
        public let id: [UInt8]
        public let box: SecretBox
        public let text: String
    }

    public private(set) var keys: [Key] = []
    public private(set) var primaryID: [UInt8]

    /// A new random key, as `guardian keygen` prints it (standard base64 of 32 bytes).
    public static func generate() -> String { Sodium.base64Encode(Sodium.randomBytes(SecretBox.keyBytes)) }

    public static func parse(_ text: String) throws -> Key {
        let t = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let raw = Sodium.base64Decode(t), raw.count == SecretBox.keyBytes else {
            throw CryptoError("a cluster key is 32 bytes in standard base64 (44 characters, as `guardian keygen` prints)")
        }
        return Key(id: Array(Sodium.blake2b(raw, length: 32).prefix(4)), box: try SecretBox(key: raw), text: t)
    }

    public init(primary: String, others: [String] = []) throws {
        let p = try Self.parse(primary)
        keys = [p]
        primaryID = p.id
        for o in others { try install(o) }
    }

    public var primary: Key { keys.first { $0.id == primaryID }! }

    public mutating func install(_ text: String) throws {
        let k = try Self.parse(text)
        if !keys.contains(where: { $0.id == k.id }) { keys.append(k) }
    }

    public mutating func use(_ text: String) throws {
        let k = try Self.parse(text)
        guard keys.contains(where: { $0.id == k.id }) else { throw CryptoError("install the key before making it primary") }
        primaryID = k.id
    }

    public mutating func remove(_ text: String) throws {
        let k = try Self.parse(text)
        guard k.id != primaryID else { throw CryptoError("the primary key cannot be removed; make another key primary first") }
        keys.removeAll { $0.id == k.id }
    }

    func key(id: ArraySlice<UInt8>) -> Key? { keys.first { $0.id[...] == id } }
}

/// Why a packet was refused. The shell counts each kind (`guardian_gossip_rejected_total{reason}`).
public enum SealRejection: String, Error, Sendable {
    case malformed, oversized, unknownKey = "unknown_key", forged, replayed, stale
}

/// Remembers recently accepted packet nonces so a captured packet cannot be played back. A packet
/// carries its sender's time; one older than the window (or further ahead) is refused as stale, so
/// the window only needs to remember the nonces of the last `window` milliseconds.
public struct ReplayWindow: Sendable {
    public let window: Int64
    private var seen: Set<[UInt8]> = []
    private var expiring: [(at: Int64, nonce: [UInt8])] = []
    private var head = 0

    public init(window: Int64 = 60_000) { self.window = window }

    mutating func accept(nonce: [UInt8], sentAt: Int64, now: Int64) -> SealRejection? {
        while head < expiring.count && expiring[head].at <= now {
            seen.remove(expiring[head].nonce)
            head += 1
        }
        if head > 4096 && head * 2 > expiring.count { expiring.removeFirst(head); head = 0 }
        guard abs(now - sentAt) <= window else { return .stale }
        guard !seen.contains(nonce) else { return .replayed }
        seen.insert(nonce)
        // kept until its sender time leaves the window (plus the window again for clock skew)
        expiring.append((max(now, sentAt) + window, nonce))
        return nil
    }

    public var remembered: Int { seen.count }
}

/// Sealing for gossip datagrams and push-pull frames: XChaCha20-Poly1305 under the keyring's
/// primary key. Layout: version (1) | key id (4) | nonce (24) | ciphertext of [sender time (8) |
/// message] | tag (16). The header and a context label are authenticated, so a datagram cannot be
/// replayed as a stream frame or under another key id.
public enum ClusterSeal {
    public static let version: UInt8 = 1
    /// Bytes sealing adds to a message: header 29, sender time 8, tag 16.
    public static let overhead = 1 + 4 + 24 + 8 + 16

    public enum Context: String, Sendable {
        case datagram = "guardian-gossip-v1", stream = "guardian-pushpull-v1"
        /// Registry replication streams, result pushes, and the member header of forwarded HTTP requests.
        case registry = "guardian-registry-v1", results = "guardian-results-v1", member = "guardian-member-v1"
        /// Sharded audits: work, packs of blobs and signed shard facts.
        case shards = "guardian-shards-v1"
        /// LAN discovery announcements.
        case discovery = "guardian-discovery-v1"
        /// The first frame of every stream connection, both ways: proof of the key before any
        /// larger frame is read.
        case hello = "guardian-hello-v1"
    }

    public static func seal(_ message: [UInt8], keyring: ClusterKeyring, context: Context, now: Int64) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: overhead + message.count) { out, n in
            seal(message, keyring: keyring, context: context, now: now, into: UnsafeMutableRawBufferPointer(out))
            n = out.count
        }
    }

    /// Seals into `out`, exactly `overhead + message.count` bytes (a stream frame is written straight
    /// into its network buffer: an anti-entropy frame is megabytes, and a copy would be a fresh
    /// allocation the kernel has to zero).
    public static func seal(_ message: [UInt8], keyring: ClusterKeyring, context: Context, now: Int64, into out: UnsafeMutableRawBufferPointer) {
        precondition(out.count == overhead + message.count, "a sealed packet is the message plus \(overhead) bytes")
        let key = keyring.primary
        let header = [version] + key.id
        out.copyBytes(from: header)
        // The rest of the packet is the box: nonce | ciphertext of (time · message) | tag. The time
        // and the message are laid out where their ciphertext goes and encrypted in place.
        let box = UnsafeMutableRawBufferPointer(rebasing: out[header.count...])
        let plain = box.baseAddress! + SecretBox.nonceBytes
        for i in 0..<8 { plain.storeBytes(of: UInt8(truncatingIfNeeded: UInt64(bitPattern: now) >> (56 - 8 * UInt64(i))), toByteOffset: i, as: UInt8.self) }
        message.withUnsafeBytes { m in if let b = m.baseAddress { (plain + 8).copyMemory(from: b, byteCount: m.count) } }
        key.box.sealInPlace(box, associatedData: header + Array(context.rawValue.utf8))
    }

    /// Opens a packet; on success returns the message. Every failure is a `SealRejection`.
    public static func open(_ packet: [UInt8], keyring: ClusterKeyring, context: Context, replay: inout ReplayWindow,
                            now: Int64, maxSize: Int = Int.max) throws(SealRejection) -> [UInt8] {
        let outcome = packet.withUnsafeBytes { p in Result { () throws(SealRejection) in try open(p, keyring: keyring, context: context, replay: &replay, now: now, maxSize: maxSize) } }
        return try outcome.get()
    }

    /// The same over bytes in place (a frame inside its network buffer): one copy of the message out.
    public static func open(_ packet: UnsafeRawBufferPointer, keyring: ClusterKeyring, context: Context, replay: inout ReplayWindow,
                            now: Int64, maxSize: Int = Int.max) throws(SealRejection) -> [UInt8] {
        guard packet.count <= maxSize else { throw .oversized }
        guard packet.count >= overhead, packet[0] == version else { throw .malformed }
        guard let key = keyring.key(id: Array(packet[1..<5])[...]) else { throw .unknownKey }
        let header = Array(packet[0..<5])
        let sealed = UnsafeRawBufferPointer(rebasing: packet[5...])
        var opened = false
        let plain = [UInt8](unsafeUninitializedCapacity: sealed.count - SecretBox.overhead) { out, n in
            opened = key.box.open(sealed, associatedData: header + Array(context.rawValue.utf8), into: UnsafeMutableRawBufferPointer(out))
            n = opened ? out.count : 0
        }
        guard opened else { throw .forged }
        let nonce = Array(packet[5..<29])
        var sentAt: UInt64 = 0
        for i in 0..<8 { sentAt = sentAt << 8 | UInt64(plain[i]) }
        if let why = replay.accept(nonce: nonce, sentAt: Int64(bitPattern: sentAt), now: now) { throw why }
        return Array(plain[8...])
    }
}
