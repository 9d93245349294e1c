/* Loads libcurl at run time (see curl_dl.h) through core/dl. */
#include "client/curl_dl.h"

#include <stddef.h>
#include <stdio.h>

#include "core/dl.h"

#define CURL_DL_NAME(name)   #name,
#define CURL_DL_OFFSET(name) offsetof(curl_dl_t, name),
static const char *const curl_names[] = {CURL_DL_FUNCS(CURL_DL_NAME)};
static const size_t curl_offsets[] = {CURL_DL_FUNCS(CURL_DL_OFFSET)};
#undef CURL_DL_NAME
#undef CURL_DL_OFFSET

static curl_dl_t curl_table;
const curl_dl_t *const lcurl = &curl_table;

/* curl_global_init must run once per process, before any handle exists: right after loading. */
static int curl_dl_ready(const void *table, char *err, size_t errlen)
{
    const curl_dl_t *t = table;
    if (t->global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "cannot initialise libcurl");
        return -1;
    }
    return 0;
}

static dl_lib_t curl_lib = DL_LIB_INIT("libcurl.so.4", "the client", "libcurl4", "curl_",
                                       curl_names, curl_offsets, &curl_table, curl_dl_ready);

int curl_dl_load(char *err, size_t errlen)
{
    return dl_lib_load(&curl_lib, err, errlen);
}
