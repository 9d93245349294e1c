/* Unit tests for the pure parts of the agents' restart triggers: max_memory_restart's byte
 * sizes, the watch trigger's ignore globs, and the usage read from a (fake) cgroup. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agents/agents_internal.h"

static uint64_t bytes_of(json_t *v)
{
    uint64_t n = 0;
    int rc = agents_bytes_parse(v, &n);
    json_decref(v);
    return rc == 0 ? n : UINT64_MAX;
}

static void test_bytes_parse(void **state)
{
    (void)state;
    assert_true(bytes_of(json_integer(1048576)) == 1048576u);
    assert_true(bytes_of(json_string("500M")) == 500ull << 20);
    assert_true(bytes_of(json_string("500m")) == 500ull << 20);
    assert_true(bytes_of(json_string("64MiB")) == 64ull << 20);
    assert_true(bytes_of(json_string("64MB")) == 64ull << 20);
    assert_true(bytes_of(json_string("2048K")) == 2ull << 20);
    assert_true(bytes_of(json_string("1G")) == 1ull << 30);
    assert_true(bytes_of(json_string("1 T")) == 1ull << 40);
    assert_true(bytes_of(json_string("1Mi")) == 1ull << 20); /* as Kubernetes spells it */
    assert_true(bytes_of(json_string("4096")) == 4096u);
    assert_true(bytes_of(json_string("4096B")) == 4096u);
    const char *bad[] = {"",   "M", "12X", "1.5G", "-1M", "1MM", "1Mx", "1 M B", "99999999999999T",
                         "1G "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (bytes_of(json_string(bad[i])) != UINT64_MAX)
            fail_msg("accepted '%s'", bad[i]);
    assert_true(bytes_of(json_integer(-1)) == UINT64_MAX);
    assert_true(bytes_of(json_real(1.5)) == UINT64_MAX);
    assert_true(bytes_of(json_true()) == UINT64_MAX);
}

static bool ignored(const char *globs, const char *rel)
{
    json_t *g = json_loads(globs, 0, NULL);
    assert_non_null(g);
    bool r = agents_watch_ignored(g, rel);
    json_decref(g);
    return r;
}

static void test_ignore_globs(void **state)
{
    (void)state;
    /* without '/': any component */
    assert_true(ignored("[\"*.pyc\"]", "app.pyc"));
    assert_true(ignored("[\"*.pyc\"]", "pkg/sub/mod.pyc"));
    assert_false(ignored("[\"*.pyc\"]", "app.py"));
    assert_true(ignored("[\"__pycache__\"]", "pkg/__pycache__/mod.cpython-311.pyc"));
    assert_true(ignored("[\"__pycache__\"]", "__pycache__"));
    assert_false(ignored("[\"__pycache__\"]", "pkg/pycache"));
    /* a leading dot is not matched by '*' (FNM_PERIOD): ".git" must be named */
    assert_false(ignored("[\"*\"]", ".hidden"));
    assert_true(ignored("[\".git\"]", ".git/objects/ab"));
    /* with '/': the path or any tail starting at a component */
    assert_true(ignored("[\"node_modules/**\"]", "node_modules"));
    assert_true(ignored("[\"node_modules/**\"]", "node_modules/a/b.js"));
    assert_true(ignored("[\"node_modules/**\"]", "web/node_modules/a.js"));
    assert_true(ignored("[\"node_modules/**\"]", "web/node_modules"));
    assert_false(ignored("[\"node_modules/**\"]", "my_node_modules/a.js"));
    assert_true(ignored("[\"build/*.o\"]", "build/x.o"));
    assert_true(ignored("[\"build/*.o\"]", "sub/build/x.o"));
    assert_false(ignored("[\"build/*.o\"]", "build.o"));
    /* a leading '/' anchors at the watched path */
    assert_true(ignored("[\"/tmp/**\"]", "tmp/x"));
    assert_false(ignored("[\"/tmp/**\"]", "src/tmp/x"));
    /* several patterns, empty list, no list */
    assert_true(ignored("[\"*.log\", \"*.pyc\"]", "a.pyc"));
    assert_false(ignored("[]", "a.pyc"));
    assert_false(agents_watch_ignored(NULL, "a.pyc"));
}

static void put(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_cgroup_read(void **state)
{
    (void)state;
    char dir[] = "/tmp/ganglion-cg-XXXXXX";
    assert_non_null(mkdtemp(dir));
    uint64_t cpu = 7, rss = 7;
    assert_int_equal(agents_usage_cgroup_read(dir, &cpu, &rss), -ENOENT); /* no files */
    put(dir, "cpu.stat", "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n");
    assert_int_equal(agents_usage_cgroup_read(dir, &cpu, &rss), -ENOENT); /* no memory.stat */
    /* "anon" must not be taken from "anon_thp", nor file_mapped from "file" */
    put(dir, "memory.stat",
        "anon_thp 999\nanon 52428800\nfile 1000000000\nkernel 123\nfile_mapped 4096\n"
        "shmem 0\n");
    assert_int_equal(agents_usage_cgroup_read(dir, &cpu, &rss), 0);
    assert_true(cpu == 2500000000ull);
    assert_true(rss == 52428800ull + 4096u);
    put(dir, "memory.stat", "file 1\n");
    assert_int_equal(agents_usage_cgroup_read(dir, &cpu, &rss), -ENOENT);
    char path[512];
    snprintf(path, sizeof path, "%s/cpu.stat", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/memory.stat", dir);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bytes_parse),
        cmocka_unit_test(test_ignore_globs),
        cmocka_unit_test(test_cgroup_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
