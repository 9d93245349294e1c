/* Unit tests for the agent model's pure parts: the lifecycle state machine, signal names, the
 * command lines of argv and the presets, the output ring (eviction, order, lookup by seq) and
 * the UTF-8 check that decides when a line carries its bytes in base64. */
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agents/agents_internal.h"
#include "agents/agents_model.h"

static void test_status_names_roundtrip(void **state)
{
    (void)state;
    for (int i = 0; i < AGENTS_STATUS_COUNT; i++) {
        agents_status_t s;
        assert_int_equal(agents_status_parse(agents_status_name((agents_status_t)i), &s), 0);
        assert_int_equal(s, i);
    }
    agents_status_t s;
    assert_int_equal(agents_status_parse("zombie", &s), -1);
    assert_int_equal(agents_status_parse(NULL, &s), -1);
}

static void test_transitions(void **state)
{
    (void)state;
    /* the design's moves */
    assert_true(agents_transition_allowed(AGENTS_IDLE, AGENTS_INITIALIZING));
    assert_true(agents_transition_allowed(AGENTS_INITIALIZING, AGENTS_RUNNING));
    assert_true(agents_transition_allowed(AGENTS_RUNNING, AGENTS_THINKING));
    assert_true(agents_transition_allowed(AGENTS_THINKING, AGENTS_RUNNING));
    assert_true(agents_transition_allowed(AGENTS_RUNNING, AGENTS_PAUSED));
    assert_true(agents_transition_allowed(AGENTS_PAUSED, AGENTS_RUNNING));
    assert_true(agents_transition_allowed(AGENTS_RUNNING, AGENTS_COMPLETED));
    assert_true(agents_transition_allowed(AGENTS_STOPPING, AGENTS_TERMINATED));
    /* refused */
    assert_false(agents_transition_allowed(AGENTS_IDLE, AGENTS_RUNNING));
    assert_false(agents_transition_allowed(AGENTS_IDLE, AGENTS_PAUSED));
    assert_false(agents_transition_allowed(AGENTS_STOPPING, AGENTS_RUNNING));
    assert_false(agents_transition_allowed(AGENTS_STOPPING, AGENTS_PAUSED));
    /* final states are final, except for a start again (to idle, then initializing) */
    agents_status_t finals[] = {AGENTS_COMPLETED, AGENTS_FAILED, AGENTS_TERMINATED, AGENTS_LOST};
    for (size_t f = 0; f < 4; f++) {
        assert_true(agents_status_final(finals[f]));
        assert_false(agents_status_live(finals[f]));
        for (int to = 0; to < AGENTS_STATUS_COUNT; to++)
            assert_int_equal(agents_transition_allowed(finals[f], (agents_status_t)to),
                             to == AGENTS_IDLE);
    }
    /* anything not final can be lost */
    for (int from = 0; from < AGENTS_STATUS_COUNT; from++)
        if (!agents_status_final((agents_status_t)from))
            assert_true(agents_transition_allowed((agents_status_t)from, AGENTS_LOST));
    assert_false(agents_transition_allowed(AGENTS_STATUS_COUNT, AGENTS_IDLE));
}

static void test_signals(void **state)
{
    (void)state;
    /* names in any case, with or without SIG, and numbers */
    assert_int_equal(agents_signal_parse("term"), SIGTERM);
    assert_int_equal(agents_signal_parse("usr2"), SIGUSR2);
    assert_int_equal(agents_signal_parse("TERM"), SIGTERM);
    assert_int_equal(agents_signal_parse("SIGWINCH"), SIGWINCH);
    assert_int_equal(agents_signal_parse("sigwinch"), SIGWINCH);
    assert_int_equal(agents_signal_parse("Winch"), SIGWINCH);
    assert_int_equal(agents_signal_parse("28"), 28);
    assert_int_equal(agents_signal_parse("tstp"), SIGTSTP);
    assert_int_equal(agents_signal_parse("VTALRM"), SIGVTALRM);
    assert_int_equal(agents_signal_parse("io"), SIGIO);
    assert_int_equal(agents_signal_parse("POLL"), SIGIO);
    assert_int_equal(agents_signal_parse("iot"), SIGABRT);
    assert_int_equal(agents_signal_parse("SIGCLD"), SIGCHLD);
    assert_int_equal(agents_signal_parse("pwr"), SIGPWR);
    assert_int_equal(agents_signal_parse("SYS"), SIGSYS);
    /* real-time signals, counted from the ends of the range the C library leaves */
    assert_int_equal(agents_signal_parse("RTMIN"), SIGRTMIN);
    assert_int_equal(agents_signal_parse("sigrtmin+2"), SIGRTMIN + 2);
    assert_int_equal(agents_signal_parse("RTMAX-1"), SIGRTMAX - 1);
    assert_int_equal(agents_signal_parse("rtmax"), SIGRTMAX);
    assert_int_equal(agents_signal_parse("RTMIN+999"), -1);
    assert_int_equal(agents_signal_parse("RTMIN-1"), -1);
    assert_int_equal(agents_signal_parse("RTMIN+"), -1);
    /* what the platform does not name */
    assert_int_equal(agents_signal_parse(NULL), -1);
    assert_int_equal(agents_signal_parse(""), -1);
    assert_int_equal(agents_signal_parse("SIG"), -1);
    assert_int_equal(agents_signal_parse("bogus"), -1);
    assert_int_equal(agents_signal_parse("SIGSIGTERM"), -1);
    assert_int_equal(agents_signal_parse("0"), -1);
    assert_int_equal(agents_signal_parse("32"), -1);
    assert_int_equal(agents_signal_parse("1000"), -1);
    assert_int_equal(agents_signal_parse("15x"), -1);
    assert_int_equal(agents_signal_parse("-15"), -1);
    char buf[32];
    assert_string_equal(agents_signal_name(SIGXCPU, buf, sizeof buf), "SIGXCPU");
    assert_string_equal(agents_signal_name(SIGWINCH, buf, sizeof buf), "SIGWINCH");
    assert_string_equal(agents_signal_name(SIGRTMIN, buf, sizeof buf), "SIGRTMIN");
    assert_string_equal(agents_signal_name(SIGRTMIN + 1, buf, sizeof buf), "SIGRTMIN+1");
    assert_string_equal(agents_signal_name(SIGRTMAX - 1, buf, sizeof buf), "SIGRTMAX-1");
    assert_string_equal(agents_signal_name(32, buf, sizeof buf), "signal 32");
    /* every name round-trips: the name a reply gives is one the parser takes */
    for (int sig = 1; sig <= SIGRTMAX; sig++) {
        const char *name = agents_signal_name(sig, buf, sizeof buf);
        if (strncmp(name, "SIG", 3) == 0)
            assert_int_equal(agents_signal_parse(name), sig);
        else
            assert_int_equal(agents_signal_parse(name), -1);
    }
    char accepted[512];
    assert_non_null(strstr(agents_signal_accepted(accepted, sizeof accepted), "WINCH"));
}

static char **build(const char *json, char *err, const char **field)
{
    json_t *b = json_loads(json, 0, NULL);
    assert_non_null(b);
    char **argv = agents_argv_build(b, err, 128, field);
    json_decref(b);
    return argv;
}

static void assert_argv(char **argv, const char *const *want)
{
    assert_non_null(argv);
    size_t i = 0;
    for (; want[i]; i++) {
        assert_non_null(argv[i]);
        assert_string_equal(argv[i], want[i]);
    }
    assert_null(argv[i]);
    agents_argv_free(argv);
}

static void test_argv_and_presets(void **state)
{
    (void)state;
    char err[128];
    const char *field;
    assert_argv(build("{\"argv\":[\"sh\",\"-c\",\"x\"],\"args\":[\"y\"]}", err, &field),
                (const char *const[]){"sh", "-c", "x", "y", NULL});
    assert_argv(build("{\"preset\":\"claude\",\"task\":\"fix it\",\"model\":\"m\"}", err, &field),
                (const char *const[]){"claude", "-p", "fix it", "--output-format", "stream-json",
                                      "--verbose", "--model", "m", NULL});
    assert_argv(build("{\"preset\":\"opencode\",\"task\":\"t\",\"args\":[\"--a\"]}", err, &field),
                (const char *const[]){"opencode", "run", "--format", "json", "t", "--a", NULL});
    assert_argv(build("{\"preset\":\"cli\",\"program\":\"aider\",\"task\":\"t\",\"args\":[\"-q\"]}",
                      err, &field),
                (const char *const[]){"aider", "-q", "t", NULL});
    assert_null(build("{\"preset\":\"cli\",\"task\":\"t\"}", err, &field));
    assert_string_equal(field, "/program");
    assert_null(build("{\"preset\":\"claude\"}", err, &field));
    assert_string_equal(field, "/task");
    assert_null(build("{}", err, &field));
    assert_string_equal(field, "/argv");
    assert_null(build("{\"argv\":[\"x\"],\"preset\":\"cli\"}", err, &field));
    assert_null(build("{\"argv\":[\"\"]}", err, &field));
}

static void test_ring_evicts_oldest_and_finds_by_seq(void **state)
{
    (void)state;
    agents_ring_t r;
    size_t per = 100 + AGENTS_LINE_OVERHEAD;
    agents_ring_init(&r, per * 10);
    assert_null(r.v); /* nothing allocated until the first line */
    char line[100];
    memset(line, 'a', sizeof line);
    for (uint64_t s = 1; s <= 25; s++)
        assert_int_equal(agents_ring_push(&r, s * 2, (int64_t)s, AGENTS_STDOUT, line, 100, 0), 0);
    assert_int_equal(r.n, 10);
    assert_true(r.bytes <= r.max_bytes);
    assert_int_equal(r.evicted, 15);
    assert_int_equal(agents_ring_at(&r, 0)->seq, 32);
    assert_int_equal(agents_ring_at(&r, 9)->seq, 50);
    assert_null(agents_ring_at(&r, 10));
    assert_int_equal(agents_ring_after(&r, 0), 0);
    assert_int_equal(agents_ring_after(&r, 32), 1);
    assert_int_equal(agents_ring_after(&r, 33), 1);
    assert_int_equal(agents_ring_after(&r, 50), 10);
    /* a small line still fits after evicting; a line bigger than the ring is refused */
    assert_int_equal(agents_ring_push(&r, 51, 0, AGENTS_STDERR, "x", 1, AGENTS_LINE_CONT), 0);
    const agents_line_t *l = agents_ring_at(&r, r.n - 1);
    assert_int_equal(l->len, 1);
    assert_int_equal(l->stream, AGENTS_STDERR);
    assert_int_equal(l->flags, AGENTS_LINE_CONT);
    assert_string_equal(l->data, "x");
    char *big = calloc(1, per * 11);
    assert_int_equal(agents_ring_push(&r, 52, 0, 0, big, per * 11, 0), -E2BIG);
    free(big);
    agents_ring_free(&r);
    assert_int_equal(r.n, 0);
    assert_int_equal(r.bytes, 0);
}

/* The lines live in a few chunks, not one allocation each, and a chunk goes back as soon as its
 * last line is evicted: 200 000 lines of 1-300 bytes through a 64 KiB ring never hold more
 * than its bytes in chunks plus two, every line reads back as pushed, and a line longer than a
 * chunk gets one of its own. */
static void test_ring_packs_lines_into_bounded_chunks(void **state)
{
    (void)state;
    agents_ring_t r;
    agents_ring_init(&r, 64 * 1024);
    size_t bound = 64 * 1024 / AGENTS_CHUNK_BYTES + 2, most = 0;
    char line[300];
    for (uint64_t s = 1; s <= 200000; s++) {
        size_t len = 1 + (size_t)(s * 7919 % 300);
        memset(line, 'a' + (int)(s % 26), len);
        assert_int_equal(agents_ring_push(&r, s, (int64_t)s, (int)(s & 1), line, len, 0), 0);
        if (r.chunks > most)
            most = r.chunks;
    }
    assert_true(most <= bound);
    assert_true(r.chunks >= 1);
    for (size_t i = 0; i < r.n; i++) {
        const agents_line_t *l = agents_ring_at(&r, i);
        assert_int_equal(l->len, 1 + (size_t)(l->seq * 7919 % 300));
        assert_int_equal(l->data[0], 'a' + (int)(l->seq % 26));
        assert_int_equal(l->data[l->len - 1], 'a' + (int)(l->seq % 26));
        assert_int_equal(l->data[l->len], '\0');
        assert_int_equal(l->stream, (int)(l->seq & 1));
    }
    /* a line longer than a chunk */
    size_t big_len = AGENTS_CHUNK_BYTES + 100;
    char *big = malloc(big_len);
    memset(big, 'z', big_len);
    assert_int_equal(agents_ring_push(&r, 200001, 0, 0, big, big_len, 0), 0);
    const agents_line_t *l = agents_ring_at(&r, r.n - 1);
    assert_int_equal(l->len, big_len);
    assert_int_equal(l->data[big_len - 1], 'z');
    assert_true(r.chunks <= bound);
    free(big);
    /* short lines after it go on in a new chunk; evicting everything frees all but one */
    for (uint64_t s = 200002; s <= 202000; s++)
        assert_int_equal(agents_ring_push(&r, s, 0, 0, "x", 1, 0), 0);
    assert_true(r.chunks <= bound);
    agents_ring_free(&r);
    assert_int_equal(r.chunks, 0);
    assert_null(r.v);
}

static void test_ring_growth_keeps_order(void **state)
{
    (void)state;
    agents_ring_t r;
    agents_ring_init(&r, 1 << 20);
    for (uint64_t s = 1; s <= 1000; s++) {
        char t[32];
        int n = snprintf(t, sizeof t, "%llu", (unsigned long long)s);
        assert_int_equal(agents_ring_push(&r, s, 0, 0, t, (size_t)n, 0), 0);
    }
    assert_int_equal(r.n, 1000);
    for (size_t i = 0; i < 1000; i++)
        assert_int_equal(agents_ring_at(&r, i)->seq, i + 1);
    assert_string_equal(agents_ring_at(&r, 999)->data, "1000");
    agents_ring_free(&r);
}

static void test_utf8(void **state)
{
    (void)state;
    assert_true(agents_utf8_valid("plain", 5));
    assert_true(agents_utf8_valid("\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14));
    assert_false(agents_utf8_valid("\xff", 1));
    assert_false(agents_utf8_valid("a\0b", 3));
    assert_false(agents_utf8_valid("\xc3", 1));             /* truncated */
    assert_false(agents_utf8_valid("\xc0\xaf", 2));         /* overlong */
    assert_false(agents_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    assert_false(agents_utf8_valid("\xf4\x90\x80\x80", 4)); /* beyond U+10FFFF */
    assert_true(agents_utf8_valid("", 0));
}

/* cgroup v2 detection from /proc/self/cgroup text and a fake hierarchy in a temporary
 * directory: v1 only, no unified mount, not delegated, delegated. */
static void touch(const char *dir, const char *name)
{
    char p[1100];
    int n = snprintf(p, sizeof p, "%s/%s", dir, name);
    assert_true(n > 0 && (size_t)n < sizeof p);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fclose(f);
}

static void test_cgroup_find(void **state)
{
    (void)state;
    char root[] = "/tmp/ganglion-cgroup-XXXXXX";
    assert_non_null(mkdtemp(root));
    char dir[512], sub[512];
    const char *v1 = "12:memory:/user.slice\n11:cpu,cpuacct:/user.slice\n1:name=systemd:/\n";
    const char *v2 = "0::/svc/ganglion\n";
    const char *hybrid = "12:memory:/x\n1:name=systemd:/x\n0::/svc/ganglion\n";
    assert_int_equal(agents_cgroup_find(v1, root, dir, sizeof dir), -ENOENT);
    assert_int_equal(agents_cgroup_find("", root, dir, sizeof dir), -ENOENT);
    assert_int_equal(agents_cgroup_find("0::\n", root, dir, sizeof dir), -ENOENT);
    /* a "0::" line but no unified hierarchy mounted there (hybrid with v2 elsewhere) */
    assert_int_equal(agents_cgroup_find(hybrid, root, dir, sizeof dir), -ENOTSUP);
    touch(root, "cgroup.controllers");
    /* unified, but the daemon's own cgroup has no subtree_control it may write */
    assert_int_equal(agents_cgroup_find(v2, root, dir, sizeof dir), -EACCES);
    snprintf(sub, sizeof sub, "%s/svc", root);
    assert_int_equal(mkdir(sub, 0700), 0);
    snprintf(sub, sizeof sub, "%s/svc/ganglion", root);
    assert_int_equal(mkdir(sub, 0700), 0);
    touch(sub, "cgroup.subtree_control");
    assert_int_equal(agents_cgroup_find(v2, root, dir, sizeof dir), 0);
    assert_string_equal(dir, sub);
    assert_int_equal(agents_cgroup_find(hybrid, root, dir, sizeof dir),
                     0); /* the v1 lines are ignored */
    char small[8];
    assert_int_equal(agents_cgroup_find(v2, root, small, sizeof small), -ENAMETOOLONG);
    char p[1100];
    snprintf(p, sizeof p, "%s/cgroup.subtree_control", sub);
    unlink(p);
    rmdir(sub);
    snprintf(p, sizeof p, "%s/svc", root);
    rmdir(p);
    snprintf(p, sizeof p, "%s/cgroup.controllers", root);
    unlink(p);
    rmdir(root);
}

static void test_proc_stat_parse(void **state)
{
    (void)state;
    agents_proc_stat_t st;
    /* the command name may hold spaces and ')': fields count from the last ')' */
    const char *odd = "4242 (a) b (c)) S 17 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 "
                      "987654321 1000 200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0\n";
    assert_int_equal(agents_proc_stat_parse(odd, &st), 0);
    assert_int_equal(st.pid, 4242);
    assert_int_equal(st.ppid, 17);
    assert_int_equal(st.pgid, 4242);
    assert_int_equal(st.sid, 4242);
    assert_int_equal(st.state, 'S');
    assert_true(st.start == 987654321u);
    assert_true(st.cpu_ticks == 3u); /* utime 1 + stime 2 */
    assert_true(st.rss_pages == 200u);
    const char *short_line = "7 (x) R 1 7 7 0 -1 0 0 0 0 0 40 2 0 0 20 0 1 0 555";
    assert_int_equal(agents_proc_stat_parse(short_line, &st), 0);
    assert_true(st.start == 555u && st.cpu_ticks == 42u && st.rss_pages == 0u);
    /* this process, read from /proc: its start time is stable and its parent is ours */
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    assert_int_equal(agents_proc_stat_parse(buf, &st), 0);
    assert_int_equal(st.pid, getpid());
    assert_int_equal(st.ppid, getppid());
    assert_true(st.start > 0);
    assert_true(st.rss_pages > 0);
    /* truncated or malformed text is refused, never half read */
    assert_int_equal(agents_proc_stat_parse("4242 (x) S 17 4242", &st), -EINVAL);
    assert_int_equal(agents_proc_stat_parse("4242 x S 1 2 3", &st), -EINVAL);
    assert_int_equal(agents_proc_stat_parse("(x) S 1 2 3", &st), -EINVAL);
    assert_int_equal(agents_proc_stat_parse("", &st), -EINVAL);
    assert_int_equal(agents_proc_stat_parse(NULL, &st), -EINVAL);
    char bad[256];
    snprintf(bad, sizeof bad, "%s", odd);
    bad[strlen("4242 (a) b (c)) S 1")] = 'x'; /* "17" becomes "1x" */
    assert_int_equal(agents_proc_stat_parse(bad, &st), -EINVAL);
}

/* A table (sorted by parent, as agents_procs_read leaves it) where 10 has children 11 and 12,
 * 12 has 13 (its own session), 13 has 14, and 14 is younger than the agent only in name: a
 * process started before 10 under 13 is a reused pid's and is not 10's descendant. */
static void test_procs_descendants(void **state)
{
    (void)state;
    agents_proc_stat_t v[] = {
        {.pid = 10, .ppid = 1, .pgid = 10, .sid = 10, .state = 'S', .start = 100},
        {.pid = 20, .ppid = 1, .pgid = 20, .sid = 20, .state = 'S', .start = 50},
        {.pid = 11, .ppid = 10, .pgid = 10, .sid = 10, .state = 'S', .start = 110},
        {.pid = 12, .ppid = 10, .pgid = 10, .sid = 10, .state = 'S', .start = 120},
        {.pid = 13, .ppid = 12, .pgid = 13, .sid = 13, .state = 'S', .start = 130},
        {.pid = 14, .ppid = 13, .pgid = 13, .sid = 13, .state = 'S', .start = 140},
        {.pid = 15, .ppid = 13, .pgid = 15, .sid = 15, .state = 'S', .start = 90},
        {.pid = 21, .ppid = 20, .pgid = 20, .sid = 20, .state = 'S', .start = 60},
    };
    agents_procs_t t = {.v = v, .n = sizeof v / sizeof v[0], .cap = sizeof v / sizeof v[0]};
    size_t idx[8];
    size_t n = agents_procs_descendants(&t, 10, 100, idx, 8);
    assert_int_equal(n, 4);
    int seen = 0;
    for (size_t i = 0; i < n; i++)
        seen |= 1 << (v[idx[i]].pid - 10);
    assert_int_equal(seen, (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4));
    /* parents before children */
    assert_true(v[idx[n - 1]].pid == 13 || v[idx[n - 1]].pid == 14);
    assert_int_equal(agents_procs_descendants(&t, 14, 140, idx, 8), 0);
    assert_int_equal(agents_procs_descendants(&t, 10, 100, idx, 2), 2); /* bounded by max */
    assert_int_equal(agents_procs_descendants(&t, 20, 50, idx, 8), 1);
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char p[1100];
    int n = snprintf(p, sizeof p, "%s/%s", dir, name);
    assert_true(n > 0 && (size_t)n < sizeof p);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void read_file(const char *dir, const char *name, char *buf, size_t len)
{
    char p[1100];
    int pn = snprintf(p, sizeof p, "%s/%s", dir, name);
    assert_true(pn > 0 && (size_t)pn < sizeof p);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, len - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* On a fake hierarchy (files stand in for cgroupfs's): the controllers are required and enabled,
 * the agent's cgroup gets memory.max in bytes, memory.swap.max 0 and cpu.max as quota/period,
 * "max" when a limit is not set, and memory.events' oom_kill is read back. */
static void test_cgroup_limits(void **state)
{
    (void)state;
    char root[] = "/tmp/ganglion-cglim-XXXXXX";
    assert_non_null(mkdtemp(root));
    char dir[1100], buf[256];
    write_file(root, "cgroup.controllers", "cpuset io pids\n");
    write_file(root, "cgroup.subtree_control", "");
    assert_int_equal(agents_cgroup_prepare(root, getpid()), -ENOTSUP);
    write_file(root, "cgroup.controllers", "cpuset cpu io memory pids\n");
    assert_int_equal(agents_cgroup_prepare(root, getpid()), 0);
    read_file(root, "cgroup.subtree_control", buf, sizeof buf);
    assert_string_equal(buf, "+memory +cpu");

    /* the agent's directory as the kernel would create it: its interface files exist */
    snprintf(dir, sizeof dir, "%s/agent-a1", root);
    assert_int_equal(mkdir(dir, 0755), 0);
    write_file(dir, "memory.max", "max\n");
    write_file(dir, "memory.swap.max", "max\n");
    write_file(dir, "cpu.max", "max 100000\n");
    char got[1100];
    assert_int_equal(agents_cgroup_create(root, "a1", 512, 50, got, sizeof got), 0);
    assert_string_equal(got, dir);
    read_file(dir, "memory.max", buf, sizeof buf);
    assert_string_equal(buf, "536870912");
    read_file(dir, "memory.swap.max", buf, sizeof buf);
    assert_string_equal(buf, "0");
    read_file(dir, "cpu.max", buf, sizeof buf);
    assert_string_equal(buf, "50000 100000");
    assert_int_equal(agents_cgroup_create(root, "a1", 0, 250, got, sizeof got), 0);
    read_file(dir, "memory.max", buf, sizeof buf);
    assert_string_equal(buf, "max");
    read_file(dir, "cpu.max", buf, sizeof buf);
    assert_string_equal(buf, "250000 100000");

    assert_int_equal(agents_cgroup_oom_kills(dir), 0); /* no memory.events yet */
    write_file(dir, "memory.events", "low 0\nhigh 0\nmax 7\noom 2\noom_kill 2\n");
    assert_int_equal(agents_cgroup_oom_kills(dir), 2);

    /* a cgroup without the interface files (controllers not enabled): an error, nothing left */
    assert_int_equal(agents_cgroup_create(root, "b2", 64, 0, got, sizeof got), -ENOENT);
    assert_int_not_equal(access(got, F_OK), 0);

    const char *files[] = {"memory.max", "memory.swap.max", "cpu.max", "memory.events"};
    char path[1200];
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
    snprintf(buf, sizeof buf, "%s/cgroup.controllers", root);
    unlink(buf);
    snprintf(buf, sizeof buf, "%s/cgroup.subtree_control", root);
    unlink(buf);
    rmdir(root);
}

/* The eight-byte ASCII fast path must still stop at a NUL, a stray continuation byte or a
 * truncated sequence anywhere in a long line, and accept multi-byte text after it. */
static void test_utf8_long(void **state)
{
    (void)state;
    char buf[64];
    memset(buf, 'a', sizeof buf);
    assert_true(agents_utf8_valid(buf, sizeof buf));
    for (size_t at = 0; at < sizeof buf; at++) {
        char b[64];
        memcpy(b, buf, sizeof b);
        b[at] = '\0';
        assert_false(agents_utf8_valid(b, sizeof b));
        b[at] = (char)0x80;
        assert_false(agents_utf8_valid(b, sizeof b));
        b[at] = (char)0xC3; /* a lead byte followed by ASCII: truncated */
        assert_false(agents_utf8_valid(b, sizeof b));
    }
    const char *mixed = "0123456789abcdef \xC3\xA9 0123456789 \xE2\x9C\x93 0123456789abcdef";
    assert_true(agents_utf8_valid(mixed, strlen(mixed)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_names_roundtrip),
        cmocka_unit_test(test_transitions),
        cmocka_unit_test(test_signals),
        cmocka_unit_test(test_argv_and_presets),
        cmocka_unit_test(test_ring_evicts_oldest_and_finds_by_seq),
        cmocka_unit_test(test_ring_packs_lines_into_bounded_chunks),
        cmocka_unit_test(test_ring_growth_keeps_order),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_utf8_long),
        cmocka_unit_test(test_cgroup_find),
        cmocka_unit_test(test_proc_stat_parse),
        cmocka_unit_test(test_procs_descendants),
        cmocka_unit_test(test_cgroup_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
