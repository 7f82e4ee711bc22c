import Foundation
import GuardianCore

/// A command's output file (`--output`, `--attest`), written whole or not at all: a temporary file
/// beside it (a random name, so that one left by a killed run is never in the way), renamed over
/// it, with the mode of the file it replaces. Not flushed to disk before the rename, as
/// `Data.write(options: .atomic)` did (2-3 ms of each audit): a crash can lose the new report but
/// never leaves a part of one. A device, a pipe or `/dev/stdout` is written to directly.
enum OutputFile {
    static func write(_ data: Data, to path: String) throws {
        func failure(_ err: Int32) -> GuardianError { .io("cannot write \(path): \(String(cString: strerror(err)))") }
        var st = stat()
        let exists = stat(path, &st) == 0
        if path.hasPrefix("/dev/") || (exists && (st.st_mode & S_IFMT) != S_IFREG) {
            let fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
            guard fd >= 0 else { throw failure(errno) }
            defer { close(fd) }
            guard data.withUnsafeBytes({ writeAll(fd, $0) }) else { throw failure(errno) }
            return
        }
        let url = URL(fileURLWithPath: path)
        var fd: Int32 = -1
        var tmp = ""
        for _ in 0..<8 where fd < 0 {
            tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(UInt64.random(in: 0...UInt64.max)).tmp").path
            fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o666)
            if fd < 0 && errno != EEXIST { break }
        }
        guard fd >= 0 else { throw failure(errno) }
        if exists { _ = fchmod(fd, st.st_mode & 0o7777) }
        let ok = data.withUnsafeBytes { writeAll(fd, $0) }
        let err = errno
        close(fd)
        guard ok else { unlink(tmp); throw failure(err) }
        guard rename(tmp, path) == 0 else { let e = errno; unlink(tmp); throw failure(e) }
    }
}
