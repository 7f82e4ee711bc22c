/// Milliseconds on whatever clock the shell or the simulator uses. The core never reads a clock:
/// every event carries `now`.
public typealias Millis = Int64

/// A small, fast, seedable generator (SplitMix64). The core takes randomness from one of these, so
/// that a simulator run replays exactly from its seed; the shell seeds it from the system.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A 64-bit hash with good avalanche for ring positions and digests: FNV-1a over the bytes, then
/// the MurmurHash3 finaliser (FNV alone spreads similar strings like `node-1#7` poorly).
public enum MeshHash {
    public static func of(_ s: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return mix(h)
    }

    public static func mix(_ x: UInt64) -> UInt64 {
        var k = x
        k ^= k >> 33
        k = k &* 0xFF51_AFD7_ED55_8CCD
        k ^= k >> 33
        k = k &* 0xC4CE_B9FE_1A85_EC53
        k ^= k >> 33
        return k
    }
}

/// A message that could not be decoded, or an update that was refused.
public struct MeshError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Kind: Sendable, Equatable {
        /// The state machine refuses the request in its current state.
        case refused
        /// The request names a member this node does not know.
        case noSuchMember
    }
    public var message: String
    public var kind: Kind
    public init(_ message: String, kind: Kind = .refused) { self.message = message; self.kind = kind }
    public var description: String { message }
}
