#ifndef GUARDIAN_CHEAP_SHIM_H
#define GUARDIAN_CHEAP_SHIM_H
#include <stddef.h>
#include <stdlib.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

/* The C heap as glibc's allocator sees it, over all its arenas: bytes handed out and not freed
   (small chunks and mmapped ones), and bytes freed but kept in the arenas. Returns 0 where the
   allocator is not glibc's (the caller then exports nothing). */
static inline int guardian_heap_stats(size_t *in_use, size_t *kept_free) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    struct mallinfo2 m = mallinfo2();
    *in_use = m.uordblks + m.hblkhd;
    *kept_free = m.fordblks;
    return 1;
#else
    (void)in_use; (void)kept_free;
    return 0;
#endif
}

/* Hands freed memory at the top of each arena, and whole free pages inside them, back to the
   system (glibc's malloc_trim); nothing elsewhere. */
static inline void guardian_heap_trim(void) {
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}

/* Caps glibc's arenas (M_ARENA_MAX). By default glibc makes up to 8 per core, one per thread
   that allocates while the others are busy, and memory freed in one is reused only there. */
static inline void guardian_heap_limit_arenas(int arenas) {
#if defined(__GLIBC__)
    mallopt(M_ARENA_MAX, arenas);
#else
    (void)arenas;
#endif
}
#endif
