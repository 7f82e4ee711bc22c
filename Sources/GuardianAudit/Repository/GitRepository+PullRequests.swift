import CGit2
import Foundation
import GuardianCore

/// What a pull request's audit needs of a mirror: the request's head fetched from the host's ref,
/// the merge base with its target branch, and the lines the request added.
extension GitRepository {
    /// The best common ancestor of two revisions (`git merge-base`).
    func mergeBase(_ a: String, _ b: String) throws -> String {
        var one = try resolve(a), two = try resolve(b)
        var out = git_oid()
        guard git_merge_base(&out, repo, &one, &two) == 0 else {
            throw GuardianError.repository("\(a) and \(b) have no common ancestor in \(path)")
        }
        return GitRepository.hex(out)
    }

    /// The new-side line numbers each file gained from `base` to `head` (renames followed), for at
    /// most `maxFiles` changed files: where a review comment may go, since a host refuses one on a
    /// line the request did not change.
    func addedLines(from base: String, to head: String, maxFiles: Int = 3_000) throws -> [String: Set<Int>] {
        func tree(_ rev: String) throws -> OpaquePointer {
            var oid = try resolve(rev)
            var commit: OpaquePointer?
            guard git_commit_lookup(&commit, repo, &oid) == 0 else { throw GitRepository.lastError("cannot read commit \(rev)") }
            defer { git_commit_free(commit) }
            var t: OpaquePointer?
            guard git_commit_tree(&t, commit) == 0, let t else { throw GitRepository.lastError("cannot read the tree of \(rev)") }
            return t
        }
        let old = try tree(base)
        defer { git_tree_free(old) }
        let new = try tree(head)
        defer { git_tree_free(new) }
        var opts = git_diff_options()
        guardian_git_diff_options_init(&opts)
        opts.context_lines = 0
        var diff: OpaquePointer?
        guard git_diff_tree_to_tree(&diff, repo, old, new, &opts) == 0, let diff else { throw GitRepository.lastError("cannot diff \(base)..\(head)") }
        defer { git_diff_free(diff) }
        guard git_diff_num_deltas(diff) <= maxFiles else { return [:] }
        var find = git_diff_find_options()
        guardian_git_diff_find_options_init(&find)
        find.flags = GIT_DIFF_FIND_RENAMES.rawValue
        _ = git_diff_find_similar(diff, &find)
        let box = AddedLines()
        let rc = withExtendedLifetime(box) {
            git_diff_foreach(diff, nil, nil, nil, { delta, _, line, payload in
                guard let delta, let line, let payload, line.pointee.origin == CChar(UInt8(ascii: "+")),
                      let path = delta.pointee.new_file.path else { return 0 }
                Unmanaged<AddedLines>.fromOpaque(payload).takeUnretainedValue().byPath[String(cString: path), default: []]
                    .insert(Int(line.pointee.new_lineno))
                return 0
            }, Unmanaged.passUnretained(box).toOpaque())
        }
        guard rc == 0 else { throw GitRepository.lastError("cannot read the diff \(base)..\(head)") }
        return box.byPath
    }
}

/// Collects the diff callback's lines (the callback is a C function: it reaches this through its payload).
private final class AddedLines {
    var byPath: [String: Set<Int>] = [:]
}

extension Mirror {
    /// The merge base of two revisions in the mirror at `path`.
    public static func mergeBase(in path: String, _ a: String, _ b: String) throws -> String {
        try GitRepository(path: path).mergeBase(a, b)
    }

    /// The commit a revision names in the mirror at `path`.
    public static func resolve(in path: String, _ rev: String) throws -> String {
        GitRepository.hex(try GitRepository(path: path).resolve(rev))
    }

    /// The lines each file gained from `base` to `head` in the mirror at `path`.
    public static func addedLines(in path: String, from base: String, to head: String) throws -> [String: Set<Int>] {
        try GitRepository(path: path).addedLines(from: base, to: head)
    }
}
