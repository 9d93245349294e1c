/* A server-sent events reader for `ganglion top`: bytes in as they arrive, one callback per
 * complete event (event name, id, data lines joined). Bounded: an event larger than
 * CLI_TOP_SSE_MAX is dropped whole rather than buffered. */
#include "cli/cli_top.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void cli_top_sse_init(cli_top_sse_t *s, cli_top_sse_fn fn, void *ud)
{
    memset(s, 0, sizeof *s);
    s->fn = fn;
    s->ud = ud;
}

void cli_top_sse_free(cli_top_sse_t *s)
{
    free(s->line);
    free(s->data);
    s->line = s->data = NULL;
    s->line_len = s->line_cap = s->data_len = s->data_cap = 0;
}

static int cli_top_sse_grow(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 256;
    while (c < need)
        c *= 2;
    char *nb = realloc(*buf, c);
    if (!nb)
        return -ENOMEM;
    *buf = nb;
    *cap = c;
    return 0;
}

static void cli_top_sse_copy(char *dst, size_t dstlen, const char *v, size_t len)
{
    if (len >= dstlen)
        len = dstlen - 1;
    memcpy(dst, v, len);
    dst[len] = '\0';
}

static void cli_top_sse_dispatch(cli_top_sse_t *s)
{
    if (!s->skip && (s->data_len || s->event[0])) {
        if (s->id[0])
            memcpy(s->last_id, s->id, sizeof s->last_id);
        if (s->data_len && s->data[s->data_len - 1] == '\n')
            s->data_len--; /* the last data line's '\n' is not part of the data */
        if (s->data)
            s->data[s->data_len] = '\0';
        s->fn(s->ud, s->id, s->event[0] ? s->event : "message", s->data ? s->data : "",
              s->data_len);
    }
    s->skip = false;
    s->data_len = 0;
    s->event[0] = '\0';
    s->id[0] = '\0';
}

/* One complete line (without its end). */
static int cli_top_sse_line(cli_top_sse_t *s, const char *l, size_t len)
{
    if (len == 0) {
        cli_top_sse_dispatch(s);
        return 0;
    }
    if (l[0] == ':' || s->skip)
        return 0; /* a comment (heartbeat), or the rest of a dropped event */
    const char *colon = memchr(l, ':', len);
    size_t nlen = colon ? (size_t)(colon - l) : len;
    const char *v = colon ? colon + 1 : l + len;
    size_t vlen = colon ? len - nlen - 1 : 0;
    if (vlen && *v == ' ') {
        v++;
        vlen--;
    }
    if (nlen == 4 && memcmp(l, "data", 4) == 0) {
        if (s->data_len + vlen + 2 > CLI_TOP_SSE_MAX) {
            s->skip = true;
            s->data_len = 0;
            return 0;
        }
        if (cli_top_sse_grow(&s->data, &s->data_cap, s->data_len + vlen + 2) < 0)
            return -ENOMEM;
        memcpy(s->data + s->data_len, v, vlen);
        s->data_len += vlen;
        s->data[s->data_len++] = '\n';
    } else if (nlen == 5 && memcmp(l, "event", 5) == 0) {
        cli_top_sse_copy(s->event, sizeof s->event, v, vlen);
    } else if (nlen == 2 && memcmp(l, "id", 2) == 0) {
        cli_top_sse_copy(s->id, sizeof s->id, v, vlen);
    }
    return 0; /* "retry" and unknown fields are ignored */
}

int cli_top_sse_feed(cli_top_sse_t *s, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '\n' && s->cr) {
            s->cr = false; /* the second half of "\r\n" */
            continue;
        }
        s->cr = c == '\r';
        if (c == '\r' || c == '\n') {
            int rc = cli_top_sse_line(s, s->line, s->line_len);
            s->line_len = 0;
            if (rc < 0)
                return rc;
            continue;
        }
        if (s->line_len + 1 > CLI_TOP_SSE_MAX) {
            /* a line longer than any event we keep: drop its event */
            s->skip = true;
            s->data_len = 0;
            s->line_len = 0;
            continue;
        }
        if (cli_top_sse_grow(&s->line, &s->line_cap, s->line_len + 1) < 0)
            return -ENOMEM;
        s->line[s->line_len++] = c;
    }
    return 0;
}
