/* Unit tests for the data-directory lock (server/lockfile.c): the directories it makes are 0700
 * whatever the umask, a second holder is refused with EWOULDBLOCK and told the holder's pid, a
 * released lock can be taken again, and a data directory that cannot be one (a file in its path,
 * a path too long) is refused with a reason naming it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/lockfile.h"

static char base[256];

static int fx_setup(void **state)
{
    (void)state;
    snprintf(base, sizeof base, "%s/ganglion-test-lockfile-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(base));
    return 0;
}

static int fx_teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_mkdirs_makes_private_dirs_whatever_the_umask(void **state)
{
    (void)state;
    char dir[400];
    snprintf(dir, sizeof dir, "%s/a/b/c", base);
    mode_t old = umask(0);
    int rc = lockfile_mkdirs(dir);
    umask(old);
    assert_int_equal(rc, 0);
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    snprintf(dir, sizeof dir, "%s/a", base);
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(lockfile_mkdirs(dir), 0); /* existing: fine */
}

static void test_second_holder_is_refused_with_the_pid(void **state)
{
    (void)state;
    char dir[400], err[512] = "";
    snprintf(dir, sizeof dir, "%s/data", base);
    lockfile_t *a = NULL, *b = NULL;
    assert_int_equal(lockfile_acquire(dir, &a, err, sizeof err), 0);
    assert_non_null(a);

    /* flock conflicts between two open descriptions, even in one process */
    assert_int_equal(lockfile_acquire(dir, &b, err, sizeof err), -EWOULDBLOCK);
    assert_null(b);
    char pid[32];
    snprintf(pid, sizeof pid, "(pid %ld)", (long)getpid());
    assert_non_null(strstr(err, "in use by another ganglion daemon"));
    assert_non_null(strstr(err, pid));

    lockfile_release(&a);
    assert_null(a);
    lockfile_release(&a); /* twice: harmless */
    assert_int_equal(lockfile_acquire(dir, &b, err, sizeof err), 0);
    lockfile_release(&b);
}

static void test_a_file_in_the_path_is_refused(void **state)
{
    (void)state;
    char file[400], dir[450], err[512] = "";
    snprintf(file, sizeof file, "%s/plain", base);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);

    assert_int_equal(lockfile_mkdirs(file), -ENOTDIR); /* the data dir itself is a file */
    snprintf(dir, sizeof dir, "%s/below", file);
    assert_int_equal(lockfile_mkdirs(dir), -ENOTDIR); /* a file on the way */

    lockfile_t *lf = NULL;
    assert_int_equal(lockfile_acquire(dir, &lf, err, sizeof err), -ENOTDIR);
    assert_null(lf);
    assert_non_null(strstr(err, "cannot create data directory"));
    assert_non_null(strstr(err, dir));
}

static void test_a_path_too_long_is_refused(void **state)
{
    (void)state;
    assert_int_equal(lockfile_mkdirs(""), -ENAMETOOLONG);
    char *dir = malloc(PATH_MAX + 10);
    assert_non_null(dir);
    memset(dir, 'x', PATH_MAX + 9);
    dir[0] = '/';
    dir[PATH_MAX + 9] = '\0';
    assert_int_equal(lockfile_mkdirs(dir), -ENAMETOOLONG);

    /* a directory that exists but leaves no room for "/ganglion.lock" */
    char deep[PATH_MAX];
    size_t n = (size_t)snprintf(deep, sizeof deep, "%s", base);
    while (n + 256 < PATH_MAX - 8) {
        deep[n++] = '/';
        memset(deep + n, 'd', 200);
        n += 200;
        deep[n] = '\0';
    }
    size_t last = PATH_MAX - 9 - n; /* to 8 bytes short of PATH_MAX; at most 255 (NAME_MAX) */
    deep[n++] = '/';
    memset(deep + n, 'e', last);
    n += last;
    deep[n] = '\0';
    assert_int_equal(lockfile_mkdirs(deep), 0);
    char err[512] = "";
    lockfile_t *lf = NULL;
    assert_int_equal(lockfile_acquire(deep, &lf, err, sizeof err), -ENAMETOOLONG);
    assert_null(lf);
    assert_string_equal(err, "data directory path is too long");
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_mkdirs_makes_private_dirs_whatever_the_umask, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_second_holder_is_refused_with_the_pid, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_a_file_in_the_path_is_refused, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_a_path_too_long_is_refused, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
