/* libmosquitto, loaded on demand: a daemon without [mqtt] url never maps it. <mosquitto.h>
 * still supplies types and constants; every call goes through the table `lmosq`, filled once by
 * mqtt_dl_load() and read-only afterwards. */
#ifndef GANGLION_NET_MQTT_DL_H
#define GANGLION_NET_MQTT_DL_H

#include <mosquitto.h>
#include <stddef.h>

/* Every libmosquitto function ganglion calls; X(name) per function. */
#define MQTT_DL_FUNCS(X)                                                                           \
    X(mosquitto_lib_init)                                                                          \
    X(mosquitto_new)                                                                               \
    X(mosquitto_destroy)                                                                           \
    X(mosquitto_int_option)                                                                        \
    X(mosquitto_username_pw_set)                                                                   \
    X(mosquitto_tls_set)                                                                           \
    X(mosquitto_connect_async)                                                                     \
    X(mosquitto_reconnect_async)                                                                   \
    X(mosquitto_disconnect)                                                                        \
    X(mosquitto_socket)                                                                            \
    X(mosquitto_want_write)                                                                        \
    X(mosquitto_loop_read)                                                                         \
    X(mosquitto_loop_write)                                                                        \
    X(mosquitto_loop_misc)                                                                         \
    X(mosquitto_subscribe)                                                                         \
    X(mosquitto_publish_v5)                                                                        \
    X(mosquitto_connect_callback_set)                                                              \
    X(mosquitto_message_v5_callback_set)                                                           \
    X(mosquitto_property_read_string)                                                              \
    X(mosquitto_property_read_binary)                                                              \
    X(mosquitto_property_add_binary)                                                               \
    X(mosquitto_property_free_all)                                                                 \
    X(mosquitto_strerror)                                                                          \
    X(mosquitto_connack_string)

/* Members are typed from the declarations in <mosquitto.h>, so a signature cannot drift. */
#define MQTT_DL_MEMBER(name) __typeof__(name) *name;
typedef struct mqtt_dl {
    MQTT_DL_FUNCS(MQTT_DL_MEMBER)
} mqtt_dl_t;
#undef MQTT_DL_MEMBER

/* Valid only after mqtt_dl_load() returned 0. */
extern const mqtt_dl_t *const lmosq;

/* Loads libmosquitto.so.1 and resolves every function, once per process (later calls return
 * the first outcome). Returns 0, or -1 with a message naming the package in err. */
int mqtt_dl_load(char *err, size_t errlen);

#endif
