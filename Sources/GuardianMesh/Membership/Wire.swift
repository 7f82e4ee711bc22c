/// The binary encoding of protocol messages and push-pull states: a type byte, then fields;
/// integers as LEB128 varints, strings as a varint length and UTF-8. Decoding checks every length
/// and count against what is left, so a garbled or hostile datagram is an error, never a crash.
public enum Wire {
    /// Largest datagram on the network, sealed (the brief's bar).
    public static let maxDatagram = 1200
    /// What sealing adds (`ClusterSeal.overhead`): version (1), key id (4), nonce (24), sender
    /// time (8), tag (16). A test keeps the two in step.
    public static let sealOverhead = 53
    /// Largest plaintext message.
    public static let maxMessage = maxDatagram - sealOverhead

    static let maxString = 4096, maxItems = 4096

    // MARK: encoding

    public static func encode(_ m: Message) -> [UInt8] {
        var w = Writer()
        switch m {
        case .ping(let seq, let target, let source, let updates):
            w.byte(1); w.uint(UInt64(seq)); w.string(target); w.string(source); w.updates(updates)
        case .pingReq(let seq, let target, let address, let source, let updates):
            w.byte(2); w.uint(UInt64(seq)); w.string(target); w.string(address); w.string(source); w.updates(updates)
        case .ack(let seq, let source, let updates):
            w.byte(3); w.uint(UInt64(seq)); w.string(source); w.updates(updates)
        case .nack(let seq, let source):
            w.byte(4); w.uint(UInt64(seq)); w.string(source)
        case .gossip(let source, let updates):
            w.byte(5); w.string(source); w.updates(updates)
        }
        return w.bytes
    }

    /// Bytes an update adds to a message (for filling a datagram up to `maxMessage`).
    public static func size(of u: Update) -> Int {
        var w = Writer()
        w.update(u)
        return w.bytes.count
    }

    public static func encode(states: [MemberState]) -> [UInt8] {
        var w = Writer()
        w.byte(0x50)
        w.uint(UInt64(states.count))
        for s in states { w.meta(s.meta); w.byte(Self.statusCode(s.status)); w.uint(s.incarnation) }
        return w.bytes
    }

    // MARK: decoding

    public static func decode(_ bytes: [UInt8]) throws -> Message {
        var r = Reader(bytes)
        let m: Message
        switch try r.byte() {
        case 1: m = .ping(seq: try r.seq(), target: try r.string(), source: try r.string(), updates: try r.updates())
        case 2: m = .pingReq(seq: try r.seq(), target: try r.string(), targetAddress: try r.string(), source: try r.string(), updates: try r.updates())
        case 3: m = .ack(seq: try r.seq(), source: try r.string(), updates: try r.updates())
        case 4: m = .nack(seq: try r.seq(), source: try r.string())
        case 5: m = .gossip(source: try r.string(), updates: try r.updates())
        case let t: throw MeshError("unknown message type \(t)")
        }
        try r.end()
        return m
    }

    public static func decodeStates(_ bytes: [UInt8]) throws -> [MemberState] {
        var r = Reader(bytes)
        guard try r.byte() == 0x50 else { throw MeshError("not a push-pull state") }
        let n = try r.count()
        var out: [MemberState] = []
        out.reserveCapacity(n)
        for _ in 0..<n {
            let meta = try r.meta()
            out.append(MemberState(meta: meta, status: try Self.status(try r.byte()), incarnation: try r.uint()))
        }
        try r.end()
        return out
    }

    static func statusCode(_ s: MemberStatus) -> UInt8 {
        switch s { case .alive: 0; case .suspect: 1; case .dead: 2; case .left: 3 }
    }

    static func status(_ b: UInt8) throws -> MemberStatus {
        switch b {
        case 0: .alive
        case 1: .suspect
        case 2: .dead
        case 3: .left
        default: throw MeshError("unknown member status \(b)")
        }
    }

    struct Writer {
        var bytes: [UInt8] = []
        mutating func byte(_ b: UInt8) { bytes.append(b) }
        mutating func uint(_ v: UInt64) {
            var x = v
            while x >= 0x80 { bytes.append(UInt8(x & 0x7F) | 0x80); x >>= 7 }
            bytes.append(UInt8(x))
        }
        mutating func string(_ s: String) { uint(UInt64(s.utf8.count)); bytes.append(contentsOf: s.utf8) }
        mutating func blob(_ b: [UInt8]) { uint(UInt64(b.count)); bytes.append(contentsOf: b) }
        mutating func meta(_ m: NodeMeta) {
            string(m.name); string(m.id); string(m.publicKey); string(m.address); string(m.httpAddress); string(m.version)
            uint(UInt64(m.tags.count))
            for (k, v) in m.tags.sorted(by: { $0.key < $1.key }) { string(k); string(v) }
        }
        mutating func update(_ u: Update) {
            switch u {
            case .alive(let inc, let meta): byte(1); uint(inc); self.meta(meta)
            case .suspect(let n, let inc, let from): byte(2); string(n); uint(inc); string(from)
            case .dead(let n, let inc, let from): byte(3); string(n); uint(inc); string(from)
            }
        }
        mutating func updates(_ us: [Update]) { uint(UInt64(us.count)); for u in us { update(u) } }
    }

    struct Reader {
        let b: [UInt8]
        var i = 0
        /// Where the message ends in `b` (a message inside a larger buffer is read without copying it out).
        let limit: Int
        init(_ bytes: [UInt8]) { b = bytes; limit = bytes.count }
        init(_ bytes: [UInt8], _ range: Range<Int>) {
            precondition(range.lowerBound >= 0 && range.upperBound <= bytes.count)
            b = bytes; i = range.lowerBound; limit = range.upperBound
        }

        mutating func byte() throws -> UInt8 {
            guard i < limit else { throw MeshError("message truncated") }
            defer { i += 1 }
            return b[i]
        }
        mutating func uint() throws -> UInt64 {
            var v: UInt64 = 0, shift: UInt64 = 0
            while true {
                let x = try byte()
                guard shift < 64, !(shift == 63 && x > 1) else { throw MeshError("integer overflows 64 bits") }
                v |= UInt64(x & 0x7F) << shift
                if x & 0x80 == 0 { return v }
                shift += 7
            }
        }
        mutating func seq() throws -> UInt32 {
            let v = try uint()
            guard v <= UInt64(UInt32.max) else { throw MeshError("sequence number out of range") }
            return UInt32(v)
        }
        mutating func count(max: Int = maxItems) throws -> Int {
            let n = try uint()
            guard n <= UInt64(max), Int(n) <= limit - i else { throw MeshError("count \(n) exceeds the message") }
            return Int(n)
        }
        /// A length-prefixed byte string of at most `max` bytes.
        mutating func blob(max: Int) throws -> [UInt8] {
            let n = try uint()
            guard n <= UInt64(max), Int(n) <= limit - i else { throw MeshError("value of \(n) bytes exceeds the message") }
            defer { i += Int(n) }
            return Array(b[i..<i + Int(n)])
        }
        mutating func string() throws -> String {
            let n = try uint()
            guard n <= UInt64(maxString), Int(n) <= limit - i else { throw MeshError("string length \(n) exceeds the message") }
            defer { i += Int(n) }
            guard let s = String(validating: b[i..<i + Int(n)], as: UTF8.self) else { throw MeshError("string is not UTF-8") }
            return s
        }
        mutating func meta() throws -> NodeMeta {
            var m = NodeMeta(name: try string(), id: try string(), publicKey: try string(), address: try string(),
                             httpAddress: try string(), version: try string())
            guard !m.name.isEmpty else { throw MeshError("member without a name") }
            for _ in 0..<(try count()) { m.tags[try string()] = try string() }
            return m
        }
        mutating func update() throws -> Update {
            switch try byte() {
            case 1: return .alive(incarnation: try uint(), meta: try meta())
            case 2: return .suspect(name: try string(), incarnation: try uint(), from: try string())
            case 3: return .dead(name: try string(), incarnation: try uint(), from: try string())
            case let t: throw MeshError("unknown update type \(t)")
            }
        }
        mutating func updates() throws -> [Update] { try (0..<(try count())).map { _ in try update() } }
        func end() throws { guard i == limit else { throw MeshError("\(limit - i) trailing bytes") } }
    }
}
