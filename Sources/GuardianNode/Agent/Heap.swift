import CHeap

/// The C heap under glibc's allocator. glibc keeps memory an audit freed in its arenas (up to 8 per
/// core, one taken by each thread that allocates while the others are busy) until something in the
/// same arena needs it: after a burst of audits that is resident memory nothing uses.
public enum Heap {
    /// Caps the arenas (called once, as the agent starts): freed memory is then reused across the
    /// audits' threads instead of staying in an arena of its own.
    public static func limitArenas(_ arenas: Int) { guardian_heap_limit_arenas(Int32(arenas)) }

    /// Hands free pages back to the system (after the last audit of a burst).
    static func trim() { guardian_heap_trim() }

    /// Bytes allocated and not freed, and bytes freed but kept by the allocator; nil off glibc.
    static func usage() -> (inUse: Int, free: Int)? {
        var inUse = 0, free = 0
        guard guardian_heap_stats(&inUse, &free) != 0 else { return nil }
        return (inUse, free)
    }
}
