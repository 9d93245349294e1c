/* Loads libmosquitto at run time (see mqtt_dl.h) through core/dl; the library is initialised
 * once, right after its functions are resolved. */
#include "net/mqtt_dl.h"

#include <stdio.h>

#include "core/dl.h"

#define MQTT_DL_NAME(name)   #name,
#define MQTT_DL_OFFSET(name) offsetof(mqtt_dl_t, name),
static const char *const mqtt_names[] = {MQTT_DL_FUNCS(MQTT_DL_NAME)};
static const size_t mqtt_offsets[] = {MQTT_DL_FUNCS(MQTT_DL_OFFSET)};
#undef MQTT_DL_NAME
#undef MQTT_DL_OFFSET

static mqtt_dl_t mqtt_table;
const mqtt_dl_t *const lmosq = &mqtt_table;

static int mqtt_dl_ready(const void *table, char *err, size_t errlen)
{
    const mqtt_dl_t *t = table;
    int rc = t->mosquitto_lib_init();
    if (rc != MOSQ_ERR_SUCCESS) {
        snprintf(err, errlen, "MQTT support: mosquitto_lib_init failed (%d)", rc);
        return -1;
    }
    return 0;
}

static dl_lib_t mqtt_lib = DL_LIB_INIT("libmosquitto.so.1", "MQTT support", "libmosquitto1", "",
                                       mqtt_names, mqtt_offsets, &mqtt_table, mqtt_dl_ready);

int mqtt_dl_load(char *err, size_t errlen)
{
    return dl_lib_load(&mqtt_lib, err, errlen);
}
