/* CURVE for the ZMQ transport: the server's keypair in the data directory, the clients' allow-list
 * (re-read when the file changes), and the ZAP handler's answer to each handshake (RFC 27). */
#ifndef GANGLION_NET_ZMQ_AUTH_H
#define GANGLION_NET_ZMQ_AUTH_H

#include <stddef.h>
#include <stdint.h>

typedef struct zmq_auth zmq_auth_t;

/* Loads DATA_DIR/zmq_curve.key, or makes a keypair there on first use (secret 0600, public beside
 * it in zmq_curve.pub for clients to copy), and reads the allow-list from clients_path (empty:
 * DATA_DIR/zmq_clients). libzmq must be loaded. 0, or -1 with err set. */
int zmq_auth_new(zmq_auth_t **out, const char *data_dir, const char *clients_path, char *err,
                 size_t errlen);
void zmq_auth_destroy(zmq_auth_t **a);

/* The server's secret key in Z85 (40 characters), for ZMQ_CURVE_SECRETKEY. */
const char *zmq_auth_secret_key(const zmq_auth_t *a);

/* Reads one ZAP request from the REP socket zap and answers it: 200 for a CURVE client whose
 * key is on the allow-list, 400 otherwise (logged). */
void zmq_auth_zap_answer(zmq_auth_t *a, void *zap);

/* Handshakes allowed and denied so far (0 when a is NULL: CURVE off). */
uint64_t zmq_auth_allowed_count(const zmq_auth_t *a);
uint64_t zmq_auth_denied_count(const zmq_auth_t *a);

#endif
