/* Unit tests for the console's file serving helpers: which paths are the console's, which file
 * paths are acceptable, If-None-Match against strong ETags, Accept-Encoding for zstd, and the
 * compiled-in table (sorted, index.html with its tag written in, gzip copies smaller than the
 * files). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "net/http_parse.h"
#include "net/http_ui.h"
#include "net/ui_assets.h"

static void test_wanted(void **state)
{
    (void)state;
    assert_true(http_ui_wanted("/"));
    assert_true(http_ui_wanted("/index.html"));
    assert_true(http_ui_wanted("/ui/abc/app.js"));
    assert_false(http_ui_wanted("/healthz"));
    assert_false(http_ui_wanted("/api/v1/agents"));
    assert_false(http_ui_wanted("/v1/logs"));
    assert_false(http_ui_wanted("/uix"));
    assert_false(http_ui_wanted("/metrics"));
}

static void test_rel_valid(void **state)
{
    (void)state;
    assert_true(http_ui_rel_valid("app.js"));
    assert_true(http_ui_rel_valid("pages/agents.js"));
    assert_true(http_ui_rel_valid("vendor/uplot.min.css"));
    assert_false(http_ui_rel_valid(""));
    assert_false(http_ui_rel_valid("../etc/passwd"));
    assert_false(http_ui_rel_valid("pages/../../x"));
    assert_false(http_ui_rel_valid(".env"));
    assert_false(http_ui_rel_valid("pages//x.js"));
    assert_false(http_ui_rel_valid("pages/"));
    assert_false(http_ui_rel_valid("/abs"));
    assert_false(http_ui_rel_valid("a b.js"));
    assert_false(http_ui_rel_valid("a%2f.js"));
    char longp[400];
    memset(longp, 'a', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    assert_false(http_ui_rel_valid(longp));
}

static void test_etag_matches(void **state)
{
    (void)state;
    const char *etag = "\"0123456789abcdef0123\"";
    assert_true(http_ui_etag_matches("\"0123456789abcdef0123\"", etag));
    assert_true(http_ui_etag_matches("\"0123456789abcdef0123-gz\"", etag));
    assert_true(http_ui_etag_matches("\"zzz\", \"0123456789abcdef0123\"", etag));
    assert_true(http_ui_etag_matches("*", etag));
    assert_false(http_ui_etag_matches(NULL, etag));
    assert_false(http_ui_etag_matches("\"0123456789abcdef012\"", etag));
    assert_false(http_ui_etag_matches("\"0123456789abcdef01234\"", etag));
    assert_false(http_ui_etag_matches("\"x0123456789abcdef0123\"", etag));
    assert_true(http_ui_etag_matches("\"0123456789abcdef0123-zst\"", etag));
    assert_false(http_ui_etag_matches("\"0123456789abcdef0123-br\"", etag));
    assert_false(http_ui_etag_matches("\"0123456789abcdef0123-zs\"", etag));
}

static void test_accepts_zstd(void **state)
{
    (void)state;
    assert_true(http_accepts_zstd("zstd"));
    assert_true(http_accepts_zstd("gzip, deflate, br, zstd"));
    assert_true(http_accepts_zstd("ZSTD;q=0.5"));
    assert_false(http_accepts_zstd("zstd;q=0"));
    assert_false(http_accepts_zstd("*"));
    assert_false(http_accepts_zstd("gzip"));
    assert_false(http_accepts_zstd("zstdx"));
    assert_false(http_accepts_zstd(NULL));
    assert_true(http_accepts_gzip("*"));
}

static void test_table(void **state)
{
    (void)state;
    assert_true(ui_assets_count > 5);
    for (size_t i = 1; i < ui_assets_count; i++)
        assert_true(strcmp(ui_assets[i - 1].path, ui_assets[i].path) < 0);
    for (size_t i = 0; i < ui_assets_count; i++) {
        const ui_asset_t *a = &ui_assets[i];
        assert_ptr_equal(http_ui_asset_find(a->path), a);
        assert_true(http_ui_rel_valid(a->path));
        if (a->gz)
            assert_true(a->gzlen < a->len);
    }
    const ui_asset_t *index = http_ui_asset_find("index.html");
    assert_non_null(index);
    assert_string_equal(index->ctype, "text/html; charset=utf-8");
    assert_null(memmem(index->body, index->len, "@TAG@", 5));
    assert_non_null(memmem(index->body, index->len, ui_assets_tag, strlen(ui_assets_tag)));
    assert_non_null(http_ui_asset_find("vendor/preact.mjs"));
    assert_null(http_ui_asset_find("vendor/package.json"));
    assert_null(http_ui_asset_find("nothing.js"));
    assert_string_equal(http_ui_type_for(".mjs"), "text/javascript; charset=utf-8");
    assert_string_equal(http_ui_type_for(".bin"), "application/octet-stream");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wanted),       cmocka_unit_test(test_rel_valid),
        cmocka_unit_test(test_etag_matches), cmocka_unit_test(test_accepts_zstd),
        cmocka_unit_test(test_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
