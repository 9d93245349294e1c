/* `agent spawn`'s restart-trigger options (--max-memory-restart, --cron, --watch ...): each
 * one a field of the spawn body, checked by the daemon (docs/agents.md, Restart triggers). */
#ifndef GANGLION_CLI_AGENT_TRIGGERS_H
#define GANGLION_CLI_AGENT_TRIGGERS_H

#include <jansson.h>

/* The lines the options take in spawn's usage text. */
#define CLI_AGENT_TRIGGER_USAGE                                                                    \
    "  --max-memory-restart SIZE  restart when its RSS is over SIZE (bytes, or 500M, 1G)\n"        \
    "  --cron EXPR         restart on a schedule, UTC (5 fields, or 6 with seconds first)\n"       \
    "  --watch PATH        restart when files under PATH change (repeatable)\n"                    \
    "  --watch-ignore GLOB changes to ignore (repeatable): '*.pyc', 'node_modules/**'\n"           \
    "  --watch-debounce MS quiet time after the last change (default 500)\n"

/* Reads argv[*i] (and its value) if it is one of the options, into body; 1 when it was, 0
 * when argv[*i] is something else, -1 (message printed) when its value is missing or bad. */
int cli_agent_trigger_opt(int argc, char **argv, int *i, json_t *body);

#endif
