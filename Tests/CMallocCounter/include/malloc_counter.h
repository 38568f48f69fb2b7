// The layout of the counter file that libSidecarMallocCounter.so keeps.
//
// Preloaded into a process (LD_PRELOAD) with MALLOC_COUNTER_FILE set to a path, the library
// creates that file, maps it shared and counts every heap allocation of the process in it, so
// that another process (the test) can read the counts at any moment: the file is a plain array
// of little-endian 64-bit words, indexed by the constants below.
#ifndef SIDECAR_MALLOC_COUNTER_H
#define SIDECAR_MALLOC_COUNTER_H

/// The environment variable that names the counter file.
#define MALLOC_COUNTER_FILE_VARIABLE "MALLOC_COUNTER_FILE"

/// Word 0: this magic number once the library has mapped the file (the process loaded it).
#define MALLOC_COUNTER_MAGIC 0x53434d414c4c4f43ULL /* "SCMALLOC" */

enum {
    malloc_counter_magic = 0,
    /// The process id of the process counting.
    malloc_counter_pid = 1,
    /// malloc, calloc, realloc (of a block or of NULL), posix_memalign, aligned_alloc, memalign,
    /// valloc, pvalloc: each call that asked for memory.
    malloc_counter_allocations = 2,
    /// free of a non-NULL pointer, and realloc to size 0.
    malloc_counter_frees = 3,
    /// Bytes asked for by the allocations.
    malloc_counter_bytes = 4,
    malloc_counter_words = 5,
};

#endif
