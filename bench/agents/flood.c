/* bench/agents: prints N numbered lines of 48 bytes as fast as stdout takes them. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 5000;
    static char buf[1 << 16];
    setvbuf(stdout, buf, _IOFBF, sizeof buf);
    for (long i = 1; i <= n; i++)
        printf("line %010ld xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n", i);
    return 0;
}
