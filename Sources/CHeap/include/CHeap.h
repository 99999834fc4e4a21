#ifndef MNEME_CHEAP_H
#define MNEME_CHEAP_H

#include <stddef.h>

/// Bytes of the C heap that are free but still held by the allocator (glibc's mallinfo2 `fordblks`).
size_t mneme_heap_free_bytes(void);

/// Gives the heap's free pages back to the kernel (glibc's malloc_trim).
void mneme_heap_trim(void);

#endif
