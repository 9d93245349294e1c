/* `agent spawn`'s restart-trigger options turned into the spawn body's max_memory_restart,
 * cron and watch fields. The values are the daemon's to check (it answers 422 naming the
 * field); only their shape on the command line is checked here. */
#include "cli/cli_agent_triggers.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_priv.h"
#include "core/opt.h"

static int cli_trig_value(int argc, char **argv, int *i, const char *name, const char **v)
{
    int hit = opt_value(argc, argv, i, name, v);
    if (hit < 0)
        cli_error("%s needs a value", name);
    return hit;
}

/* body.watch, created on first use. Borrowed. */
static json_t *cli_trig_watch(json_t *body)
{
    json_t *w = json_object_get(body, "watch");
    if (!w) {
        w = json_object();
        json_object_set_new(body, "watch", w);
    }
    return w;
}

static void cli_trig_append(json_t *obj, const char *key, const char *v)
{
    json_t *arr = json_object_get(obj, key);
    if (!arr) {
        arr = json_array();
        json_object_set_new(obj, key, arr);
    }
    json_array_append_new(arr, json_string(v));
}

int cli_agent_trigger_opt(int argc, char **argv, int *i, json_t *body)
{
    const char *v;
    int hit;
    if ((hit = cli_trig_value(argc, argv, i, "--max-memory-restart", &v)) != 0) {
        if (hit < 0)
            return -1;
        /* digits alone are bytes (a JSON integer); anything else goes as the string "500M" */
        char *end;
        errno = 0;
        long long n = strtoll(v, &end, 10);
        if (*v && !*end && !errno && n >= 0)
            json_object_set_new(body, "max_memory_restart", json_integer(n));
        else
            json_object_set_new(body, "max_memory_restart", json_string(v));
        return 1;
    }
    if ((hit = cli_trig_value(argc, argv, i, "--cron", &v)) != 0) {
        if (hit < 0)
            return -1;
        json_object_set_new(body, "cron", json_string(v));
        return 1;
    }
    if ((hit = cli_trig_value(argc, argv, i, "--watch", &v)) != 0) {
        if (hit < 0)
            return -1;
        cli_trig_append(cli_trig_watch(body), "paths", v);
        return 1;
    }
    if ((hit = cli_trig_value(argc, argv, i, "--watch-ignore", &v)) != 0) {
        if (hit < 0)
            return -1;
        cli_trig_append(cli_trig_watch(body), "ignore", v);
        return 1;
    }
    if ((hit = cli_trig_value(argc, argv, i, "--watch-debounce", &v)) != 0) {
        if (hit < 0)
            return -1;
        char *end;
        errno = 0;
        long long n = strtoll(v, &end, 10);
        if (!*v || *end || errno || n < 0) {
            cli_error("--watch-debounce wants milliseconds, not '%.60s'", v);
            return -1;
        }
        json_object_set_new(cli_trig_watch(body), "debounce_ms", json_integer(n));
        return 1;
    }
    return 0;
}
