/* The command-line client: every subcommand except `serve` talks to a running daemon. */
#ifndef GANGLION_CLI_H
#define GANGLION_CLI_H

/* argv[0] is the program name. Returns the process exit code. */
int cli_main(int argc, char **argv);

#endif
