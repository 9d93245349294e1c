/* Synthetic traffic: a web service's request log (method, path, status, latency 40-59 ms,
 * request ids) with a little background variety, and bursts of anomalies injected on a fixed
 * schedule. Everything is drawn from one seeded generator, so a seed names a corpus. */
#include "watch/synth.h"
#include "watch/cbad_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const synth_names[SYNTH_NKINDS] = {
    "normal",  "stack_trace",  "connection_error", "oom",          "timeout",
    "latency", "volume_spike", "random_bytes",     "gradual_drift"};

/* Burst lengths: how many events each anomaly spans. */
static const uint32_t synth_burst_len[SYNTH_NKINDS] = {0, 14, 15, 10, 15, 20, 80, 10, 200};

struct synth {
    synth_opts_t o;
    cbad_rng_t rng;
    uint64_t n;
    uint32_t burst_no;
    synth_kind_t cur;   /* kind of the burst in progress, SYNTH_NORMAL between bursts */
    uint32_t left;      /* events left in the burst */
    uint32_t pos;       /* position inside the burst */
    uint64_t next_at;   /* index at which the next burst starts */
    uint32_t next_kind; /* rotates over the enabled kinds */
};

void synth_opts_default(synth_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->seed = 1;
    o->anomalies = SYNTH_ALL_ANOMALIES;
    o->warmup = 600;
    o->gap = 500;
}

int synth_new(const synth_opts_t *o, synth_t **out)
{
    synth_t *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->o = *o;
    s->o.anomalies &= SYNTH_ALL_ANOMALIES;
    cbad_rng_seed(&s->rng, o->seed, 0x53594e5448ull);
    s->next_at = o->warmup;
    s->next_kind = 1;
    *out = s;
    return 0;
}

void synth_destroy(synth_t **ps)
{
    free(*ps);
    *ps = NULL;
}

const char *synth_kind_name(synth_kind_t k)
{
    return (unsigned)k < SYNTH_NKINDS ? synth_names[k] : "unknown";
}

int synth_kind_parse(const char *name, synth_kind_t *out)
{
    for (unsigned i = 0; i < SYNTH_NKINDS; i++)
        if (strcmp(name, synth_names[i]) == 0) {
            *out = (synth_kind_t)i;
            return 0;
        }
    return -EINVAL;
}

static uint32_t rnd(synth_t *s, uint32_t n)
{
    return cbad_rng_below(&s->rng, n);
}

static const char *pick(synth_t *s, const char *const *v, size_t n)
{
    return v[rnd(s, (uint32_t)n)];
}

#define PICK(s, arr) pick((s), (arr), sizeof(arr) / sizeof((arr)[0]))

static const char *const methods[] = {"GET", "GET", "GET", "GET", "POST", "POST", "PUT", "DELETE"};
static const char *const paths[] = {"/api/users",  "/api/orders", "/api/items", "/api/cart",
                                    "/api/search", "/api/login",  "/health",    "/api/profile"};
static const char *const statuses[] = {"200", "200", "200", "200", "200",
                                       "200", "200", "201", "204", "304"};

static void synth_request(synth_t *s, synth_event_t *ev, double latency)
{
    ev->latency_ms = latency;
    snprintf(ev->line, sizeof ev->line,
             "2026-11-25T01:%02u:%02u.%03uZ INFO Request completed method=%s path=%s status=%s "
             "duration_ms=%.0f request_id=%08x%08x",
             (unsigned)(s->n / 600) % 60, (unsigned)(s->n / 10) % 60, rnd(s, 1000),
             PICK(s, methods), PICK(s, paths), PICK(s, statuses), latency,
             (unsigned)cbad_rng_next(&s->rng), (unsigned)cbad_rng_next(&s->rng));
}

static void synth_normal(synth_t *s, synth_event_t *ev)
{
    double lat = 40 + rnd(s, 20);
    uint32_t r = rnd(s, 100);
    ev->latency_ms = lat;
    if (r < 90) {
        synth_request(s, ev, lat);
    } else if (r < 95) {
        snprintf(ev->line, sizeof ev->line,
                 "2026-11-25T01:%02u:%02u.%03uZ DEBUG cache hit key=user:%u ttl_s=%u",
                 (unsigned)(s->n / 600) % 60, (unsigned)(s->n / 10) % 60, rnd(s, 1000),
                 rnd(s, 100000), 60 + rnd(s, 240));
    } else {
        snprintf(ev->line, sizeof ev->line,
                 "2026-11-25T01:%02u:%02u.%03uZ INFO user signed in user_id=%u from=10.0.%u.%u",
                 (unsigned)(s->n / 600) % 60, (unsigned)(s->n / 10) % 60, rnd(s, 1000),
                 rnd(s, 100000), rnd(s, 255), rnd(s, 255));
    }
}

static void synth_anomaly(synth_t *s, synth_event_t *ev, synth_kind_t k, uint32_t pos, uint32_t len)
{
    /* A Go panic: function frames and their file:line frames, alternating. */
    static const char *const funcs[] = {
        "main.(*OrderService).Submit",    "main.(*Server).handleOrder",
        "net/http.HandlerFunc.ServeHTTP", "net/http.serverHandler.ServeHTTP",
        "net/http.(*conn).serve",         "created by net/http.(*Server).Serve"};
    static const char *const files[] = {
        "/app/internal/orders/service.go",      "/app/internal/server/handlers.go",
        "/usr/local/go/src/net/http/server.go", "/usr/local/go/src/net/http/server.go",
        "/usr/local/go/src/net/http/server.go", "/usr/local/go/src/net/http/server.go"};
    char *out = ev->line;
    size_t cap = sizeof ev->line;
    unsigned a = rnd(s, 4000), b = rnd(s, 0xffff), c = rnd(s, 0xfffff);
    ev->latency_ms = 40 + rnd(s, 20);
    switch (k) {
    case SYNTH_STACK_TRACE:
        if (pos == 0) {
            snprintf(out, cap,
                     "ERROR panic: runtime error: invalid memory address or nil pointer "
                     "dereference [signal SIGSEGV: segmentation violation code=0x1 addr=0x%x]",
                     b);
        } else if (pos == 1) {
            snprintf(out, cap, "goroutine %u [running]:", a);
        } else if (pos % 2 == 0) {
            snprintf(out, cap, "%s(0xc000%06x, {0x%x, 0xc0001%05x})", funcs[(pos / 2 - 1) % 6], c,
                     b, c);
        } else {
            snprintf(out, cap, "\t%s:%u +0x%x", files[(pos / 2 - 1) % 6], 40 + a % 400, b % 0x400);
        }
        break;
    case SYNTH_CONNECTION:
        snprintf(out, cap,
                 "2026-11-25T01:%02u:%02u.%03uZ ERROR database query failed: dial tcp "
                 "10.0.3.17:5432: connect: connection refused service=postgres attempt=%u",
                 (unsigned)(s->n / 600) % 60, (unsigned)(s->n / 10) % 60, rnd(s, 1000), pos + 1);
        break;
    case SYNTH_OOM:
        if (pos % 3 == 2)
            snprintf(out, cap,
                     "kernel: Out of memory: Killed process %u (api-server) total-vm:%ukB, "
                     "anon-rss:%ukB, file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:%ukB "
                     "oom_score_adj:0",
                     a, 8000000 + c, 7000000 + c, b);
        else
            snprintf(out, cap,
                     "2026-11-25T01:%02u:%02u.%03uZ WARN fatal error: runtime: out of memory "
                     "heap_mb=%u gc_pause_ms=%u",
                     (unsigned)(s->n / 600) % 60, (unsigned)(s->n / 10) % 60, rnd(s, 1000),
                     7000 + rnd(s, 999), 100 + rnd(s, 800));
        break;
    case SYNTH_TIMEOUT:
        ev->latency_ms = 30000;
        snprintf(out, cap,
                 "2026-11-25T01:%02u:%02u.%03uZ ERROR upstream request timed out method=POST "
                 "path=/api/checkout upstream=payments deadline_ms=30000 error=\"context deadline "
                 "exceeded\"",
                 (unsigned)(s->n / 600) % 60, (unsigned)(s->n / 10) % 60, rnd(s, 1000));
        break;
    case SYNTH_LATENCY:
        synth_request(s, ev, 500 + rnd(s, 4501));
        break;
    case SYNTH_VOLUME:
        /* One client flooding one endpoint: the rate limiter answers. */
        ev->latency_ms = 1 + rnd(s, 3);
        snprintf(out, cap,
                 "2026-11-25T01:%02u:%02u.%03uZ WARN rate limited method=GET path=/api/export "
                 "status=429 client=203.0.113.9 duration_ms=%.0f",
                 (unsigned)(s->n / 600) % 60, (unsigned)(s->n / 10) % 60, rnd(s, 1000),
                 ev->latency_ms);
        break;
    case SYNTH_RANDOM_BYTES: {
        size_t n = 60 + rnd(s, 120);
        for (size_t i = 0; i < n; i++) {
            unsigned char ch;
            do
                ch = (unsigned char)rnd(s, 256);
            while (ch == '\0' || ch == '\n');
            out[i] = (char)ch;
        }
        out[n] = '\0';
        ev->len = n;
        return;
    }
    case SYNTH_DRIFT:
        /* A new release rolls out: its log format replaces the old one a little more with
         * every event of the drift. */
        if (rnd(s, len) <= pos) {
            ev->latency_ms = 40 + rnd(s, 20);
            snprintf(out, cap,
                     "level=info ts=2026-11-25T01:%02u:%02uZ caller=http.go:%u msg=\"request "
                     "served\" verb=%s route=%s code=%s latency=%.0fms trace=%08x",
                     (unsigned)(s->n / 600) % 60, (unsigned)(s->n / 10) % 60, 80 + rnd(s, 40),
                     PICK(s, methods), PICK(s, paths), PICK(s, statuses), ev->latency_ms,
                     (unsigned)cbad_rng_next(&s->rng));
        } else {
            synth_normal(s, ev);
        }
        break;
    default:
        synth_normal(s, ev);
        break;
    }
    ev->len = strlen(out);
}

void synth_next(synth_t *s, synth_event_t *ev)
{
    memset(ev, 0, offsetof(synth_event_t, line));
    ev->line[0] = '\0';
    ev->index = s->n;
    if (s->left == 0 && s->o.anomalies && s->n >= s->next_at) {
        while (!(s->o.anomalies & (1u << s->next_kind)))
            s->next_kind = s->next_kind % (SYNTH_NKINDS - 1) + 1;
        s->cur = (synth_kind_t)s->next_kind;
        s->next_kind = s->next_kind % (SYNTH_NKINDS - 1) + 1;
        s->left = synth_burst_len[s->cur];
        s->pos = 0;
        s->burst_no++;
    }
    if (s->left > 0) {
        synth_anomaly(s, ev, s->cur, s->pos, synth_burst_len[s->cur]);
        ev->label = s->cur;
        ev->burst = s->burst_no;
        s->pos++;
        if (--s->left == 0) {
            /* Gap plus a little jitter so bursts do not sit on hop boundaries. */
            s->next_at = s->n + 1 + s->o.gap + rnd(s, 50);
            s->cur = SYNTH_NORMAL;
        }
    } else {
        synth_normal(s, ev);
        ev->len = strlen(ev->line);
    }
    s->n++;
}
