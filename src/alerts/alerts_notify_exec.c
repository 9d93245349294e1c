/* The exec notifier: runs a command (argv, no shell) with the notification's JSON on stdin,
 * within the attempt's timeout (killed past it) and keeping the start of its output; exit
 * status 0 is a delivery. The command starts with posix_spawn (no shell, no PATH search) and
 * is registered in core/child.h, so the agents domain's reaper (wait4 on any child) hands its
 * status back and its orphan sweep leaves it alone. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alerts/alerts_notify.h"
#include "core/child.h"

#define ALERTS_EXEC_ARGS 64

extern char **environ;

static int alerts_exec_check(const json_t *doc, char *field, size_t flen, char *why, size_t wlen)
{
    const json_t *argv = json_object_get(doc, "argv");
    const char *prog = json_string_value(json_array_get(argv, 0));
    if (!prog || prog[0] != '/') {
        snprintf(field, flen, "argv");
        snprintf(why, wlen, "argv[0] must be the command's absolute path (no shell, no PATH)");
        return -EINVAL;
    }
    size_t i;
    json_t *v;
    json_array_foreach(argv, i, v) if (!json_is_string(v) || i >= ALERTS_EXEC_ARGS)
    {
        snprintf(field, flen, "argv");
        snprintf(why, wlen, "at most %d strings", ALERTS_EXEC_ARGS);
        return -EINVAL;
    }
    return 0;
}

typedef struct alerts_child {
    char *argv[ALERTS_EXEC_ARGS + 1];
} alerts_child_t;

static int64_t alerts_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void alerts_argv_free(alerts_child_t *c);
static void alerts_spawn_run(alerts_delivery_t *d, alerts_child_t *cp);

static void alerts_exec_deliver(alerts_delivery_t *d)
{
    const json_t *argv = json_object_get(d->notifier, "argv");
    alerts_child_t c = {0};
    size_t n = json_array_size(argv);
    for (size_t i = 0; i < n && i < ALERTS_EXEC_ARGS; i++)
        if (!(c.argv[i] = strdup(json_string_value(json_array_get(argv, i))))) {
            snprintf(d->error, sizeof d->error, "out of memory");
            alerts_argv_free(&c);
            return;
        }
    if (!c.argv[0]) { /* alerts_exec_check refuses such a notifier: a row changed by hand */
        snprintf(d->error, sizeof d->error, "the notifier's argv is empty");
        return;
    }
    alerts_spawn_run(d, &c);
    alerts_argv_free(&c);
}

static void alerts_argv_free(alerts_child_t *c)
{
    for (size_t i = 0; i < ALERTS_EXEC_ARGS && c->argv[i]; i++)
        free(c->argv[i]);
}

/* Starts the command, feeds it, reads it, ends it: one attempt. */
static void alerts_spawn_run(alerts_delivery_t *d, alerts_child_t *cp)
{
    alerts_child_t c = *cp;
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) < 0) {
        snprintf(d->error, sizeof d->error, "pipe: %s", strerror(errno));
        return;
    }
    if (pipe2(out, O_CLOEXEC) < 0) {
        snprintf(d->error, sizeof d->error, "pipe: %s", strerror(errno));
        close(in[0]);
        close(in[1]);
        return;
    }
    /* the child's stdin and stdout/stderr; the pipes' other ends close on exec */
    posix_spawn_file_actions_t fa;
    pid_t pid = -1;
    int err = posix_spawn_file_actions_init(&fa);
    if (err == 0) {
        err = posix_spawn_file_actions_adddup2(&fa, in[0], 0);
        if (err == 0)
            err = posix_spawn_file_actions_adddup2(&fa, out[1], 1);
        if (err == 0)
            err = posix_spawn_file_actions_adddup2(&fa, out[1], 2);
        child_lock();
        if (err == 0)
            err = posix_spawn(&pid, c.argv[0], &fa, NULL, c.argv, environ);
        if (err == 0 && child_add_locked(pid) < 0) {
            /* no room to register it: end it now, before a reaper takes it for an orphan */
            child_unlock();
            kill(pid, SIGKILL);
            while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
            pid = -1;
            err = EAGAIN;
        } else {
            child_unlock();
        }
        posix_spawn_file_actions_destroy(&fa);
    }
    if (err != 0)
        pid = -1;
    close(in[0]);
    close(out[1]);
    if (pid < 0) {
        snprintf(d->error, sizeof d->error, "cannot start %s: %s", c.argv[0],
                 err == EAGAIN ? "too many commands running at once" : strerror(err));
        close(in[1]);
        close(out[0]);
        return;
    }
    (void)fcntl(in[1], F_SETFL, O_NONBLOCK);
    (void)fcntl(out[0], F_SETFL, O_NONBLOCK);
    int64_t deadline = alerts_now_ms() + d->timeout_ms;
    size_t sent = 0;
    int wfd = in[1], rfd = out[0];
    bool timed_out = false;
    while (rfd >= 0) {
        int64_t left = deadline - alerts_now_ms();
        if (left <= 0) {
            timed_out = true;
            break;
        }
        struct pollfd p[2] = {{.fd = rfd, .events = POLLIN}, {.fd = wfd, .events = POLLOUT}};
        if (poll(p, wfd >= 0 ? 2 : 1, (int)left) < 0 && errno != EINTR)
            break;
        if (wfd >= 0 && (p[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t w = write(wfd, d->body + sent, d->body_len - sent);
            if (w > 0)
                sent += (size_t)w;
            if (w < 0 && errno != EAGAIN && errno != EINTR)
                sent = d->body_len; /* the command does not read its stdin: fine */
            if (sent == d->body_len) {
                close(wfd);
                wfd = -1;
            }
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            char buf[1024];
            ssize_t r = read(rfd, buf, sizeof buf);
            if (r > 0) {
                size_t room = sizeof d->output - 1 - d->output_len;
                size_t take = (size_t)r < room ? (size_t)r : room;
                memcpy(d->output + d->output_len, buf, take);
                d->output_len += take;
                d->output[d->output_len] = '\0';
            } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                close(rfd);
                rfd = -1;
            }
        }
    }
    if (wfd >= 0)
        close(wfd);
    if (rfd >= 0)
        close(rfd);
    int st = 0;
    int rc = child_wait(pid, alerts_now_ms() + (timed_out ? 0 : 1000), &st);
    if (rc == -ETIMEDOUT) {
        timed_out = true;
        kill(pid, SIGKILL);
        rc = child_wait(pid, alerts_now_ms() + 5000, &st);
    }
    if (rc < 0) {
        snprintf(d->error, sizeof d->error, "the command's exit status is lost: %s", strerror(-rc));
        return;
    }
    if (timed_out) {
        snprintf(d->error, sizeof d->error, "killed after %lld ms", (long long)d->timeout_ms);
        return;
    }
    if (WIFEXITED(st)) {
        d->status = WEXITSTATUS(st);
        if (d->status == 0)
            d->ok = true;
        else
            snprintf(d->error, sizeof d->error, "exited with status %d", d->status);
    } else {
        snprintf(d->error, sizeof d->error, "ended by signal %d", WTERMSIG(st));
    }
}

const alerts_notifier_kind_t alerts_notifier_exec = {"exec", alerts_exec_check,
                                                     alerts_exec_deliver};
