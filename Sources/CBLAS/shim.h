// OpenBLAS's CBLAS interface, plus its thread-count controls.
#ifndef TRAINER_CBLAS_SHIM_H
#define TRAINER_CBLAS_SHIM_H
#include <cblas.h>

#if defined(__linux__)
#include <malloc.h>
/// glibc: keep freed large blocks in the heap instead of returning them to the system, so that the
/// kernels' per-call scratch buffers do not page-fault afresh on every call.
static inline void shim_keep_freed_memory(void) {
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
}
#else
static inline void shim_keep_freed_memory(void) {}
#endif
#endif
