/* The guard's evaluation against a naive loop over the rules, on the same rule set and the
 * same actions: RULES rules (words and phrases, a share of regexes, a few conditions), actions
 * of about 1 KB, p50/p99 per evaluation in microseconds. The naive loop folds the text once and
 * then, rule by rule, looks for each word (memmem + the same whole-word test), runs the same
 * regexes and the same conditions: only the word matching differs. Prints one JSON object. */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/gregex.h"
#include "guard/guard_cond.h"
#include "guard/guard_rules.h"
#include "guard/guard_text.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* CPU time of this thread: what an evaluation costs without the waits of a busy machine */
static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static unsigned rnd_state = 12345;
static unsigned rnd(void)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return rnd_state >> 8;
}

static void word(char *out, size_t min, size_t max)
{
    size_t n = min + rnd() % (max - min + 1);
    for (size_t i = 0; i < n; i++)
        out[i] = (char)('a' + rnd() % 26);
    out[n] = '\0';
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* ---- the naive peer ---- */
typedef struct naive_rule {
    char **words;
    size_t *lens;
    size_t nwords;
    gregex_t **re;
    size_t nre;
    guard_cond_t **conds;
    size_t nconds;
    int64_t weight;
} naive_rule_t;

static naive_rule_t *naive_build(const json_t *rules, size_t *n)
{
    naive_rule_t *nr = calloc(json_array_size(rules), sizeof *nr);
    gregex_limits_t lim;
    gregex_limits_default(&lim);
    size_t i;
    json_t *r;
    json_array_foreach(rules, i, r)
    {
        json_t *m = json_object_get(r, "match"), *w = json_object_get(m, "words"),
               *re = json_object_get(m, "regex"), *c = json_object_get(m, "conditions");
        naive_rule_t *x = &nr[i];
        x->weight = json_integer_value(json_object_get(r, "weight"));
        x->words = calloc(json_array_size(w) + 1, sizeof *x->words);
        x->lens = calloc(json_array_size(w) + 1, sizeof *x->lens);
        x->re = calloc(json_array_size(re) + 1, sizeof *x->re);
        x->conds = calloc(json_array_size(c) + 1, sizeof *x->conds);
        size_t k;
        json_t *v;
        json_array_foreach(w, k, v)
        {
            x->words[k] = malloc(json_string_length(v) + 1);
            x->lens[k] = guard_text_fold(json_string_value(v), json_string_length(v), x->words[k]);
            x->nwords++;
        }
        char err[200];
        json_array_foreach(re, k, v) gregex_compile(json_string_value(v), json_string_length(v),
                                                    &lim, &x->re[x->nre++], err, sizeof err);
        json_array_foreach(c, k, v) x->conds[x->nconds++] = guard_cond_parse(v, err, sizeof err);
    }
    *n = json_array_size(rules);
    return nr;
}

static bool naive_word(const char *text, size_t len, const char *w, size_t wl)
{
    const char *p = text, *end = text + len;
    while ((p = memmem(p, (size_t)(end - p), w, wl))) {
        size_t at = (size_t)(p - text);
        bool left = guard_text_word_at(w, wl, 0) && guard_text_word_before(text, at);
        bool right = guard_text_word_before(w, wl) && guard_text_word_at(text, len, at + wl);
        if (!left && !right)
            return true;
        p++;
    }
    return false;
}

static int64_t naive_eval(const naive_rule_t *nr, size_t n, const json_t *action)
{
    size_t len;
    char *raw = guard_action_text(action, &len);
    char *f = malloc(len + 1);
    size_t fl = guard_text_fold(raw, len, f);
    guard_subject_t s = {.action = json_is_object(action) ? action : NULL, .trust = 0.5};
    int64_t score = 0;
    for (size_t i = 0; i < n; i++) {
        const naive_rule_t *r = &nr[i];
        bool ok = true;
        for (size_t k = 0; k < r->nconds && ok; k++)
            ok = guard_cond_eval(r->conds[k], &s, NULL, 0);
        if (!ok)
            continue;
        bool hit = r->nwords + r->nre == 0;
        for (size_t k = 0; k < r->nwords && !hit; k++)
            hit = naive_word(f, fl, r->words[k], r->lens[k]);
        for (size_t k = 0; k < r->nre && !hit; k++) {
            gregex_scan_t *sc;
            gregex_scan_new(r->re[k], &sc);
            hit = gregex_scan_match(sc, raw, len) != 0;
            gregex_scan_destroy(&sc);
        }
        if (hit)
            score += r->weight;
    }
    free(raw);
    free(f);
    return score;
}

int main(int argc, char **argv)
{
    int nrules = argc > 1 ? atoi(argv[1]) : 1000;
    int regex_pct = argc > 2 ? atoi(argv[2]) : 5;
    int iters = argc > 3 ? atoi(argv[3]) : 3000;
    /* "shell": actions read like commands and prose (a fixed vocabulary); "random": random
     * lowercase words, the automaton's worst case (every letter pair starts some pattern) */
    bool shell = argc > 4 && strcmp(argv[4], "shell") == 0;
    static const char *const common[] = {
        "ls",     "-la",      "cd",       "/srv/app", "&&",
        "make",   "build",    "the",      "and",      "to",
        "of",     "git",      "pull",     "origin",   "main",
        "echo",   "done",     "grep",     "-r",       "TODO",
        "src/",   "|",        "wc",       "-l",       "python3",
        "run.py", "--config", "prod.ini", "for",      "file",
        "in",     "*.log;",   "do",       "cat",      "\"$file\"",
        "tail",   "-n",       "100",      "curl",     "https://api.example.com/v1/status",
        "docker", "ps",       "kubectl",  "get",      "pods",
        "npm",    "install",  "please",   "check",    "service",
        "logs"};
    json_t *rules = json_array();
    char vocab[4096][16];
    size_t nvocab = 0;
    for (int i = 0; i < nrules; i++) {
        json_t *m = json_object();
        if (i % 100 < regex_pct) {
            char a[16], b[16], re[64];
            word(a, 4, 7);
            word(b, 3, 6);
            snprintf(re, sizeof re, "\\b%s[0-9]+%s\\b", a, b);
            json_object_set_new(m, "regex", json_pack("[s]", re));
        } else {
            json_t *w = json_array();
            for (int k = 0; k < 4; k++) {
                char x[16], y[16], ph[40];
                word(x, 5, 9);
                if (k == 3) { /* one phrase per rule */
                    word(y, 3, 7);
                    snprintf(ph, sizeof ph, "%s %s", x, y);
                    json_array_append_new(w, json_string(ph));
                } else {
                    json_array_append_new(w, json_string(x));
                    if (nvocab < 4096)
                        memcpy(vocab[nvocab++], x, sizeof x);
                }
            }
            json_object_set_new(m, "words", w);
        }
        if (i % 50 == 0)
            json_object_set_new(
                m, "conditions",
                json_pack("[{s:s,s:s,s:s}]", "field", "kind", "op", "==", "value", "spawn"));
        json_array_append_new(rules, json_pack("{s:i,s:s,s:i,s:b,s:o}", "id", i + 1, "name", "r",
                                               "weight", 1 + i % 7, "enabled", 1, "match", m));
    }
    /* actions of about 1 KB: common words, with three rule words */
    enum { NACT = 64 };
    json_t *acts[NACT];
    for (int a = 0; a < NACT; a++) {
        char text[1200];
        size_t o = 0;
        int planted = 0;
        while (o < 1000) {
            char w[16];
            if (planted < 3 && rnd() % 40 == 0) {
                memcpy(w, vocab[rnd() % nvocab], 16);
                planted++;
            } else if (shell) {
                snprintf(w, sizeof w, "%s", common[rnd() % (sizeof common / sizeof common[0])]);
            } else {
                word(w, 2, 8);
            }
            o += (size_t)snprintf(text + o, sizeof text - o, "%s ", w);
        }
        acts[a] = json_pack("{s:s,s:s}", "kind", a % 2 ? "spawn" : "stdin", "text", text);
    }
    char err[300];
    uint64_t t0 = now_ns();
    guard_set_t *set = guard_set_build(rules, err, sizeof err);
    uint64_t build_ns = now_ns() - t0;
    if (!set) {
        fprintf(stderr, "build: %s\n", err);
        return 1;
    }
    size_t nn;
    naive_rule_t *naive = naive_build(rules, &nn);
    uint64_t *ta = malloc(sizeof *ta * (size_t)iters), *tb = malloc(sizeof *tb * (size_t)iters);
    uint64_t *ca = malloc(sizeof *ca * (size_t)iters), *cb = malloc(sizeof *cb * (size_t)iters);
    int64_t check = 0;
    for (int i = 0; i < iters; i++) {
        const json_t *a = acts[i % NACT];
        guard_eval_t ev;
        uint64_t c = cpu_ns(), s = now_ns();
        guard_set_eval(set, a, NULL, 0.5, &ev);
        ta[i] = now_ns() - s;
        ca[i] = cpu_ns() - c;
        int64_t mine = ev.score;
        guard_eval_clear(&ev);
        c = cpu_ns();
        s = now_ns();
        int64_t theirs = naive_eval(naive, nn, a);
        tb[i] = now_ns() - s;
        cb[i] = cpu_ns() - c;
        if (mine != theirs)
            check++;
    }
    qsort(ta, (size_t)iters, sizeof *ta, cmp_u64);
    qsort(tb, (size_t)iters, sizeof *tb, cmp_u64);
    qsort(ca, (size_t)iters, sizeof *ca, cmp_u64);
    qsort(cb, (size_t)iters, sizeof *cb, cmp_u64);
    double c99a = ca[iters * 99 / 100] / 1e3, c99b = cb[iters * 99 / 100] / 1e3;
    double a50 = ta[iters / 2] / 1e3, a99 = ta[iters * 99 / 100] / 1e3;
    double b50 = tb[iters / 2] / 1e3, b99 = tb[iters * 99 / 100] / 1e3;
    printf("{\"text\":\"%s\",\"rules\":%d,\"regex_percent\":%d,\"words\":%zu,\"action_bytes\":1000,"
           "\"evaluations\":%d,\"build_ms\":%.1f,"
           "\"guard_p50_us\":%.1f,\"guard_p99_us\":%.1f,\"naive_p50_us\":%.1f,"
           "\"naive_p99_us\":%.1f,\"p99_ratio\":%.1f,\"guard_cpu_p99_us\":%.1f,"
           "\"naive_cpu_p99_us\":%.1f,\"score_mismatches\":%lld}\n",
           shell ? "shell" : "random", nrules, regex_pct, guard_set_words(set), iters,
           build_ns / 1e6, a50, a99, b50, b99, b99 / a99, c99a, c99b, (long long)check);
    return check ? 1 : 0;
}
