/* The console's files, compiled into the binary by tools/embed-web (the table is generated into
 * the build directory from web/ and the pinned npm libraries). Sorted by path, so a lookup is a
 * binary search; every pointer is static and lives as long as the program. */
#ifndef GANGLION_UI_ASSETS_H
#define GANGLION_UI_ASSETS_H

#include <stddef.h>

typedef struct {
    const char *path; /* relative to web/: "index.html", "pages/agents.js" */
    const unsigned char *body;
    size_t len;
    const unsigned char *gz; /* gzip of body, or NULL when it would not be smaller */
    size_t gzlen;
    const char *ctype; /* Content-Type */
    const char *etag;  /* strong ETag, quoted: a hash of body */
} ui_asset_t;

extern const ui_asset_t ui_assets[];
extern const size_t ui_assets_count;
/* A hash of every file: the immutable assets live under /ui/<tag>/. */
extern const char ui_assets_tag[];
/* Bytes of the set as sent to a client that accepts gzip. */
extern const size_t ui_assets_gzip_total;

#endif
