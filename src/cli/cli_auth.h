/* The CLI's accounts and credentials: `login`, `logout`, `user …`, `key …`, `audit`, and the
 * stored session (access + refresh token in a 0600 file under $XDG_CONFIG_HOME/ganglion or
 * ~/.config/ganglion) that other commands use, refreshed when the access token expired. */
#ifndef GANGLION_CLI_AUTH_H
#define GANGLION_CLI_AUTH_H

#include "cli/cli_priv.h"

int cli_cmd_login(cli_ctx_t *ctx, int argc, char **argv);
int cli_cmd_logout(cli_ctx_t *ctx, int argc, char **argv);
int cli_cmd_user(cli_ctx_t *ctx, int argc, char **argv);
int cli_cmd_key(cli_ctx_t *ctx, int argc, char **argv);
int cli_cmd_audit(cli_ctx_t *ctx, int argc, char **argv);

/* The access token of the stored session for ctx->url, refreshed first when it has expired;
 * NULL when there is no session for that URL (or it cannot be refreshed). Caller frees. */
char *cli_session_token(const cli_ctx_t *ctx);

#endif
