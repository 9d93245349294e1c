/* bench/agents: the peer. Spawns PROGRAM N times with posix_spawn and reaps it with waitpid,
 * keeping up to P children in flight; prints the rate (children per second) as JSON. */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: raw PROGRAM N P\n");
        return 2;
    }
    long n = atol(argv[2]), p = atol(argv[3]), started = 0, done = 0;
    char *args[] = {argv[1], NULL};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (done < n) {
        while (started < n && started - done < p) {
            pid_t pid;
            if (posix_spawn(&pid, argv[1], NULL, NULL, args, environ) != 0) {
                perror("posix_spawn");
                return 1;
            }
            started++;
        }
        int st;
        if (waitpid(-1, &st, 0) > 0)
            done++;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("{\"n\": %ld, \"parallel\": %ld, \"seconds\": %.4f, \"per_s\": %.1f}\n", n, p, s, n / s);
    return 0;
}
