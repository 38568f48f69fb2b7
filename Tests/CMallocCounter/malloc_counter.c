// Counts the heap allocations of the process it is preloaded into; see include/malloc_counter.h.
//
// It defines malloc and its family, counts, and forwards to glibc's own allocator through the
// __libc_* entry points that glibc exports for this purpose. Forwarding that way needs no dlsym,
// which itself allocates and would recurse into malloc before the forward is known.
#ifdef __linux__

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "malloc_counter.h"

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void __libc_free(void *pointer);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void *__libc_valloc(size_t size);
extern void *__libc_pvalloc(size_t size);

typedef _Atomic uint64_t counter_word;

/// The mapped counter file, or NULL while nothing is counted (before the constructor ran, or
/// when the variable is not set).
static counter_word *_Atomic counters = NULL;

__attribute__((constructor(101))) static void malloc_counter_start(void) {
    // getenv, open, ftruncate and mmap do not allocate.
    const char *path = getenv(MALLOC_COUNTER_FILE_VARIABLE);
    if (path == NULL || *path == '\0') return;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return;
    size_t size = (size_t)sysconf(_SC_PAGESIZE);
    if (ftruncate(fd, (off_t)size) != 0) {
        close(fd);
        return;
    }
    void *mapped = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (mapped == MAP_FAILED) return;
    counter_word *words = mapped;
    for (int index = 0; index < malloc_counter_words; index++) atomic_store(&words[index], 0);
    atomic_store(&words[malloc_counter_pid], (uint64_t)getpid());
    atomic_store(&words[malloc_counter_magic], MALLOC_COUNTER_MAGIC);
    atomic_store(&counters, words);
}

static inline void count_allocation(size_t size) {
    counter_word *words = atomic_load_explicit(&counters, memory_order_relaxed);
    if (words == NULL) return;
    atomic_fetch_add_explicit(&words[malloc_counter_allocations], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&words[malloc_counter_bytes], size, memory_order_relaxed);
}

static inline void count_free(void) {
    counter_word *words = atomic_load_explicit(&counters, memory_order_relaxed);
    if (words == NULL) return;
    atomic_fetch_add_explicit(&words[malloc_counter_frees], 1, memory_order_relaxed);
}

void *malloc(size_t size) {
    count_allocation(size);
    return __libc_malloc(size);
}

void *calloc(size_t count, size_t size) {
    count_allocation(count * size);
    return __libc_calloc(count, size);
}

void *realloc(void *pointer, size_t size) {
    if (pointer != NULL && size == 0) {
        count_free();
    } else {
        // A realloc may move the block: it counts as an allocation, like malloc when pointer is NULL.
        count_allocation(size);
    }
    return __libc_realloc(pointer, size);
}

void free(void *pointer) {
    if (pointer != NULL) count_free();
    __libc_free(pointer);
}

int posix_memalign(void **result, size_t alignment, size_t size) {
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0) return EINVAL;
    count_allocation(size);
    void *pointer = __libc_memalign(alignment, size);
    if (pointer == NULL) return ENOMEM;
    *result = pointer;
    return 0;
}

void *aligned_alloc(size_t alignment, size_t size) {
    count_allocation(size);
    return __libc_memalign(alignment, size);
}

void *memalign(size_t alignment, size_t size) {
    count_allocation(size);
    return __libc_memalign(alignment, size);
}

void *valloc(size_t size) {
    count_allocation(size);
    return __libc_valloc(size);
}

void *pvalloc(size_t size) {
    count_allocation(size);
    return __libc_pvalloc(size);
}

#endif
