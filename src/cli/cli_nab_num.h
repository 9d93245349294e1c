/* `ganglion watch nab` with the numeric-series detector: options and the per-series run. */
#ifndef GANGLION_CLI_NAB_NUM_H
#define GANGLION_CLI_NAB_NUM_H

#include "watch/num_detect.h"

#include <stddef.h>

/* 1 when a is one of the --num-* options (v parsed into s), 0 when it is not, -EINVAL when v is
 * missing or out of range (already reported). */
int cli_nab_num_option(num_settings_t *s, const char *a, const char *v);
/* Each row's score into out[0..n) (0 inside a rest period); compress (may be NULL) holds the
 * compression view's calibrated score per row (NAN: none), out may alias it. 0 / -errno. */
int cli_nab_num_series(const num_settings_t *s, const double *val, const double *compress, size_t n,
                       double *out);

#endif
