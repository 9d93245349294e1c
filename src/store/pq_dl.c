/* Loads libpq at run time (see pq_dl.h) through core/dl. */
#include "store/pq_dl.h"

#include <stddef.h>

#include "core/dl.h"

#define PQ_DL_NAME(name)   #name,
#define PQ_DL_OFFSET(name) offsetof(pq_dl_t, name),
static const char *const pq_names[] = {PQ_DL_FUNCS(PQ_DL_NAME)};
static const size_t pq_offsets[] = {PQ_DL_FUNCS(PQ_DL_OFFSET)};
#undef PQ_DL_NAME
#undef PQ_DL_OFFSET

static pq_dl_t pq_table;
const pq_dl_t *const pq = &pq_table;

static dl_lib_t pq_lib = DL_LIB_INIT("libpq.so.5", "PostgreSQL support", "libpq5", "", pq_names,
                                     pq_offsets, &pq_table, NULL);

int pq_dl_load(char *err, size_t errlen)
{
    return dl_lib_load(&pq_lib, err, errlen);
}
