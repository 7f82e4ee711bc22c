import NIOCore
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

/// Stream frames: a 4-byte big-endian length, then the frame.
struct FrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer
    let limit: FrameLimit

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return .needMoreData }
        guard Int(length) <= limit.current else { throw FrameTooLarge(bytes: Int(length), limit: limit.current) }
        guard buffer.readableBytes >= 4 + Int(length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        context.fireChannelRead(wrapInboundOut(buffer.readSlice(length: Int(length))!))
        return .continue
    }
}

struct FrameTooLarge: Error, CustomStringConvertible {
    var bytes: Int, limit: Int
    var description: String { "a stream frame of \(bytes) bytes is over the limit of \(limit)" }
}

struct FrameEncoder: MessageToByteEncoder {
    typealias OutboundIn = ByteBuffer
    func encode(data: ByteBuffer, out: inout ByteBuffer) throws {
        out.writeInteger(UInt32(data.readableBytes))
        out.writeImmutableBuffer(data)
    }
}

extension MeshNode {
    typealias FramedChannel = NIOAsyncChannel<ByteBuffer, ByteBuffer>

    /// A connection with stream framing, and the frame limit that its hello raises.
    static func framed(_ ch: any Channel) -> EventLoopFuture<(FramedChannel, FrameLimit)> {
        ch.eventLoop.makeCompletedFuture {
            let limit = FrameLimit()
            try ch.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder(limit: limit)))
            try ch.pipeline.syncOperations.addHandler(MessageToByteHandler(FrameEncoder()))
            return (try FramedChannel(wrappingChannelSynchronously: ch), limit)
        }
    }
}
