import Foundation
import GuardianStore
import GuardianCrypto
import GuardianMesh

/// The air-gap bundle (`guardian export` / `guardian import`, docs/airgap.md): signed results and
/// registry records in one file that is read as a stream.
///
///     "GUARDIAN-BUNDLE/2\n"
///     frame*   where frame = kind (1 byte) · length (4 bytes, big-endian) · body · BLAKE2b-128(kind · length · body)
///
/// except that a result frame's checksum takes the envelope's record id in place of the envelope
/// (`resultFrame`). Version 1 (`GUARDIAN-BUNDLE/1`, result bodies a `ResultSync.push` checksummed
/// whole) is still read.
///
/// Frames: one **header** (JSON: the exporter, what was selected, how many records follow, and the
/// public key of every signer of the results), then **registry** records (projects and teams, never
/// tokens, never secrets), then **results** (project, time, the exact DSSE envelope), then a
/// **trailer** with the counts. Header, registry records and trailer are signed by the exporting
/// node (an Ed25519 signature of 64 bytes at the end of the body); results carry their own signatures.
/// The checksum finds a flipped byte in any frame; the counts in the header say what a truncated
/// file is missing.
public enum AirGapBundle {
    /// What `exportBundle` writes. Version 1 bundles (`magicV1`) are still read.
    public static let magic = Array("GUARDIAN-BUNDLE/2\n".utf8)
    /// The first format: its result frames were a `ResultSync.push` of one record, checksummed whole,
    /// so an import hashed every envelope twice (the checksum, then the record id).
    public static let magicV1 = Array("GUARDIAN-BUNDLE/1\n".utf8)
    public enum Kind: UInt8, Sendable { case header = 1, registry = 2, result = 3, trailer = 4 }
    /// Largest frame body (an envelope is at most `ResultSync.maxEnvelope`).
    public static let maxBody = ResultSync.maxEnvelope + 4096
    static let checksumBytes = 16

    public struct Signer: Codable, Sendable, Equatable {
        public var id: String
        public var publicKey: String
    }

    public struct Header: Codable, Sendable {
        public var version = 2
        public var exporter: Signer
        public var exporterName: String
        public var createdAt: Double
        public var project: String?
        public var since: Double?
        public var registry: Int
        public var results: Int
        public var signers: [Signer]
        /// Signers of exported results whose public keys the exporter did not know.
        public var unknownSigners: [String]
    }

    public struct Trailer: Codable, Sendable { public var registry: Int; public var results: Int }

    public static func frame(_ kind: Kind, _ body: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [kind.rawValue]
        appendBigEndian(UInt32(body.count), to: &out)
        out += body
        out += checksum(out, 0..<out.count)
        return out
    }

    /// The bundle's fixed-width integers (frame lengths, a result's project length and time) are big-endian.
    static func appendBigEndian<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { out += $0 }
    }

    /// The big-endian integer in `bytes[at..<at + width]`; the caller checked that they are there.
    static func bigEndian(_ bytes: [UInt8], at: Int, width: Int) -> UInt64 {
        bytes[at..<at + width].reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// The checksum of `bytes[range]`, read where it lies.
    static func checksum(_ bytes: [UInt8], _ range: Range<Int>) -> [UInt8] {
        bytes.withUnsafeBufferPointer { Sodium.blake2b(UnsafeBufferPointer(rebasing: $0[range]), length: checksumBytes) }
    }

    /// A version 2 result frame's checksum: of everything before the envelope, then the envelope's
    /// record id (BLAKE2b-256, raw) in its place.
    static func resultChecksum(_ head: ArraySlice<UInt8>, id: [UInt8]) -> [UInt8] {
        Sodium.blake2b(Array(head) + id, length: checksumBytes)
    }

    /// A body signed by the exporter: the content, then 64 bytes of signature over it.
    public static func signed(_ content: [UInt8], by key: SigningKey) -> [UInt8] { content + key.sign(content) }

    /// A result frame (version 2). Body: the project (2-byte length, UTF-8), the time (the Double's
    /// 8 bytes, big-endian), the signer's public key (1-byte length, 0 or 32 bytes), then the
    /// envelope's exact bytes to the end. Checksum: BLAKE2b-128 of kind · length · the body up to
    /// the envelope · the envelope's record id (BLAKE2b-256, raw). Every byte is still covered, and
    /// an import hashes each envelope once, for the id it needs anyway.
    public static func resultFrame(_ r: ResultSync.Record) -> [UInt8] {
        let project = Array(r.project.utf8)
        let length = 2 + project.count + 8 + 1 + r.signerKey.count + r.envelope.count
        var out: [UInt8] = [Kind.result.rawValue]
        out.reserveCapacity(5 + length + checksumBytes)
        appendBigEndian(UInt32(length), to: &out)
        appendBigEndian(UInt16(project.count), to: &out)
        out += project
        appendBigEndian(r.createdAt.bitPattern, to: &out)
        out.append(UInt8(r.signerKey.count))
        out += r.signerKey
        let head = out.count
        out += r.envelope
        out += resultChecksum(out[0..<head], id: Sodium.blake2b(r.envelope, length: 32))
        return out
    }

    /// The records of a whole result frame (kind · length · body · checksum, as `BundleReader` hands
    /// it out) and their ids, or why it cannot be used: its checksum fails, or its body does not
    /// decode. Runs on every core during an import, beside the signature checks.
    public static func openResult(_ frame: [UInt8], version: Int) -> Result<([ResultSync.Record], [String]), FrameDamage> {
        let end = frame.count - checksumBytes
        guard end >= 5 else { return .failure(FrameDamage(reason: "a result frame too short to hold its checksum")) }
        let mismatch = FrameDamage(reason: "checksum mismatch in a result frame of \(end - 5) bytes")
        if version == 1 {
            guard checksum(frame, 0..<end).elementsEqual(frame[end...]) else { return .failure(mismatch) }
            guard case .push(let records)? = try? ResultSync.decode(frame, 5..<end) else {
                return .failure(FrameDamage(reason: "a result frame that does not decode"))
            }
            return .success((records, records.map { DSSE.recordID($0.envelope) }))
        }
        func damaged(_ why: String) -> Result<([ResultSync.Record], [String]), FrameDamage> {
            .failure(FrameDamage(reason: "a result frame of \(end - 5) bytes \(why)"))
        }
        // the lengths are bounded before anything is sliced; `Record(checking:)` checks the fields
        var i = 5
        guard end - i >= 2 else { return damaged("ends before its project") }
        let projectLength = Int(bigEndian(frame, at: i, width: 2))
        i += 2
        guard end - i >= projectLength + 9 else { return damaged("has a project of \(projectLength) bytes") }
        guard let project = String(validating: frame[i..<i + projectLength], as: UTF8.self) else { return damaged("has a project that is not UTF-8") }
        i += projectLength
        let time = Double(bitPattern: bigEndian(frame, at: i, width: 8))
        let keyLength = Int(frame[i + 8])
        i += 9
        guard end - i >= keyLength else { return damaged("ends in its signer key") }
        let key = Array(frame[i..<i + keyLength])
        i += keyLength
        let record: ResultSync.Record
        do { record = try ResultSync.Record(checking: project, createdAt: time, envelope: Array(frame[i..<end]), signerKey: key) } catch {
            return damaged("is not a result: \(error)")
        }
        let id = Sodium.blake2b(record.envelope, length: 32)
        guard resultChecksum(frame[0..<i], id: id).elementsEqual(frame[end...]) else { return .failure(mismatch) }
        return .success(([record], [Sodium.hex(id)]))
    }

    public struct FrameDamage: Error, Sendable { public var reason: String }

    /// The content of a signed body, or nil when the signature is not `key`'s.
    public static func opened(_ body: [UInt8], key: VerifyingKey) -> [UInt8]? {
        guard body.count >= 64 else { return nil }
        let content = Array(body.dropLast(64))
        return key.verify(signature: Array(body.suffix(64)), message: content) ? content : nil
    }

    static func json<T: Encodable>(_ v: T) -> [UInt8] {
        let e = JSONEncoder()
        e.outputFormatting = .sortedKeys
        return [UInt8]((try? e.encode(v)) ?? Data())
    }
}

/// Reads a bundle from chunks as they arrive (a file, an HTTP body), frame by frame. A frame whose
/// checksum fails is reported and skipped; a length that cannot be right ends the reading there.
/// Result frames (all but a handful of a bundle's frames) come out whole and unchecked: their
/// checksums are checked with `AirGapBundle.openResult` on every core, not on the one thread that
/// reads the file (a serial step between the parallel ones otherwise).
public struct BundleReader: Sendable {
    public enum Item: Sendable {
        case frame(AirGapBundle.Kind, [UInt8], offset: Int)
        /// A whole result frame (kind · length · body · checksum), its checksum not yet checked.
        case result(frame: [UInt8], offset: Int)
        /// A frame that does not check: where it starts and why.
        case damaged(offset: Int, reason: String)
    }

    private var buffer: [UInt8] = []
    private var start = 0
    /// Bytes consumed before `buffer[start]`.
    public private(set) var offset = 0
    private var sawMagic = false
    /// The bundle's format version (1 or 2), once its magic line was read.
    public private(set) var version = 0
    /// Set when the rest of the input cannot be read (bad magic, an impossible length).
    public private(set) var stopped: String?

    public init() {}

    public mutating func feed(_ bytes: some Sequence<UInt8>) {
        if start > 1 << 20 { buffer.removeFirst(start); start = 0 }
        buffer.append(contentsOf: bytes)
    }

    /// The next whole frame, or nil when more input is needed (or reading stopped).
    public mutating func next() -> Item? {
        guard stopped == nil else { return nil }
        if !sawMagic {
            guard buffer.count - start >= AirGapBundle.magic.count else { return nil }
            let line = Array(buffer[start..<start + AirGapBundle.magic.count])
            if line == AirGapBundle.magic { version = 2 } else if line == AirGapBundle.magicV1 { version = 1 } else {
                stopped = "not a Guardian bundle (no GUARDIAN-BUNDLE/2 or /1 header)"
                return nil
            }
            consume(AirGapBundle.magic.count)
            sawMagic = true
        }
        let available = buffer.count - start
        guard available >= 5 else { return nil }
        let kindByte = buffer[start]
        let length = Int(AirGapBundle.bigEndian(buffer, at: start + 1, width: 4))
        guard length <= AirGapBundle.maxBody, (1...4).contains(kindByte) else {
            stopped = "unreadable from byte \(offset) on: a frame header that cannot be right (kind \(kindByte), length \(length))"
            return nil
        }
        let total = 5 + length + AirGapBundle.checksumBytes
        guard available >= total else { return nil }
        let at = offset, from = start
        consume(total)
        if kindByte == AirGapBundle.Kind.result.rawValue {
            return .result(frame: Array(buffer[from..<from + total]), offset: at)
        }
        // checked where it lies in the buffer, and only the body copied out
        guard AirGapBundle.checksum(buffer, from..<from + 5 + length).elementsEqual(buffer[from + 5 + length..<from + total]) else {
            return .damaged(offset: at, reason: "checksum mismatch in a \(AirGapBundle.Kind(rawValue: kindByte).map { "\($0)" } ?? "?") frame of \(length) bytes")
        }
        return .frame(AirGapBundle.Kind(rawValue: kindByte)!, Array(buffer[from + 5..<from + 5 + length]), offset: at)
    }

    /// Bytes left over at the end of the input (a frame cut short).
    public var leftover: Int { buffer.count - start }
    public var started: Bool { sawMagic }

    private mutating func consume(_ n: Int) { start += n; offset += n }
}
