#ifndef C_ALLOCATION_COUNTER_H
#define C_ALLOCATION_COUNTER_H

/// Heap allocations made by this process so far, in every thread: calls to malloc, calloc,
/// realloc, reallocarray, posix_memalign, aligned_alloc, memalign, valloc and pvalloc.
///
/// The counting versions of those functions replace glibc's for the whole process (the
/// executable's definitions come first in symbol lookup), so link this module into a
/// measuring executable only.
unsigned long bp_allocation_count(void);

#endif
