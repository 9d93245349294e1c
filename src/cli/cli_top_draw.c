/* `ganglion top`'s frame: a header, the agents' table with the selection bar, the selected
 * agent's last lines (or the key help) and a status line, cut to the screen's columns without
 * splitting a UTF-8 character. The same text serves the terminal (with ANSI) and --once. */
#include "cli/cli_top.h"

#include "core/strbuf.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <wchar.h>

#define CLI_TOP_FRAME_MAX (8u * 1024u * 1024u)

void cli_top_duration(int64_t ms, char *out, size_t outlen)
{
    long long s = ms > 0 ? (long long)(ms / 1000) : 0;
    if (s < 60)
        snprintf(out, outlen, "%llds", s);
    else if (s < 3600)
        snprintf(out, outlen, "%lldm%02llds", s / 60, s % 60);
    else if (s < 86400)
        snprintf(out, outlen, "%lldh%02lldm", s / 3600, s % 3600 / 60);
    else
        snprintf(out, outlen, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
}

void cli_top_bytes(long long b, char *out, size_t outlen)
{
    static const char units[] = "KMGTP";
    if (b < 1024) {
        snprintf(out, outlen, "%lldB", b < 0 ? 0 : b);
        return;
    }
    double v = (double)b / 1024.0;
    size_t u = 0;
    while (v >= 1024.0 && u + 1 < sizeof units - 1) {
        v /= 1024.0;
        u++;
    }
    if (v < 10.0)
        snprintf(out, outlen, "%.1f%c", v, units[u]);
    else
        snprintf(out, outlen, "%.0f%c", v, units[u]);
}

/* The code point at s (at most n bytes) in *cp; returns its length, 0 for an invalid byte. */
static size_t cli_top_utf8(const unsigned char *s, size_t n, unsigned *cp)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xE0) == 0xC0) {
        len = 2, min = 0x80, c &= 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3, min = 0x800, c &= 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4, min = 0x10000, c &= 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return len;
}

int cli_top_cut(const char *s, size_t len, int cols, char *out, size_t outlen)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, o = 0;
    int used = 0;
    if (!outlen)
        return 0;
    while (i < len && used < cols) {
        unsigned cp = 0;
        size_t l = cli_top_utf8(p + i, len - i, &cp);
        int w;
        const char *rep = NULL;
        if (l == 0) {
            rep = "?", l = 1, w = 1;
        } else if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0)) {
            rep = " ", w = 1; /* nothing from the daemon drives the terminal */
        } else {
            w = wcwidth((wchar_t)cp);
            if (w < 0)
                w = 1;
        }
        if (used + w > cols)
            break; /* a wide character that would straddle the edge */
        size_t bytes = rep ? 1 : l;
        if (o + bytes + 1 > outlen)
            break;
        memcpy(out + o, rep ? rep : (const char *)p + i, bytes);
        o += bytes;
        used += w;
        i += l;
    }
    out[o] = '\0';
    return used;
}

/* One screen line: text cut to w columns, padded to w when pad (the selection bar), then the
 * line end. */
typedef struct cli_top_frame {
    strbuf_t sb;
    int w, rows_left;
    bool ansi;
} cli_top_frame_t;

static void cli_top_line(cli_top_frame_t *f, const char *sgr, const char *text, bool pad)
{
    if (f->rows_left <= 0)
        return;
    char cut[4 * 1024 + 8];
    int cols = f->w < 1024 ? f->w : 1024;
    int used = cli_top_cut(text, strlen(text), cols, cut, sizeof cut);
    if (f->ansi && sgr)
        strbuf_puts(&f->sb, sgr);
    strbuf_puts(&f->sb, cut);
    if (pad)
        for (int i = used; i < cols; i++)
            strbuf_append(&f->sb, " ", 1);
    if (f->ansi) {
        if (sgr)
            strbuf_puts(&f->sb, "\033[0m");
        strbuf_puts(&f->sb, "\033[K");
    } else {
        while (f->sb.len && f->sb.data[f->sb.len - 1] == ' ')
            f->sb.data[--f->sb.len] = '\0'; /* --once: no trailing blanks */
    }
    f->rows_left--;
    strbuf_puts(&f->sb, f->ansi ? (f->rows_left ? "\r\n" : "") : "\n");
}

static const char *cli_top_status_sgr(const char *st)
{
    if (!strcmp(st, "running"))
        return "\033[32m";
    if (!strcmp(st, "thinking"))
        return "\033[36m";
    if (!strcmp(st, "paused") || !strcmp(st, "stopping") || !strcmp(st, "initializing") ||
        !strcmp(st, "idle"))
        return "\033[33m";
    if (!strcmp(st, "failed") || !strcmp(st, "lost"))
        return "\033[31m";
    if (!strcmp(st, "completed"))
        return "\033[34m";
    return "\033[2m";
}

static bool cli_top_alive(const char *st)
{
    return !strcmp(st, "running") || !strcmp(st, "thinking") || !strcmp(st, "paused") ||
           !strcmp(st, "initializing") || !strcmp(st, "stopping");
}

/* A cell: text cut or padded to exactly `cols` columns (right-aligned when right). */
static void cli_top_cell(char *row, size_t rowlen, const char *text, int cols, bool right)
{
    char cut[CLI_TOP_NAME_MAX * 4 + 8];
    int used = cli_top_cut(text, strlen(text), cols, cut, sizeof cut);
    size_t o = strlen(row);
    int padn = cols - used;
    if (right)
        for (; padn > 0 && o + 1 < rowlen; padn--)
            row[o++] = ' ';
    size_t cl = strlen(cut);
    if (o + cl + 1 < rowlen) {
        memcpy(row + o, cut, cl);
        o += cl;
    }
    for (; padn > 0 && o + 1 < rowlen; padn--)
        row[o++] = ' ';
    if (o + 1 < rowlen)
        row[o++] = ' '; /* the gap between columns */
    row[o] = '\0';
}

/* What is left for NAME once the other cells and the gaps after them are placed (the last
 * gap is a trailing blank, so the row ends exactly at the edge). */
static int cli_top_name_cols(int w)
{
    int n = w - (13 + 1 + 13 + 7 + 8 + 9 + 8);
    return n < 6 ? 6 : n > 40 ? 40 : n;
}

/* A row in three parts (before the status cell, the status cell, after it), so that the
 * terminal can colour the status alone. */
static void cli_top_row(const cli_top_agent_t *a, int name_cols, int64_t now_ms, char pre[600],
                        char st[64], char post[128])
{
    char cpu[16] = "-", rss[16] = "-", up[16] = "-", rs[24];
    if (a->has_usage) {
        snprintf(cpu, sizeof cpu, "%.1f", a->cpu_percent);
        cli_top_bytes(a->rss_bytes, rss, sizeof rss);
    }
    if (cli_top_alive(a->status) && a->started_ms > 0)
        cli_top_duration(now_ms - a->started_ms, up, sizeof up);
    snprintf(rs, sizeof rs, "%lld", a->restarts);
    pre[0] = st[0] = post[0] = '\0';
    cli_top_cell(pre, 600, a->id, 12, false);
    cli_top_cell(pre, 600, a->name[0] ? a->name : "-", name_cols, false);
    cli_top_cell(st, 64, a->status, 12, false);
    cli_top_cell(post, 128, cpu, 6, true);
    cli_top_cell(post, 128, rss, 7, true);
    cli_top_cell(post, 128, rs, 8, true);
    cli_top_cell(post, 128, up, 8, true);
    post[strlen(post) - 1] = '\0'; /* no gap after the last cell */
}

/* A table row not under the selection bar: its status cell in the status's colour when the
 * whole row fits (escapes must not be cut), plain otherwise. */
static void cli_top_line_row(cli_top_frame_t *f, const char *pre, const char *st, const char *post,
                             const char *sgr)
{
    char row[1200];
    snprintf(row, sizeof row, "%s%s%s", pre, st, post);
    char cut[sizeof row];
    size_t len = strlen(row);
    cli_top_cut(row, len, f->w, cut, sizeof cut);
    if (!f->ansi || f->rows_left <= 0 || strlen(cut) < len) {
        cli_top_line(f, NULL, row, false);
        return;
    }
    strbuf_printf(&f->sb, "%s%s%s\033[0m%s\033[K", pre, sgr, st, post);
    f->rows_left--;
    if (f->rows_left)
        strbuf_puts(&f->sb, "\r\n");
}

static const char *const cli_top_help_text[] = {
    "keys",
    "  up/down, j/k     select an agent (PgUp/PgDn, Home/End jump)",
    "  r                restart the selected agent",
    "  s                stop it (SIGTERM, SIGKILL after its grace period)",
    "  p                pause it, or resume it when paused",
    "  K                kill it (SIGKILL), after a y/N confirmation",
    "  S                send a signal: type its name (term, hup, usr1 ...), Enter",
    "  ?                this help (any key closes it)",
    "  q, Ctrl-C        quit",
    NULL,
};

static void cli_top_draw_logs(cli_top_frame_t *f, cli_top_model_t *m, int rows)
{
    if (m->mode == CLI_TOP_MODE_HELP) {
        bool more = true;
        for (int i = 0; i < rows; i++) {
            more = more && cli_top_help_text[i];
            cli_top_line(f, i == 0 ? "\033[1m" : NULL, more ? cli_top_help_text[i] : "", false);
        }
        return;
    }
    /* the newest lines, oldest first, bottom-aligned like a terminal */
    size_t show = m->log_n < (size_t)rows ? m->log_n : (size_t)rows;
    for (int i = 0; i < rows - (int)show; i++)
        cli_top_line(f, NULL, "", false);
    for (size_t i = m->log_n - show; i < m->log_n; i++) {
        const cli_top_log_line_t *l = &m->log[(m->log_head + i) % CLI_TOP_LOG_LINES];
        cli_top_line(f, l->err ? "\033[31m" : NULL, l->text ? l->text : "", false);
    }
}

static void cli_top_draw_status(cli_top_frame_t *f, cli_top_model_t *m, const char *sel_name)
{
    char line[CLI_TOP_MSG_MAX + 160];
    switch (m->mode) {
    case CLI_TOP_MODE_CONFIRM:
        snprintf(line, sizeof line, "kill %s with SIGKILL? (y/N)", sel_name);
        cli_top_line(f, "\033[1;31m", line, true);
        return;
    case CLI_TOP_MODE_SIGNAL:
        snprintf(line, sizeof line, "signal to %s: %s_   (Enter sends, Esc cancels)", sel_name,
                 m->input);
        cli_top_line(f, "\033[1m", line, true);
        return;
    default:
        break;
    }
    if (m->msg[0])
        cli_top_line(f, m->msg_err ? "\033[1;31m" : "\033[1m", m->msg, true);
    else
        cli_top_line(f, "\033[2m",
                     "q quit  j/k select  r restart  s stop  p pause/resume  K kill  S signal  "
                     "? help",
                     true);
}

char *cli_top_draw(cli_top_model_t *m, int w, int h, int64_t now_ms, bool ansi)
{
    if (w < 20)
        w = 20;
    if (h < 6)
        h = 6;
    cli_top_frame_t f = {.w = w, .rows_left = h, .ansi = ansi};
    strbuf_init(&f.sb, CLI_TOP_FRAME_MAX);
    if (ansi)
        strbuf_puts(&f.sb, "\033[H");

    const cli_top_agent_t *sel = cli_top_model_selected(m);
    size_t alive = 0;
    for (size_t i = 0; i < m->n; i++)
        alive += cli_top_alive(m->agents[i].status);
    char line[1024], clock[16];
    time_t now = (time_t)(now_ms / 1000);
    struct tm tm;
    if (localtime_r(&now, &tm))
        strftime(clock, sizeof clock, "%H:%M:%S", &tm);
    else
        clock[0] = '\0';
    snprintf(line, sizeof line, "ganglion top  %s  %zu agents, %zu alive  %s  %s", m->url, m->n,
             alive, m->live ? "live" : "reconnecting", clock);
    cli_top_line(&f, "\033[1m", line, true);

    int name_cols = cli_top_name_cols(w);
    char head[512] = "";
    cli_top_cell(head, sizeof head, "ID", 12, false);
    cli_top_cell(head, sizeof head, "NAME", name_cols, false);
    cli_top_cell(head, sizeof head, "STATUS", 12, false);
    cli_top_cell(head, sizeof head, "CPU%", 6, true);
    cli_top_cell(head, sizeof head, "RSS", 7, true);
    cli_top_cell(head, sizeof head, "RESTARTS", 8, true);
    cli_top_cell(head, sizeof head, "UPTIME", 8, true);
    cli_top_line(&f, "\033[1;4m", head, true);

    /* the table takes what it needs up to half the body; the log pane the rest */
    int body = h - 4;
    int rows = (int)(m->n ? m->n : 1);
    int half = m->full_table ? body : body / 2 > 1 ? body / 2 : 1;
    if (rows > half)
        rows = half;
    if (m->sel < m->top)
        m->top = m->sel;
    if (m->sel >= m->top + (size_t)rows)
        m->top = m->sel - (size_t)rows + 1;
    if (m->top + (size_t)rows > m->n)
        m->top = m->n > (size_t)rows ? m->n - (size_t)rows : 0;
    for (int r = 0; r < rows; r++) {
        size_t i = m->top + (size_t)r;
        if (i >= m->n) {
            cli_top_line(&f, "\033[2m", r == 0 ? "(no agents)" : "", false);
            continue;
        }
        const cli_top_agent_t *a = &m->agents[i];
        char pre[600], st[64], post[128], row[800];
        cli_top_row(a, name_cols, now_ms, pre, st, post);
        if (sel == a) {
            snprintf(row, sizeof row, "%s%s%s", pre, st, post);
            cli_top_line(&f, "\033[7m", row, true);
        } else {
            cli_top_line_row(&f, pre, st, post, cli_top_status_sgr(a->status));
        }
    }

    char sel_name[CLI_TOP_NAME_MAX + CLI_TOP_ID_MAX + 8] = "-";
    if (sel)
        snprintf(sel_name, sizeof sel_name, "%s (%s)", sel->name[0] ? sel->name : "-", sel->id);
    if (m->mode == CLI_TOP_MODE_HELP)
        snprintf(line, sizeof line, "── help ");
    else
        snprintf(line, sizeof line, "── log of %s ", sel_name);
    char rule[1400];
    size_t rl = strlen(line);
    memcpy(rule, line, rl + 1);
    for (int i = 0; i < w && rl + 4 < sizeof rule; i++) {
        memcpy(rule + rl, "─", 3);
        rl += 3;
    }
    rule[rl] = '\0';
    cli_top_line(&f, "\033[2m", rule, false);
    cli_top_draw_logs(&f, m, body - rows);
    cli_top_draw_status(&f, m, sel_name);
    if (ansi)
        strbuf_puts(&f.sb, "\033[J");
    size_t len = 0;
    return strbuf_steal(&f.sb, &len);
}
