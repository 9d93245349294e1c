/* The build's identity from the generated headers: build_info.h (meson setup: version and
 * options) and build_revision.h (every build: the revision), read here alone so that a new
 * revision recompiles one file. */
#include "core/buildinfo.h"

#include "build_info.h"
#include "build_revision.h"

const char *buildinfo_version(void)
{
    return GANGLION_VERSION;
}

const char *buildinfo_revision(void)
{
    return GANGLION_REVISION;
}

json_t *buildinfo_json(void)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:b,s:s,s:b,s:s,s:s}", "version", GANGLION_VERSION,
                     "revision", GANGLION_REVISION, "build_type", GANGLION_BUILD_TYPE,
                     "optimization", GANGLION_BUILD_OPTIMIZATION, "debug", GANGLION_BUILD_DEBUG,
                     "sanitize", GANGLION_BUILD_SANITIZE, "fuzz", GANGLION_BUILD_FUZZ, "tls",
                     GANGLION_BUILD_TLS, "compiler", GANGLION_COMPILER);
}
