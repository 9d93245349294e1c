/* The detector's command-line tools: `synth` (labelled synthetic traffic, to stdout or a
 * daemon, cli_synth.c), and the `watch nab` (cli_nab.c) and `watch bench` (cli_bench.c) rows of
 * the watch command table; cli_tools.c holds what they share. */
#ifndef GANGLION_CLI_TOOLS_H
#define GANGLION_CLI_TOOLS_H

#include <stdint.h>

#include "cli/cli_priv.h"
#include "watch/cbad.h"

int cli_cmd_synth(cli_ctx_t *ctx, int argc, char **argv);
int cli_watch_nab(cli_ctx_t *ctx, int argc, char **argv);
int cli_watch_bench(cli_ctx_t *ctx, int argc, char **argv);
int cli_watch_loghub(cli_ctx_t *ctx, int argc, char **argv);

/* A whole number / a number strictly between lo and hi from option opt's value v; prints the
 * error and returns -EINVAL when v is not one. */
int cli_tools_u64(const char *opt, const char *v, uint64_t lo, uint64_t hi, uint64_t *out);
int cli_tools_dbl(const char *opt, const char *v, double lo, double hi, double *out);

/* Seconds on the monotonic clock, and CPU seconds of the calling thread. */
double cli_tools_now(void);
double cli_tools_cpu(void);

/* Options shared by `watch nab` and `watch bench`: detector settings. 1 = consumed, 0 = not a
 * settings option, -1 = bad value. */
int cli_tools_setting(cbad_settings_t *s, const char *a, const char *v);

/* "all", "none" or KIND,KIND... (synth's anomaly kinds) -> a mask of 1 << kind. 0, or -EINVAL
 * with the error printed. */
int cli_tools_kinds(const char *v, uint32_t *mask);

#endif
