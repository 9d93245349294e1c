/* Load generator of the ZMQ benchmark (C, so that the client is not the bottleneck).
 *   load seq  ENDPOINT COUNT PAYLOAD      sequential REQ round trips → p50/p99/mean in µs
 *   load pipe ENDPOINT SECONDS WINDOW PAYLOAD
 *                                         one DEALER keeping WINDOW requests in flight → req/s
 * Prints one JSON object. Every reply is checked to be non-empty; for ganglion replies the
 * "status":200 is checked too (a reply that is not 200 counts as an error). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* A reply is bad if it is empty or if it carries a status other than 200. */
static int reply_bad(zmq_msg_t *m)
{
    size_t n = zmq_msg_size(m);
    const char *d = zmq_msg_data(m);
    if (n == 0)
        return 1;
    const char *st = memmem(d, n, "\"status\":", 9);
    return st && (size_t)(st - d) + 12 <= n && memcmp(st + 9, "200", 3) != 0;
}

static int run_seq(const char *ep, long count, const char *payload)
{
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_REQ);
    int zero = 0, tmo = 10000;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    zmq_connect(s, ep);
    size_t plen = strlen(payload);
    double *lat = malloc(sizeof *lat * (size_t)count);
    long errors = 0;
    /* Warm up: connection set-up and first-touch allocations stay out of the figures. */
    for (int i = 0; i < 200; i++) {
        zmq_msg_t m;
        zmq_send(s, payload, plen, 0);
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, s, 0) < 0) {
            fprintf(stderr, "load: no reply from %s\n", ep);
            return 1;
        }
        zmq_msg_close(&m);
    }
    double t0 = now_s();
    for (long i = 0; i < count; i++) {
        double a = now_s();
        zmq_send(s, payload, plen, 0);
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, s, 0) < 0) {
            fprintf(stderr, "load: reply timeout\n");
            return 1;
        }
        errors += reply_bad(&m);
        zmq_msg_close(&m);
        lat[i] = (now_s() - a) * 1e6;
    }
    double total = now_s() - t0;
    qsort(lat, (size_t)count, sizeof *lat, cmp_double);
    double sum = 0;
    for (long i = 0; i < count; i++)
        sum += lat[i];
    printf("{\"count\":%ld,\"errors\":%ld,\"p50_us\":%.1f,\"p99_us\":%.1f,\"mean_us\":%.1f,"
           "\"rps\":%.0f}\n",
           count, errors, lat[count / 2], lat[(long)((double)count * 0.99)], sum / (double)count,
           (double)count / total);
    free(lat);
    zmq_close(s);
    zmq_ctx_term(ctx);
    return errors ? 1 : 0;
}

static int run_pipe(const char *ep, double seconds, long window, const char *payload)
{
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int zero = 0, tmo = 10000, hwm = 100000;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_connect(s, ep);
    size_t plen = strlen(payload);
    long sent = 0, got = 0, errors = 0;
    for (long i = 0; i < window; i++, sent++)
        zmq_send(s, payload, plen, 0);
    double t0 = now_s(), end = t0 + seconds, t = t0;
    while (t < end) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, s, 0) < 0) {
            fprintf(stderr, "load: reply timeout with %ld in flight\n", sent - got);
            return 1;
        }
        errors += reply_bad(&m);
        zmq_msg_close(&m);
        got++;
        zmq_send(s, payload, plen, 0);
        sent++;
        if ((got & 255) == 0)
            t = now_s();
    }
    double elapsed = now_s() - t0;
    /* Drain what is still in flight so that nothing is left unanswered. */
    long inflight = sent - got;
    for (long i = 0; i < inflight; i++) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, s, 0) < 0) {
            fprintf(stderr, "load: %ld replies missing\n", inflight - i);
            return 1;
        }
        zmq_msg_close(&m);
    }
    printf("{\"window\":%ld,\"seconds\":%.2f,\"replies\":%ld,\"errors\":%ld,\"rps\":%.0f}\n",
           window, elapsed, got, errors, (double)got / elapsed);
    zmq_close(s);
    zmq_ctx_term(ctx);
    return errors ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "seq") == 0)
        return run_seq(argv[2], atol(argv[3]), argv[4]);
    if (argc == 6 && strcmp(argv[1], "pipe") == 0)
        return run_pipe(argv[2], atof(argv[3]), atol(argv[4]), argv[5]);
    fprintf(stderr, "usage: load seq ENDPOINT COUNT PAYLOAD | load pipe ENDPOINT SECONDS WINDOW "
                    "PAYLOAD\n");
    return 2;
}
