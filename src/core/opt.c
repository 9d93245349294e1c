/* Command-line options with a value (see opt.h). */
#include "core/opt.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

int opt_value(int argc, char **argv, int *i, const char *name, const char **val)
{
    assert(*i >= 0 && *i < argc);
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return 0;
    if (argv[*i][n] == '=') {
        *val = argv[*i] + n + 1;
        return 1;
    }
    if (argv[*i][n] != '\0')
        return 0;
    if (*i + 1 >= argc)
        return -EINVAL;
    *val = argv[++*i];
    return 1;
}
