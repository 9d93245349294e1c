/* `ganglion call`'s body argument: the refusals that happen before anything is sent, run
 * in-process so that a body too large for execve (over 128 KiB an argument) can be given. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_priv.h"

/* An inline body over the 16 MiB limit is a usage error, and its buffer is freed once (it
 * used to be freed a second time by the caller). */
static void test_inline_body_too_large(void **state)
{
    (void)state;
    size_t len = 16u * 1024u * 1024u + 1;
    char *big = malloc(len + 1);
    assert_non_null(big);
    memset(big, ' ', len);
    big[0] = '{';
    big[len - 1] = '}';
    big[len] = '\0';
    cli_ctx_t ctx = {.prog = "ganglion", .url = "http://127.0.0.1:1"};
    char cmd[] = "call", method[] = "POST", path[] = "/api/v1/memory";
    char *argv[] = {cmd, method, path, big, NULL};
    assert_int_equal(cli_cmd_call(&ctx, 4, argv), CLI_EXIT_USAGE);
    free(big);
}

/* A body within the limit goes on to the JSON check, which refuses an empty one. */
static void test_inline_body_empty(void **state)
{
    (void)state;
    cli_ctx_t ctx = {.prog = "ganglion", .url = "http://127.0.0.1:1"};
    char cmd[] = "call", method[] = "POST", path[] = "/api/v1/memory", body[] = "   ";
    char *argv[] = {cmd, method, path, body, NULL};
    assert_int_equal(cli_cmd_call(&ctx, 4, argv), CLI_EXIT_USAGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inline_body_too_large),
        cmocka_unit_test(test_inline_body_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
