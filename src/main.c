/* ganglion: `ganglion serve` runs the daemon; every other subcommand is a client. */
#include "cli/cli.h"
#include "server/serve.h"

#include <string.h>

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "serve") == 0)
        return serve_main(argc - 1, argv + 1);
    return cli_main(argc, argv);
}
