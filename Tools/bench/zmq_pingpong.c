/*
 * libzmq's own round-trip latency, as the floor EdgeCell's link is compared against (Tools/bench-link).
 * A DEALER and a ROUTER in one process (two threads), the transport given on the command line; the DEALER
 * sends a request of REQ bytes, the ROUTER answers with REP bytes; N timed round trips after a warm-up.
 * Prints one JSON object: percentiles of the round trip in microseconds.
 *
 *   zmq_pingpong inproc|tcp REQ_BYTES REP_BYTES N
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

static size_t rep_bytes;
static int total;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void *server(void *router) {
    char id[256], buf[65536];
    char *reply = calloc(1, rep_bytes);
    for (int i = 0; i < total; i++) {
        int idn = zmq_recv(router, id, sizeof id, 0);
        zmq_recv(router, buf, sizeof buf, 0);
        zmq_send(router, id, (size_t)idn, ZMQ_SNDMORE);
        zmq_send(router, reply, rep_bytes, 0);
    }
    free(reply);
    return NULL;
}

static int compare(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s inproc|tcp REQ_BYTES REP_BYTES N\n", argv[0]);
        return 2;
    }
    const char *transport = argv[1];
    size_t req_bytes = (size_t)atol(argv[2]);
    rep_bytes = (size_t)atol(argv[3]);
    int n = atoi(argv[4]);
    int warmup = n / 10 + 100;
    total = n + warmup;
    void *ctx = zmq_ctx_new();
    void *router = zmq_socket(ctx, ZMQ_ROUTER);
    void *dealer = zmq_socket(ctx, ZMQ_DEALER);
    char endpoint[256];
    size_t len = sizeof endpoint;
    if (strcmp(transport, "inproc") == 0) {
        zmq_bind(router, "inproc://pingpong");
        strcpy(endpoint, "inproc://pingpong");
    } else {
        zmq_bind(router, "tcp://127.0.0.1:0");
        zmq_getsockopt(router, ZMQ_LAST_ENDPOINT, endpoint, &len);
    }
    zmq_connect(dealer, endpoint);
    pthread_t thread;
    pthread_create(&thread, NULL, server, router);
    char *request = calloc(1, req_bytes);
    char buf[65536];
    int64_t *samples = malloc(sizeof(int64_t) * (size_t)n);
    for (int i = 0; i < total; i++) {
        int64_t t0 = now_ns();
        zmq_send(dealer, request, req_bytes, 0);
        zmq_recv(dealer, buf, sizeof buf, 0);
        int64_t t1 = now_ns();
        if (i >= warmup) samples[i - warmup] = t1 - t0;
    }
    pthread_join(thread, NULL);
    qsort(samples, (size_t)n, sizeof(int64_t), compare);
    double sum = 0;
    for (int i = 0; i < n; i++) sum += (double)samples[i];
    printf("{\"transport\": \"%s\", \"n\": %d, \"p50_us\": %.2f, \"p99_us\": %.2f, \"p999_us\": %.2f, "
           "\"max_us\": %.2f, \"mean_us\": %.2f}\n",
           transport, n, samples[n / 2] / 1e3, samples[(int)(n * 0.99)] / 1e3, samples[(int)(n * 0.999)] / 1e3,
           samples[n - 1] / 1e3, sum / n / 1e3);
    zmq_close(dealer);
    zmq_close(router);
    zmq_ctx_term(ctx);
    free(request);
    free(samples);
    return 0;
}
