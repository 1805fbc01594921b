/*
 * CRealtime: the few Linux real-time calls Swift cannot reach through Glibc (they sit behind _GNU_SOURCE or
 * are macros: pthread_setaffinity_np, CPU_SET, sched_getcpu), plus absolute-deadline sleeping on
 * CLOCK_MONOTONIC. All functions return 0 or an errno value; none allocates.
 */
#ifndef CREALTIME_H
#define CREALTIME_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Nanoseconds on CLOCK_MONOTONIC (never jumps, unlike CLOCK_REALTIME; excludes suspend, unlike BOOTTIME). */
int64_t crt_monotonic_ns(void);

/** Sleeps until an absolute CLOCK_MONOTONIC time (clock_nanosleep TIMER_ABSTIME), retrying on EINTR. */
int crt_sleep_until_ns(int64_t deadline_ns);

/** Pins the calling thread to one CPU. */
int crt_pin_current_thread(int cpu);

/** Asks for SCHED_FIFO at `priority` (1-99) for the calling thread. */
int crt_set_fifo(int priority);

/** Current scheduling policy of the calling thread (SCHED_OTHER = 0, SCHED_FIFO = 1, ...) or -1. */
int crt_current_policy(void);

/** Locks current and future pages in RAM (mlockall MCL_CURRENT | MCL_FUTURE). */
int crt_lock_memory(void);

/** CPUs online. */
int crt_online_cpus(void);

/** CPU the calling thread runs on, or -1. */
int crt_current_cpu(void);

/** Names the calling thread (at most 15 characters are kept). */
int crt_set_thread_name(const char *name);

/** Whether the kernel is PREEMPT_RT (/sys/kernel/realtime reads 1). */
int crt_kernel_is_preempt_rt(void);

/** RLIMIT_RTPRIO soft limit of the process (-1 = unlimited). */
long crt_rtprio_limit(void);

/**
 * A wake-up signal between two threads: a Linux eventfd (non-blocking, counter semantics). Pollable, so an
 * I/O thread can wait on it together with ZeroMQ sockets in one zmq_poll. Returns the fd or -errno.
 */
int crt_event_create(void);
/** Adds one to the event's counter (wakes a waiter). */
int crt_event_signal(int fd);
/**
 * Waits up to timeout_ns (0 = just check, < 0 = forever) for the event and resets its counter.
 * Returns 1 if it was signalled, 0 on timeout, -errno on error.
 */
int crt_event_wait(int fd, int64_t timeout_ns);
/** Resets the counter without waiting; returns 1 if it had been signalled. */
int crt_event_consume(int fd);
/** Closes the event. */
int crt_event_close(int fd);

#ifdef __cplusplus
}
#endif

#endif
