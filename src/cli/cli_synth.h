/* The detector's command-line tools: `synth` (labelled synthetic traffic, to stdout or a
 * daemon), and the `watch nab` / `watch bench` rows of the watch command table. */
#ifndef GANGLION_CLI_SYNTH_H
#define GANGLION_CLI_SYNTH_H

#include "cli/cli_priv.h"

int cli_cmd_synth(cli_ctx_t *ctx, int argc, char **argv);
int cli_watch_nab(cli_ctx_t *ctx, int argc, char **argv);
int cli_watch_bench(cli_ctx_t *ctx, int argc, char **argv);

#endif
