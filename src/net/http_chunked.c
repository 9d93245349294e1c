/* The chunked request-body decoder (see http_chunked.h). A byte-at-a-time state machine except
 * for chunk data, which is passed on in one piece per call; every line it holds state for is
 * bounded, and a size is refused as soon as it cannot fit the body limit. */
#include "net/http_chunked.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

enum {
    CK_SIZE = 0, /* hex digits of the chunk size */
    CK_SIZE_WS,  /* blanks after the size, before ';' or CR */
    CK_EXT,      /* a chunk extension: skipped up to CR */
    CK_SIZE_LF,  /* the LF ending the size line */
    CK_DATA,
    CK_DATA_CR, /* the CRLF after a chunk's data */
    CK_DATA_LF,
    CK_TRAILER,    /* the start of a trailer line (or the final CRLF) */
    CK_TRAILER_IN, /* inside a trailer field line, up to CR */
    CK_TRAILER_LF,
    CK_END_LF, /* the LF of the final CRLF */
    CK_DONE,
};

/* A refusal of the body: the verdict filled, HTTP_CHUNKED_ERROR returned. */
#define ck_refuse(v, ...) (http_head_verdict_set((v), __VA_ARGS__), HTTP_CHUNKED_ERROR)

static int ck_hex(unsigned char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

void http_chunked_init(http_chunked_t *c, uint64_t max, size_t trailer_max)
{
    memset(c, 0, sizeof *c);
    c->state = CK_SIZE;
    c->max = max;
    c->trailer_max = trailer_max;
}

/* The size line is complete: check it against the limit and move on. */
static int ck_size_done(http_chunked_t *c, http_head_verdict_t *v)
{
    if (!c->saw_digit)
        return ck_refuse(v, 400, "bad-request", "malformed chunked body: a chunk size is missing");
    if (c->left > c->max - c->total)
        return ck_refuse(v, 413, "payload-too-large",
                         "request body exceeds the limit of %" PRIu64 " bytes", c->max);
    c->state = c->left ? CK_DATA : CK_TRAILER;
    c->line = 0;
    return HTTP_CHUNKED_MORE;
}

static int ck_bad(http_head_verdict_t *v, const char *what)
{
    return ck_refuse(v, 400, "bad-request", "malformed chunked body: %s", what);
}

int http_chunked_feed(http_chunked_t *c, const char *in, size_t len, size_t *used,
                      http_chunked_sink_fn sink, void *ud, http_head_verdict_t *v)
{
    size_t i = 0;
    int rc = HTTP_CHUNKED_MORE;
    while (i < len && rc == HTTP_CHUNKED_MORE) {
        unsigned char ch = (unsigned char)in[i];
        if (c->state == CK_DATA) {
            size_t n = len - i;
            if ((uint64_t)n > c->left)
                n = (size_t)c->left;
            int s = sink ? sink(ud, in + i, n) : 0;
            if (s < 0) {
                rc = ck_refuse(v, 500, "internal", "the request body could not be stored");
                break;
            }
            c->left -= n;
            c->total += n;
            i += n;
            if (c->left == 0)
                c->state = CK_DATA_CR;
            continue;
        }
        if ((c->state == CK_SIZE || c->state == CK_SIZE_WS || c->state == CK_EXT) &&
            ++c->line > HTTP_CHUNKED_LINE_MAX) {
            rc = ck_bad(v, "a chunk-size line is longer than 4096 bytes");
            break;
        }
        i++;
        switch (c->state) {
        case CK_SIZE: {
            int d = ck_hex(ch);
            if (d >= 0) {
                c->saw_digit = 1;
                if (c->digits || d) {
                    if (++c->digits > 16) {
                        rc = ck_refuse(v, 413, "payload-too-large",
                                       "a chunk size beyond 2^64 bytes (the limit is %" PRIu64
                                       " bytes)",
                                       c->max);
                        break;
                    }
                    c->left = c->left << 4 | (uint64_t)d;
                }
            } else if (ch == ' ' || ch == '\t') {
                c->state = c->saw_digit ? CK_SIZE_WS : CK_SIZE;
                if (!c->saw_digit)
                    rc = ck_bad(v, "blank before a chunk size");
            } else if (ch == ';') {
                c->state = CK_EXT;
            } else if (ch == '\r') {
                c->state = CK_SIZE_LF;
            } else if (ch == '\n') {
                rc = ck_bad(v, "a bare LF after a chunk size (CRLF expected)");
            } else {
                rc = ck_bad(v, "a chunk size is not a hexadecimal number");
            }
            break;
        }
        case CK_SIZE_WS:
            if (ch == ';')
                c->state = CK_EXT;
            else if (ch == '\r')
                c->state = CK_SIZE_LF;
            else if (ch != ' ' && ch != '\t')
                rc = ck_bad(v, "a chunk size is not a hexadecimal number");
            break;
        case CK_EXT:
            if (ch == '\r')
                c->state = CK_SIZE_LF;
            else if (ch == '\n' || ch == 0)
                rc = ck_bad(v, "a bare LF or NUL in a chunk extension");
            break;
        case CK_SIZE_LF:
            if (ch != '\n')
                rc = ck_bad(v, "CR without LF after a chunk size");
            else
                rc = ck_size_done(c, v);
            c->digits = 0;
            c->saw_digit = 0;
            break;
        case CK_DATA_CR:
            c->state = CK_DATA_LF;
            if (ch != '\r')
                rc = ck_bad(v, "chunk data longer than its size, or no CRLF after it");
            break;
        case CK_DATA_LF:
            if (ch != '\n')
                rc = ck_bad(v, "no CRLF after chunk data");
            c->state = CK_SIZE;
            c->left = 0;
            c->line = 0;
            break;
        case CK_TRAILER:
            if (ch == '\r') {
                c->state = CK_END_LF;
                break;
            }
            c->state = CK_TRAILER_IN;
            __attribute__((fallthrough)); /* the byte belongs to a trailer field */
        case CK_TRAILER_IN:
            if (++c->trailers > c->trailer_max) {
                rc = ck_refuse(v, 431, "header-fields-too-large",
                               "the trailer fields are larger than %zu bytes", c->trailer_max);
                break;
            }
            if (ch == '\r')
                c->state = CK_TRAILER_LF;
            else if (ch == '\n' || ch == 0)
                rc = ck_bad(v, "a bare LF or NUL in a trailer field");
            break;
        case CK_TRAILER_LF:
            if (ch != '\n')
                rc = ck_bad(v, "CR without LF in a trailer field");
            c->state = CK_TRAILER;
            break;
        case CK_END_LF:
            if (ch != '\n') {
                rc = ck_bad(v, "CR without LF at the end of the body");
                break;
            }
            c->state = CK_DONE;
            rc = HTTP_CHUNKED_DONE;
            break;
        default:
            rc = HTTP_CHUNKED_DONE;
            break;
        }
    }
    *used = i;
    return rc;
}
