/* Program files (agents_programs_read): command lines split without a shell, continuation
 * lines, defaults, every error with its file and line, and files refused whole. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agents/agents_programs.h"

static char dir[256];

static int dir_setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/ganglion-programs-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int dir_teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void file_write(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void file_remove(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
}

static json_t *program(json_t *set, const char *name)
{
    return json_object_get(json_object_get(set, "programs"), name);
}

/* True when one error ends with "<file>:<line>: <msg>". */
static bool has_error(json_t *set, const char *file, int line, const char *msg)
{
    char want[1024];
    snprintf(want, sizeof want, "%s/%s:%d: %s", dir, file, line, msg);
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(set, "errors"), i, e)
    {
        if (!strcmp(json_string_value(e), want))
            return true;
    }
    return false;
}

static void test_command_split_and_defaults(void **state)
{
    (void)state;
    file_write("a.ini", "; comment\n"
                        "[program:web]\n"
                        "command = python3 -c 'print(1)' \"a \\\"b\\\"\" c\\ d ; inline comment\n"
                        "  --more\n"
                        "env.K = v\n"
                        "environment = A=1, B=\"x y\"\n"
                        "label.team = a\n"
                        "memory_mb = 64\n"
                        "[program:job]\n"
                        "argv = [\"sh\", \"-c\", \"exit 0\"]\n"
                        "restart = never\n"
                        "autostart = no\n"
                        "numprocs = 3\n");
    json_t *set = agents_programs_read(dir);
    assert_int_equal(json_array_size(json_object_get(set, "errors")), 0);
    json_t *web = program(set, "web"), *spec = json_object_get(web, "spec");
    json_t *want =
        json_pack("[s,s,s,s,s,s]", "python3", "-c", "print(1)", "a \"b\"", "c d", "--more");
    assert_true(json_equal(json_object_get(spec, "argv"), want));
    json_decref(want);
    assert_int_equal(json_integer_value(json_object_get(web, "line")), 2);
    assert_int_equal(json_integer_value(json_object_get(web, "numprocs")), 1);
    assert_true(json_is_true(json_object_get(web, "autostart")));
    assert_string_equal(json_string_value(json_object_get(spec, "restart")), "always");
    want = json_pack("{s:s,s:s,s:s}", "K", "v", "A", "1", "B", "x y");
    assert_true(json_equal(json_object_get(spec, "env"), want));
    json_decref(want);
    want = json_pack("{s:s,s:s}", "team", "a", "program", "web");
    assert_true(json_equal(json_object_get(spec, "labels"), want));
    json_decref(want);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(spec, "limits"), "memory_mb")), 64);
    json_t *job = program(set, "job");
    assert_int_equal(json_integer_value(json_object_get(job, "numprocs")), 3);
    assert_false(json_is_true(json_object_get(job, "autostart")));
    json_decref(set);
    file_remove("a.ini");
}

static void test_errors_name_file_and_line(void **state)
{
    (void)state;
    file_write("good.ini", "[program:ok]\ncommand = true\n");
    file_write("bad.ini", "[program:b]\n"
                          "command = sh -c 'oops\n"
                          "numprocs = 65\n"
                          "colour = blue\n"
                          "label.program = x\n"
                          "restart = sometimes\n");
    file_write("worse.ini", "[other]\nx = 1\nnot a key value line\n");
    file_write("dup.ini", "[program:ok]\ncommand = true\n");
    file_write("nocmd.ini", "[program:empty]\ncwd = relative/dir\n");
    json_t *set = agents_programs_read(dir);
    /* only the file without an error gives programs */
    assert_int_equal(json_object_size(json_object_get(set, "programs")), 1);
    assert_non_null(program(set, "ok"));
    assert_true(has_error(set, "bad.ini", 2, "command: unterminated ' quote"));
    assert_true(has_error(set, "bad.ini", 3, "numprocs: an integer from 1 to 64 expected"));
    assert_true(has_error(set, "bad.ini", 4, "unknown key \"colour\" in [program:b]"));
    assert_true(has_error(set, "bad.ini", 6, "restart: never, on-failure or always expected"));
    assert_true(
        has_error(set, "worse.ini", 2, "unknown section [other] (expected [program:NAME])"));
    assert_true(has_error(set, "worse.ini", 3,
                          "expected \"key = value\", \"[program:NAME]\" or a comment"));
    char msg[600];
    /* files are read in name order: dup.ini comes before good.ini */
    snprintf(msg, sizeof msg, "program ok is already declared at %s/dup.ini:1", dir);
    assert_true(has_error(set, "good.ini", 1, msg));
    assert_true(has_error(set, "nocmd.ini", 2, "cwd: an absolute path expected"));
    json_decref(set);
    const char *names[] = {"good.ini", "bad.ini", "worse.ini", "dup.ini", "nocmd.ini"};
    for (size_t i = 0; i < 5; i++)
        file_remove(names[i]);
}

static void test_bounds(void **state)
{
    (void)state;
    /* a file over the size bound is refused before it is parsed */
    char *big = malloc(AGENTS_PROGRAMS_FILE_MAX + 2);
    memset(big, ';', AGENTS_PROGRAMS_FILE_MAX + 1);
    big[AGENTS_PROGRAMS_FILE_MAX + 1] = '\0';
    file_write("big.ini", big);
    free(big);
    json_t *set = agents_programs_read(dir);
    char want[600];
    snprintf(want, sizeof want, "%s/big.ini: larger than %d bytes", dir, AGENTS_PROGRAMS_FILE_MAX);
    assert_string_equal(json_string_value(json_array_get(json_object_get(set, "errors"), 0)), want);
    json_decref(set);
    file_remove("big.ini");
    /* a missing directory is no programs, not an error */
    set = agents_programs_read("/nonexistent/programs.d");
    assert_int_equal(json_array_size(json_object_get(set, "errors")), 0);
    assert_int_equal(json_object_size(json_object_get(set, "programs")), 0);
    json_decref(set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_command_split_and_defaults),
        cmocka_unit_test(test_errors_name_file_and_line),
        cmocka_unit_test(test_bounds),
    };
    return cmocka_run_group_tests(tests, dir_setup, dir_teardown);
}
