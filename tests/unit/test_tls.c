/* Unit tests for net/tls.c: the development certificate parsed back with GnuTLS (SANs,
 * validity, extensions, key mode), the checks that turn bad PEM files into errors naming the
 * file, and the default priority string (TLS 1.2/1.3 only). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "core/config.h"
#include "net/http_parse.h"
#include "net/tls.h"

typedef struct {
    char dir[64];
    char cert[256], key[256];
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/ganglion-tls-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

static void write_cert(fixture_t *f, const char *sub, const char *const *hosts, size_t n, int days)
{
    char dir[128], err[256];
    snprintf(dir, sizeof dir, "%s/%s", f->dir, sub);
    tls_selfsigned_opts_t o = {.dir = dir, .hosts = hosts, .nhosts = n, .days = days};
    int rc =
        tls_selfsigned_write(&o, f->cert, sizeof f->cert, f->key, sizeof f->key, err, sizeof err);
    if (rc != 0)
        fail_msg("tls_selfsigned_write: %s", err);
}

static gnutls_x509_crt_t read_cert(const char *path)
{
    gnutls_datum_t d;
    assert_int_equal(gnutls_load_file(path, &d), 0);
    gnutls_x509_crt_t crt;
    assert_int_equal(gnutls_x509_crt_init(&crt), 0);
    assert_int_equal(gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM), 0);
    gnutls_free(d.data);
    return crt;
}

/* Every SAN as text ("DNS:x", "IP:4:7f000001" for addresses in hex), joined by spaces. */
static void sans_text(gnutls_x509_crt_t crt, char *out, size_t outlen)
{
    size_t o = 0;
    out[0] = '\0';
    for (unsigned i = 0;; i++) {
        unsigned char buf[256];
        size_t len = sizeof buf;
        int type = gnutls_x509_crt_get_subject_alt_name(crt, i, buf, &len, NULL);
        if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
            break;
        assert_true(type >= 0);
        if (type == GNUTLS_SAN_DNSNAME) {
            o += (size_t)snprintf(out + o, outlen - o, "DNS:%.*s ", (int)len, (char *)buf);
        } else {
            assert_int_equal(type, GNUTLS_SAN_IPADDRESS);
            o += (size_t)snprintf(out + o, outlen - o, "IP:%zu:", len);
            for (size_t j = 0; j < len; j++)
                o += (size_t)snprintf(out + o, outlen - o, "%02x", buf[j]);
            o += (size_t)snprintf(out + o, outlen - o, " ");
        }
        assert_true(o < outlen);
    }
}

static void test_selfsigned_parses_back(void **state)
{
    fixture_t *f = *state;
    const char *hosts[] = {"ganglion.example", "10.0.0.5", "localhost", "fe80::1"};
    time_t before = time(NULL);
    write_cert(f, "a/b", hosts, 4, 30);

    struct stat st;
    assert_int_equal(stat(f->key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(f->cert, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);

    gnutls_x509_crt_t crt = read_cert(f->cert);
    char sans[1024];
    sans_text(crt, sans, sizeof sans);
    /* The built-ins first, then the given hosts with the duplicate "localhost" dropped. */
    assert_string_equal(sans, "DNS:localhost IP:4:7f000001 IP:16:00000000000000000000000000000001 "
                              "DNS:ganglion.example IP:4:0a000005 "
                              "IP:16:fe800000000000000000000000000001 ");
    time_t nb = gnutls_x509_crt_get_activation_time(crt);
    time_t na = gnutls_x509_crt_get_expiration_time(crt);
    assert_true(nb <= before && nb >= before - 120);
    assert_true(na >= before + 30 * 86400 && na <= time(NULL) + 30 * 86400 + 5);

    unsigned ca = 1, critical = 0;
    assert_int_equal(gnutls_x509_crt_get_basic_constraints(crt, &critical, &ca, NULL), 0);
    assert_int_equal(ca, 0);
    unsigned ku = 0;
    assert_true(gnutls_x509_crt_get_key_usage(crt, &ku, &critical) >= 0);
    assert_true(ku & GNUTLS_KEY_DIGITAL_SIGNATURE);
    assert_false(ku & GNUTLS_KEY_KEY_CERT_SIGN);
    char oid[128];
    size_t oidlen = sizeof oid;
    assert_int_equal(gnutls_x509_crt_get_key_purpose_oid(crt, 0, oid, &oidlen, NULL), 0);
    assert_string_equal(oid, GNUTLS_KP_TLS_WWW_SERVER);
    unsigned bits = 0;
    assert_int_equal(gnutls_x509_crt_get_pk_algorithm(crt, &bits), GNUTLS_PK_ECDSA);
    assert_int_equal(bits, 256);
    unsigned verify = 0;
    assert_int_equal(gnutls_x509_crt_verify(crt, &crt, 1, 0, &verify), 0);
    assert_int_equal(verify, 0); /* signed by its own key */
    assert_true(gnutls_x509_crt_check_hostname(crt, "ganglion.example"));
    assert_true(gnutls_x509_crt_check_hostname(crt, "127.0.0.1"));
    assert_false(gnutls_x509_crt_check_hostname(crt, "other.example"));

    /* Two certificates never share a serial. */
    unsigned char s1[32], s2[32];
    size_t l1 = sizeof s1, l2 = sizeof s2;
    assert_int_equal(gnutls_x509_crt_get_serial(crt, s1, &l1), 0);
    gnutls_x509_crt_deinit(crt);
    write_cert(f, "c", NULL, 0, 1);
    crt = read_cert(f->cert);
    assert_int_equal(gnutls_x509_crt_get_serial(crt, s2, &l2), 0);
    gnutls_x509_crt_deinit(crt);
    assert_true(l1 != l2 || memcmp(s1, s2, l1) != 0);

    /* And what the daemon loads is what was written. */
    tls_material_t m;
    char err[512];
    assert_int_equal(tls_material_load(f->cert, f->key, &m, err, sizeof err), 0);
    assert_int_equal(m.key_mode, 0600);
    assert_non_null(strstr(m.subject, "CN=localhost"));
    tls_material_free(&m);
}

static void test_selfsigned_refuses(void **state)
{
    fixture_t *f = *state;
    char dir[128], err[256];
    snprintf(dir, sizeof dir, "%s/x", f->dir);
    tls_selfsigned_opts_t o = {.dir = dir, .days = 10};
    assert_int_equal(
        tls_selfsigned_write(&o, f->cert, sizeof f->cert, f->key, sizeof f->key, err, sizeof err),
        0);
    /* Existing files stay unless forced. */
    assert_true(tls_selfsigned_write(&o, f->cert, sizeof f->cert, f->key, sizeof f->key, err,
                                     sizeof err) < 0);
    assert_non_null(strstr(err, "already exists"));
    o.force = true;
    assert_int_equal(
        tls_selfsigned_write(&o, f->cert, sizeof f->cert, f->key, sizeof f->key, err, sizeof err),
        0);
    o.days = 0;
    assert_true(tls_selfsigned_write(&o, f->cert, sizeof f->cert, f->key, sizeof f->key, err,
                                     sizeof err) < 0);
    o.days = 10;
    const char *bad[] = {"no spaces"};
    o.hosts = bad;
    o.nhosts = 1;
    assert_true(tls_selfsigned_write(&o, f->cert, sizeof f->cert, f->key, sizeof f->key, err,
                                     sizeof err) < 0);
    assert_non_null(strstr(err, "no spaces"));

    assert_true(tls_host_valid("a.b-c.example"));
    assert_true(tls_host_valid("*.example"));
    assert_true(tls_host_valid("::1"));
    assert_false(tls_host_valid("-a.example"));
    assert_false(tls_host_valid("a..b"));
    assert_false(tls_host_valid("a.example-"));
    assert_false(tls_host_valid(""));
    assert_false(tls_host_valid("a/b"));
}

static void expect_load_error(const char *cert, const char *key, const char *needle1,
                              const char *needle2)
{
    tls_material_t m;
    char err[1024];
    err[0] = '\0';
    assert_true(tls_material_load(cert, key, &m, err, sizeof err) < 0);
    if (!strstr(err, needle1) || (needle2 && !strstr(err, needle2)))
        fail_msg("error '%s' lacks '%s' / '%s'", err, needle1, needle2 ? needle2 : "");
    assert_null(m.cert_pem);
    assert_null(m.key_pem);
}

static void test_material_errors_name_the_file(void **state)
{
    fixture_t *f = *state;
    write_cert(f, "one", NULL, 0, 5);
    char cert1[256], key1[256], missing[256], empty[256];
    snprintf(cert1, sizeof cert1, "%s", f->cert);
    snprintf(key1, sizeof key1, "%s", f->key);
    write_cert(f, "two", NULL, 0, 5);
    snprintf(missing, sizeof missing, "%s/missing.pem", f->dir);
    snprintf(empty, sizeof empty, "%s/empty.pem", f->dir);
    FILE *fp = fopen(empty, "w");
    assert_non_null(fp);
    fclose(fp);

    expect_load_error(missing, key1, "tls.cert_file", missing);
    expect_load_error(cert1, missing, "tls.key_file", missing);
    expect_load_error(empty, key1, "tls.cert_file", "empty");
    expect_load_error(key1, key1, "tls.cert_file", "not a PEM certificate");
    expect_load_error(cert1, cert1, "tls.key_file", "not a PEM private key");
    expect_load_error(f->dir, key1, "tls.cert_file", "not a regular file");
    /* A key from another certificate: both paths in the message. */
    expect_load_error(cert1, f->key, "does not match", cert1);

    tls_material_t m;
    char err[512];
    assert_int_equal(tls_material_load(cert1, key1, &m, err, sizeof err), 0);
    assert_non_null(strstr(m.cert_pem, "BEGIN CERTIFICATE"));
    assert_non_null(strstr(m.key_pem, "PRIVATE KEY"));
    tls_material_free(&m);
    assert_null(m.key_pem);
}

static void test_priorities(void **state)
{
    (void)state;
    config_t cfg;
    config_defaults(&cfg);
    char err[256];
    assert_int_equal(tls_priorities_check(cfg.tls_priorities, err, sizeof err), 0);
    assert_true(tls_priorities_check("NORMAL:+NO-SUCH-THING", err, sizeof err) < 0);
    assert_non_null(strstr(err, "NO-SUCH-THING"));

    /* The default enables exactly TLS 1.3 and 1.2, and only AEAD ciphers. */
    gnutls_priority_t p;
    assert_int_equal(gnutls_priority_init(&p, cfg.tls_priorities, NULL), 0);
    const unsigned *list = NULL;
    int n = gnutls_priority_protocol_list(p, &list);
    assert_int_equal(n, 2);
    for (int i = 0; i < n; i++)
        assert_true(list[i] == GNUTLS_TLS1_3 || list[i] == GNUTLS_TLS1_2);
    n = gnutls_priority_cipher_list(p, &list);
    assert_true(n >= 2);
    for (int i = 0; i < n; i++)
        assert_true(list[i] == GNUTLS_CIPHER_AES_256_GCM || list[i] == GNUTLS_CIPHER_AES_128_GCM ||
                    list[i] == GNUTLS_CIPHER_CHACHA20_POLY1305);
    gnutls_priority_deinit(p);
}

static void test_csp_by_type(void **state)
{
    (void)state;
    assert_string_equal(http_csp_for_type("application/json"), HTTP_CSP_API);
    assert_string_equal(http_csp_for_type("application/problem+json"), HTTP_CSP_API);
    assert_string_equal(http_csp_for_type(NULL), HTTP_CSP_API);
    assert_string_equal(http_csp_for_type("text/htmlx"), HTTP_CSP_API);
    assert_string_equal(http_csp_for_type("text/html"), HTTP_CSP_HTML);
    assert_string_equal(http_csp_for_type("Text/HTML; charset=utf-8"), HTTP_CSP_HTML);
    /* Both forbid framing; the page policy allows nothing from other origins. */
    assert_non_null(strstr(HTTP_CSP_API, "frame-ancestors 'none'"));
    assert_non_null(strstr(HTTP_CSP_HTML, "frame-ancestors 'none'"));
    assert_null(strstr(HTTP_CSP_HTML, "unsafe"));
    assert_null(strstr(HTTP_CSP_HTML, "*"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_selfsigned_parses_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_selfsigned_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_material_errors_name_the_file, setup, teardown),
        cmocka_unit_test(test_priorities),
        cmocka_unit_test(test_csp_by_type),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
