/* The review commands of `ganglion watch` (cli_watch_review.c): rows of the watch command table
 * in cli_watch.c, each a separate function taking its own options and --help. */
#ifndef GANGLION_CLI_WATCH_REVIEW_H
#define GANGLION_CLI_WATCH_REVIEW_H

#include "cli/cli_priv.h"

int cli_watch_anomalies(cli_ctx_t *ctx, int argc, char **argv);
int cli_watch_show(cli_ctx_t *ctx, int argc, char **argv);
int cli_watch_ack(cli_ctx_t *ctx, int argc, char **argv);
int cli_watch_resolve(cli_ctx_t *ctx, int argc, char **argv);
int cli_watch_false_positive(cli_ctx_t *ctx, int argc, char **argv);
int cli_watch_streams(cli_ctx_t *ctx, int argc, char **argv);
int cli_watch_incidents(cli_ctx_t *ctx, int argc, char **argv);

#endif
