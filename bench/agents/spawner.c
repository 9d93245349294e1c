/* bench/agents: the client of the spawn-and-reap measure. POSTs N agents running PROGRAM to a
 * ganglion daemon from P keep-alive connections (one thread each), then polls
 * GET /api/v1/agents/stats until `completed` reaches BASE + N; prints the rate as JSON. A
 * C client so that the figure is the daemon's, not an interpreter's (a Python client spent
 * about as much CPU per agent as the daemon did).
 *
 *   spawner PORT TOKEN PROGRAM N P BASE      (TOKEN "-" for none) */
#define _GNU_SOURCE /* strcasestr */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int port;
static const char *token, *program;
static long total;
static atomic_long next_i;

static int conn_open(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        perror("connect");
        exit(1);
    }
    return fd;
}

/* One request and its whole response; returns the status, the body in body (NUL-ended). */
static int roundtrip(int fd, const char *method, const char *path, const char *json, char *body,
                     size_t bodycap)
{
    char req[4096];
    int n = snprintf(req, sizeof req,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%s%sContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     method, path, token ? "Authorization: Bearer " : "", token ? token : "",
                     token ? "\r\n" : "", json ? strlen(json) : 0, json ? json : "");
    if (write(fd, req, (size_t)n) != n) {
        perror("write");
        exit(1);
    }
    static _Thread_local char buf[1 << 16];
    size_t len = 0;
    char *hdr_end = NULL;
    long clen = -1;
    for (;;) {
        ssize_t r = read(fd, buf + len, sizeof buf - 1 - len);
        if (r <= 0) {
            fprintf(stderr, "spawner: connection closed\n");
            exit(1);
        }
        len += (size_t)r;
        buf[len] = '\0';
        if (!hdr_end && (hdr_end = strstr(buf, "\r\n\r\n"))) {
            const char *cl = strcasestr(buf, "\r\nContent-Length:");
            clen = cl && cl < hdr_end ? atol(cl + 17) : 0;
        }
        if (hdr_end && (long)(len - (size_t)(hdr_end + 4 - buf)) >= clen)
            break;
    }
    size_t blen = (size_t)clen < bodycap - 1 ? (size_t)clen : bodycap - 1;
    memcpy(body, hdr_end + 4, blen);
    body[blen] = '\0';
    return atoi(buf + 9);
}

static void *worker(void *arg)
{
    (void)arg;
    int fd = conn_open();
    char json[4200], body[1 << 14];
    for (long i; (i = atomic_fetch_add(&next_i, 1)) < total;) {
        snprintf(json, sizeof json, "{\"name\":\"short%ld\",\"argv\":[\"%s\"]}", i, program);
        int st = roundtrip(fd, "POST", "/api/v1/agents", json, body, sizeof body);
        if (st != 201) {
            fprintf(stderr, "spawner: POST answered %d: %s\n", st, body);
            exit(1);
        }
    }
    close(fd);
    return NULL;
}

static long stat_field(const char *body, const char *key)
{
    const char *p = strstr(body, key);
    return p ? atol(p + strlen(key)) : -1;
}

int main(int argc, char **argv)
{
    if (argc < 7) {
        fprintf(stderr, "usage: spawner PORT TOKEN PROGRAM N P BASE\n");
        return 2;
    }
    port = atoi(argv[1]);
    token = strcmp(argv[2], "-") ? argv[2] : NULL;
    program = argv[3];
    total = atol(argv[4]);
    long p = atol(argv[5]), base = atol(argv[6]);
    if (p < 1 || p > 64 || strlen(program) > 4000)
        return 2;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_t th[64];
    for (long i = 0; i < p; i++)
        pthread_create(&th[i], NULL, worker, NULL);
    for (long i = 0; i < p; i++)
        pthread_join(th[i], NULL);
    int fd = conn_open();
    char body[1 << 14];
    for (;;) {
        roundtrip(fd, "GET", "/api/v1/agents/stats", NULL, body, sizeof body);
        if (stat_field(body, "\"active_agents\":") == 0 &&
            stat_field(body, "\"completed\":") >= base + total)
            break;
        usleep(2000);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("{\"n\": %ld, \"parallel\": %ld, \"seconds\": %.4f, \"per_s\": %.1f}\n", total, p, s,
           (double)total / s);
    close(fd);
    return 0;
}
