/* Loads a shared library on first use into a table of typed function pointers (see dl.h). */
#include "core/dl.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

/* POSIX guarantees that a data pointer from dlsym converts to a function pointer of this size;
 * copying the bytes avoids the cast C itself leaves undefined. */
_Static_assert(sizeof(void *) == sizeof(void (*)(void)),
               "dlsym needs code pointers = data pointers");

#define DL_SYMBOL_MAX 128

/* Runs once, under lib->lock. Returns 0 or -1 with lib->err set. */
static int dl_lib_open(dl_lib_t *lib)
{
    void *h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        snprintf(lib->err, sizeof lib->err, "%s needs %s (Debian package %s): %s", lib->purpose,
                 lib->soname, lib->package, why ? why : "cannot load");
        return -1;
    }
    for (size_t i = 0; i < lib->count; i++) {
        char sym_name[DL_SYMBOL_MAX];
        int n = snprintf(sym_name, sizeof sym_name, "%s%s", lib->prefix, lib->names[i]);
        /* Checked in release builds too: a truncated name would look up the wrong symbol. */
        if (n <= 0 || (size_t)n >= sizeof sym_name) {
            snprintf(lib->err, sizeof lib->err, "%s: symbol name %s%s too long", lib->purpose,
                     lib->prefix, lib->names[i]);
            dlclose(h);
            return -1;
        }
        void *sym = dlsym(h, sym_name);
        if (!sym) {
            snprintf(lib->err, sizeof lib->err, "%s needs a newer %s (Debian package %s): no %s",
                     lib->purpose, lib->soname, lib->package, sym_name);
            dlclose(h);
            return -1;
        }
        memcpy((char *)lib->table + lib->offsets[i], &sym, sizeof sym);
    }
    /* A failing ready hook (curl_global_init) leaves h open: the library may have started
     * initialising and cannot be unloaded safely. */
    if (lib->ready && lib->ready(lib->table, lib->err, sizeof lib->err) < 0)
        return -1;
    return 0;
}

int dl_lib_load(dl_lib_t *lib, char *err, size_t errlen)
{
    int state = atomic_load_explicit(&lib->state, memory_order_acquire);
    if (state == 0) {
        pthread_mutex_lock(&lib->lock);
        state = atomic_load_explicit(&lib->state, memory_order_relaxed);
        if (state == 0) {
            state = dl_lib_open(lib) == 0 ? 1 : -1;
            atomic_store_explicit(&lib->state, state, memory_order_release);
        }
        pthread_mutex_unlock(&lib->lock);
    }
    if (state < 0) {
        snprintf(err, errlen, "%s", lib->err);
        return -1;
    }
    return 0;
}
