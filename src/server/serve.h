/* The daemon: parses configuration, takes the data-dir lock, opens the store, registers every
 * endpoint, starts the transports and runs the loop until SIGTERM/SIGINT. */
#ifndef GANGLION_SERVE_H
#define GANGLION_SERVE_H

/* argv[0] is "serve". Returns the process exit code. */
int serve_main(int argc, char **argv);

#endif
