/* Which streams a caller may see and change, carried into store jobs: anomalies and incidents
 * live in the store, their owner is their stream's, and a worker thread cannot read the stream
 * table, so the loop thread hands it the names as lists (docs/security.md, "Ownership"). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_owner.h"
#include "watch/watch_internal.h"

/* Names joined by commas: what the SQL filter of watch_db.c matches against. */
static char *watch_access_names(watch_t *w, const api_req_t *req, bool act)
{
    size_t cap = 1;
    for (size_t i = 0; i < w->nstreams; i++)
        cap += strlen(w->streams[i]->name) + 1;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < w->nstreams; i++) {
        const watch_stream_t *s = w->streams[i];
        if (!(act ? api_owner_may_act(req, s->owner, s->team)
                  : api_owner_may_see(req, s->owner, s->team)))
            continue;
        size_t l = strlen(s->name);
        if (n)
            out[n++] = ',';
        memcpy(out + n, s->name, l + 1);
        n += l;
    }
    return out;
}

int watch_access_init(watch_t *w, const api_req_t *req, watch_access_t *a)
{
    a->see = a->act = NULL;
    if (api_owner_unrestricted(req))
        return 0;
    a->see = watch_access_names(w, req, false);
    a->act = watch_access_names(w, req, true);
    if (!a->see || !a->act) {
        watch_access_free(a);
        return -ENOMEM;
    }
    return 0;
}

void watch_access_free(watch_access_t *a)
{
    free(a->see);
    free(a->act);
    a->see = a->act = NULL;
}

static bool watch_access_has(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t l = end ? (size_t)(end - p) : strlen(p);
        if (l == n && memcmp(p, name, n) == 0)
            return true;
        if (!end)
            break;
        p = end + 1;
    }
    return false;
}

int watch_access_decide(const watch_access_t *a, const char *stream, bool act)
{
    if (!a->see)
        return 0; /* unrestricted */
    if (!stream || !watch_access_has(a->see, stream))
        return 404;
    return act && !watch_access_has(a->act, stream) ? 403 : 0;
}
