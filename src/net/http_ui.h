/* The console's files over HTTP (http_ui.c): which paths are the console's, and the pure
 * helpers behind serving them, exposed for the unit tests. Internal to src/net. */
#ifndef GANGLION_HTTP_UI_H
#define GANGLION_HTTP_UI_H

#include <stdbool.h>

#include "net/http_conn.h"
#include "net/ui_assets.h"

struct http_rq;
struct http_server;

/* True for "/", "/index.html" and everything under /ui/: the registry never sees these. */
bool http_ui_wanted(const char *path);
/* Answers a request for one of them (the file, 304, 404 or 405). */
void http_ui_serve(struct http_rq *rq, const http_request_t *hr, const char *path);

/* Frees the zstd copies made for srv's clients (at the server's end). */
void http_ui_free(struct http_server *srv);

/* The embedded file at rel ("pages/agents.js"), or NULL. */
const ui_asset_t *http_ui_asset_find(const char *rel);
/* True when rel is a path the console may have: [A-Za-z0-9._-] segments, none starting with '.'. */
bool http_ui_rel_valid(const char *rel);
/* True when an If-None-Match value names the quoted etag (or its -gz or -zst twin), or "*". */
bool http_ui_etag_matches(const char *if_none_match, const char *etag);
/* The Content-Type for a file extension (".js"). */
const char *http_ui_type_for(const char *ext);

#endif
