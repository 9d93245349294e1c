/* Path routing: patterns like /api/v1/agents/{id}/stop split into segments at registration, so
 * matching a request is a walk over segments with no allocation. Static paths (no parameters)
 * are checked first, then parameterised ones; a path that matches only with another method
 * yields 405 with the Allow list. */
#include "api/api_internal.h"

#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define API_ROUTER_MAX 512

struct api_router {
    api_route_t *routes[API_ROUTER_MAX];
    size_t n;
    /* the routes of each segment count, in registration order: a path is compared only with
     * the patterns that could fit it */
    uint16_t byseg[API_MAX_SEGMENTS + 1][API_ROUTER_MAX];
    size_t nbyseg[API_MAX_SEGMENTS + 1];
};

api_router_t *api_router_new(void)
{
    return calloc(1, sizeof(api_router_t));
}

void api_router_destroy(api_router_t **pr)
{
    api_router_t *r = *pr;
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->routes[i]->pattern_copy);
        free(r->routes[i]);
    }
    free(r);
    *pr = NULL;
}

size_t api_router_count(const api_router_t *r)
{
    return r->n;
}

const api_route_t *api_router_at(const api_router_t *r, size_t i)
{
    return i < r->n ? r->routes[i] : NULL;
}

/* Splits a path into segments in place (buf is modified). Returns the count, or -1 if there are
 * too many. A trailing slash is not a segment; "/" has zero segments. */
static int api_path_split(char *buf, char **seg, size_t max)
{
    size_t n = 0;
    char *p = buf;
    if (*p == '/')
        p++;
    while (*p) {
        if (n == max)
            return -1;
        seg[n++] = p;
        char *slash = strchr(p, '/');
        if (!slash)
            break;
        *slash = '\0';
        p = slash + 1;
    }
    return (int)n;
}

int api_router_add(api_router_t *r, const api_endpoint_t *ep)
{
    if (r->n == API_ROUTER_MAX || !ep->path || ep->path[0] != '/')
        return -1;
    api_route_t *rt = calloc(1, sizeof *rt);
    if (!rt)
        return -1;
    rt->ep = ep;
    rt->pattern_copy = strdup(ep->path);
    char *segs[API_MAX_SEGMENTS];
    int n = rt->pattern_copy ? api_path_split(rt->pattern_copy, segs, API_MAX_SEGMENTS) : -1;
    if (n < 0)
        goto bad;
    rt->nseg = (size_t)n;
    size_t nparams = 0;
    for (size_t i = 0; i < rt->nseg; i++) {
        char *s = segs[i];
        size_t len = strlen(s);
        if (len == 0)
            goto bad;
        if (s[0] == '{') {
            if (len < 3 || s[len - 1] != '}' || ++nparams > API_MAX_PARAMS)
                goto bad;
            s[len - 1] = '\0';
            rt->seg[i] = NULL;
            rt->param_names[i] = s + 1;
        } else {
            rt->seg[i] = s;
            rt->seglen[i] = len;
        }
    }
    /* Same method and same shape (literal segments equal, params anywhere equal) = duplicate. */
    for (size_t k = 0; k < r->n; k++) {
        const api_route_t *o = r->routes[k];
        if (o->nseg != rt->nseg || strcmp(o->ep->method, ep->method) != 0)
            continue;
        size_t i = 0;
        for (; i < rt->nseg; i++) {
            if ((o->seg[i] == NULL) != (rt->seg[i] == NULL))
                break;
            if (o->seg[i] && strcmp(o->seg[i], rt->seg[i]) != 0)
                break;
        }
        if (i == rt->nseg) {
            free(rt->pattern_copy);
            free(rt);
            return -2;
        }
    }
    snprintf(rt->metric_labels, sizeof rt->metric_labels, "endpoint=\"%s\",method=\"%s\"", ep->path,
             ep->method);
    r->byseg[rt->nseg][r->nbyseg[rt->nseg]++] = (uint16_t)r->n;
    rt->index = r->n;
    r->routes[r->n++] = rt;
    return 0;
bad:
    free(rt->pattern_copy);
    free(rt);
    return -1;
}

/* Does the route's shape match the request segments? Literal segments win over parameters by
 * being tried in a first pass. Compared from the last segment: the leading ones ("api", "v1")
 * are the same in nearly every route, so a route that does not fit is told by the first
 * comparison, usually by length alone. */
static bool api_route_fits(const api_route_t *rt, char **seg, const size_t *seglen, size_t nseg,
                           bool literal_only)
{
    if (rt->nseg != nseg)
        return false;
    for (size_t i = nseg; i-- > 0;) {
        if (rt->seg[i]) {
            if (rt->seglen[i] != seglen[i] || memcmp(rt->seg[i], seg[i], seglen[i]) != 0)
                return false;
        } else if (literal_only) {
            return false;
        }
    }
    return true;
}

int api_router_match(const api_router_t *r, const char *method, const char *path, api_match_t *m,
                     char *allow, size_t allowlen)
{
    char buf[API_PATH_MAX];
    size_t plen = strlen(path);
    if (plen >= sizeof buf)
        return -E2BIG;
    if (plen > 1 && path[plen - 1] == '/')
        return -ENOENT; /* one spelling per resource: /things, never /things/ */
    memcpy(buf, path, plen + 1);
    char *seg[API_MAX_SEGMENTS];
    int n = api_path_split(buf, seg, API_MAX_SEGMENTS);
    if (n < 0)
        return -E2BIG;
    size_t seglen[API_MAX_SEGMENTS];
    for (int i = 0; i < n; i++) {
        if (seg[i][0] == '\0')
            return -ENOENT; /* "//" or a trailing slash never names a resource here */
        seglen[i] = strlen(seg[i]);
    }

    const api_route_t *hit = NULL;
    bool path_known = false;
    if (allow && allowlen)
        allow[0] = '\0';
    for (int pass = 0; pass < 2 && !hit; pass++) {
        for (size_t k = 0; k < r->nbyseg[n]; k++) {
            const api_route_t *rt = r->routes[r->byseg[n][k]];
            if (!api_route_fits(rt, seg, seglen, (size_t)n, pass == 0))
                continue;
            if (strcmp(rt->ep->method, method) == 0 ||
                (strcmp(method, "HEAD") == 0 && strcmp(rt->ep->method, "GET") == 0)) {
                hit = rt;
                break;
            }
            path_known = true;
            if (allow && !strstr(allow, rt->ep->method)) {
                size_t used = strlen(allow);
                snprintf(allow + used, allowlen - used, "%s%s", used ? ", " : "", rt->ep->method);
            }
        }
    }
    if (!hit)
        return path_known ? -EPERM : -ENOENT;

    m->route = hit;
    m->nparams = 0;
    for (int i = 0; i < n; i++) {
        if (hit->seg[i])
            continue;
        size_t len = seglen[i];
        if (len >= sizeof m->values[0])
            return -ENAMETOOLONG;
        m->names[m->nparams] = hit->param_names[i];
        memcpy(m->values[m->nparams], seg[i], len + 1);
        m->nparams++;
    }
    return 0;
}
