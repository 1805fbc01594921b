#define _GNU_SOURCE
#include "CRealtime.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

int64_t crt_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int crt_sleep_until_ns(int64_t deadline_ns) {
    if (deadline_ns < 0) return EINVAL;
    struct timespec ts = {.tv_sec = deadline_ns / 1000000000LL, .tv_nsec = deadline_ns % 1000000000LL};
    int rc;
    do {
        rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
    } while (rc == EINTR);
    return rc;
}

int crt_pin_current_thread(int cpu) {
    if (cpu < 0 || cpu >= CPU_SETSIZE) return EINVAL;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

int crt_set_fifo(int priority) {
    struct sched_param param = {.sched_priority = priority};
    return pthread_setschedparam(pthread_self(), SCHED_FIFO, &param);
}

int crt_current_policy(void) {
    int policy = -1;
    struct sched_param param;
    if (pthread_getschedparam(pthread_self(), &policy, &param) != 0) return -1;
    return policy;
}

int crt_lock_memory(void) {
    return mlockall(MCL_CURRENT | MCL_FUTURE) == 0 ? 0 : errno;
}

int crt_online_cpus(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int crt_current_cpu(void) {
    return sched_getcpu();
}

int crt_set_thread_name(const char *name) {
    char truncated[16];
    snprintf(truncated, sizeof truncated, "%s", name ? name : "");
    return pthread_setname_np(pthread_self(), truncated);
}

int crt_kernel_is_preempt_rt(void) {
    FILE *f = fopen("/sys/kernel/realtime", "r");
    if (!f) return 0;
    int c = fgetc(f);
    fclose(f);
    return c == '1';
}

long crt_rtprio_limit(void) {
    struct rlimit limit;
    if (getrlimit(RLIMIT_RTPRIO, &limit) != 0) return 0;
    return limit.rlim_cur == RLIM_INFINITY ? -1 : (long)limit.rlim_cur;
}

#include <poll.h>
#include <sys/eventfd.h>

int crt_event_create(void) {
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return fd >= 0 ? fd : -errno;
}

int crt_event_signal(int fd) {
    uint64_t one = 1;
    ssize_t n;
    do {
        n = write(fd, &one, sizeof one);
    } while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof one ? 0 : errno;
}

int crt_event_consume(int fd) {
    uint64_t value = 0;
    ssize_t n;
    do {
        n = read(fd, &value, sizeof value);
    } while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof value && value > 0;
}

int crt_event_wait(int fd, int64_t timeout_ns) {
    int64_t deadline = timeout_ns > 0 ? crt_monotonic_ns() + timeout_ns : 0;
    for (;;) {
        if (crt_event_consume(fd)) return 1;
        int timeout_ms;
        if (timeout_ns == 0) return 0;
        if (timeout_ns < 0) {
            timeout_ms = -1;
        } else {
            int64_t left = deadline - crt_monotonic_ns();
            if (left <= 0) return 0;
            timeout_ms = (int)((left + 999999) / 1000000);
        }
        struct pollfd p = {.fd = fd, .events = POLLIN, .revents = 0};
        int rc = poll(&p, 1, timeout_ms);
        if (rc < 0 && errno != EINTR) return -errno;
    }
}

int crt_event_close(int fd) {
    return close(fd) == 0 ? 0 : errno;
}
