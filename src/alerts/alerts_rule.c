/* Rule matching, grouping and rate windows, backoff and templates: the pure part of alerts
 * (see alerts_rule.h). Everything here is a function of its arguments. */
#include "alerts/alerts_rule.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"

int alerts_severity_rank(const char *name)
{
    static const char *const names[] = {"none", "low", "medium", "high", "critical"};
    for (int i = 0; name && i < 5; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

bool alerts_glob_match(const char *pattern, const char *s)
{
    if (!pattern || !*pattern)
        return true;
    return s && fnmatch(pattern, s, 0) == 0;
}

static const char *alerts_str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static int alerts_fail(char *field, size_t flen, const char *f, char *why, size_t wlen,
                       const char *w)
{
    snprintf(field, flen, "%s", f);
    snprintf(why, wlen, "%s", w);
    return -EINVAL;
}

int alerts_rule_check(const json_t *rule, char *field, size_t flen, char *why, size_t wlen)
{
    const char *kind = alerts_str(rule, "kind");
    if (!kind)
        return alerts_fail(field, flen, "kind", why, wlen, "required");
    const char *sev = alerts_str(rule, "min_severity");
    if (sev && alerts_severity_rank(sev) < 0)
        return alerts_fail(field, flen, "min_severity", why, wlen,
                           "one of none, low, medium, high, critical");
    if (strcmp(kind, "metric") == 0) {
        if (!alerts_str(rule, "metric"))
            return alerts_fail(field, flen, "metric", why, wlen, "a metric rule names its metric");
        if (!json_is_number(json_object_get(rule, "threshold")))
            return alerts_fail(field, flen, "threshold", why, wlen,
                               "a metric rule needs a threshold");
    }
    bool has_n = json_object_get(rule, "restarts") != NULL;
    bool has_t = json_object_get(rule, "within_s") != NULL;
    if (has_n != has_t)
        return alerts_fail(field, flen, has_n ? "within_s" : "restarts", why, wlen,
                           "a crash loop is restarts within within_s: give both");
    if ((has_n || json_object_get(rule, "statuses")) && strcmp(kind, "agent") != 0)
        return alerts_fail(field, flen, has_n ? "restarts" : "statuses", why, wlen,
                           "only agent rules count statuses and restarts");
    return 0;
}

const char *alerts_rule_topics(const char *kind)
{
    if (!kind)
        return NULL;
    if (strcmp(kind, "anomaly") == 0)
        return "anomaly.created";
    if (strcmp(kind, "agent") == 0)
        return "agent.*.status";
    if (strcmp(kind, "task") == 0)
        return "task.*.updated";
    if (strcmp(kind, "brain") == 0)
        return "brain.*.overrun";
    return NULL;
}

/* Whether s is one of the strings of arr, or of the defaults when arr is absent. */
static bool alerts_in(const json_t *arr, const char *const *defaults, const char *s)
{
    if (!s)
        return false;
    if (json_is_array(arr)) {
        size_t i;
        json_t *v;
        json_array_foreach(arr, i, v) if (json_is_string(v) &&
                                          strcmp(json_string_value(v), s) == 0) return true;
        return false;
    }
    for (; *defaults; defaults++)
        if (strcmp(*defaults, s) == 0)
            return true;
    return false;
}

bool alerts_rule_match(const json_t *rule, const char *topic, const json_t *data, char *key,
                       size_t klen)
{
    const char *kind = alerts_str(rule, "kind");
    const char *want = alerts_rule_topics(kind);
    if (!want || !topic || !json_is_object(data))
        return false;
    const char *k = NULL;
    if (strcmp(kind, "anomaly") == 0) {
        if (strcmp(topic, "anomaly.created") != 0)
            return false;
        const char *min = alerts_str(rule, "min_severity");
        int rank = alerts_severity_rank(alerts_str(data, "severity"));
        if (rank < (min ? alerts_severity_rank(min) : 2))
            return false;
        k = alerts_str(data, "stream");
        if (!k || !alerts_glob_match(alerts_str(rule, "stream"), k))
            return false;
    } else if (strcmp(kind, "agent") == 0) {
        static const char *const def[] = {"failed", "lost", NULL};
        if (strncmp(topic, "agent.", 6) != 0)
            return false;
        /* a crash loop counts the restarts too: an agent with a restart policy that exits is
         * idle, "restarting in N ms (...)", until its next start */
        const char *status = alerts_str(data, "status"), *reason = alerts_str(data, "reason");
        bool restart = json_object_get(rule, "restarts") && status && !strcmp(status, "idle") &&
                       reason && strncmp(reason, "restarting in ", 14) == 0;
        if (!restart && !alerts_in(json_object_get(rule, "statuses"), def, status))
            return false;
        const char *name = alerts_str(data, "name");
        if (!alerts_glob_match(alerts_str(rule, "agent"),
                               name && *name ? name : alerts_str(data, "id")))
            return false;
        k = alerts_str(data, "id");
    } else if (strcmp(kind, "task") == 0) {
        static const char *const def[] = {"failed", NULL};
        if (strncmp(topic, "task.", 5) != 0 ||
            !alerts_in(json_object_get(rule, "states"), def, alerts_str(data, "state")))
            return false;
        k = alerts_str(data, "type");
        if (!alerts_glob_match(alerts_str(rule, "task_type"), k))
            return false;
    } else if (strcmp(kind, "brain") == 0) {
        if (strncmp(topic, "brain.", 6) != 0)
            return false;
        const char *name = alerts_str(data, "name");
        if (!alerts_glob_match(alerts_str(rule, "brain"), name ? name : alerts_str(data, "id")))
            return false;
        k = alerts_str(data, "id");
    } else {
        return false;
    }
    snprintf(key, klen, "%s", k ? k : "");
    return true;
}

int alerts_metric_read(const char *text, size_t len, const char *name, const char *labels,
                       double *value)
{
    size_t nl = strlen(name);
    double sum = 0;
    bool found = false;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        if (*p != '#' && (size_t)(eol - p) > nl && memcmp(p, name, nl) == 0 &&
            (p[nl] == '{' || p[nl] == ' ')) {
            const char *sp = p + nl;
            const char *lab_end = sp;
            if (*sp == '{') {
                lab_end = memchr(sp, '}', (size_t)(eol - sp));
                if (!lab_end)
                    goto next;
                lab_end++;
            }
            bool want = true;
            if (labels && *labels) {
                size_t ll = strlen(labels);
                want = false;
                for (const char *q = sp; q + ll <= lab_end; q++)
                    if (memcmp(q, labels, ll) == 0) {
                        want = true;
                        break;
                    }
            }
            if (want) {
                char num[64];
                size_t vl = (size_t)(eol - lab_end);
                if (vl >= sizeof num)
                    goto next;
                memcpy(num, lab_end, vl);
                num[vl] = '\0';
                char *e = NULL;
                double v = strtod(num, &e);
                if (e != num) {
                    sum += v;
                    found = true;
                }
            }
        }
    next:
        p = eol + 1;
    }
    if (!found)
        return -ENOENT;
    *value = sum;
    return 0;
}

bool alerts_metric_compare(double value, const char *op, double threshold)
{
    if (!op || strcmp(op, ">") == 0)
        return value > threshold;
    if (strcmp(op, ">=") == 0)
        return value >= threshold;
    if (strcmp(op, "<") == 0)
        return value < threshold;
    if (strcmp(op, "<=") == 0)
        return value <= threshold;
    return false;
}

bool alerts_groups_admit(alerts_groups_t *g, const char *key, int64_t now_ms, int64_t window_ms)
{
    size_t oldest = 0;
    for (size_t i = 0; i < g->n; i++) {
        if (strncmp(g->v[i].key, key, ALERTS_KEY_MAX - 1) == 0) {
            if (now_ms - g->v[i].fired_ms < window_ms)
                return false;
            g->v[i].fired_ms = now_ms;
            return true;
        }
        if (g->v[i].fired_ms < g->v[oldest].fired_ms)
            oldest = i;
    }
    size_t at = g->n < ALERTS_GROUPS_MAX ? g->n++ : oldest;
    snprintf(g->v[at].key, sizeof g->v[at].key, "%s", key);
    g->v[at].fired_ms = now_ms;
    return true;
}

bool alerts_rate_admit(alerts_rate_t *r, int64_t now_ms, int64_t max, int64_t window_ms)
{
    if (max <= 0)
        return true;
    if (max > ALERTS_RATE_MAX)
        max = ALERTS_RATE_MAX;
    /* drop the sends that left the window (the ring holds them oldest first) */
    while (r->n && now_ms - r->sent_ms[r->head] >= window_ms) {
        r->head = (r->head + 1) % ALERTS_RATE_MAX;
        r->n--;
    }
    if ((int64_t)r->n >= max)
        return false;
    r->sent_ms[(r->head + r->n) % ALERTS_RATE_MAX] = now_ms;
    r->n++;
    return true;
}

int64_t alerts_backoff_ms(int attempt, int64_t base_ms, int64_t max_ms)
{
    int64_t w = base_ms;
    for (int i = 1; i < attempt && w < max_ms; i++)
        w *= 2;
    return w < max_ms ? w : max_ms;
}

static const json_t *alerts_path_get(const json_t *doc, const char *path, size_t len)
{
    char seg[128];
    const json_t *v = doc;
    while (len && v) {
        const char *dot = memchr(path, '.', len);
        size_t sl = dot ? (size_t)(dot - path) : len;
        if (sl == 0 || sl >= sizeof seg)
            return NULL;
        memcpy(seg, path, sl);
        seg[sl] = '\0';
        v = json_object_get(v, seg);
        path += sl + (dot ? 1 : 0);
        len -= sl + (dot ? 1 : 0);
    }
    return v;
}

static int alerts_put_escaped(strbuf_t *b, const char *s, size_t n)
{
    json_t *str = json_stringn(s, n);
    if (!str)
        return -EINVAL;
    char *enc = json_dumps(str, JSON_ENCODE_ANY | JSON_COMPACT);
    json_decref(str);
    if (!enc)
        return -ENOMEM;
    size_t el = strlen(enc);
    int rc = el >= 2 ? strbuf_append(b, enc + 1, el - 2) : 0; /* without the quotes */
    free(enc);
    return rc;
}

int alerts_template_render(const char *tmpl, const json_t *doc, bool json_escape, size_t max,
                           char **out)
{
    strbuf_t b;
    strbuf_init(&b, max);
    int rc = 0;
    const char *p = tmpl;
    while (rc == 0 && *p) {
        const char *open = strstr(p, "{{");
        const char *close = open ? strstr(open + 2, "}}") : NULL;
        if (!close) {
            rc = strbuf_append(&b, p, strlen(p));
            break;
        }
        rc = strbuf_append(&b, p, (size_t)(open - p));
        const char *name = open + 2;
        size_t nlen = (size_t)(close - name);
        while (nlen && *name == ' ')
            name++, nlen--;
        while (nlen && name[nlen - 1] == ' ')
            nlen--;
        const json_t *v = alerts_path_get(doc, name, nlen);
        if (rc == 0 && v) {
            if (json_is_string(v)) {
                rc = json_escape
                         ? alerts_put_escaped(&b, json_string_value(v), json_string_length(v))
                         : strbuf_append(&b, json_string_value(v), json_string_length(v));
            } else {
                char *enc = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
                if (!enc)
                    rc = -ENOMEM;
                else {
                    rc = json_escape ? alerts_put_escaped(&b, enc, strlen(enc))
                                     : strbuf_append(&b, enc, strlen(enc));
                    free(enc);
                }
            }
        }
        p = close + 2;
    }
    if (rc < 0) {
        strbuf_free(&b);
        return rc == -ENOMEM ? -ENOMEM : -E2BIG;
    }
    *out = b.data ? strbuf_steal(&b, NULL) : strdup("");
    return *out ? 0 : -ENOMEM;
}
