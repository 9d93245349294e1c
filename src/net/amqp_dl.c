/* Loads librabbitmq at run time (see amqp_dl.h) through core/dl. */
#include "net/amqp_dl.h"

#include "core/dl.h"

#define AMQP_DL_NAME(name)   #name,
#define AMQP_DL_OFFSET(name) offsetof(amqp_dl_t, name),
static const char *const amqp_names[] = {AMQP_DL_FUNCS(AMQP_DL_NAME)};
static const size_t amqp_offsets[] = {AMQP_DL_FUNCS(AMQP_DL_OFFSET)};
#undef AMQP_DL_NAME
#undef AMQP_DL_OFFSET

static amqp_dl_t amqp_table;
const amqp_dl_t *const lamqp = &amqp_table;

static dl_lib_t amqp_lib = DL_LIB_INIT("librabbitmq.so.4", "RabbitMQ support", "librabbitmq4", "",
                                       amqp_names, amqp_offsets, &amqp_table, NULL);

int amqp_dl_load(char *err, size_t errlen)
{
    return dl_lib_load(&amqp_lib, err, errlen);
}
