/* The CLI's table printer: collects rows in memory, sizes each column to its widest cell (up to
 * the column's truncation width) and prints with optional ANSI colour. Widths count UTF-8
 * characters, which is right for the text ganglion prints (no wide CJK glyphs expected). */
#include "cli/cli_table.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct cli_cell {
    char *text; /* sanitised, NULL = empty */
    cli_color_t color;
} cli_cell_t;

struct cli_table {
    size_t ncols;
    char **headers; /* NULL when the table has no header row */
    size_t width[CLI_TABLE_MAX_COLS];
    cli_align_t align[CLI_TABLE_MAX_COLS];
    cli_cell_t *cells; /* rows * ncols, row-major */
    size_t rows, cap;
};

static const char *const cli_table_sgr[] = {
    [CLI_COLOR_NONE] = "",           [CLI_COLOR_RED] = "\033[31m",  [CLI_COLOR_GREEN] = "\033[32m",
    [CLI_COLOR_YELLOW] = "\033[33m", [CLI_COLOR_BLUE] = "\033[34m", [CLI_COLOR_CYAN] = "\033[36m",
    [CLI_COLOR_DIM] = "\033[2m",     [CLI_COLOR_BOLD] = "\033[1m",
};

/* Display width: one column per UTF-8 character (continuation bytes do not count). */
static size_t cli_table_strwidth(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            w++;
    return w;
}

/* Copies at most max bytes of s, cut on a character boundary, with C0/C1 control characters
 * and DEL replaced by '?' so that daemon-supplied text cannot move the cursor or recolour the
 * terminal. */
static char *cli_table_clean(const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    while (n > 0 && n < strlen(s) && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '\t')
            out[i] = ' ';
        else if (ch < 0x20 || ch == 0x7F)
            out[i] = '?';
        else if (ch == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
                 (unsigned char)s[i + 1] <= 0x9F) {
            out[i] = '?'; /* U+0080..U+009F: C1 controls, two bytes become "??" */
            out[++i] = '?';
        } else
            out[i] = (char)ch;
    }
    out[n] = '\0';
    return out;
}

cli_table_t *cli_table_new(size_t ncols, const char *const *headers)
{
    if (ncols == 0 || ncols > CLI_TABLE_MAX_COLS)
        return NULL;
    cli_table_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->ncols = ncols;
    for (size_t i = 0; i < ncols; i++)
        t->width[i] = CLI_TABLE_DEFAULT_WIDTH;
    if (headers) {
        t->headers = calloc(ncols, sizeof *t->headers);
        if (!t->headers)
            goto fail;
        for (size_t i = 0; i < ncols; i++)
            if (!(t->headers[i] = cli_table_clean(headers[i] ? headers[i] : "", 256)))
                goto fail;
    }
    return t;
fail:
    cli_table_destroy(&t);
    return NULL;
}

void cli_table_destroy(cli_table_t **pt)
{
    cli_table_t *t = pt ? *pt : NULL;
    if (!t)
        return;
    if (t->headers)
        for (size_t i = 0; i < t->ncols; i++)
            free(t->headers[i]);
    free(t->headers);
    for (size_t i = 0; i < t->rows * t->ncols; i++)
        free(t->cells[i].text);
    free(t->cells);
    free(t);
    *pt = NULL;
}

int cli_table_width_set(cli_table_t *t, size_t col, size_t width)
{
    if (col >= t->ncols || (width != 0 && width < 4))
        return -EINVAL;
    t->width[col] = width;
    return 0;
}

int cli_table_align_set(cli_table_t *t, size_t col, cli_align_t align)
{
    if (col >= t->ncols)
        return -EINVAL;
    t->align[col] = align;
    return 0;
}

int cli_table_row_add(cli_table_t *t)
{
    if (t->rows >= CLI_TABLE_MAX_ROWS)
        return -E2BIG;
    if (t->rows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        cli_cell_t *nc = realloc(t->cells, cap * t->ncols * sizeof *nc);
        if (!nc)
            return -ENOMEM;
        t->cells = nc;
        t->cap = cap;
    }
    memset(&t->cells[t->rows * t->ncols], 0, t->ncols * sizeof *t->cells);
    t->rows++;
    return 0;
}

int cli_table_cell_set(cli_table_t *t, size_t col, cli_color_t color, const char *text)
{
    if (t->rows == 0 || col >= t->ncols || (unsigned)color > CLI_COLOR_BOLD)
        return -EINVAL;
    char *s = cli_table_clean(text ? text : "", CLI_TABLE_MAX_CELL);
    if (!s)
        return -ENOMEM;
    cli_cell_t *c = &t->cells[(t->rows - 1) * t->ncols + col];
    free(c->text);
    c->text = s;
    c->color = color;
    return 0;
}

int cli_table_cellf(cli_table_t *t, size_t col, cli_color_t color, const char *fmt, ...)
{
    char buf[CLI_TABLE_MAX_CELL + 1];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -EINVAL;
    return cli_table_cell_set(t, col, color, buf);
}

size_t cli_table_rows(const cli_table_t *t)
{
    return t->rows;
}

/* Writes text padded or truncated to exactly `w` columns (no padding when `last`). */
static void cli_table_put(FILE *out, const char *text, size_t w, cli_align_t align, bool last,
                          const char *sgr)
{
    size_t tw = cli_table_strwidth(text);
    size_t keep = strlen(text), shown = tw;
    bool cut = false;
    if (tw > w) {
        /* Keep w-1 characters and mark the cut with an ellipsis. */
        size_t chars = 0;
        keep = 0;
        while (text[keep]) {
            if (((unsigned char)text[keep] & 0xC0) != 0x80) {
                if (chars == w - 1)
                    break;
                chars++;
            }
            keep++;
        }
        shown = w;
        cut = true;
    }
    size_t pad = w - shown;
    if (align == CLI_ALIGN_RIGHT)
        for (size_t i = 0; i < pad; i++)
            fputc(' ', out);
    if (*sgr)
        fputs(sgr, out);
    fwrite(text, 1, keep, out);
    if (cut)
        fputs("\xE2\x80\xA6", out);
    if (*sgr)
        fputs("\033[0m", out);
    if (align == CLI_ALIGN_LEFT && !last)
        for (size_t i = 0; i < pad; i++)
            fputc(' ', out);
}

int cli_table_print(const cli_table_t *t, FILE *out, bool color)
{
    size_t w[CLI_TABLE_MAX_COLS];
    for (size_t c = 0; c < t->ncols; c++) {
        size_t m = t->headers ? cli_table_strwidth(t->headers[c]) : 0;
        for (size_t r = 0; r < t->rows; r++) {
            const char *s = t->cells[r * t->ncols + c].text;
            size_t sw = s ? cli_table_strwidth(s) : 0;
            if (sw > m)
                m = sw;
        }
        w[c] = (t->width[c] && m > t->width[c]) ? t->width[c] : m;
    }
    if (t->headers) {
        for (size_t c = 0; c < t->ncols; c++) {
            if (c)
                fputs("  ", out);
            cli_table_put(out, t->headers[c], w[c], t->align[c], c + 1 == t->ncols,
                          color ? cli_table_sgr[CLI_COLOR_BOLD] : "");
        }
        fputc('\n', out);
    }
    for (size_t r = 0; r < t->rows; r++) {
        const cli_cell_t *row = &t->cells[r * t->ncols];
        /* Trailing empty cells would only print padding; the last non-empty one ends the line. */
        size_t last = 0;
        for (size_t c = 0; c < t->ncols; c++)
            if (row[c].text && *row[c].text)
                last = c;
        /* c < ncols says what cli_table_new ensures (ncols >= 1) to the analyzer */
        for (size_t c = 0; c < t->ncols && c <= last; c++) {
            if (c)
                fputs("  ", out);
            cli_table_put(out, row[c].text ? row[c].text : "", w[c], t->align[c], c == last,
                          color ? cli_table_sgr[row[c].color] : "");
        }
        fputc('\n', out);
    }
    return ferror(out) ? -EIO : 0;
}
