/* The HTTP listener's front door (see http_door.h). A connection waiting for its first head
 * costs one small struct and a place in one epoll set of our own: its bytes stay in the kernel
 * (read with MSG_PEEK) so the connection (http_conn.c) later reads the request as if it had
 * accepted it. */
#include "net/http_door.h"

#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "core/hash.h"
#include "core/log.h"
#include "core/problem.h"

#define DOOR_ACCEPT_BATCH  64   /* accepts per listener wake-up, so one burst cannot hog the loop */
#define DOOR_EVENTS        64   /* epoll events per wake-up */
#define DOOR_BUCKETS       4096 /* per-address table; chains stay short up to ~100k addresses */
#define DOOR_PEEK_MAX      (256 * 1024 + 1)
#define DOOR_REPLY_MAX     2048
#define DOOR_DRAIN_MAX     (64 * 1024) /* unread input discarded before a refusal's close */
#define DOOR_WARN_EVERY_MS 10000
#define DOOR_PAUSE_MS      100 /* no descriptor left: accepting again this much later */

/* One client address and its open connections: an IPv4 address (v4-mapped IPv6 included), or
 * an IPv6 /64, the block one host or site usually holds whole, so its addresses count as one. */
typedef struct door_addr {
    uint8_t family;
    uint8_t bytes[16];
    size_t conns;
    struct door_addr *next;
} door_addr_t;

/* A connection waiting for its first request head. */
typedef struct door_conn {
    int fd;
    struct sockaddr_storage sa;
    socklen_t salen;
    uint64_t deadline; /* uv_now() milliseconds */
    struct door_conn *prev, *next;
} door_conn_t;

struct http_door {
    uv_loop_t *loop;
    int listen_fd, epfd;
    uv_poll_t listen_poll, ep_poll;
    uv_timer_t timer;
    uv_timer_t pause; /* listener paused after EMFILE/ENFILE, so the loop does not spin */
    int handles;      /* open uv handles; freed when the last one closes */
    bool stopped;
    http_door_limits_t lim; /* as of the last refresh */
    http_door_limits_fn limits;
    metrics_t *metrics; /* borrowed, or NULL */
    http_door_handoff_fn handoff;
    http_door_refuse_fn tls_refuse; /* or NULL */
    void *ud;
    size_t live;               /* waiting here + open in the transport */
    door_conn_t *first, *last; /* waiting, oldest first (deadline order) */
    door_addr_t *table[DOOR_BUCKETS];
    uint64_t rid_seed, rid_counter;
    uint64_t refused, refused_logged, last_warn, last_accept_warn;
    char *peek; /* DOOR_PEEK_MAX bytes, shared: one connection is looked at a time */
};

/* ---- client addresses --------------------------------------------------------------------- */

static void door_addr_key(const struct sockaddr *sa, door_addr_t *k)
{
    memset(k, 0, sizeof *k);
    if (sa && sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const void *)sa;
        k->family = 4;
        memcpy(k->bytes, &in->sin_addr, 4);
    } else if (sa && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const void *)sa;
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            k->family = 4;
            memcpy(k->bytes, &in6->sin6_addr.s6_addr[12], 4);
        } else {
            k->family = 6;
            memcpy(k->bytes, &in6->sin6_addr, 8);
        }
    }
}

static door_addr_t **door_addr_slot(http_door_t *d, const door_addr_t *k)
{
    uint64_t h = hash_fnv1a(HASH_FNV1A_SEED, &k->family, 1);
    h = hash_fnv1a(h, k->bytes, sizeof k->bytes);
    door_addr_t **pp = &d->table[h % DOOR_BUCKETS];
    while (*pp && ((*pp)->family != k->family || memcmp((*pp)->bytes, k->bytes, 16) != 0))
        pp = &(*pp)->next;
    return pp;
}

static size_t door_addr_count(http_door_t *d, const struct sockaddr *sa)
{
    door_addr_t k;
    door_addr_key(sa, &k);
    door_addr_t **pp = door_addr_slot(d, &k);
    return *pp ? (*pp)->conns : 0;
}

/* Counts one more connection from sa; -1 when out of memory (the connection is refused). */
static int door_addr_hold(http_door_t *d, const struct sockaddr *sa)
{
    door_addr_t k;
    door_addr_key(sa, &k);
    door_addr_t **pp = door_addr_slot(d, &k);
    if (!*pp) {
        door_addr_t *a = malloc(sizeof *a);
        if (!a)
            return -1;
        *a = k;
        *pp = a;
    }
    (*pp)->conns++;
    d->live++;
    return 0;
}

static void door_addr_release(http_door_t *d, const struct sockaddr *sa)
{
    door_addr_t k;
    door_addr_key(sa, &k);
    door_addr_t **pp = door_addr_slot(d, &k);
    door_addr_t *a = *pp;
    if (!a)
        return; /* not counted (the hold failed) */
    if (d->live)
        d->live--;
    if (--a->conns == 0) {
        *pp = a->next;
        free(a);
    }
}

void http_door_conn_opened(http_door_t *d, const struct sockaddr *sa)
{
    if (d && door_addr_hold(d, sa) < 0)
        log_warn(NULL, "http: connection not counted (out of memory)", "{s:s}", "where", "door");
}

void http_door_conn_closed(http_door_t *d, const struct sockaddr *sa)
{
    if (d)
        door_addr_release(d, sa);
}

/* ---- refusals ----------------------------------------------------------------------------- */

static uint64_t door_mix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* Reads and drops what the client sent so that closing does not reset the connection (a reset
 * can destroy the reply before the client reads it); bounded, never blocks. */
static void door_drain(int fd)
{
    char buf[4096];
    size_t total = 0;
    while (total < DOOR_DRAIN_MAX) {
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n <= 0)
            break;
        total += (size_t)n;
    }
}

/* Writes a problem reply on a connection the transport never saw and closes it. The socket's send
 * buffer is empty, so one non-blocking send of a small reply goes out whole or not at all. */
/* Counts a refusal and tells the operator, at most once per DOOR_WARN_EVERY_MS. */
static void door_refused_note(http_door_t *d, int status, const char *detail)
{
    d->refused++;
    uint64_t now = uv_now(d->loop);
    if (now - d->last_warn >= DOOR_WARN_EVERY_MS || d->last_warn == 0) {
        log_warn(NULL, "http: connections refused", "{s:i,s:s,s:I,s:I}", "status", status, "detail",
                 detail, "refused", (json_int_t)(d->refused - d->refused_logged), "open",
                 (json_int_t)d->live);
        d->refused_logged = d->refused;
        d->last_warn = now;
    }
}

static void door_refuse(http_door_t *d, int fd, int status, const char *slug, const char *detail,
                        unsigned retry_after_s)
{
    /* TLS: a plain-text reply would be noise to the client; the transport answers after a
     * handshake when it can (it counts the refusal then), else the connection just closes. */
    if (!d->lim.inspect && d->tls_refuse &&
        d->tls_refuse(d->ud, fd, status, slug, detail, retry_after_s) == 0) {
        door_refused_note(d, status, detail);
        return;
    }
    if (d->metrics) {
        char label[24];
        snprintf(label, sizeof label, "status=\"%d\"", status);
        metrics_counter_add(d->metrics, "ganglion_http_refused_total", label, 1);
    }
    if (!d->lim.inspect) {
        door_drain(fd);
        close(fd);
        door_refused_note(d, status, detail);
        return;
    }
    char rid[24];
    snprintf(rid, sizeof rid, "%016" PRIx64, door_mix64(d->rid_seed + ++d->rid_counter));
    problem_t *p = problem_new(status, slug, "%s", detail);
    problem_ext_set(p, "request_id", json_string(rid));
    json_t *j = problem_to_json(p, NULL);
    problem_destroy(&p);
    char body[1024];
    size_t blen = j ? json_dumpb(j, body, sizeof body, JSON_COMPACT) : 0;
    json_decref(j);
    if (blen > sizeof body)
        blen = 0;
    char retry[40] = "";
    if (retry_after_s)
        snprintf(retry, sizeof retry, "Retry-After: %u\r\n", retry_after_s);
    char out[DOOR_REPLY_MAX];
    int n = snprintf(out, sizeof out,
                     "HTTP/1.1 %d %s\r\nContent-Type: application/problem+json\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\nCache-Control: no-store\r\n"
                     "X-Request-Id: %s\r\n%s%s\r\n",
                     status, problem_title_for(status), blen, rid, retry,
                     d->lim.security_headers ? d->lim.security_headers : "");
    door_drain(fd);
    if (n > 0 && (size_t)n + blen <= sizeof out) {
        memcpy(out + n, body, blen);
        if (send(fd, out, (size_t)n + blen, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
            log_debug(NULL, "http: refusal not sent", "{s:s}", "error", strerror(errno));
    }
    shutdown(fd, SHUT_WR);
    close(fd);
    door_refused_note(d, status, detail);
}

/* ---- connections waiting for a head ------------------------------------------------------- */

static void door_on_timer(uv_timer_t *t);

static void door_timer_arm(http_door_t *d)
{
    if (!d->first || d->stopped) {
        uv_timer_stop(&d->timer);
        return;
    }
    uint64_t now = uv_now(d->loop);
    uint64_t due = d->first->deadline > now ? d->first->deadline - now : 0;
    uv_timer_start(&d->timer, door_on_timer, due, 0);
}

static void door_conn_unlink(http_door_t *d, door_conn_t *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        d->first = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        d->last = c->prev;
    c->prev = c->next = NULL;
}

/* Ends the wait of c: it leaves the epoll set and the list, and stops counting here (the
 * transport counts it from now on if it was handed over). */
static void door_conn_end(http_door_t *d, door_conn_t *c)
{
    if (epoll_ctl(d->epfd, EPOLL_CTL_DEL, c->fd, NULL) < 0)
        log_debug(NULL, "http: epoll del", "{s:s}", "error", strerror(errno));
    door_conn_unlink(d, c);
    door_addr_release(d, (const struct sockaddr *)&c->sa);
}

static void door_conn_refuse(http_door_t *d, door_conn_t *c, int status, const char *slug,
                             const char *detail)
{
    int fd = c->fd;
    door_conn_end(d, c);
    door_refuse(d, fd, status, slug, detail, 0);
    free(c);
}

static void door_conn_drop(http_door_t *d, door_conn_t *c)
{
    door_conn_end(d, c);
    close(c->fd);
    free(c);
}

static void door_conn_pass(http_door_t *d, door_conn_t *c)
{
    int fd = c->fd;
    /* Counted by the transport before it is uncounted here, so the limits never see a gap. */
    if (epoll_ctl(d->epfd, EPOLL_CTL_DEL, fd, NULL) < 0)
        log_debug(NULL, "http: epoll del", "{s:s}", "error", strerror(errno));
    door_conn_unlink(d, c);
    if (d->handoff(d->ud, fd, (const struct sockaddr *)&c->sa, c->salen) < 0)
        log_warn(NULL, "http: connection not taken by the transport", "{s:s}", "error",
                 strerror(errno));
    door_addr_release(d, (const struct sockaddr *)&c->sa);
    free(c);
}

/* New bytes (or the end) on a waiting connection: look at everything received so far. */
static void door_conn_readable(http_door_t *d, door_conn_t *c, uint32_t events)
{
    size_t want = d->lim.head.header_max + 1;
    if (want > DOOR_PEEK_MAX)
        want = DOOR_PEEK_MAX;
    ssize_t n = recv(c->fd, d->peek, want, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) { /* closed before a request, or an error */
        door_conn_drop(d, c);
        return;
    }
    http_head_verdict_t v;
    int rc = http_head_check(d->peek, (size_t)n, &d->lim.head, &v);
    if (rc == HTTP_HEAD_OK) {
        door_conn_pass(d, c);
    } else if (rc == HTTP_HEAD_REFUSED) {
        door_conn_refuse(d, c, v.status, v.slug, v.detail);
    } else if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        /* The client stopped sending half-way: the head can never complete. */
        door_conn_refuse(d, c, 400, "bad-request", "the request head ended early");
    }
}

static void door_on_timer(uv_timer_t *t)
{
    http_door_t *d = t->data;
    uint64_t now = uv_now(d->loop);
    char detail[96];
    snprintf(detail, sizeof detail, "the request head did not arrive within %" PRIu64 " ms",
             d->lim.header_timeout_ms);
    while (d->first && d->first->deadline <= now)
        door_conn_refuse(d, d->first, 408, "request-timeout", detail);
    door_timer_arm(d);
}

static void door_on_epoll(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    http_door_t *d = p->data;
    struct epoll_event ev[DOOR_EVENTS];
    int n = epoll_wait(d->epfd, ev, DOOR_EVENTS, 0);
    for (int i = 0; i < n; i++)
        door_conn_readable(d, ev[i].data.ptr, ev[i].events);
    door_timer_arm(d);
}

/* ---- accepting ---------------------------------------------------------------------------- */

static unsigned door_retry_after(const http_door_t *d)
{
    uint64_t s = (d->lim.header_timeout_ms + 999) / 1000;
    return s ? (unsigned)(s > 3600 ? 3600 : s) : 1;
}

static void door_admit(http_door_t *d, int fd, const struct sockaddr_storage *ss, socklen_t sl)
{
    const struct sockaddr *sa = (const struct sockaddr *)ss;
    char detail[128];
    if (d->live >= d->lim.max_conns) {
        snprintf(detail, sizeof detail,
                 "the server has %zu connections open, its limit; try again shortly", d->live);
        door_refuse(d, fd, 503, "too-many-connections", detail, door_retry_after(d));
        return;
    }
    if (door_addr_count(d, sa) >= d->lim.max_per_addr) {
        snprintf(detail, sizeof detail,
                 "this address has %zu connections open, the limit per address",
                 d->lim.max_per_addr);
        door_refuse(d, fd, 429, "too-many-connections", detail, door_retry_after(d));
        return;
    }
    if (!d->lim.inspect) {
        if (d->handoff(d->ud, fd, sa, sl) < 0)
            log_warn(NULL, "http: connection not taken by the transport", "{s:s}", "error",
                     strerror(errno));
        return;
    }
    door_conn_t *c = calloc(1, sizeof *c);
    if (!c || door_addr_hold(d, sa) < 0) {
        free(c);
        door_refuse(d, fd, 503, "out-of-memory", "the server is out of memory", 1);
        return;
    }
    c->fd = fd;
    memcpy(&c->sa, ss, sl);
    c->salen = sl;
    c->deadline = uv_now(d->loop) + d->lim.header_timeout_ms;
    /* Edge-triggered: the unread (peeked) bytes would otherwise report readable forever. */
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.ptr = c};
    if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        door_addr_release(d, sa);
        free(c);
        door_refuse(d, fd, 503, "internal", "the connection could not be watched", 1);
        return;
    }
    c->prev = d->last;
    if (d->last)
        d->last->next = c;
    else
        d->first = c;
    d->last = c;
}

static void door_on_listen(uv_poll_t *p, int status, int events);

static void door_on_pause_end(uv_timer_t *t)
{
    http_door_t *d = t->data;
    if (!d->stopped)
        uv_poll_start(&d->listen_poll, UV_READABLE, door_on_listen);
}

static void door_on_listen(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    http_door_t *d = p->data;
    for (int i = 0; i < DOOR_ACCEPT_BATCH && !d->stopped; i++) {
        struct sockaddr_storage ss = {0}; /* accept4 fills it (the analyzer cannot see) */
        socklen_t sl = sizeof ss;
        int fd = accept4(d->listen_fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED)
                break;
            /* The pending connection stays queued and the listener stays readable: without a
             * pause (out of descriptors, say) this would spin and log on every loop turn. */
            uint64_t now = uv_now(d->loop);
            if (d->last_accept_warn == 0 || now - d->last_accept_warn >= DOOR_WARN_EVERY_MS) {
                log_warn(NULL, "http: accept failed; pausing the listener", "{s:s,s:i}", "error",
                         strerror(errno), "pause_ms", DOOR_PAUSE_MS);
                d->last_accept_warn = now;
            }
            uv_poll_stop(&d->listen_poll);
            uv_timer_start(&d->pause, door_on_pause_end, DOOR_PAUSE_MS, 0);
            break;
        }
        door_admit(d, fd, &ss, sl);
    }
    door_timer_arm(d);
}

static void door_on_closed(uv_handle_t *h);

/* ---- life cycle --------------------------------------------------------------------------- */

int http_door_start(uv_loop_t *loop, int listen_fd, metrics_t *m, http_door_limits_fn limits,
                    http_door_handoff_fn handoff, void *ud, http_door_t **out)
{
    *out = NULL;
    http_door_t *d = calloc(1, sizeof *d);
    if (!d)
        return -ENOMEM;
    d->peek = malloc(DOOR_PEEK_MAX);
    d->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (!d->peek || d->epfd < 0) {
        int rc = d->peek ? -errno : -ENOMEM;
        if (d->epfd >= 0)
            close(d->epfd);
        free(d->peek);
        free(d);
        return rc;
    }
    d->loop = loop;
    d->listen_fd = listen_fd;
    d->limits = limits;
    d->metrics = m;
    d->handoff = handoff;
    limits(ud, &d->lim);
    d->ud = ud;
    if (uv_random(NULL, NULL, &d->rid_seed, sizeof d->rid_seed, 0, NULL) != 0)
        d->rid_seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ 0x5bd1e995u;
    int rc = uv_poll_init(loop, &d->listen_poll, listen_fd);
    if (rc < 0) {
        close(d->epfd);
        free(d->peek);
        free(d);
        return rc;
    }
    d->listen_poll.data = d;
    d->handles = 1;
    rc = uv_poll_init(loop, &d->ep_poll, d->epfd);
    if (rc < 0) { /* the caller keeps listen_fd; the door goes with its one handle */
        d->stopped = true;
        d->listen_fd = -1;
        close(d->epfd);
        d->epfd = -1;
        uv_close((uv_handle_t *)&d->listen_poll, door_on_closed);
        return rc;
    }
    d->handles++;
    uv_timer_init(loop, &d->timer);
    d->handles++;
    uv_timer_init(loop, &d->pause);
    d->handles++;
    d->listen_poll.data = d->ep_poll.data = d->timer.data = d->pause.data = d;
    uv_poll_start(&d->listen_poll, UV_READABLE, door_on_listen);
    uv_poll_start(&d->ep_poll, UV_READABLE, door_on_epoll);
    *out = d;
    return 0;
}

void http_door_limits_refresh(http_door_t *d)
{
    if (d)
        d->limits(d->ud, &d->lim);
}

void http_door_tls_refuse_set(http_door_t *d, http_door_refuse_fn fn)
{
    if (d)
        d->tls_refuse = fn;
}

void http_door_stop(http_door_t *d)
{
    if (!d || d->stopped)
        return;
    d->stopped = true;
    uv_poll_stop(&d->listen_poll);
    if (d->listen_fd >= 0) {
        close(d->listen_fd);
        d->listen_fd = -1;
    }
    /* door_conn_drop unlinks its connection before freeing it: d->first moves on (the
     * analyzer loses the unlink and reports a use after free) */
    while (d->first)
        door_conn_drop(d, d->first); // NOLINT(clang-analyzer-unix.Malloc)
    uv_timer_stop(&d->timer);
    uv_timer_stop(&d->pause);
}

static void door_on_closed(uv_handle_t *h)
{
    http_door_t *d = h->data;
    if (--d->handles > 0)
        return;
    for (size_t i = 0; i < DOOR_BUCKETS; i++)
        while (d->table[i]) {
            door_addr_t *a = d->table[i];
            d->table[i] = a->next;
            free(a);
        }
    free(d->peek);
    free(d);
}

void http_door_destroy(http_door_t **pd)
{
    http_door_t *d = pd ? *pd : NULL;
    if (!d)
        return;
    *pd = NULL;
    http_door_stop(d);
    /* libuv stops watching a descriptor before it is closed. */
    uv_poll_stop(&d->ep_poll);
    uv_close((uv_handle_t *)&d->listen_poll, door_on_closed);
    uv_close((uv_handle_t *)&d->ep_poll, door_on_closed);
    uv_close((uv_handle_t *)&d->timer, door_on_closed);
    uv_close((uv_handle_t *)&d->pause, door_on_closed);
    close(d->epfd);
    d->epfd = -1;
}
