/* `ganglion chat`'s WebSocket client (see cli_chat_ws.h): the HTTP upgrade over a connection
 * libcurl opened, masked client frames out, server frames in through net/ws_frame, pings
 * answered, the close handshake. */
#include "cli/cli_chat_ws.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sodium.h>

#include "client/curl_dl.h"

#define CLI_WS_HEAD_MAX 16384 /* the upgrade's response headers */

static int64_t cli_ws_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Writes all of buf, waiting for the socket when libcurl says CURLE_AGAIN. 0 or -EIO. */
static int cli_ws_write(cli_ws_t *ws, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        size_t n = 0;
        CURLcode rc = lcurl->easy_send(ws->curl, p, len, &n);
        if (rc == CURLE_AGAIN) {
            struct pollfd pfd = {.fd = ws->fd, .events = POLLOUT};
            if (poll(&pfd, 1, 10000) <= 0)
                return -EIO;
            continue;
        }
        if (rc != CURLE_OK)
            return -EIO;
        p += n;
        len -= n;
    }
    return 0;
}

/* Reads what is there into ws->in (up to its bound). 1 bytes came, 0 none yet, -ECONNRESET
 * the peer closed, -E2BIG the buffer is full, -EIO. */
static int cli_ws_fill(cli_ws_t *ws, size_t bound)
{
    int got = 0;
    for (;;) {
        if (ws->in_cap - ws->in_len < 4096) {
            if (ws->in_cap >= bound)
                return got ? 1 : -E2BIG;
            size_t cap = ws->in_cap ? ws->in_cap * 2 : 16384;
            uint8_t *in = realloc(ws->in, cap);
            if (!in)
                return -ENOMEM;
            ws->in = in;
            ws->in_cap = cap;
        }
        size_t n = 0;
        CURLcode rc = lcurl->easy_recv(ws->curl, ws->in + ws->in_len, ws->in_cap - ws->in_len, &n);
        if (rc == CURLE_AGAIN)
            return got;
        if (rc != CURLE_OK)
            return -EIO;
        if (n == 0)
            return got ? 1 : -ECONNRESET;
        ws->in_len += n;
        got = 1;
    }
}

/* One masked client frame. */
static int cli_ws_send(cli_ws_t *ws, int opcode, const void *payload, size_t len)
{
    uint8_t head[WS_HEAD_MAX];
    size_t h = 0;
    head[h++] = (uint8_t)(0x80 | opcode);
    if (len < 126) {
        head[h++] = (uint8_t)(0x80 | len);
    } else if (len <= 0xffff) {
        head[h++] = 0x80 | 126;
        head[h++] = (uint8_t)(len >> 8);
        head[h++] = (uint8_t)len;
    } else {
        head[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            head[h++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    uint8_t mask[4];
    randombytes_buf(mask, sizeof mask);
    memcpy(head + h, mask, 4);
    h += 4;
    uint8_t *frame = malloc(h + len);
    if (!frame)
        return -ENOMEM;
    memcpy(frame, head, h);
    const uint8_t *src = payload;
    for (size_t i = 0; i < len; i++)
        frame[h + i] = src[i] ^ mask[i & 3];
    int rc = cli_ws_write(ws, frame, h + len);
    free(frame);
    return rc;
}

int cli_ws_send_json(cli_ws_t *ws, const json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT);
    if (!text)
        return -ENOMEM;
    int rc = cli_ws_send(ws, WS_OP_TEXT, text, strlen(text));
    free(text);
    return rc;
}

/* The upgrade request and its 101, leaving any bytes after the headers in ws->in. */
static int cli_ws_upgrade(cli_ws_t *ws, const cli_ctx_t *ctx, const char *host, const char *path,
                          char *err, size_t errlen)
{
    uint8_t raw[16];
    char key[32], accept[WS_ACCEPT_LEN + 1];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(key, sizeof key, raw, sizeof raw, sodium_base64_VARIANT_ORIGINAL);
    if (ws_accept_key(key, accept) < 0) {
        snprintf(err, errlen, "cannot make a WebSocket key");
        return -1;
    }
    strbuf_t req;
    strbuf_init(&req, CLI_MAX_TOKEN + 4096);
    strbuf_printf(&req,
                  "GET %s/api/v1/ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                  "Sec-WebSocket-Key: %s\r\n",
                  path, host, key);
    if (ctx->token)
        strbuf_printf(&req, "Authorization: Bearer %s\r\n", ctx->token);
    int rc = strbuf_puts(&req, "\r\n");
    if (rc == 0)
        rc = cli_ws_write(ws, req.data, req.len);
    sodium_memzero(req.data, req.len);
    strbuf_free(&req);
    if (rc < 0) {
        snprintf(err, errlen, "cannot send the WebSocket upgrade");
        return -1;
    }
    int64_t deadline = cli_ws_now_ms() + (int64_t)(ctx->timeout_s * 1000);
    const uint8_t *end = NULL;
    while (!end) {
        int64_t left = deadline - cli_ws_now_ms();
        struct pollfd pfd = {.fd = ws->fd, .events = POLLIN};
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0) {
            snprintf(err, errlen, "no answer to the WebSocket upgrade in time");
            return -1;
        }
        if (cli_ws_fill(ws, CLI_WS_HEAD_MAX) < 0) {
            snprintf(err, errlen, "the connection ended during the WebSocket upgrade");
            return -1;
        }
        end = memmem(ws->in, ws->in_len, "\r\n\r\n", 4);
    }
    size_t head_len = (size_t)(end - ws->in) + 4;
    char *head = strndup((const char *)ws->in, head_len);
    if (!head)
        return -1;
    int ok = strncmp(head, "HTTP/1.1 101", 12) == 0;
    char *line = ok ? strcasestr(head, "\r\nSec-WebSocket-Accept:") : NULL;
    if (line) {
        line += strlen("\r\nSec-WebSocket-Accept:");
        line += strspn(line, " \t");
        ok = strncmp(line, accept, WS_ACCEPT_LEN) == 0;
    } else {
        ok = 0;
    }
    if (!ok) {
        char *eol = strstr(head, "\r\n");
        if (eol)
            *eol = '\0';
        char first[160];
        cli_sanitize(head, first, sizeof first);
        snprintf(err, errlen, "the daemon refused the WebSocket upgrade (%s)", first);
    }
    free(head);
    memmove(ws->in, ws->in + head_len, ws->in_len - head_len);
    ws->in_len -= head_len;
    return ok ? 0 : -1;
}

int cli_ws_open(cli_ws_t *ws, const cli_ctx_t *ctx, char *err, size_t errlen)
{
    memset(ws, 0, sizeof *ws);
    ws->fd = -1;
    ws_msg_init(&ws->msg, CLI_WS_MESSAGE_MAX);
    if (curl_dl_load(err, errlen) < 0)
        return -1;
    char host[300] = "", path[1024] = "";
    CURLU *u = lcurl->url();
    char *h = NULL, *port = NULL, *pth = NULL;
    int bad = !u || lcurl->url_set(u, CURLUPART_URL, ctx->url, 0) != CURLUE_OK ||
              lcurl->url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK ||
              lcurl->url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK;
    if (!bad) {
        snprintf(host, sizeof host, "%s:%s", h, port);
        if (lcurl->url_get(u, CURLUPART_PATH, &pth, 0) == CURLUE_OK && pth)
            snprintf(path, sizeof path, "%s", pth);
        size_t pl = strlen(path);
        while (pl && path[pl - 1] == '/')
            path[--pl] = '\0';
    }
    lcurl->free(h);
    lcurl->free(port);
    lcurl->free(pth);
    if (u)
        lcurl->url_cleanup(u);
    if (bad) {
        snprintf(err, errlen, "not a URL the chat can connect to: %s", ctx->url);
        return -1;
    }
    ws->curl = lcurl->easy_init();
    if (!ws->curl) {
        snprintf(err, errlen, "cannot make a connection handle");
        return -1;
    }
    lcurl->easy_setopt(ws->curl, CURLOPT_URL, ctx->url);
    lcurl->easy_setopt(ws->curl, CURLOPT_CONNECT_ONLY, 1L);
    lcurl->easy_setopt(ws->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)(ctx->timeout_s * 1000));
    lcurl->easy_setopt(ws->curl, CURLOPT_NOSIGNAL, 1L);
    if (ctx->cacert)
        lcurl->easy_setopt(ws->curl, CURLOPT_CAINFO, ctx->cacert);
    if (ctx->insecure) {
        lcurl->easy_setopt(ws->curl, CURLOPT_SSL_VERIFYPEER, 0L);
        lcurl->easy_setopt(ws->curl, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    CURLcode rc = lcurl->easy_perform(ws->curl);
    curl_socket_t fd = CURL_SOCKET_BAD;
    if (rc == CURLE_OK)
        lcurl->easy_getinfo(ws->curl, CURLINFO_ACTIVESOCKET, &fd);
    if (rc != CURLE_OK || fd == CURL_SOCKET_BAD) {
        snprintf(err, errlen, "cannot reach %s: %s", ctx->url,
                 rc != CURLE_OK ? lcurl->easy_strerror(rc) : "no socket");
        cli_ws_close(ws);
        return -1;
    }
    ws->fd = (int)fd;
    if (cli_ws_upgrade(ws, ctx, host, path, err, errlen) < 0) {
        cli_ws_close(ws);
        return -1;
    }
    return 0;
}

/* One message out of ws->in: 1 with *out, 0 need more bytes, negative errno. */
static int cli_ws_parse(cli_ws_t *ws, json_t **out)
{
    for (;;) {
        ws_frame_t f;
        size_t used = 0;
        uint16_t code = 0;
        int r = ws_frame_parse(ws->in, ws->in_len, CLI_WS_FRAME_MAX, false, &f, &used, &code);
        if (r == WS_FRAME_MORE)
            return 0;
        if (r == WS_FRAME_ERROR)
            return -EPROTO;
        int rc = 0;
        if (f.opcode == WS_OP_PING) {
            rc = cli_ws_send(ws, WS_OP_PONG, f.payload, f.len);
        } else if (f.opcode == WS_OP_CLOSE) {
            rc = -ECONNRESET;
        } else if (f.opcode != WS_OP_PONG) {
            int op = 0;
            r = ws_msg_feed(&ws->msg, &f, &op, &code);
            if (r == WS_FRAME_ERROR) {
                rc = -EPROTO;
            } else if (r == WS_FRAME_OK) {
                *out = op == WS_OP_TEXT ? json_loadb(ws->msg.data.data, ws->msg.data.len, 0, NULL)
                                        : NULL;
                ws_msg_reset(&ws->msg);
                rc = *out ? 1 : 0; /* a message that is not JSON is skipped */
            }
        }
        memmove(ws->in, ws->in + used, ws->in_len - used);
        ws->in_len -= used;
        if (rc)
            return rc;
    }
}

int cli_ws_next(cli_ws_t *ws, int timeout_ms, int wake_fd, volatile int *stop, json_t **out)
{
    *out = NULL;
    int64_t deadline = timeout_ms < 0 ? -1 : cli_ws_now_ms() + timeout_ms;
    for (;;) {
        int rc = cli_ws_parse(ws, out);
        if (rc)
            return rc;
        if (stop && *stop)
            return -EINTR;
        int left = -1;
        if (deadline >= 0) {
            int64_t l = deadline - cli_ws_now_ms();
            if (l <= 0)
                return 0;
            left = (int)l;
        }
        struct pollfd pfd[2] = {{.fd = ws->fd, .events = POLLIN},
                                {.fd = wake_fd, .events = POLLIN}};
        int n = poll(pfd, wake_fd >= 0 ? 2 : 1, left);
        if (n < 0 && errno != EINTR)
            return -EIO;
        if (n <= 0)
            continue;
        if (wake_fd >= 0 && pfd[1].revents)
            return -EAGAIN;
        rc = cli_ws_fill(ws, CLI_WS_MESSAGE_MAX + CLI_WS_FRAME_MAX);
        if (rc < 0)
            return rc;
    }
}

void cli_ws_close(cli_ws_t *ws)
{
    if (ws->curl && ws->fd >= 0) {
        uint8_t code[2] = {WS_CLOSE_NORMAL >> 8, WS_CLOSE_NORMAL & 0xff};
        cli_ws_send(ws, WS_OP_CLOSE, code, sizeof code);
    }
    if (ws->curl)
        lcurl->easy_cleanup(ws->curl);
    ws->curl = NULL;
    ws->fd = -1;
    free(ws->in);
    ws->in = NULL;
    ws->in_len = ws->in_cap = 0;
    ws_msg_free(&ws->msg);
}
