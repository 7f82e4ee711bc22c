import GuardianStore
import GuardianCrypto
import NIOCore
import NIOExtras
import Synchronization

/// The largest frame a connection accepts: small until the peer proves it holds the cluster key
/// (its hello opened), large after. A frame's length is checked against it before a byte of the
/// frame is buffered, so a stranger cannot make this node hold more than a hello's worth.
final class FrameLimit: Sendable {
    /// A hello and its answer are well under this.
    static let unauthenticated = 1024
    static let authenticated = 16 << 20
    private let bytes = Atomic(FrameLimit.unauthenticated)

    var current: Int { bytes.load(ordering: .acquiring) }
    var isOpen: Bool { current == Self.authenticated }
    /// The peer proved itself: frames up to `authenticated` bytes from now on.
    func open() { bytes.store(Self.authenticated, ordering: .releasing) }
}

/// Connections that have not yet proved they hold the cluster key, counted per source address and
/// in all. A stranger can then hold a handful of slots for a couple of seconds each, never all of
/// them: members on other addresses still get in while one address floods the port.
struct PendingConnections {
    static let perAddress = 8, total = 256
    private(set) var byAddress: [String: Int] = [:]
    private(set) var count = 0

    mutating func admit(_ address: String) -> Bool {
        guard count < Self.total, byAddress[address, default: 0] < Self.perAddress else { return false }
        count += 1
        byAddress[address, default: 0] += 1
        return true
    }

    mutating func release(_ address: String) {
        count -= 1
        let n = byAddress[address, default: 1] - 1
        byAddress[address] = n > 0 ? n : nil
    }
}

/// Stream frames: a 4-byte big-endian length, then the frame (written by NIOExtras'
/// `LengthFieldPrepender`). NIOExtras' `LengthFieldBasedFrameDecoder` reads the same format but
/// buffers any frame up to 2 GiB, and `ByteToMessageHandler`'s `maximumBufferSize` is fixed per
/// connection and checked only after bytes are held; this decoder refuses a header over the
/// connection's current limit (`FrameLimit`, raised by the hello) before buffering a byte of it.
struct FrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer
    let limit: FrameLimit

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let header = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return .needMoreData }
        let length = try StreamFrames.length(header, limit: limit.current)
        guard buffer.readableBytes >= 4 + length else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        context.fireChannelRead(wrapInboundOut(buffer.readSlice(length: length)!))
        return .continue
    }
}

/// The two frame limits of a stream connection (`FrameLimit`), for code outside the node.
public enum StreamFrameLimits {
    public static var unauthenticated: Int { FrameLimit.unauthenticated }
    public static var authenticated: Int { FrameLimit.authenticated }
}

/// The framing of mesh streams as pure functions (the decoder above, and the fuzzer, use them).
public enum StreamFrames {
    public struct TooLarge: Error, CustomStringConvertible {
        public var bytes: Int, limit: Int
        public var description: String { "a stream frame of \(bytes) bytes is over the limit of \(limit)" }
    }

    /// A frame's length from its header, refused before anything is buffered when over `limit`.
    public static func length(_ header: UInt32, limit: Int) throws -> Int {
        guard Int(header) <= limit else { throw TooLarge(bytes: Int(header), limit: limit) }
        return Int(header)
    }

    /// The whole frames at the start of `bytes`; a frame over `limit` ends the stream with an error.
    public static func split(_ bytes: [UInt8], limit: Int) throws -> [ArraySlice<UInt8>] {
        var frames: [ArraySlice<UInt8>] = [], at = 0
        while bytes.count - at >= 4 {
            let header = bytes[at..<at + 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            let n = try length(header, limit: limit)
            guard bytes.count - at - 4 >= n else { break }
            frames.append(bytes[at + 4..<at + 4 + n])
            at += 4 + n
        }
        return frames
    }

    /// The stream kinds and what each frame's sealed message is opened as.
    public static func context(ofKind kind: UInt8) -> ClusterSeal.Context? {
        MeshShell.Stream(rawValue: kind)?.context
    }
}

extension MeshShell {
    typealias FramedChannel = NIOAsyncChannel<ByteBuffer, ByteBuffer>

    /// A connection with stream framing, and the frame limit that its hello raises.
    static func framed(_ ch: any Channel) -> EventLoopFuture<(FramedChannel, FrameLimit)> {
        ch.eventLoop.makeCompletedFuture {
            let limit = FrameLimit()
            try ch.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder(limit: limit)))
            try ch.pipeline.syncOperations.addHandler(LengthFieldPrepender(lengthFieldBitLength: .thirtyTwoBits))
            return (try FramedChannel(wrappingChannelSynchronously: ch), limit)
        }
    }
}
