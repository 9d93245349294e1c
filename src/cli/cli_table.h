/* A plain-text table for the CLI: columns sized to their content, long cells truncated with an
 * ellipsis, optional colour per cell (only used when the caller says colour is on), and control
 * characters from daemon data neutralised. Shared by `status`, `agent ls` and the like. */
#ifndef GANGLION_CLI_TABLE_H
#define GANGLION_CLI_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Bounds: a table is built in memory, so both its size and its cells are capped. */
#define CLI_TABLE_MAX_COLS      32
#define CLI_TABLE_MAX_ROWS      100000
#define CLI_TABLE_MAX_CELL      4096 /* bytes kept per cell */
#define CLI_TABLE_DEFAULT_WIDTH 60   /* display columns before truncation */

typedef enum cli_color {
    CLI_COLOR_NONE = 0,
    CLI_COLOR_RED,
    CLI_COLOR_GREEN,
    CLI_COLOR_YELLOW,
    CLI_COLOR_BLUE,
    CLI_COLOR_CYAN,
    CLI_COLOR_DIM,
    CLI_COLOR_BOLD,
} cli_color_t;

typedef enum cli_align {
    CLI_ALIGN_LEFT = 0,
    CLI_ALIGN_RIGHT,
} cli_align_t;

typedef struct cli_table cli_table_t;

/* A table with ncols columns (1..CLI_TABLE_MAX_COLS). headers may be NULL for a table without a
 * header row (a key/value listing); otherwise it holds ncols strings, copied. NULL on bad
 * arguments or out of memory. */
cli_table_t *cli_table_new(size_t ncols, const char *const *headers);
void cli_table_destroy(cli_table_t **t);

/* Column settings: truncation width in display columns (>= 4; 0 = never truncate) and
 * alignment. Return 0 or -EINVAL. */
int cli_table_width_set(cli_table_t *t, size_t col, size_t width);
int cli_table_align_set(cli_table_t *t, size_t col, cli_align_t align);

/* Starts a new row; its cells are empty until set. 0, -E2BIG past the row cap, -ENOMEM. */
int cli_table_row_add(cli_table_t *t);

/* Sets a cell of the last added row (text copied, cut at CLI_TABLE_MAX_CELL bytes on a character
 * boundary). 0, -EINVAL (no row yet, bad column), -ENOMEM. */
int cli_table_cell_set(cli_table_t *t, size_t col, cli_color_t color, const char *text);
int cli_table_cellf(cli_table_t *t, size_t col, cli_color_t color, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

size_t cli_table_rows(const cli_table_t *t);

/* Writes the table; colour escapes only when `color` is true. Columns are separated by two
 * spaces; trailing spaces are not written. 0 or -EIO. */
int cli_table_print(const cli_table_t *t, FILE *out, bool color);

#endif
