/* Command-line options with a value, the one way the CLI and `ganglion serve` read them:
 * "--name VALUE" or "--name=VALUE". */
#ifndef GANGLION_CORE_OPT_H
#define GANGLION_CORE_OPT_H

/* Whether argv[*i] is the option `name`. 1 with *val set (borrowed from argv) and *i advanced
 * past a separate value; 0 when argv[*i] is another argument ("--names" is not "--name");
 * -EINVAL when the value is missing (the caller says so in its own voice). */
int opt_value(int argc, char **argv, int *i, const char *name, const char **val);

#endif
