/* Loads GnuTLS at run time (see tls_dl.h) through core/dl. */
#include "net/tls_dl.h"

#include <stddef.h>

#include "core/dl.h"

#define TLS_DL_NAME(name)   #name,
#define TLS_DL_OFFSET(name) offsetof(tls_dl_t, name),
static const char *const tls_names[] = {TLS_DL_FUNCS(TLS_DL_NAME) "gnutls_free"};
static const size_t tls_offsets[] = {TLS_DL_FUNCS(TLS_DL_OFFSET) offsetof(tls_dl_t, free_fn)};
#undef TLS_DL_NAME
#undef TLS_DL_OFFSET

static tls_dl_t tls_table;
const tls_dl_t *const ltls = &tls_table;

static dl_lib_t tls_lib = DL_LIB_INIT("libgnutls.so.30", "TLS (server.tls, SMTP STARTTLS)",
                                      "libgnutls30", "", tls_names, tls_offsets, &tls_table, NULL);

int tls_dl_load(char *err, size_t errlen)
{
    return dl_lib_load(&tls_lib, err, errlen);
}

void tls_dl_free(void *p)
{
    if (p)
        (*tls_table.free_fn)(p);
}
