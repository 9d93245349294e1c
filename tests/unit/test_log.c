/* Unit tests for the JSON logger: every line is one JSON object with the standard fields,
 * levels filter, bad field formats still produce a record, and reopen follows a rotated file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/log.h"

static char log_dir[64];

static int setup(void **state)
{
    (void)state;
    strcpy(log_dir, "/tmp/ganglion-log-XXXXXX");
    return mkdtemp(log_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    log_close();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", log_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Reads every line of path as JSON; returns an array of objects (caller decrefs). Fails the
 * test if any line is not a JSON object. */
static json_t *read_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    json_t *arr = json_array();
    if (!f)
        return arr;
    char line[70000];
    while (fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        assert_true(n > 0 && line[n - 1] == '\n');
        json_error_t jerr;
        json_t *obj = json_loads(line, 0, &jerr);
        if (!obj)
            fail_msg("not JSON: %s (%s)", line, jerr.text);
        assert_true(json_is_object(obj));
        assert_true(json_is_string(json_object_get(obj, "ts")));
        assert_true(json_is_string(json_object_get(obj, "level")));
        assert_true(json_is_string(json_object_get(obj, "msg")));
        assert_int_equal(strlen(json_string_value(json_object_get(obj, "ts"))), 24);
        json_array_append_new(arr, obj);
    }
    fclose(f);
    return arr;
}

static void test_levels_parse(void **state)
{
    (void)state;
    log_level_t l;
    assert_int_equal(log_level_parse("debug", &l), 0);
    assert_int_equal(l, LOG_LEVEL_DEBUG);
    assert_int_equal(log_level_parse("off", &l), 0);
    assert_int_equal(l, LOG_LEVEL_OFF);
    assert_int_equal(log_level_parse("WARN", &l), -1);
    assert_int_equal(log_level_parse("", &l), -1);
    assert_int_equal(log_level_parse(NULL, &l), -1);
    assert_string_equal(log_level_name(LOG_LEVEL_ERROR), "error");
}

static void test_fields_and_filter(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/a.log", log_dir);
    assert_int_equal(log_open(LOG_LEVEL_INFO, path), 0);
    log_debug(NULL, "hidden", NULL);
    log_info("req-1", "started", "{s:s,s:i}", "listen", "127.0.0.1:7700", "pid", 42);
    log_warn(NULL, "no fields", NULL);
    log_error("req-2", "bad pack", "{s:s}", "k", NULL); /* NULL for s fails the pack */
    log_info(NULL, "clash", "{s:s}", "level", "error");
    log_info(NULL, "bad utf8 \xff\xfe here", NULL);
    log_level_set(LOG_LEVEL_ERROR);
    assert_false(log_enabled(LOG_LEVEL_WARN));
    assert_true(log_enabled(LOG_LEVEL_ERROR));
    log_warn(NULL, "hidden too", NULL);
    log_error(NULL, "shown", NULL);
    log_level_set(LOG_LEVEL_OFF);
    log_error(NULL, "off hides everything", NULL);
    log_close();

    json_t *lines = read_lines(path);
    assert_int_equal(json_array_size(lines), 6);
    json_t *l0 = json_array_get(lines, 0);
    assert_string_equal(json_string_value(json_object_get(l0, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(l0, "msg")), "started");
    assert_string_equal(json_string_value(json_object_get(l0, "request_id")), "req-1");
    assert_string_equal(json_string_value(json_object_get(l0, "listen")), "127.0.0.1:7700");
    assert_int_equal(json_integer_value(json_object_get(l0, "pid")), 42);
    const char *ts = json_string_value(json_object_get(l0, "ts"));
    assert_int_equal(ts[23], 'Z');
    assert_int_equal(ts[10], 'T');

    json_t *l1 = json_array_get(lines, 1);
    assert_string_equal(json_string_value(json_object_get(l1, "level")), "warn");
    assert_null(json_object_get(l1, "request_id"));

    json_t *l2 = json_array_get(lines, 2);
    assert_string_equal(json_string_value(json_object_get(l2, "msg")), "bad pack");
    assert_string_equal(json_string_value(json_object_get(l2, "request_id")), "req-2");
    assert_non_null(json_object_get(l2, "log_error"));

    json_t *l3 = json_array_get(lines, 3);
    assert_string_equal(json_string_value(json_object_get(l3, "level")), "info");

    json_t *l4 = json_array_get(lines, 4);
    assert_non_null(strstr(json_string_value(json_object_get(l4, "msg")), "bad utf8"));

    json_t *l5 = json_array_get(lines, 5);
    assert_string_equal(json_string_value(json_object_get(l5, "msg")), "shown");
    json_decref(lines);
}

static void test_oversized(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/big.log", log_dir);
    assert_int_equal(log_open(LOG_LEVEL_INFO, path), 0);
    size_t n = 200000;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, 'x', n);
    big[n] = '\0';
    log_info("r", big, "{s:s}", "field", big);
    free(big);
    log_close();
    json_t *lines = read_lines(path);
    assert_int_equal(json_array_size(lines), 1);
    json_t *l0 = json_array_get(lines, 0);
    assert_non_null(json_object_get(l0, "log_error"));
    assert_null(json_object_get(l0, "field"));
    assert_true(strlen(json_string_value(json_object_get(l0, "msg"))) <= 4096);
    json_decref(lines);
}

static void test_reopen_after_rename(void **state)
{
    (void)state;
    char path[128], rotated[128];
    snprintf(path, sizeof path, "%s/r.log", log_dir);
    snprintf(rotated, sizeof rotated, "%s/r.log.1", log_dir);
    assert_int_equal(log_open(LOG_LEVEL_DEBUG, path), 0);
    log_debug(NULL, "before", NULL);
    assert_int_equal(rename(path, rotated), 0);
    log_info(NULL, "still old", NULL); /* goes to the renamed file until reopen */
    assert_int_equal(log_reopen(), 0);
    log_info(NULL, "after", NULL);
    log_close();

    json_t *old = read_lines(rotated);
    json_t *cur = read_lines(path);
    assert_int_equal(json_array_size(old), 2);
    assert_int_equal(json_array_size(cur), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(cur, 0), "msg")), "after");
    json_decref(old);
    json_decref(cur);

    /* appends, never truncates */
    assert_int_equal(log_open(LOG_LEVEL_INFO, path), 0);
    log_info(NULL, "appended", NULL);
    log_close();
    cur = read_lines(path);
    assert_int_equal(json_array_size(cur), 2);
    json_decref(cur);

    assert_true(log_open(LOG_LEVEL_INFO, "/nonexistent-dir/x.log") < 0);
    assert_int_equal(log_reopen(), 0); /* stderr: nothing to do */
}

static void *writer(void *arg)
{
    long id = (long)(intptr_t)arg;
    for (int i = 0; i < 500; i++)
        log_info(NULL, "concurrent", "{s:I,s:i,s:s}", "thread", (json_int_t)id, "i", i, "pad",
                 "0123456789012345678901234567890123456789012345678901234567890123456789");
    return NULL;
}

/* Lines from several threads must never interleave: each one still parses on its own. */
static void test_threads(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/t.log", log_dir);
    assert_int_equal(log_open(LOG_LEVEL_INFO, path), 0);
    pthread_t th[4];
    for (long i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, writer, (void *)(intptr_t)i), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    log_close();
    json_t *lines = read_lines(path);
    assert_int_equal(json_array_size(lines), 2000);
    json_decref(lines);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_levels_parse), cmocka_unit_test(test_fields_and_filter),
        cmocka_unit_test(test_oversized),    cmocka_unit_test(test_reopen_after_rename),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
