/* Loads libcurl at run time (see curl_dl.h): one dlopen, one table of function pointers written
 * under pthread_once and only read afterwards. */
#include "cli/curl_dl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define CURL_DL_SONAME "libcurl.so.4"

/* POSIX guarantees that a data pointer from dlsym converts to a function pointer of this size;
 * copying the bytes avoids the cast C itself leaves undefined. */
_Static_assert(sizeof(void *) == sizeof(void (*)(void)),
               "dlsym needs code pointers = data pointers");

static curl_dl_t curl_table;
const curl_dl_t *const lcurl = &curl_table;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_rc = -1;
static char curl_err[256];

static void curl_dl_once(void)
{
    void *h = dlopen(CURL_DL_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        snprintf(curl_err, sizeof curl_err,
                 "the client needs " CURL_DL_SONAME " (Debian package libcurl4): %s",
                 why ? why : "cannot load");
        return;
    }
    curl_dl_t t;
#define CURL_DL_RESOLVE(name)                                                                      \
    {                                                                                              \
        void *sym = dlsym(h, "curl_" #name);                                                       \
        if (!sym) {                                                                                \
            snprintf(curl_err, sizeof curl_err,                                                    \
                     "the client needs a newer " CURL_DL_SONAME                                    \
                     " (Debian package libcurl4): no curl_" #name);                                \
            dlclose(h);                                                                            \
            return;                                                                                \
        }                                                                                          \
        memcpy(&t.name, &sym, sizeof sym);                                                         \
    }
    CURL_DL_FUNCS(CURL_DL_RESOLVE)
#undef CURL_DL_RESOLVE
    /* curl_global_init must run once per process, before any handle exists: here. */
    if (t.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(curl_err, sizeof curl_err, "cannot initialise libcurl");
        return; /* h stays open: libcurl may have started initialising */
    }
    curl_table = t; /* h stays open for the life of the process */
    curl_rc = 0;
}

int curl_dl_load(char *err, size_t errlen)
{
    if (pthread_once(&curl_once, curl_dl_once) != 0) {
        snprintf(err, errlen, "cannot load " CURL_DL_SONAME);
        return -1;
    }
    if (curl_rc < 0)
        snprintf(err, errlen, "%s", curl_err);
    return curl_rc;
}
