/* The peer of the ZMQ benchmark: a raw libzmq ROUTER that sends every message straight back,
 * frames untouched. It is the floor a ZMQ RPC server can reach on this machine.
 *   echo ENDPOINT          (runs until SIGTERM/SIGINT) */
#include <signal.h>
#include <stdio.h>
#include <zmq.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: echo ENDPOINT\n");
        return 2;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_ROUTER);
    int hwm = 100000, zero = 0;
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_bind(s, argv[1]) < 0) {
        fprintf(stderr, "echo: bind %s: %s\n", argv[1], zmq_strerror(zmq_errno()));
        return 1;
    }
    while (!stop) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, s, 0) < 0) {
            zmq_msg_close(&m);
            continue; /* EINTR on a signal */
        }
        int more = zmq_msg_more(&m);
        zmq_msg_send(&m, s, more ? ZMQ_SNDMORE : 0);
    }
    zmq_close(s);
    zmq_ctx_term(ctx);
    return 0;
}
