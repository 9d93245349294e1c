/* Queries of GET /agents/{id}/output that reach before what the rings hold (lines dropped, a
 * record loaded at start): answered from the agent's log files, read oldest first on the thread
 * pool with the grep (if any) matched there within its budget, the page kept bounded. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agents/agents_internal.h"
#include "agents/agents_logrec.h"
#include "core/hub.h"

#define AGENTS_LOG_REPLY_MAX (8 * 1024 * 1024) /* line bytes one reply from the files carries */

bool agents_log_wanted(const agent_t *a, const agents_out_q_t *q)
{
    if (!a->owner->logs_dir)
        return false;
    /* every line with seq >= cover is in the rings */
    uint64_t cover = a->ring_from;
    for (int s = 0; s < 2; s++) {
        const agents_line_t *first = agents_ring_at(&a->ring[s], 0);
        if (a->ring[s].evicted && first && first->seq > cover)
            cover = first->seq;
        if (a->ring[s].evicted && !first && a->seq + 1 > cover)
            cover = a->seq + 1;
    }
    if (q->since + 1 >= cover)
        return false;
    char path[AGENTS_LOG_PATH_MAX];
    struct stat st;
    for (int i = 0; i < 2; i++)
        if (agents_log_path(a->owner->logs_dir, a->id, i, path, sizeof path) == 0 &&
            stat(path, &st) == 0)
            return true;
    return false; /* no files (agents.log_max_bytes 0, or removed): the rings answer */
}

typedef struct agents_logq_job {
    uv_work_t work;
    agents_t *ag; /* borrowed: the module outlives the loop's last job */
    api_req_t *req;
    gregex_t *re; /* owned; NULL: every line */
    char id[AGENTS_ID_LEN + 1];
    char *dir; /* owned copy of the logs directory */
    agents_out_q_t q;
    int stream;     /* -1: both */
    uint64_t until; /* the last seq written when the query came */
    /* the result: kept records (owned strings), as a ring of `cap` when tail > 0 */
    char **kept;
    size_t cap, head, n, kept_bytes;
    int64_t total;
    bool cut;   /* the reply's byte cap stopped the page short */
    bool found; /* at least one file was read */
    uint64_t first_seq, last_seq_read;
    int rc; /* 0, -ENOMEM, -ERANGE/-ETIMEDOUT (the pattern's budget) */
    const char *reason;
    uint64_t at_seq, cpu_ns;
    char *text_buf; /* a record's unescaped text (worker only; owned) */
    size_t text_cap;
} agents_logq_job_t;

static void agents_logq_keep(agents_logq_job_t *j, const char *rec, size_t len)
{
    char *copy = malloc(len + 1);
    if (!copy) {
        j->rc = -ENOMEM;
        return;
    }
    memcpy(copy, rec, len);
    copy[len] = '\0';
    if (j->q.tail > 0) {
        /* the last `tail` hits: a ring that drops its oldest past the count or the byte cap */
        if (j->n == j->cap || (j->n && j->kept_bytes + len > AGENTS_LOG_REPLY_MAX)) {
            j->kept_bytes -= strlen(j->kept[j->head]);
            free(j->kept[j->head]);
            j->head = (j->head + 1) % j->cap;
            j->n--;
            j->cut = true;
        }
        j->kept[(j->head + j->n) % j->cap] = copy;
    } else {
        j->kept[j->n] = copy;
    }
    j->n++;
    j->kept_bytes += len;
}

/* One record: filtered, matched, counted and kept if on the page. */
static void agents_logq_record(agents_logq_job_t *j, gregex_scan_t *scan, const char *rec,
                               size_t len)
{
    uint64_t seq;
    int stream;
    if (agents_logrec_head_parse(rec, len, &seq, &stream) < 0 || seq <= j->last_seq_read ||
        seq > j->until)
        return; /* not a record, or seen in a file read twice across a rotation */
    j->last_seq_read = seq;
    if (!j->first_seq)
        j->first_seq = seq;
    if (seq <= j->q.since || (j->stream >= 0 && stream != j->stream))
        return;
    if (scan) {
        const char *text;
        size_t tlen;
        int m;
        if (agents_logrec_text_get(rec, len, &j->text_buf, &j->text_cap, &text, &tlen) == 0) {
            m = gregex_scan_match(scan, text, tlen);
        } else {
            json_t *o = json_loadb(rec, len, 0, NULL);
            json_t *t = json_object_get(o, "text");
            m = json_is_string(t)
                    ? gregex_scan_match(scan, json_string_value(t), json_string_length(t))
                    : 0;
            json_decref(o);
        }
        if (m < 0) {
            j->rc = m;
            j->at_seq = seq;
            j->reason = m == -ENOMEM ? "out of memory" : gregex_scan_reason(scan);
            return;
        }
        if (!m)
            return;
    }
    int64_t k = j->total++;
    if (j->q.tail > 0) {
        agents_logq_keep(j, rec, len);
    } else if (k >= j->q.offset && k < j->q.offset + j->q.limit) {
        if (j->n && j->kept_bytes + len > AGENTS_LOG_REPLY_MAX)
            j->cut = true;
        else if (!j->cut)
            agents_logq_keep(j, rec, len);
    }
}

static void agents_logq_work(uv_work_t *w)
{
    agents_logq_job_t *j = w->data;
    gregex_scan_t *scan = NULL;
    if (j->re && (j->rc = gregex_scan_new(j->re, &scan)) < 0)
        return;
    /* opened newest first, so that a rotation meanwhile can show a file twice (the seq
     * check skips it) but never hide one; read oldest first */
    FILE *fp[AGENTS_LOG_FILES_MAX + 1];
    int nf = 0;
    for (int i = 0; i <= AGENTS_LOG_FILES_MAX; i++) {
        char path[AGENTS_LOG_PATH_MAX];
        if (agents_log_path(j->dir, j->id, i, path, sizeof path) < 0)
            break;
        FILE *x = fopen(path, "re");
        if (!x) {
            if (i > 0)
                break;
            continue;
        }
        fp[nf++] = x;
    }
    j->found = nf > 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t n;
    int st;
    /* the oldest record on disk: the reply's first_seq */
    if (nf > 0 && (n = getline(&line, &lcap, fp[nf - 1])) > 0)
        (void)agents_logrec_head_parse(line, (size_t)n, &j->first_seq, &st);
    if (nf > 0)
        rewind(fp[nf - 1]);
    for (int i = nf - 1; i >= 0; i--) {
        /* a file whose successor starts at or before since+1 holds nothing wanted */
        uint64_t next_first = 0;
        bool skip = i > 0 && (n = getline(&line, &lcap, fp[i - 1])) > 0 &&
                    agents_logrec_head_parse(line, (size_t)n, &next_first, &st) == 0 &&
                    next_first <= j->q.since + 1;
        if (i > 0)
            rewind(fp[i - 1]);
        if (skip) {
            fclose(fp[i]);
            continue;
        }
        while (j->rc == 0 && (n = getline(&line, &lcap, fp[i])) > 0) {
            if (line[n - 1] != '\n')
                break; /* a record being written: it is after `until` */
            agents_logq_record(j, scan, line, (size_t)n - 1);
        }
        fclose(fp[i]);
    }
    free(line);
    if (scan)
        j->cpu_ns = gregex_scan_cpu_ns(scan);
    gregex_scan_destroy(&scan);
}

static void agents_logq_free(agents_logq_job_t *j)
{
    /* n <= cap: each slot once (the bound says so to the analyzer, which loses j's fields
     * once uv_queue_work has seen them) */
    for (size_t i = 0; i < j->n && i < j->cap; i++)
        free(j->kept[(j->head + i) % j->cap]);
    free(j->kept);
    free(j->text_buf);
    gregex_destroy(&j->re);
    free(j->dir);
    free(j);
}

/* {id, lines, total, has_more, next_since, first_seq, last_seq, source} as text. */
static char *agents_logq_reply_text(agents_logq_job_t *j, size_t *len)
{
    strbuf_t sb;
    strbuf_init(&sb, 0);
    strbuf_printf(&sb, "{\"id\":\"%s\",\"lines\":[", j->id);
    uint64_t next = j->q.since;
    for (size_t i = 0; i < j->n; i++) {
        const char *rec = j->kept[(j->head + i) % j->cap];
        if (i)
            strbuf_append(&sb, ",", 1);
        strbuf_puts(&sb, rec);
        uint64_t seq;
        int stream;
        if (agents_logrec_head_parse(rec, strlen(rec), &seq, &stream) == 0)
            next = seq;
    }
    bool more = j->q.tail > 0 ? false : j->cut || j->q.offset + j->q.limit < j->total;
    strbuf_printf(&sb,
                  "],\"total\":%" PRId64 ",\"has_more\":%s,\"next_since\":%" PRIu64
                  ",\"first_seq\":%" PRIu64 ",\"last_seq\":%" PRIu64 ",\"source\":\"files\"}",
                  j->total, more ? "true" : "false", next, j->first_seq,
                  j->until == UINT64_MAX ? j->last_seq_read : j->until);
    return strbuf_steal(&sb, len);
}

static void agents_logq_after(uv_work_t *w, int status)
{
    agents_logq_job_t *j = w->data;
    j->ag->grep_running--;
    if (status < 0 || j->rc == -ENOMEM) {
        api_reply_problem(j->req, problem_new(503, "out-of-memory",
                                              "the log files could not be read; try again"));
    } else if (j->rc == -ETIMEDOUT) {
        j->ag->grep_busy++;
        problem_t *p = problem_new(503, "busy",
                                   "the search of the log files ran out of time on a busy server "
                                   "(at line seq %llu); try again",
                                   (unsigned long long)j->at_seq);
        problem_header_set(p, "Retry-After", "1");
        api_reply_problem(j->req, p);
    } else if (j->rc < 0) {
        j->ag->grep_refused++;
        problem_t *p = problem_validation_new();
        problem_field_add(p, "query", "grep",
                          "the pattern exceeds its match budget (%s, at line seq %llu, after "
                          "%llu ms of matching): write it so that it backtracks less, or narrow "
                          "the lines with since or stream",
                          j->reason, (unsigned long long)j->at_seq,
                          (unsigned long long)(j->cpu_ns / 1000000u));
        api_reply_problem(j->req, p);
    } else {
        size_t len = 0;
        char *text = agents_logq_reply_text(j, &len);
        if (text)
            api_reply_json_text(j->req, 200, text, len);
        else
            api_reply_problem(j->req,
                              problem_new(503, "out-of-memory", "the reply could not be built"));
        free(text);
    }
    agents_logq_free(j);
}

void agents_log_query_start(agent_t *a, api_req_t *req, const agents_out_q_t *q, gregex_t *re)
{
    agents_t *ag = a->owner;
    if (ag->grep_running >= (int)ag->hub->cfg.agents_grep_jobs) {
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
    agents_logq_job_t *j = calloc(1, sizeof *j);
    if (j) {
        j->cap = q->tail > 0 ? (size_t)q->tail : (size_t)q->limit;
        j->kept = calloc(j->cap ? j->cap : 1, sizeof *j->kept);
        j->dir = strdup(ag->logs_dir);
    }
    if (!j || !j->kept || !j->dir) {
        if (j)
            agents_logq_free(j);
        gregex_destroy(&re);
        api_reply_problem(req, problem_new(503, "out-of-memory", "the query could not start"));
        return;
    }
    /* what the loop holds goes to the file first, so that the file has every line to now */
    agents_log_close(a);
    j->ag = ag;
    j->req = req;
    j->re = re;
    j->q = *q;
    j->stream = !q->stream ? -1 : strcmp(q->stream, "stderr") == 0 ? AGENTS_STDERR : AGENTS_STDOUT;
    j->q.stream = NULL; /* borrowed from the request: applied through j->stream */
    /* a live agent's later lines are the rings' business; an ended one writes no more, and
     * one lost to a killed daemon has more lines on disk than its row's last_seq */
    j->until = agents_status_live(a->status) ? a->seq : UINT64_MAX;
    memcpy(j->id, a->id, sizeof j->id);
    j->work.data = j;
    int rc = uv_queue_work(ag->hub->loop, &j->work, agents_logq_work, agents_logq_after);
    if (rc < 0) {
        agents_logq_free(j);
        api_reply_problem(
            req, problem_new(503, "unavailable", "the query could not start: %s", uv_strerror(rc)));
        return;
    }
    ag->grep_running++;
}
