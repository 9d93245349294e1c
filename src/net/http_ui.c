/* The console's files over HTTP: "/" is index.html, /api/docs the API explorer (api-docs.html)
 * and /ui/<tag>/<path> the rest, from the table
 * compiled into the binary (net/ui_assets.h) or, for development, from [server] ui_dir. Strong
 * ETags with If-None-Match, gzip copies made at build time and zstd copies made on first request,
 * a year's immutable cache for the tagged URLs and revalidation for the rest; the HTML policy of
 * CSP on every answer. */
#include "net/http_ui.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zstd.h>

#include "core/hub.h"
#include "core/problem.h"
#include "net/http_internal.h"
#include "net/http_parse.h"
#include "net/ui_assets.h"

#define HTTP_UI_PREFIX    "/ui/"
#define HTTP_UI_PATH_MAX  256               /* longest file path under web/ */
#define HTTP_UI_FILE_MAX  (4 * 1024 * 1024) /* largest file read from ui_dir */
#define HTTP_UI_IMMUTABLE "public, max-age=31536000, immutable"
#define HTTP_UI_DEV_TAG   "dev"
/* zstd copies are made on the loop, once per file of a fixed, small set: a level that takes a
 * dozen milliseconds for the largest (uPlot, 140 KB: 39 KB against gzip -9's 41 KB). */
#define HTTP_UI_ZSTD_LEVEL 12

/* One file's zstd copy: made on its first request that accepts zstd, kept until the server
 * ends; buf NULL when it would not be smaller than the gzip copy. */
typedef struct {
    unsigned char *buf;
    size_t len;
    bool made;
} http_ui_zcopy_t;

struct http_ui_cache {
    http_ui_zcopy_t *zstd; /* ui_assets_count entries, allocated on first use */
};

/* The API explorer's page (web/api-docs.html): Swagger UI over /openapi.json. */
#define HTTP_UI_API_DOCS "/api/docs"

bool http_ui_wanted(const char *path)
{
    return strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0 ||
           strcmp(path, HTTP_UI_API_DOCS) == 0 ||
           strncmp(path, HTTP_UI_PREFIX, sizeof HTTP_UI_PREFIX - 1) == 0;
}

const ui_asset_t *http_ui_asset_find(const char *rel)
{
    size_t lo = 0, hi = ui_assets_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(rel, ui_assets[mid].path);
        if (c == 0)
            return &ui_assets[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* A file path the console may have: [A-Za-z0-9._-] segments, none empty or starting with a
 * dot (so no "..", no hidden files), bounded. */
bool http_ui_rel_valid(const char *rel)
{
    size_t n = strlen(rel);
    if (n == 0 || n > HTTP_UI_PATH_MAX)
        return false;
    bool seg_start = true;
    for (const char *p = rel; *p; p++) {
        char c = *p;
        if (c == '/') {
            if (seg_start)
                return false;
            seg_start = true;
            continue;
        }
        if (seg_start && c == '.')
            return false;
        seg_start = false;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return !seg_start;
}

/* True when If-None-Match names this entity (its quoted hash, with or without -gz) or is *. */
bool http_ui_etag_matches(const char *inm, const char *etag)
{
    if (!inm)
        return false;
    while (*inm == ' ' || *inm == '\t')
        inm++;
    if (strcmp(inm, "*") == 0)
        return true;
    /* etag is "HASH" (quoted): match HASH as a whole token of the list, "HASH" or the ETag of
     * a compressed copy, "HASH-gz" or "HASH-zst" */
    const char *hash = etag + 1;
    size_t hl = strlen(etag) - 2;
    for (const char *p = strchr(inm, '"'); p; p = strchr(p + 1, '"')) {
        const char *t = p + 1 + hl;
        if (strncmp(p + 1, hash, hl) == 0 &&
            (t[0] == '"' || strncmp(t, "-gz\"", 4) == 0 || strncmp(t, "-zst\"", 5) == 0))
            return true;
    }
    return false;
}

/* One answer: body (or none for 304 and HEAD) with the fields of a console file. */
typedef struct {
    int status;
    const char *ctype;
    const void *body;
    size_t len;
    const char *coding; /* "gzip", "zstd" or NULL */
    const char *etag;   /* quoted */
    const char *cache;
} http_ui_reply_t;

static void http_ui_write(http_rq_t *rq, const http_ui_reply_t *r)
{
    strbuf_t *o = http_conn_out(rq->conn);
    size_t o0 = o->len;
    char etag[64];
    /* A compressed copy is another representation: a strong ETag of its own (RFC 9110 8.8.3). */
    const char *suffix = !r->coding ? "" : strcmp(r->coding, "gzip") == 0 ? "-gz" : "-zst";
    snprintf(etag, sizeof etag, "%.*s%s\"", (int)strlen(r->etag) - 1, r->etag, suffix);
    http_head_begin(rq, o, r->status);
    http_field(o, "Content-Type", r->ctype);
    if (r->coding && r->status == 200)
        http_field(o, "Content-Encoding", r->coding);
    strbuf_puts(o, "Vary: Accept-Encoding\r\n");
    http_field(o, "ETag", etag);
    http_field(o, "Cache-Control", r->cache);
    http_head_common(rq, o, http_rq_id(rq), HTTP_CSP_HTML);
    if (r->status != 304)
        strbuf_printf(o, "Content-Length: %zu\r\n", r->len);
    int rc = strbuf_append(o, "\r\n", 2);
    if (rc == 0 && r->status == 200 && !rq->is_head && r->len)
        rc = strbuf_append(o, r->body, r->len);
    if (rc < 0)
        o->len = o0;
    http_rq_finish(rq, rc, HTTP_CONN_DONE, false);
}

static uint64_t http_ui_fnv(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

/* Reads dir/rel (at most HTTP_UI_FILE_MAX). 0 and *out (malloc'ed, caller frees), -ENOENT when
 * there is no such regular file, another negative errno on failure. */
static int http_ui_file_read(const char *dir, const char *rel, char **out, size_t *outlen)
{
    char p[CONFIG_STR_MAX + HTTP_UI_PATH_MAX + 2];
    if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, rel) >= sizeof p)
        return -ENAMETOOLONG;
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT || errno == ENOTDIR ? -ENOENT : -errno;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > HTTP_UI_FILE_MAX) {
        close(fd);
        return -ENOENT;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        close(fd);
        return -ENOMEM;
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = -errno;
            free(buf);
            close(fd);
            return e;
        }
        if (n == 0) /* the file shrank while it was read: what is there */
            break;
        got += (size_t)n;
    }
    close(fd);
    *out = buf;
    *outlen = got;
    return 0;
}

/* index.html's @TAG@ becomes "dev" (the development URLs) in a copy; buf is replaced. */
static int http_ui_dev_tag(char **buf, size_t *len)
{
    const char *tag = HTTP_UI_DEV_TAG;
    size_t count = 0;
    for (const char *p = *buf; (p = memmem(p, (size_t)(*buf + *len - p), "@TAG@", 5)); p += 5)
        count++;
    char *out = malloc(*len + count * strlen(tag) + 1);
    if (!out)
        return -ENOMEM;
    size_t o = 0;
    const char *p = *buf, *end = *buf + *len;
    for (const char *m; (m = memmem(p, (size_t)(end - p), "@TAG@", 5)); p = m + 5) {
        memcpy(out + o, p, (size_t)(m - p));
        o += (size_t)(m - p);
        memcpy(out + o, tag, strlen(tag));
        o += strlen(tag);
    }
    memcpy(out + o, p, (size_t)(end - p));
    o += (size_t)(end - p);
    free(*buf);
    *buf = out;
    *len = o;
    return 0;
}

/* Development: the file from ui_dir, revalidated every time. 0 when answered, -ENOENT when
 * ui_dir has no such file (the embedded one is tried next). */
static int http_ui_serve_dir(http_rq_t *rq, const http_request_t *hr, const char *dir,
                             const char *rel)
{
    char *buf = NULL;
    size_t len = 0;
    int rc = http_ui_file_read(dir, rel, &buf, &len);
    if (rc == -ENOENT)
        return rc;
    if (rc == 0 && !buf) /* not reached (a read sets buf): the analyzer takes -errno for 0 */
        rc = -EIO;
    if (rc == 0 && (strcmp(rel, "index.html") == 0 || strcmp(rel, "api-docs.html") == 0))
        rc = http_ui_dev_tag(&buf, &len);
    if (rc < 0) {
        free(buf);
        http_fail(rq, NULL, problem_new(500, "internal", "the console file could not be read"),
                  false);
        return 0;
    }
    char etag[24];
    snprintf(etag, sizeof etag, "\"%016" PRIx64 "\"", http_ui_fnv(buf, len));
    const char *dot = strrchr(rel, '.');
    const ui_asset_t *known = http_ui_asset_find(rel);
    http_ui_reply_t r = {
        .status = http_ui_etag_matches(http_request_header(hr, "If-None-Match"), etag) ? 304 : 200,
        .ctype = known ? known->ctype : http_ui_type_for(dot ? dot : ""),
        .body = buf,
        .len = len,
        .etag = etag,
        .cache = "no-cache",
    };
    http_ui_write(rq, &r);
    free(buf);
    return 0;
}

const char *http_ui_type_for(const char *ext)
{
    static const char *const types[][2] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".json", "application/json"},
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcmp(ext, types[i][0]) == 0)
            return types[i][1];
    return "application/octet-stream";
}

/* The zstd copy of a (NULL when it is not smaller than the gzip copy, or memory ran out). */
static const http_ui_zcopy_t *http_ui_zstd_copy(http_server_t *srv, const ui_asset_t *a)
{
    if (!srv->ui) {
        srv->ui = calloc(1, sizeof *srv->ui);
        if (!srv->ui)
            return NULL;
    }
    if (!srv->ui->zstd) {
        srv->ui->zstd = calloc(ui_assets_count, sizeof *srv->ui->zstd);
        if (!srv->ui->zstd)
            return NULL;
    }
    http_ui_zcopy_t *z = &srv->ui->zstd[a - ui_assets];
    if (!z->made) {
        z->made = true;
        size_t bound = ZSTD_compressBound(a->len);
        z->buf = malloc(bound);
        size_t n = z->buf ? ZSTD_compress(z->buf, bound, a->body, a->len, HTTP_UI_ZSTD_LEVEL) : 0;
        if (!z->buf || ZSTD_isError(n) || n >= (a->gz ? a->gzlen : a->len)) {
            free(z->buf);
            z->buf = NULL;
        } else {
            z->len = n;
        }
    }
    return z->buf ? z : NULL;
}

void http_ui_free(http_server_t *srv)
{
    if (!srv->ui)
        return;
    for (size_t i = 0; srv->ui->zstd && i < ui_assets_count; i++)
        free(srv->ui->zstd[i].buf);
    free(srv->ui->zstd);
    free(srv->ui);
    srv->ui = NULL;
}

void http_ui_serve(http_rq_t *rq, const http_request_t *hr, const char *path)
{
    if (strcmp(hr->method, "GET") != 0 && strcmp(hr->method, "HEAD") != 0) {
        problem_t *p =
            problem_new(405, "method-not-allowed",
                        "the console's files are read with GET or HEAD, not %s", hr->method);
        problem_header_set(p, "Allow", "GET, HEAD");
        http_fail(rq, path, p, false);
        return;
    }
    /* "/" and "/index.html" are the page; /ui/<tag>/<file> the rest, whatever the tag, so a
     * page loaded before an upgrade still finds its files (revalidated, not cached for good). */
    const char *rel = strcmp(path, HTTP_UI_API_DOCS) == 0 ? "api-docs.html" : "index.html";
    bool tagged = false;
    if (strncmp(path, HTTP_UI_PREFIX, sizeof HTTP_UI_PREFIX - 1) == 0) {
        const char *tag = path + sizeof HTTP_UI_PREFIX - 1;
        const char *slash = strchr(tag, '/');
        rel = slash ? slash + 1 : "";
        tagged = slash && (size_t)(slash - tag) == strlen(ui_assets_tag) &&
                 strncmp(tag, ui_assets_tag, (size_t)(slash - tag)) == 0;
    }
    if (!http_ui_rel_valid(rel)) {
        http_fail(rq, path, problem_new(404, "not-found", "no console file at %s", path), false);
        return;
    }
    const char *dir = rq->srv->hub->cfg.ui_dir;
    if (dir[0] && http_ui_serve_dir(rq, hr, dir, rel) == 0)
        return;
    const ui_asset_t *a = http_ui_asset_find(rel);
    if (!a) {
        http_fail(rq, path, problem_new(404, "not-found", "no console file at %s", path), false);
        return;
    }
    const char *ae = http_request_header(hr, "Accept-Encoding");
    http_ui_reply_t r = {
        .status =
            http_ui_etag_matches(http_request_header(hr, "If-None-Match"), a->etag) ? 304 : 200,
        .ctype = a->ctype,
        .body = a->body,
        .len = a->len,
        .etag = a->etag,
        .cache = tagged && !dir[0] ? HTTP_UI_IMMUTABLE : "no-cache",
    };
    const http_ui_zcopy_t *z = http_accepts_zstd(ae) ? http_ui_zstd_copy(rq->srv, a) : NULL;
    if (z) {
        r.body = z->buf;
        r.len = z->len;
        r.coding = "zstd";
    } else if (a->gz && http_accepts_gzip(ae)) {
        r.body = a->gz;
        r.len = a->gzlen;
        r.coding = "gzip";
    }
    http_ui_write(rq, &r);
}
