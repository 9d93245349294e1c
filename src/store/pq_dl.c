/* Loads libpq at run time (see pq_dl.h): one dlopen, one table of function pointers written
 * under pthread_once and only read afterwards. */
#include "store/pq_dl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define PQ_DL_SONAME "libpq.so.5"

/* POSIX guarantees that a data pointer from dlsym converts to a function pointer of this size;
 * copying the bytes avoids the cast C itself leaves undefined. */
_Static_assert(sizeof(void *) == sizeof(void (*)(void)),
               "dlsym needs code pointers = data pointers");

static pq_dl_t pq_table;
const pq_dl_t *const pq = &pq_table;

static pthread_once_t pq_once = PTHREAD_ONCE_INIT;
static int pq_rc = -1;
static char pq_err[256];

static void pq_dl_once(void)
{
    void *h = dlopen(PQ_DL_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        snprintf(pq_err, sizeof pq_err,
                 "PostgreSQL support needs " PQ_DL_SONAME " (Debian package libpq5): %s",
                 why ? why : "cannot load");
        return;
    }
    pq_dl_t t;
#define PQ_DL_RESOLVE(name)                                                                        \
    {                                                                                              \
        void *sym = dlsym(h, #name);                                                               \
        if (!sym) {                                                                                \
            snprintf(pq_err, sizeof pq_err,                                                        \
                     "PostgreSQL support needs a newer " PQ_DL_SONAME                              \
                     " (Debian package libpq5): no " #name);                                       \
            dlclose(h);                                                                            \
            return;                                                                                \
        }                                                                                          \
        memcpy(&t.name, &sym, sizeof sym);                                                         \
    }
    PQ_DL_FUNCS(PQ_DL_RESOLVE)
#undef PQ_DL_RESOLVE
    pq_table = t; /* h stays open for the life of the process */
    pq_rc = 0;
}

int pq_dl_load(char *err, size_t errlen)
{
    if (pthread_once(&pq_once, pq_dl_once) != 0) {
        snprintf(err, errlen, "PostgreSQL support: cannot load " PQ_DL_SONAME);
        return -1;
    }
    if (pq_rc < 0)
        snprintf(err, errlen, "%s", pq_err);
    return pq_rc;
}
