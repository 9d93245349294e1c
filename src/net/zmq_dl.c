/* Loads libzmq at run time (see zmq_dl.h): one dlopen, one table of function pointers written
 * under pthread_once and only read afterwards. */
#include "net/zmq_dl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define ZMQ_DL_SONAME "libzmq.so.5"

/* POSIX guarantees that a data pointer from dlsym converts to a function pointer of this size;
 * copying the bytes avoids the cast C itself leaves undefined. */
_Static_assert(sizeof(void *) == sizeof(void (*)(void)),
               "dlsym needs code pointers = data pointers");

static zmq_dl_t zmq_table;
const zmq_dl_t *const lzmq = &zmq_table;

static pthread_once_t zmq_once = PTHREAD_ONCE_INIT;
static int zmq_rc = -1;
static char zmq_err[256];

static void zmq_dl_once(void)
{
    void *h = dlopen(ZMQ_DL_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        snprintf(zmq_err, sizeof zmq_err,
                 "ZMQ support needs " ZMQ_DL_SONAME " (Debian package libzmq5): %s",
                 why ? why : "cannot load");
        return;
    }
    zmq_dl_t t;
#define ZMQ_DL_RESOLVE(name)                                                                       \
    {                                                                                              \
        void *sym = dlsym(h, #name);                                                               \
        if (!sym) {                                                                                \
            snprintf(zmq_err, sizeof zmq_err,                                                      \
                     "ZMQ support needs a newer " ZMQ_DL_SONAME                                    \
                     " (Debian package libzmq5): no " #name);                                      \
            dlclose(h);                                                                            \
            return;                                                                                \
        }                                                                                          \
        memcpy(&t.name, &sym, sizeof sym);                                                         \
    }
    ZMQ_DL_FUNCS(ZMQ_DL_RESOLVE)
#undef ZMQ_DL_RESOLVE
    zmq_table = t; /* h stays open for the life of the process */
    zmq_rc = 0;
}

int zmq_dl_load(char *err, size_t errlen)
{
    if (pthread_once(&zmq_once, zmq_dl_once) != 0) {
        snprintf(err, errlen, "ZMQ support: cannot load " ZMQ_DL_SONAME);
        return -1;
    }
    if (zmq_rc < 0)
        snprintf(err, errlen, "%s", zmq_err);
    return zmq_rc;
}
