// glibc's view of its heap, for `FreedMemory` (Sources/Tensor/HalfMatrix.swift).
#include "CHeap.h"

#include <malloc.h>

size_t mneme_heap_free_bytes(void) {
    struct mallinfo2 info = mallinfo2();
    return info.fordblks;
}

void mneme_heap_trim(void) { malloc_trim(0); }
