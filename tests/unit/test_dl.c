/* core/dl: a library found fills the table once; a missing library or symbol is an error that
 * names the package, and stays the answer on later calls. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/dl.h"

/* Two functions of libm, whose soname is stable on glibc. */
typedef struct m_table {
    double (*cos)(double);
    double (*sqrt)(double);
} m_table_t;

static const char *const m_names[] = {"cos", "sqrt"};
static const size_t m_offsets[] = {offsetof(m_table_t, cos), offsetof(m_table_t, sqrt)};

static int ready_calls;
static int m_ready(const void *table, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    const m_table_t *t = table;
    ready_calls++;
    return t->sqrt(4.0) == 2.0 ? 0 : -1;
}

static void test_loads_once(void **state)
{
    (void)state;
    static m_table_t t;
    static dl_lib_t lib =
        DL_LIB_INIT("libm.so.6", "math", "libc6", "", m_names, m_offsets, &t, m_ready);
    char err[256] = "";
    assert_int_equal(dl_lib_load(&lib, err, sizeof err), 0);
    assert_non_null(t.cos);
    assert_true(t.sqrt(9.0) == 3.0);
    assert_int_equal(dl_lib_load(&lib, err, sizeof err), 0);
    assert_int_equal(ready_calls, 1);
}

static void test_missing_library(void **state)
{
    (void)state;
    static m_table_t t;
    static dl_lib_t lib = DL_LIB_INIT("libganglion-absent.so.9", "Absent support",
                                      "libganglion-absent9", "", m_names, m_offsets, &t, NULL);
    char err[256] = "";
    assert_int_equal(dl_lib_load(&lib, err, sizeof err), -1);
    assert_non_null(strstr(err, "Absent support needs libganglion-absent.so.9"));
    assert_non_null(strstr(err, "(Debian package libganglion-absent9)"));
    err[0] = '\0';
    assert_int_equal(dl_lib_load(&lib, err, sizeof err), -1);
    assert_non_null(strstr(err, "libganglion-absent9"));
}

static void test_missing_symbol(void **state)
{
    (void)state;
    static m_table_t t;
    /* With the prefix "x_", "cos" becomes x_cos, which libm does not have. */
    static dl_lib_t lib =
        DL_LIB_INIT("libm.so.6", "math", "libc6", "x_", m_names, m_offsets, &t, NULL);
    char err[256] = "";
    assert_int_equal(dl_lib_load(&lib, err, sizeof err), -1);
    assert_non_null(strstr(err, "needs a newer libm.so.6"));
    assert_non_null(strstr(err, "no x_cos"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loads_once),
        cmocka_unit_test(test_missing_library),
        cmocka_unit_test(test_missing_symbol),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
