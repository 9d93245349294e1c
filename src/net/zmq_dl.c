/* Loads libzmq at run time (see zmq_dl.h) through core/dl. */
#include "net/zmq_dl.h"

#include <stddef.h>

#include "core/dl.h"

#define ZMQ_DL_NAME(name)   #name,
#define ZMQ_DL_OFFSET(name) offsetof(zmq_dl_t, name),
static const char *const zmq_names[] = {ZMQ_DL_FUNCS(ZMQ_DL_NAME)};
static const size_t zmq_offsets[] = {ZMQ_DL_FUNCS(ZMQ_DL_OFFSET)};
#undef ZMQ_DL_NAME
#undef ZMQ_DL_OFFSET

static zmq_dl_t zmq_table;
const zmq_dl_t *const lzmq = &zmq_table;

static dl_lib_t zmq_lib = DL_LIB_INIT("libzmq.so.5", "ZMQ support", "libzmq5", "", zmq_names,
                                      zmq_offsets, &zmq_table, NULL);

int zmq_dl_load(char *err, size_t errlen)
{
    return dl_lib_load(&zmq_lib, err, errlen);
}
