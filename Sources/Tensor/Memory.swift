import CHeap
import Foundation
import Synchronization

/// Freed heap memory the C allocator still holds.
public enum FreedMemory {
    /// Gives the free memory at the top and inside glibc's heap back to the kernel. Loading many short-lived
    /// tensors between long-lived ones (adapters condensed as they are read) leaves the heap fragmented: glibc
    /// keeps the holes (140 MB after loading an 8-task snapshot at 178 M, the served adapters being 54 MB).
    public static func release() { mneme_heap_trim() }

    /// `release()` when the heap holds more than `bytes` free, looked at no more than four times a second.
    /// Queries can leave freed memory the allocator does not reuse (a 178 M model's process grew by about 12 MB a
    /// query in some runs, its live heap flat at 40 MB — held in glibc's main heap, whatever the arena and mmap
    /// settings); checking after each batch keeps it bounded. Reading the statistics walks the free lists
    /// (0.1 ms, up to a few ms on a fragmented heap), hence the rate.
    public static func releaseIfHolding(moreThan bytes: Int = 64 << 20) {
        let now = DispatchTime.now().uptimeNanoseconds
        let last = lastCheck.load(ordering: .relaxed)
        guard now &- last >= 250_000_000,
              lastCheck.compareExchange(expected: last, desired: now, ordering: .relaxed).exchanged else { return }
        if mneme_heap_free_bytes() > bytes { mneme_heap_trim() }
    }

    private static let lastCheck = Atomic<UInt64>(0)
}

/// Pages of a read-only file mapping that are no longer needed.
public enum MappedPages {
    /// Lets the kernel drop the whole pages inside `start ..< start + byteCount` of a read-only file mapping
    /// from memory; they are read again from the file if touched. Never for anonymous memory (it would be zeroed).
    public static func release(_ start: UnsafeRawPointer, byteCount: Int) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let begin = Int(bitPattern: start)
        let first = (begin + page - 1) / page * page, last = (begin + byteCount) / page * page
        if last > first { madvise(UnsafeMutableRawPointer(bitPattern: first), last - first, MADV_DONTNEED) }
    }
}
