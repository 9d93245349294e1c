/* Fuzzes configuration input (src/core/config.c over inih): an INI file as given with --config
 * or re-read on SIGHUP, and GANGLION_<SECTION>_<KEY> environment variables. Input: one selector
 * byte (even: the rest is the INI file; odd: the rest is environment entries, one per line).
 * A loaded configuration is then validated, rendered, and checked as a reload would be. A
 * refused file must leave the configuration as it was. */
#include <assert.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/config.h"
#include "fuzz_util.h"

static int memfd = -1;

/* The file's bytes in a memory file reached by path, since config_load_file opens a path. */
static void fuzz_config_file(const uint8_t *p, size_t n, config_t *cfg, char *err, size_t errlen)
{
    if (memfd < 0) {
        memfd = memfd_create("fuzz-config", MFD_CLOEXEC);
        if (memfd < 0)
            abort();
    }
    if (ftruncate(memfd, 0) != 0 || pwrite(memfd, p, n, 0) != (ssize_t)n)
        abort();
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", memfd);
    config_t *before = malloc(sizeof *before);
    if (!before)
        abort();
    *before = *cfg;
    if (config_load_file(cfg, path, err, errlen) != 0) {
        assert(err[0] != '\0');
        assert(memcmp(before, cfg, sizeof *cfg) == 0);
    }
    free(before);
}

static void fuzz_config_env(const uint8_t *p, size_t n, config_t *cfg, char *err, size_t errlen)
{
    char *text = malloc(n + 1);
    char **envp = calloc(n + 2, sizeof *envp); /* a line per byte at most */
    if (!text || !envp)
        abort();
    memcpy(text, p, n);
    text[n] = '\0';
    size_t k = 0;
    for (char *line = text, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        envp[k++] = line;
    }
    envp[k] = NULL;
    (void)config_load_env(cfg, envp, err, errlen);
    free(envp);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in_t in = {data, size};
    unsigned sel = fuzz_next_byte(&in);
    config_t *cfg = malloc(sizeof *cfg), *base = malloc(sizeof *base);
    if (!cfg || !base)
        abort();
    config_defaults(cfg);
    *base = *cfg;
    char err[512] = "";
    if (sel & 1)
        fuzz_config_env(in.p, in.n, cfg, err, sizeof err);
    else
        fuzz_config_file(in.p, in.n, cfg, err, sizeof err);
    if (config_validate(cfg, err, sizeof err) == 0) {
        char *text = config_render(cfg);
        free(text);
        if (config_reload_check(base, cfg, err, sizeof err) == 0)
            config_apply_reloadable(base, cfg);
    }
    char host[256];
    int port;
    (void)config_split_hostport(cfg->listen, host, sizeof host, &port);
    free(cfg);
    free(base);
    return 0;
}
