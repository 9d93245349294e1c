/* What this binary is: its version, the revision it was built from, and the options it was
 * built with — one source for `ganglion version`, /api/v1/system/info, /metrics and the start
 * log line. */
#ifndef GANGLION_BUILDINFO_H
#define GANGLION_BUILDINFO_H

#include <jansson.h>

/* "0.1.0"; the `git describe` of the build ("eb95efa-dirty", "unknown"). Static strings. */
const char *buildinfo_version(void);
const char *buildinfo_revision(void);
/* {version, revision, build_type, optimization, debug, sanitize, fuzz, tls, compiler}: a new
 * object (the caller owns it), or NULL without memory. */
json_t *buildinfo_json(void);

#endif
