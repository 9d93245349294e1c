/* `ganglion watch loghub DIR`: runs the log detector at its default settings over loghub's
 * parsed 2 000-line samples (one <System>_2k.csv per system, EventId per line) and measures how
 * often it flags a window and whether what it flags is what is new in the log (docs/watch.md). */
#include "cli/cli_tools.h"
#include "watch/cbad.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLI_LOGHUB_LINES_MAX  100000u
#define CLI_LOGHUB_FILES_MAX  64u
#define CLI_LOGHUB_COLS_MAX   32u
#define CLI_LOGHUB_LINE_MAX   CBAD_EVENT_MAX
#define CLI_LOGHUB_RARE_BELOW 3u /* a template seen fewer times before is "rare" */

/* One system's sample: each line rebuilt from its columns, and its template's number. */
typedef struct {
    char **text;
    uint32_t *tmpl; /* dense template number per line */
    size_t n;
    uint32_t n_tmpl;
} cli_loghub_log_t;

static void cli_loghub_log_free(cli_loghub_log_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->text[i]);
    free(l->text);
    free(l->tmpl);
    memset(l, 0, sizeof *l);
}

/* Splits one CSV record (RFC 4180 quoting) in place: fields[k] point into rec, NUL-ended. */
static size_t cli_loghub_csv_split(char *rec, char **fields, size_t max)
{
    size_t n = 0;
    char *r = rec, *w = rec;
    while (n < max) {
        fields[n++] = w;
        if (*r == '"') {
            r++;
            for (;;) {
                if (*r == '\0')
                    break;
                if (*r == '"' && r[1] == '"') {
                    *w++ = '"';
                    r += 2;
                } else if (*r == '"') {
                    r++;
                    break;
                } else {
                    *w++ = *r++;
                }
            }
        }
        while (*r && *r != ',')
            *w++ = *r++;
        if (*r != ',') {
            *w = '\0';
            break;
        }
        r++;
        *w++ = '\0';
    }
    return n;
}

/* Reads one sample. The line the detector sees is every column but the parse's own (LineId,
 * EventId, EventTemplate) and Thunderbird's alert label, joined by spaces: the raw line. */
static int cli_loghub_log_read(const char *path, cli_loghub_log_t *l)
{
    memset(l, 0, sizeof *l); /* empty on every path, the early failure included */
    FILE *f = fopen(path, "r");
    if (!f)
        return -errno;
    char *rec = malloc(CLI_LOGHUB_LINE_MAX + 2), *names[CLI_LOGHUB_COLS_MAX];
    char *fields[CLI_LOGHUB_COLS_MAX], **ids = NULL;
    char hdr[1024];
    size_t ncol = 0, n_ids = 0, cap = 0;
    int keep[CLI_LOGHUB_COLS_MAX], event_col = -1, rc = 0;
    if (!rec || !fgets(hdr, sizeof hdr, f)) {
        rc = rec ? -EINVAL : -ENOMEM;
        goto out;
    }
    hdr[strcspn(hdr, "\r\n")] = '\0';
    ncol = cli_loghub_csv_split(hdr, names, CLI_LOGHUB_COLS_MAX);
    for (size_t c = 0; c < ncol; c++) {
        keep[c] = strcmp(names[c], "LineId") && strcmp(names[c], "EventId") &&
                  strcmp(names[c], "EventTemplate") && strcmp(names[c], "Label");
        if (strcmp(names[c], "EventId") == 0)
            event_col = (int)c;
    }
    if (event_col < 0) {
        rc = -EINVAL;
        goto out;
    }
    while (fgets(rec, CLI_LOGHUB_LINE_MAX + 2, f) && l->n < CLI_LOGHUB_LINES_MAX) {
        rec[strcspn(rec, "\r\n")] = '\0';
        if (rec[0] == '\0')
            continue;
        if (cli_loghub_csv_split(rec, fields, CLI_LOGHUB_COLS_MAX) != ncol)
            continue; /* a record broken across lines: not in these samples */
        if (l->n == cap) {
            cap = cap ? cap * 2 : 2048;
            char **t = realloc(l->text, cap * sizeof *t);
            if (t)
                l->text = t;
            uint32_t *m = realloc(l->tmpl, cap * sizeof *m);
            if (m)
                l->tmpl = m;
            if (!t || !m) {
                rc = -ENOMEM;
                goto out;
            }
        }
        size_t len = 0;
        for (size_t c = 0; c < ncol; c++)
            if (keep[c])
                len += strlen(fields[c]) + 1;
        char *line = malloc(len + 1);
        if (!line) {
            rc = -ENOMEM;
            goto out;
        }
        line[0] = '\0';
        for (size_t c = 0, at = 0; c < ncol; c++) {
            if (!keep[c])
                continue;
            at += (size_t)sprintf(line + at, "%s%s", at ? " " : "", fields[c]);
        }
        /* Templates are few (hundreds at most): a linear look-up is enough. */
        const char *id = fields[event_col];
        uint32_t t = 0;
        while (t < n_ids && strcmp(ids[t], id) != 0)
            t++;
        if (t == n_ids) {
            char **g = realloc(ids, (n_ids + 1) * sizeof *g);
            char *dup = g ? strdup(id) : NULL;
            if (g)
                ids = g;
            if (!dup) {
                free(line);
                rc = -ENOMEM;
                goto out;
            }
            ids[n_ids++] = dup;
        }
        l->text[l->n] = line;
        l->tmpl[l->n++] = t;
    }
    l->n_tmpl = (uint32_t)n_ids;
out:
    for (size_t i = 0; i < n_ids; i++)
        free(ids[i]);
    free(ids);
    free(rec);
    fclose(f);
    if (rc < 0)
        cli_loghub_log_free(l);
    return rc;
}

/* One system's figures. */
typedef struct {
    char name[64];
    size_t lines, windows, flagged, flagged_rare, first_seen, first_seen_flagged;
    size_t alarms; /* flagged windows grouped when they overlap or adjoin, as incidents are */
    double seconds;
} cli_loghub_row_t;

/* Runs the detector over one log and measures it; prints up to `show` flagged windows. */
static int cli_loghub_run(const cbad_settings_t *s, const cli_loghub_log_t *l, size_t show,
                          cbad_scratch_t *sc, cli_loghub_row_t *row)
{
    cbad_t *d = NULL;
    cbad_job_t *j = NULL;
    uint32_t *seen = calloc(l->n_tmpl ? l->n_tmpl : 1, sizeof *seen);
    /* count before line i; zeroed, as a window's events are all pushed already is cbad's to
     * keep, not something the analyzer can see */
    uint32_t *before = calloc(l->n ? l->n : 1, sizeof *before);
    unsigned char *covered = calloc(l->n ? l->n : 1, 1); /* in a flagged window */
    int rc = cbad_new(s, &d);
    if (!seen || !before || !covered)
        rc = -ENOMEM;
    size_t shown = 0;
    uint64_t alarm_end = 0; /* one past the last event of the current group of flagged windows */
    double t0 = cli_tools_now();
    for (size_t i = 0; i < l->n && rc >= 0; i++) {
        before[i] = seen[l->tmpl[i]]++;
        int due = cbad_push(d, l->text[i], strlen(l->text[i]));
        if (due < 0) {
            rc = due;
            break;
        }
        if (due == 0)
            continue;
        cbad_result_t r;
        memset(&r, 0, sizeof r);
        if ((rc = j ? cbad_job_refill(d, j) : cbad_job_take(d, &j)) < 0 ||
            (rc = cbad_job_run(j, sc, &r)) < 0)
            break;
        row->windows++;
        cbad_result_note(d, &r);
        if (r.anomaly) {
            bool rare = false;
            row->flagged++;
            if (row->alarms == 0 || r.first_event > alarm_end)
                row->alarms++;
            alarm_end = r.last_event + 1;
            for (uint64_t e = r.first_event; e <= r.last_event && e < l->n; e++) {
                covered[e] = 1;
                rare |= before[e] < CLI_LOGHUB_RARE_BELOW;
            }
            row->flagged_rare += rare;
            if (shown < show) {
                shown++;
                printf("--- %s window %llu (lines %llu-%llu), %s, rare template: %s\n%s\n",
                       row->name, (unsigned long long)r.window_index,
                       (unsigned long long)r.first_event + 1, (unsigned long long)r.last_event + 1,
                       cbad_severity_name(r.severity), rare ? "yes" : "no", r.explanation);
                for (size_t k = 0; k < r.n_novel; k++)
                    printf("  novel: %s\n", r.novel_lines[k]);
            }
        }
        cbad_result_clear(&r);
    }
    row->seconds = cli_tools_now() - t0;
    /* Warm-up: no window is scored before baseline + window events. */
    size_t warm = (size_t)s->baseline + s->window;
    for (size_t i = warm; i < l->n && rc >= 0; i++) {
        if (before[i] != 0)
            continue;
        row->first_seen++;
        row->first_seen_flagged += covered[i];
    }
    row->lines = l->n;
    cbad_job_destroy(&j);
    cbad_destroy(&d);
    free(seen);
    free(before);
    free(covered);
    return rc < 0 ? rc : 0;
}

static int cli_loghub_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void cli_loghub_usage(const cli_ctx_t *ctx)
{
    printf("usage: %s watch loghub DIR [--show N] [detector settings as for watch nab]\n\n"
           "Runs the log detector (default settings unless told otherwise) over every\n"
           "<System>_2k.csv in DIR (loghub's parsed samples: a header, EventId per line) and\n"
           "prints per system: flagged windows per 1000 lines (and alarms: flagged windows\n"
           "that overlap or adjoin grouped, as the daemon groups them into incidents), the\n"
           "share of flagged windows\n"
           "holding a template seen fewer than 3 times before, and the share of templates\n"
           "first seen after the warm-up (baseline + window lines) inside a flagged window.\n"
           "--show N prints the first N flagged windows of each system with their lines;\n"
           "--fold on folds the windows overlapping an anomaly into it (cbad's fold);\n"
           "--rare-template N (default 3, 0 off): a flagged window must hold a line of a\n"
           "template new to the baseline and window, or more lines of a template seen fewer\n"
           "than N times there than the baseline usually holds; one overlapping the last\n"
           "anomaly also a template new to the stream (--rare-history on: counts ever).\n\n",
           ctx->prog);
}

static void cli_loghub_share(size_t num, size_t den, char *out, size_t cap)
{
    if (den)
        snprintf(out, cap, "%.2f", (double)num / (double)den);
    else
        snprintf(out, cap, "-");
}

int cli_watch_loghub(cli_ctx_t *ctx, int argc, char **argv)
{
    if (cli_wants_help(argc, argv) || argc < 2) {
        cli_loghub_usage(ctx);
        return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    const char *dir = argv[1];
    cbad_settings_t s;
    cbad_settings_default(&s);
    uint64_t show = 0;
    for (int i = 2; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int r = cli_tools_setting(&s, a, v);
        if (r < 0)
            return CLI_EXIT_USAGE;
        if (r == 1)
            continue;
        if (strcmp(a, "--show") == 0) {
            if (cli_tools_u64(a, v, 0, 1000, &show) < 0)
                return CLI_EXIT_USAGE;
        } else {
            cli_error("unknown or incomplete option '%s' (see %s watch loghub --help)", a,
                      ctx->prog);
            return CLI_EXIT_USAGE;
        }
    }
    const char *field, *reason;
    if (cbad_settings_check(&s, &field, &reason) < 0) {
        cli_error("%s %s", field, reason);
        return CLI_EXIT_USAGE;
    }
    DIR *dh = opendir(dir);
    if (!dh) {
        cli_error("cannot open %s: %s", dir, strerror(errno));
        return CLI_EXIT_FAIL;
    }
    char *files[CLI_LOGHUB_FILES_MAX];
    size_t nf = 0;
    struct dirent *de;
    while ((de = readdir(dh)) && nf < CLI_LOGHUB_FILES_MAX) {
        size_t len = strlen(de->d_name);
        if (len > 7 && strcmp(de->d_name + len - 7, "_2k.csv") == 0 && len - 7 < 64)
            files[nf++] = strdup(de->d_name);
    }
    closedir(dh);
    if (nf == 0) {
        cli_error("no <System>_2k.csv in %s", dir);
        return CLI_EXIT_FAIL;
    }
    qsort(files, nf, sizeof *files, cli_loghub_cmp);
    cbad_scratch_t *sc = NULL;
    int failed = cbad_scratch_new(&sc) < 0;
    cli_loghub_row_t rows[CLI_LOGHUB_FILES_MAX];
    size_t nr = 0;
    for (size_t i = 0; i < nf && !failed; i++) {
        if (!files[i]) {
            failed = 1;
            break;
        }
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        cli_loghub_log_t l;
        int rc = cli_loghub_log_read(path, &l);
        if (rc < 0) {
            cli_error("%s: cannot read (%s)", path, strerror(-rc));
            failed = 1;
            break;
        }
        cli_loghub_row_t *row = &rows[nr];
        memset(row, 0, sizeof *row);
        snprintf(row->name, sizeof row->name, "%.*s", (int)(strlen(files[i]) - 7), files[i]);
        rc = cli_loghub_run(&s, &l, show, sc, row);
        cli_loghub_log_free(&l);
        if (rc < 0) {
            cli_error("%s: detector failed (%s)", path, strerror(-rc));
            failed = 1;
            break;
        }
        nr++;
    }
    if (!failed) {
        printf(
            "| system | lines | windows | flagged | flagged / 1000 lines | alarms / 1000 lines | "
            "flagged with a rare template | first-seen templates flagged |\n"
            "|---|---|---|---|---|---|---|---|\n");
        double sum_rare = 0, sum_first = 0, worst = 0;
        size_t n_rare = 0, n_first = 0;
        for (size_t i = 0; i < nr; i++) {
            const cli_loghub_row_t *r = &rows[i];
            char a[16], b[16];
            cli_loghub_share(r->flagged_rare, r->flagged, a, sizeof a);
            cli_loghub_share(r->first_seen_flagged, r->first_seen, b, sizeof b);
            double per = r->lines ? 1000.0 * (double)r->flagged / (double)r->lines : 0;
            worst = per > worst ? per : worst;
            double alarms = r->lines ? 1000.0 * (double)r->alarms / (double)r->lines : 0;
            printf("| %s | %zu | %zu | %zu | %.1f | %.1f | %s (%zu/%zu) | %s (%zu/%zu) |\n",
                   r->name, r->lines, r->windows, r->flagged, per, alarms, a, r->flagged_rare,
                   r->flagged, b, r->first_seen_flagged, r->first_seen);
            if (r->flagged)
                sum_rare += (double)r->flagged_rare / (double)r->flagged, n_rare++;
            if (r->first_seen)
                sum_first += (double)r->first_seen_flagged / (double)r->first_seen, n_first++;
        }
        printf("| mean | | | | max %.1f | | %.3f (%zu systems) | %.3f (%zu systems) |\n", worst,
               n_rare ? sum_rare / (double)n_rare : 0.0, n_rare,
               n_first ? sum_first / (double)n_first : 0.0, n_first);
    }
    for (size_t i = 0; i < nf; i++)
        free(files[i]);
    cbad_scratch_destroy(&sc);
    return failed ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}
