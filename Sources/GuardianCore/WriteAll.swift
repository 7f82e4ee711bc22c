import Foundation

/// Writes every byte to `fd`, through short writes and interrupted calls; false when a write
/// fails (errno says why). The one loop the files written with a temporary and a rename share
/// (the facts snapshot, `--output`, the node's data directory).
public func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
    var off = 0
    while off < bytes.count {
        let n = write(fd, bytes.baseAddress! + off, bytes.count - off)
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return false }
        off += n
    }
    return true
}
