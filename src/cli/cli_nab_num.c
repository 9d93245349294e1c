/* `ganglion watch nab` with the numeric-series detector (src/watch/num_detect.c): its options
 * and the per-series run, which writes each row's score (0 inside a rest period). */
#include "cli/cli_nab_num.h"

#include "cli/cli_tools.h"

#include <errno.h>
#include <math.h>
#include <string.h>

int cli_nab_num_option(num_settings_t *s, const char *a, const char *v)
{
    static const struct {
        const char *name;
        size_t off;
        bool is_u32;
        double lo, hi;
    } opts[] = {
        {"--num-warmup", offsetof(num_settings_t, warmup), true, 2, 100000},
        {"--num-bins", offsetof(num_settings_t, bins), true, 1, 4096},
        {"--num-context", offsetof(num_settings_t, context), true, 1, NUM_CONTEXT_MAX},
        {"--num-rare", offsetof(num_settings_t, rare), true, 1, 1000},
        {"--num-context-delta", offsetof(num_settings_t, context_delta), true, 1, NUM_CONTEXT_MAX},
        {"--num-w-delta", offsetof(num_settings_t, w_delta), false, -1e-9, 10},
        {"--num-trim", offsetof(num_settings_t, trim), false, -1e-9, 0.49},
        {"--num-w-compress", offsetof(num_settings_t, w_compress), false, -1e-9, 10},
        {"--num-outer", offsetof(num_settings_t, outer), false, -1e-9, 100},
        {"--num-rest", offsetof(num_settings_t, rest), true, 0, 1000000},
        {"--num-w-novelty", offsetof(num_settings_t, w_novelty), false, -1e-9, 10},
        {"--num-w-extreme", offsetof(num_settings_t, w_extreme), false, -1e-9, 10},
        {"--num-w-residual", offsetof(num_settings_t, w_residual), false, -1e-9, 10},
        {"--num-alpha", offsetof(num_settings_t, res_alpha), false, 1e-6, 1},
        {"--num-threshold", offsetof(num_settings_t, threshold), false, 1e-6, 1.000001},
        {"--num-ent-window", offsetof(num_settings_t, ent_window), true, 0, 100000},
        {"--num-ent-bits", offsetof(num_settings_t, ent_bits), false, 1e-6, 100},
        {"--num-w-entropy", offsetof(num_settings_t, w_entropy), false, -1e-9, 10},
        {"--num-rest-share", offsetof(num_settings_t, rest_share), false, -1e-9, 1},
    };
    if (strcmp(a, "--num-shifted") == 0) {
        if (!v || (strcmp(v, "yes") != 0 && strcmp(v, "no") != 0)) {
            cli_error("--num-shifted wants yes or no");
            return -EINVAL;
        }
        s->shifted = strcmp(v, "yes") == 0;
        return 1;
    }
    if (strcmp(a, "--num-learn-warmup") == 0) {
        if (!v || (strcmp(v, "yes") != 0 && strcmp(v, "no") != 0)) {
            cli_error("--num-learn-warmup wants yes or no");
            return -EINVAL;
        }
        s->learn_warmup = strcmp(v, "yes") == 0;
        return 1;
    }
    if (strcmp(a, "--num-rest-extend") == 0) {
        if (!v || (strcmp(v, "yes") != 0 && strcmp(v, "no") != 0)) {
            cli_error("--num-rest-extend wants yes or no");
            return -EINVAL;
        }
        s->rest_extend = strcmp(v, "yes") == 0;
        return 1;
    }
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
        if (strcmp(a, opts[i].name) != 0)
            continue;
        char *field = (char *)s + opts[i].off;
        if (opts[i].is_u32) {
            uint64_t x;
            if (cli_tools_u64(a, v, (uint64_t)opts[i].lo, (uint64_t)opts[i].hi, &x) < 0)
                return -EINVAL;
            uint32_t x32 = (uint32_t)x;
            memcpy(field, &x32, sizeof x32);
        } else {
            double x;
            if (cli_tools_dbl(a, v, opts[i].lo, opts[i].hi, &x) < 0)
                return -EINVAL;
            memcpy(field, &x, sizeof x);
        }
        return 1;
    }
    return 0;
}

int cli_nab_num_series(const num_settings_t *s, const double *val, const double *compress, size_t n,
                       double *out)
{
    num_detector_t *d = NULL;
    int rc = num_detector_new(s, &d);
    for (size_t i = 0; i < n && rc == 0; i++) {
        num_point_t p;
        rc = num_detector_push_with(d, val[i], compress ? compress[i] : NAN, &p);
        out[i] = p.resting ? 0.0 : p.score;
    }
    num_detector_destroy(&d);
    return rc;
}
