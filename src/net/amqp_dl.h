/* librabbitmq, loaded on demand: a daemon without [rabbitmq] url never maps it. <amqp.h> still
 * supplies types and constants; every call goes through the table `lamqp`, filled once by
 * amqp_dl_load() and read-only afterwards. */
#ifndef GANGLION_NET_AMQP_DL_H
#define GANGLION_NET_AMQP_DL_H

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <stddef.h>

/* Every librabbitmq function ganglion calls; X(name) per function. */
#define AMQP_DL_FUNCS(X)                                                                           \
    X(amqp_new_connection)                                                                         \
    X(amqp_destroy_connection)                                                                     \
    X(amqp_tcp_socket_new)                                                                         \
    X(amqp_socket_open_noblock)                                                                    \
    X(amqp_login)                                                                                  \
    X(amqp_channel_open)                                                                           \
    X(amqp_connection_close)                                                                       \
    X(amqp_get_rpc_reply)                                                                          \
    X(amqp_confirm_select)                                                                         \
    X(amqp_exchange_declare)                                                                       \
    X(amqp_queue_declare)                                                                          \
    X(amqp_queue_bind)                                                                             \
    X(amqp_basic_qos)                                                                              \
    X(amqp_basic_consume)                                                                          \
    X(amqp_basic_publish)                                                                          \
    X(amqp_basic_get)                                                                              \
    X(amqp_basic_ack)                                                                              \
    X(amqp_basic_nack)                                                                             \
    X(amqp_read_message)                                                                           \
    X(amqp_destroy_message)                                                                        \
    X(amqp_simple_wait_frame_noblock)                                                              \
    X(amqp_maybe_release_buffers)                                                                  \
    X(amqp_parse_url)                                                                              \
    X(amqp_cstring_bytes)                                                                          \
    X(amqp_set_rpc_timeout)                                                                        \
    X(amqp_error_string2)

/* Members are typed from the declarations in <amqp.h>, so a signature cannot drift. */
#define AMQP_DL_MEMBER(name) __typeof__(name) *name;
typedef struct amqp_dl {
    AMQP_DL_FUNCS(AMQP_DL_MEMBER)
} amqp_dl_t;
#undef AMQP_DL_MEMBER

/* Valid only after amqp_dl_load() returned 0. */
extern const amqp_dl_t *const lamqp;

/* Loads librabbitmq.so.4 and resolves every function, once per process (later calls return the
 * first outcome). Returns 0, or -1 with a message naming the package in err. */
int amqp_dl_load(char *err, size_t errlen);

#endif
