/* Shared libraries loaded on first use (libpq, libzmq, libcurl): one dlopen per library, its
 * functions resolved into a caller's table of typed pointers once per process, and a message
 * naming the Debian package when the library or a symbol is missing. */
#ifndef GANGLION_CORE_DL_H
#define GANGLION_CORE_DL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

/* One library. The descriptive fields are constant; the rest is the load's outcome, written once
 * under `lock` and published through `state`. Define one per library with DL_LIB_INIT. */
typedef struct dl_lib {
    const char *soname;       /* "libzmq.so.5" */
    const char *purpose;      /* starts the error message: "ZMQ support" */
    const char *package;      /* the Debian package that ships soname: "libzmq5" */
    const char *prefix;       /* prepended to each name for dlsym: "" or "curl_" */
    const char *const *names; /* count function names, in table order */
    const size_t *offsets;    /* where each function's pointer lives in *table */
    size_t count;
    void *table; /* filled only by a successful load */
    int (*ready)(const void *table, char *err, size_t errlen); /* optional, after resolution */
    pthread_mutex_t lock;
    atomic_int state; /* 0 not tried, 1 loaded, -1 failed (for good) */
    char err[256];
} dl_lib_t;

#define DL_LIB_INIT(soname_, purpose_, package_, prefix_, names_, offsets_, table_, ready_)        \
    {                                                                                              \
        .soname = (soname_), .purpose = (purpose_), .package = (package_), .prefix = (prefix_),    \
        .names = (names_), .offsets = (offsets_), .count = sizeof(names_) / sizeof((names_)[0]),   \
        .table = (table_), .ready = (ready_), .lock = PTHREAD_MUTEX_INITIALIZER                    \
    }

/* Loads lib and resolves every function, once per process (thread-safe; later calls return the
 * first outcome without locking). Returns 0, or -1 with a message naming the package in err.
 * The library is never unloaded: the table's pointers stay valid for the life of the process. */
int dl_lib_load(dl_lib_t *lib, char *err, size_t errlen);

#endif
