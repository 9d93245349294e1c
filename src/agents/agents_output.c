/* The output query (GET /agents/{id}/output): the rings' lines merged by seq and paged, and
 * the grep filter, which never runs on the loop thread: the lines it needs are copied, matched
 * on the thread pool with a bounded cost (core/gregex.h), and the reply is sent from the loop
 * when the job is done. At most agents.grep_jobs such jobs run at once. */
#include <errno.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "agents/agents_internal.h"
#include "core/gregex.h"
#include "core/hub.h"
#include "core/log.h"

/* ---- iteration over the rings ------------------------------------------------------------ */

void agents_out_iter_init(agents_out_iter_t *it, const agent_t *a, const char *stream,
                          uint64_t since)
{
    memset(it, 0, sizeof *it);
    if (!stream || strcmp(stream, "stderr") != 0)
        it->r[AGENTS_STDOUT] = &a->ring[AGENTS_STDOUT];
    if (!stream || strcmp(stream, "stdout") != 0)
        it->r[AGENTS_STDERR] = &a->ring[AGENTS_STDERR];
    for (int s = 0; s < 2; s++)
        if (it->r[s])
            it->i[s] = agents_ring_after(it->r[s], since);
}

const agents_line_t *agents_out_iter_next(agents_out_iter_t *it)
{
    const agents_line_t *best = NULL;
    int bi = -1;
    for (int s = 0; s < 2; s++) {
        const agents_line_t *l = it->r[s] ? agents_ring_at(it->r[s], it->i[s]) : NULL;
        if (l && (!best || l->seq < best->seq)) {
            best = l;
            bi = s;
        }
    }
    if (bi >= 0)
        it->i[bi]++;
    return best;
}

/* ---- the reply ---------------------------------------------------------------------------- */

/* The seq of the oldest line either ring still holds (0 when both are empty). */
static uint64_t agents_out_first_seq(const agent_t *a)
{
    uint64_t first = UINT64_MAX;
    for (int s = 0; s < 2; s++) {
        const agents_line_t *f = agents_ring_at(&a->ring[s], 0);
        if (f && f->seq < first)
            first = f->seq;
    }
    return first == UINT64_MAX ? 0 : first;
}

/* {id, lines, total, has_more, next_since, first_seq, last_seq}; lines is stolen. */
static void agents_out_reply(api_req_t *req, const char *id, json_t *lines, int64_t total,
                             bool has_more, uint64_t next_since, uint64_t first_seq,
                             uint64_t last_seq)
{
    api_reply_json(req, 200,
                   json_pack("{s:s,s:o,s:I,s:b,s:I,s:I,s:I}", "id", id, "lines", lines, "total",
                             (json_int_t)total, "has_more", has_more, "next_since",
                             (json_int_t)next_since, "first_seq", (json_int_t)first_seq, "last_seq",
                             (json_int_t)last_seq));
}

/* The page [offset, offset + limit) of the n copied lines whose hit[i] is set; `tail` > 0
 * takes the last `tail` instead. */
static void agents_out_page(api_req_t *req, const char *id, const agents_line_t *const *v,
                            const uint8_t *hit, size_t n, const agents_out_q_t *q,
                            uint64_t first_seq, uint64_t last_seq)
{
    int64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += hit[i];
    int64_t offset = q->offset, limit = q->limit;
    if (q->tail > 0) {
        offset = total > q->tail ? total - q->tail : 0;
        limit = q->tail;
    }
    json_t *lines = json_array();
    int64_t k = 0;
    uint64_t next = q->since;
    for (size_t i = 0; i < n && k < offset + limit; i++) {
        if (!hit[i])
            continue;
        if (k >= offset) {
            json_array_append_new(lines, agents_line_json(NULL, v[i]));
            next = v[i]->seq;
        }
        k++;
    }
    agents_out_reply(req, id, lines, total, offset + limit < total, next, first_seq, last_seq);
}

void agents_out_answer(agent_t *a, api_req_t *req, const agents_out_q_t *q)
{
    /* without a pattern the work is one pass over lines already in memory (two with tail),
     * bounded by the rings' bytes */
    agents_out_iter_t it;
    const agents_line_t *l;
    int64_t offset = q->offset, limit = q->limit;
    bool older = agents_log_wanted(a, q); /* lines before the rings are wanted */
    if (q->tail > 0) {
        int64_t total = 0;
        agents_out_iter_init(&it, a, q->stream, q->since);
        while (agents_out_iter_next(&it))
            total++;
        offset = total > q->tail ? total - q->tail : 0;
        limit = q->tail;
        older = older && total < q->tail;
    }
    if (older) {
        agents_log_query_start(a, req, q, NULL);
        return;
    }
    json_t *lines = json_array();
    int64_t k = 0;
    uint64_t next = q->since;
    agents_out_iter_init(&it, a, q->stream, q->since);
    while ((l = agents_out_iter_next(&it)) != NULL) {
        if (k >= offset && k < offset + limit) {
            json_array_append_new(lines, agents_line_json(a, l));
            next = l->seq;
        }
        k++;
    }
    agents_out_reply(req, a->id, lines, k, offset + limit < k, next, agents_out_first_seq(a),
                     a->seq);
}

/* ---- grep on the thread pool -------------------------------------------------------------- */

typedef struct agents_grep_job {
    uv_work_t work;
    agents_t *ag; /* borrowed: the module outlives the loop's last job (serve drains first) */
    api_req_t *req;
    gregex_t *re; /* owned */
    char id[AGENTS_ID_LEN + 1];
    agents_out_q_t q;
    uint64_t first_seq, last_seq;
    /* the snapshot: n copies of lines, packed in buf, pointed to by v (all owned) */
    char *buf;
    agents_line_t **v;
    uint8_t *hit;
    size_t n;
    /* the worker's result */
    int rc;             /* 0, -ERANGE (budget), -ETIMEDOUT (deadline), -ENOMEM */
    const char *reason; /* static, with an error */
    uint64_t at_seq;    /* the line being matched when the search stopped */
    uint64_t cpu_ns;
} agents_grep_job_t;

/* A copied line's place in the snapshot buffer: aligned like agents_line_t. */
static size_t agents_grep_line_size(const agents_line_t *l)
{
    size_t sz = sizeof(agents_line_t) + l->len + 1;
    size_t al = alignof(agents_line_t);
    return (sz + al - 1) / al * al;
}

static void agents_grep_job_free(agents_grep_job_t *j)
{
    gregex_destroy(&j->re);
    free(j->buf);
    free(j->v);
    free(j->hit);
    free(j);
}

/* Copies the lines after q->since of the selected streams into the job. 0 or -ENOMEM. Their
 * size is bounded by the rings (agents.output_buffer per stream). */
static int agents_grep_snapshot(agents_grep_job_t *j, const agent_t *a)
{
    agents_out_iter_t it;
    const agents_line_t *l;
    size_t bytes = 0, n = 0;
    agents_out_iter_init(&it, a, j->q.stream, j->q.since);
    while ((l = agents_out_iter_next(&it)) != NULL) {
        bytes += agents_grep_line_size(l);
        n++;
    }
    j->buf = malloc(bytes ? bytes : 1);
    j->v = malloc((n ? n : 1) * sizeof *j->v);
    j->hit = calloc(n ? n : 1, 1);
    if (!j->buf || !j->v || !j->hit)
        return -ENOMEM;
    size_t off = 0;
    agents_out_iter_init(&it, a, j->q.stream, j->q.since);
    for (size_t i = 0; i < n && (l = agents_out_iter_next(&it)) != NULL; i++) {
        j->v[i] = (agents_line_t *)(void *)(j->buf + off);
        memcpy(j->v[i], l, sizeof(agents_line_t) + l->len + 1);
        off += agents_grep_line_size(l);
    }
    j->n = n;
    return 0;
}

static void agents_grep_work(uv_work_t *w)
{
    agents_grep_job_t *j = w->data;
    gregex_scan_t *scan = NULL;
    j->rc = gregex_scan_new(j->re, &scan);
    for (size_t i = 0; j->rc == 0 && i < j->n; i++) {
        int m = gregex_scan_match(scan, j->v[i]->data, j->v[i]->len);
        if (m < 0) {
            j->rc = m;
            j->at_seq = j->v[i]->seq;
            j->reason = m == -ENOMEM ? "out of memory" : gregex_scan_reason(scan);
        } else {
            j->hit[i] = (uint8_t)m;
        }
    }
    if (scan)
        j->cpu_ns = gregex_scan_cpu_ns(scan);
    gregex_scan_destroy(&scan);
}

static void agents_grep_after(uv_work_t *w, int status)
{
    agents_grep_job_t *j = w->data;
    j->ag->grep_running--;
    if (status < 0 || j->rc == -ENOMEM) {
        api_reply_problem(j->req, problem_new(503, "out-of-memory",
                                              "the output could not be searched; try again"));
    } else if (j->rc == -ETIMEDOUT) {
        /* within its CPU budget but not its wall-clock deadline: the machine is busy, the
         * pattern may be fine */
        j->ag->grep_busy++;
        problem_t *p =
            problem_new(503, "busy",
                        "the search ran out of time on a busy server (%llu ms of "
                        "matching done at line seq %llu); try again",
                        (unsigned long long)(j->cpu_ns / 1000000u), (unsigned long long)j->at_seq);
        problem_header_set(p, "Retry-After", "1");
        api_reply_problem(j->req, p);
    } else if (j->rc < 0) {
        j->ag->grep_refused++;
        problem_t *p = problem_validation_new();
        problem_field_add(p, "query", "grep",
                          "the pattern exceeds its match budget (%s, at line seq %llu, after "
                          "%llu ms of matching): write it so that it backtracks less (no nested or "
                          "overlapping repeats such as (a|aa)* or (a+)+), or narrow the lines "
                          "with since or stream",
                          j->reason, (unsigned long long)j->at_seq,
                          (unsigned long long)(j->cpu_ns / 1000000u));
        api_reply_problem(j->req, p);
    } else {
        agents_out_page(j->req, j->id, (const agents_line_t *const *)j->v, j->hit, j->n, &j->q,
                        j->first_seq, j->last_seq);
    }
    agents_grep_job_free(j);
}

void agents_grep_start(agent_t *a, api_req_t *req, const char *pattern, const agents_out_q_t *q)
{
    agents_t *ag = a->owner;
    const config_t *cfg = &ag->hub->cfg;
    gregex_limits_t lim;
    gregex_limits_default(&lim);
    lim.budget_ns = (uint64_t)cfg->agents_grep_budget_ms * 1000000u;
    lim.deadline_ns = 4 * lim.budget_ns;
    char err[GREGEX_ERR_MAX];
    gregex_t *re = NULL;
    int rc = gregex_compile(pattern, strlen(pattern), &lim, &re, err, sizeof err);
    if (rc == -ENOMEM) {
        api_reply_problem(
            req, problem_new(503, "out-of-memory", "the pattern could not be compiled; try again"));
        return;
    }
    if (rc < 0) {
        problem_t *p = problem_validation_new();
        problem_field_add(p, "query", "grep", "%s: %s",
                          rc == -E2BIG ? "too long" : "not a valid regular expression", err);
        api_reply_problem(req, p);
        return;
    }
    if (agents_log_wanted(a, q)) {
        agents_log_query_start(a, req, q, re); /* the files hold what the rings lost */
        return;
    }
    if (ag->grep_running >= (int)cfg->agents_grep_jobs) {
        gregex_destroy(&re);
        ag->grep_busy++;
        problem_t *p = problem_new(503, "busy",
                                   "%d output searches are running (agents.grep_jobs); try again "
                                   "shortly",
                                   ag->grep_running);
        problem_header_set(p, "Retry-After", "1");
        api_reply_problem(req, p);
        return;
    }
    agents_grep_job_t *j = calloc(1, sizeof *j);
    if (!j) {
        gregex_destroy(&re);
        api_reply_problem(req, problem_new(503, "out-of-memory", "the search could not start"));
        return;
    }
    j->re = re;
    j->q = *q;
    if (agents_grep_snapshot(j, a) < 0) {
        agents_grep_job_free(j);
        api_reply_problem(req, problem_new(503, "out-of-memory",
                                           "the output could not be copied for the search"));
        return;
    }
    j->q.stream = NULL; /* borrowed from the request; the snapshot has applied it */
    j->ag = ag;
    j->req = req;
    memcpy(j->id, a->id, sizeof j->id);
    j->first_seq = agents_out_first_seq(a);
    j->last_seq = a->seq;
    j->work.data = j;
    rc = uv_queue_work(ag->hub->loop, &j->work, agents_grep_work, agents_grep_after);
    if (rc < 0) {
        agents_grep_job_free(j);
        api_reply_problem(req, problem_new(503, "unavailable", "the search could not start: %s",
                                           uv_strerror(rc)));
        return;
    }
    ag->grep_running++;
}
