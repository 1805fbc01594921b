/*
 * The peer of the runtime's control loop for Tools/bench-loop: a bare C loop that sleeps to absolute
 * CLOCK_MONOTONIC deadlines with clock_nanosleep at a fixed rate and records how late each wake-up is,
 * nothing else. Same requests as the runtime's control thread: SCHED_FIFO at the given priority, pinned to the
 * given CPU, memory locked. Prints one JSON line: count and lateness percentiles in microseconds.
 *   bare_loop RATE_HZ SECONDS CPU PRIORITY
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: bare_loop RATE_HZ SECONDS CPU PRIORITY\n");
        return 2;
    }
    double rate = atof(argv[1]), seconds = atof(argv[2]);
    int cpu = atoi(argv[3]), priority = atoi(argv[4]);
    size_t n = (size_t)(rate * seconds);
    if (rate <= 0 || n == 0) return 2;
    int64_t *late = calloc(n, sizeof *late);
    if (!late) return 1;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    const char *pinned = sched_setaffinity(0, sizeof set, &set) == 0 ? "yes" : strerror(errno);
    struct sched_param param = {.sched_priority = priority};
    const char *fifo = sched_setscheduler(0, SCHED_FIFO, &param) == 0 ? "yes" : strerror(errno);
    const char *locked = mlockall(MCL_CURRENT | MCL_FUTURE) == 0 ? "yes" : strerror(errno);
    int64_t period = (int64_t)(1e9 / rate);
    int64_t deadline = now_ns() + period;
    for (size_t i = 0; i < n; i++) {
        struct timespec ts = {.tv_sec = deadline / 1000000000, .tv_nsec = deadline % 1000000000};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {}
        late[i] = now_ns() - deadline;
        deadline += period;
    }
    qsort(late, n, sizeof *late, cmp);
#define P(q) ((double)late[(size_t)((q) * (double)(n - 1))] / 1000.0)
    printf("{\"count\": %zu, \"p50_us\": %.1f, \"p99_us\": %.1f, \"p999_us\": %.1f, \"max_us\": %.1f, "
           "\"fifo\": \"%s\", \"pinned\": \"%s\", \"locked\": \"%s\"}\n",
           n, P(0.5), P(0.99), P(0.999), (double)late[n - 1] / 1000.0, fifo, pinned, locked);
    free(late);
    return 0;
}
