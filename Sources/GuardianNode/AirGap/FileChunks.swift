import GuardianStore
import Foundation
import GuardianCore

/// A file read in 1 MB chunks, as an async sequence (imports never hold a whole bundle in memory).
/// Each chunk is read straight into its array (through `Data` it was copied once more, on the
/// thread that feeds the import).
public struct FileChunks: AsyncSequence, Sendable {
    public typealias Element = [UInt8]
    let path: String
    public init(path: String) { self.path = path }
    public struct AsyncIterator: AsyncIteratorProtocol {
        /// Closes the file when the iterator goes.
        let handle: FileHandle?
        public mutating func next() async throws -> [UInt8]? {
            guard let fd = handle?.fileDescriptor else { return nil }
            var failure: Int32 = 0
            let chunk = [UInt8](unsafeUninitializedCapacity: 1 << 20) { buffer, count in
                count = 0
                while count < buffer.count {
                    let n = read(fd, buffer.baseAddress! + count, buffer.count - count)
                    if n > 0 { count += n; continue }
                    if n < 0 && errno == EINTR { continue }
                    if n < 0 { failure = errno }
                    break
                }
            }
            if failure != 0 { throw GuardianError.io("cannot read the bundle: \(String(cString: strerror(failure)))") }
            return chunk.isEmpty ? nil : chunk
        }
    }
    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(handle: FileHandle(forReadingAtPath: path)) }
}
