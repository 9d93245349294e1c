/* `ganglion watch nab` with the numeric-series detector: options and the per-series run. */
#ifndef GANGLION_CLI_NAB_NUM_H
#define GANGLION_CLI_NAB_NUM_H

#include "watch/num_detect.h"

#include <stddef.h>

/* 1 when a is one of the --num-* options (v parsed into s), 0 when it is not, -EINVAL when v is
 * missing or out of range (already reported). */
int cli_nab_num_option(num_settings_t *s, const char *a, const char *v);
/* Each row's score into out[0..n) (0 inside a rest period). 0 / negative errno. */
int cli_nab_num_series(const num_settings_t *s, const double *val, size_t n, double *out);

#endif
