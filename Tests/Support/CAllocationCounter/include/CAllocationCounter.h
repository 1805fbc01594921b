/*
 * CAllocationCounter: counts heap allocations made by the calling thread, for tests that prove a hot path
 * allocates nothing (the policy kernel's pk_forward, the control thread's tick).
 *
 * Linked into the test executable, it defines malloc, calloc, realloc, free and the aligned variants, which
 * interpose glibc's for the whole process (an executable's symbols come first in the dynamic lookup) and
 * forward to glibc's own (__libc_malloc, ...). Counting is per thread and only between begin and end, so
 * tests running in parallel on other threads do not disturb it.
 */
#ifndef CALLOCATIONCOUNTER_H
#define CALLOCATIONCOUNTER_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Starts counting the calling thread's allocations (resets its count). */
void ec_allocations_begin(void);

/** Stops counting and returns the allocations (malloc, calloc, realloc, aligned) seen since begin. */
uint64_t ec_allocations_end(void);

/** Whether the interposer is active in this process (its malloc is the one being called). */
int ec_allocations_interposed(void);

#ifdef __cplusplus
}
#endif

#endif
