/* Text cleaning before anything is compressed or kept: redaction of secret-like fields (JSON
 * "name": value and logfmt name=value) and canonicalisation of volatile values into placeholders,
 * so that only the structure of an event drives the compression distance. One linear pass each. */
#include "watch/cbad.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>

typedef struct {
    char *p;
    size_t cap, n;
} tbuf_t;

static void tb_put(tbuf_t *b, const char *s, size_t len)
{
    if (b->n + 1 >= b->cap)
        return;
    size_t room = b->cap - 1 - b->n;
    if (len > room)
        len = room;
    memcpy(b->p + b->n, s, len);
    b->n += len;
}

static void tb_putc(tbuf_t *b, char c)
{
    tb_put(b, &c, 1);
}

static bool is_word(unsigned char c)
{
    return isalnum(c) || c == '_';
}

static bool is_hex(unsigned char c)
{
    return isxdigit(c) != 0;
}

/* ---- redaction ------------------------------------------------------------------------------ */

static bool cbad_name_secret(const char *name, size_t len)
{
    char low[64] = {0}; /* all of it set: the analyzer cannot see that strlen(low) <= len */
    if (len == 0 || len >= sizeof low)
        return false;
    for (size_t i = 0; i < len; i++)
        low[i] = (char)tolower((unsigned char)name[i]);
    low[len] = '\0';
    static const struct {
        const char *w;
        size_t n;
    } words[] = {{"password", 8}, {"passwd", 6},         {"secret", 6},       {"token", 5},
                 {"jwt", 3},      {"authorization", 13}, {"cookie", 6},       {"apikey", 6},
                 {"api_key", 7},  {"api-key", 7},        {"private_key", 11}, {"credential", 10}};
    /* One pass over the name: a word can only start where its first letter is (the same
     * answer as a strstr per word, without a dozen scans of every name). */
    size_t ln = strlen(low); /* as strstr reads it: up to a NUL inside the name */
    for (size_t p = 0; p < ln; p++) {
        char c = low[p];
        if (c != 'p' && c != 's' && c != 't' && c != 'j' && c != 'a' && c != 'c')
            continue;
        for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
            if (words[i].w[0] == c && words[i].n <= ln - p &&
                memcmp(low + p, words[i].w, words[i].n) == 0)
                return true;
    }
    /* "key" alone or as the last part of a name (access_key, sshKey), not "keyboard". */
    if (len >= 3 && strcmp(&low[len - 3], "key") == 0)
        return true;
    return false;
}

/* End of a JSON value starting at s[i] (string, scalar or balanced object/array). */
static size_t json_value_end(const char *s, size_t len, size_t i)
{
    if (i >= len)
        return i;
    if (s[i] == '"') {
        for (i++; i < len; i++) {
            if (s[i] == '\\')
                i++;
            else if (s[i] == '"')
                return i + 1;
        }
        return len;
    }
    if (s[i] == '{' || s[i] == '[') {
        int depth = 0;
        bool in_str = false;
        for (; i < len; i++) {
            char c = s[i];
            if (in_str) {
                if (c == '\\')
                    i++;
                else if (c == '"')
                    in_str = false;
            } else if (c == '"') {
                in_str = true;
            } else if (c == '{' || c == '[') {
                depth++;
            } else if (c == '}' || c == ']') {
                if (--depth == 0)
                    return i + 1;
            }
        }
        return len;
    }
    while (i < len && s[i] != ',' && s[i] != '}' && s[i] != ']' && !isspace((unsigned char)s[i]))
        i++;
    return i;
}

static void cbad_redact(const char *s, size_t len, tbuf_t *out)
{
    size_t i = 0;
    while (i < len) {
        char c = s[i];
        if (c == '"') {
            /* A JSON string: a key when a ':' follows. */
            size_t j = i + 1;
            while (j < len && s[j] != '"') {
                if (s[j] == '\\')
                    j++;
                j++;
            }
            if (j >= len) {
                tb_put(out, s + i, len - i);
                return;
            }
            size_t name_end = j;
            size_t k = j + 1;
            while (k < len && isspace((unsigned char)s[k]))
                k++;
            if (k < len && s[k] == ':' && cbad_name_secret(s + i + 1, name_end - i - 1)) {
                size_t v = k + 1;
                while (v < len && isspace((unsigned char)s[v]))
                    v++;
                tb_put(out, s + i, v - i);
                tb_put(out, "\"<REDACTED>\"", 12);
                i = json_value_end(s, len, v);
                continue;
            }
            tb_put(out, s + i, j + 1 - i);
            i = j + 1;
            continue;
        }
        if (is_word((unsigned char)c) && (i == 0 || !is_word((unsigned char)s[i - 1]))) {
            /* A logfmt name=value. */
            size_t j = i;
            while (j < len && (is_word((unsigned char)s[j]) || s[j] == '-' || s[j] == '.'))
                j++;
            if (j < len && s[j] == '=' && cbad_name_secret(s + i, j - i)) {
                tb_put(out, s + i, j + 1 - i);
                tb_put(out, "<REDACTED>", 10);
                size_t v = j + 1;
                if (v < len && s[v] == '"') {
                    v = json_value_end(s, len, v);
                } else {
                    while (v < len && !isspace((unsigned char)s[v]))
                        v++;
                }
                i = v;
                continue;
            }
            tb_put(out, s + i, j - i);
            i = j;
            continue;
        }
        tb_putc(out, c);
        i++;
    }
}

/* ---- canonicalisation ----------------------------------------------------------------------- */

static size_t span_digits(const char *s, size_t len, size_t i)
{
    while (i < len && isdigit((unsigned char)s[i]))
        i++;
    return i;
}

static size_t match_n_digits(const char *s, size_t len, size_t i, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (i + k >= len || !isdigit((unsigned char)s[i + k]))
            return 0;
    return n;
}

/* ISO 8601 date with optional time, or a bare hh:mm:ss clock. Returns the length or 0. */
static size_t match_ts(const char *s, size_t len, size_t i)
{
    size_t j = i;
    if (match_n_digits(s, len, j, 4) && j + 4 < len && s[j + 4] == '-' &&
        match_n_digits(s, len, j + 5, 2) && j + 7 < len && s[j + 7] == '-' &&
        match_n_digits(s, len, j + 8, 2)) {
        j += 10;
        if (j + 1 < len && (s[j] == 'T' || s[j] == ' ') && match_n_digits(s, len, j + 1, 2) &&
            j + 3 < len && s[j + 3] == ':')
            j++;
        else
            return j - i;
    }
    if (!(match_n_digits(s, len, j, 2) && j + 2 < len && s[j + 2] == ':' &&
          match_n_digits(s, len, j + 3, 2)))
        return j - i;
    j += 5;
    if (j + 2 < len && s[j] == ':' && match_n_digits(s, len, j + 1, 2))
        j += 3;
    else if (j - i == 5)
        return 0; /* hh:mm alone is too ambiguous (ratios, ports) */
    if (j + 1 < len && (s[j] == '.' || s[j] == ',') && isdigit((unsigned char)s[j + 1]))
        j = span_digits(s, len, j + 1);
    if (j < len && s[j] == 'Z') {
        j++;
    } else if (j + 2 < len && (s[j] == '+' || s[j] == '-') && match_n_digits(s, len, j + 1, 2)) {
        size_t k = j + 3;
        if (k < len && s[k] == ':')
            k++;
        if (match_n_digits(s, len, k, 2))
            j = k + 2;
    }
    return j - i;
}

static size_t match_uuid(const char *s, size_t len, size_t i)
{
    static const int groups[] = {8, 4, 4, 4, 12};
    size_t j = i;
    for (int g = 0; g < 5; g++) {
        for (int k = 0; k < groups[g]; k++, j++)
            if (j >= len || !is_hex((unsigned char)s[j]))
                return 0;
        if (g < 4) {
            if (j >= len || s[j] != '-')
                return 0;
            j++;
        }
    }
    if (j < len && is_word((unsigned char)s[j]))
        return 0;
    return j - i;
}

static size_t match_ipv4(const char *s, size_t len, size_t i)
{
    size_t j = i;
    for (int part = 0; part < 4; part++) {
        size_t e = span_digits(s, len, j);
        if (e == j || e - j > 3)
            return 0;
        j = e;
        if (part < 3) {
            if (j >= len || s[j] != '.')
                return 0;
            j++;
        }
    }
    if (j < len && (isalnum((unsigned char)s[j]) ||
                    (s[j] == '.' && j + 1 < len && isdigit((unsigned char)s[j + 1]))))
        return 0;
    if (j + 1 < len && s[j] == ':' && isdigit((unsigned char)s[j + 1]))
        j = span_digits(s, len, j + 1);
    return j - i;
}

/* IPv6 in its usual forms: hex groups of 1-4 digits and colons, with "::" or seven colons. */
static size_t match_ipv6(const char *s, size_t len, size_t i)
{
    size_t j = i, colons = 0, group = 0;
    bool dbl = false;
    while (j < len && (is_hex((unsigned char)s[j]) || s[j] == ':')) {
        if (s[j] == ':') {
            colons++;
            if (j + 1 < len && s[j + 1] == ':')
                dbl = true;
            group = 0;
        } else if (++group > 4) {
            return 0;
        }
        j++;
    }
    if (j < len && is_word((unsigned char)s[j]))
        return 0;
    if (colons >= 2 && (dbl || colons == 7) && j - i >= 3)
        return j - i;
    return 0;
}

static size_t match_jwt(const char *s, size_t len, size_t i)
{
    if (i + 3 > len || strncmp(s + i, "eyJ", 3) != 0)
        return 0;
    size_t j = i, dots = 0;
    while (j < len && (isalnum((unsigned char)s[j]) || s[j] == '-' || s[j] == '_' || s[j] == '.')) {
        if (s[j] == '.')
            dots++;
        j++;
    }
    return dots == 2 && j - i >= 20 ? j - i : 0;
}

static size_t match_url(const char *s, size_t len, size_t i)
{
    size_t j = i;
    while (j < len && (isalnum((unsigned char)s[j]) || s[j] == '+' || s[j] == '.' || s[j] == '-'))
        j++;
    if (j == i || !isalpha((unsigned char)s[i]) || j + 3 > len || strncmp(s + j, "://", 3) != 0)
        return 0;
    j += 3;
    while (j < len && !isspace((unsigned char)s[j]) && s[j] != '"' && s[j] != '\'' && s[j] != '>' &&
           s[j] != '<')
        j++;
    return j - i;
}

static bool is_email_local(unsigned char c)
{
    return isalnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

static size_t match_email(const char *s, size_t len, size_t i)
{
    size_t j = i;
    while (j < len && is_email_local((unsigned char)s[j]))
        j++;
    if (j == i || j >= len || s[j] != '@')
        return 0;
    size_t d = ++j, last_dot = 0;
    while (j < len && (isalnum((unsigned char)s[j]) || s[j] == '-' || s[j] == '.')) {
        if (s[j] == '.')
            last_dot = j;
        j++;
    }
    if (last_dot <= d || j - last_dot < 3)
        return 0;
    return j - i;
}

/* 0x-prefixed hex, or a run of >= 8 hex digits holding at least one digit and one letter (ids,
 * hashes, trace ids); runs of digits alone are numbers. */
static size_t match_hex(const char *s, size_t len, size_t i)
{
    size_t j = i;
    if (j + 2 < len && s[j] == '0' && (s[j + 1] == 'x' || s[j + 1] == 'X') &&
        is_hex((unsigned char)s[j + 2])) {
        j += 2;
        while (j < len && is_hex((unsigned char)s[j]))
            j++;
        return is_word((unsigned char)(j < len ? s[j] : ' ')) ? 0 : j - i;
    }
    bool digit = false, alpha = false;
    while (j < len && is_hex((unsigned char)s[j])) {
        if (isdigit((unsigned char)s[j]))
            digit = true;
        else
            alpha = true;
        j++;
    }
    if (j - i < 8 || !digit || !alpha || (j < len && is_word((unsigned char)s[j])))
        return 0;
    return j - i;
}

static size_t match_num(const char *s, size_t len, size_t i)
{
    size_t j = i;
    if (j < len && s[j] == '-')
        j++;
    size_t e = span_digits(s, len, j);
    if (e == j)
        return 0;
    j = e;
    if (j + 1 < len && s[j] == '.' && isdigit((unsigned char)s[j + 1]))
        j = span_digits(s, len, j + 1);
    if (j + 1 < len && (s[j] == 'e' || s[j] == 'E')) {
        size_t k = j + 1;
        if (k < len && (s[k] == '+' || s[k] == '-'))
            k++;
        size_t f = span_digits(s, len, k);
        if (f > k)
            j = f;
    }
    return j - i;
}

/* Numbers keep their order of magnitude (digits before the point): a latency of 45 ms and one
 * of 4500 ms are different structure, 45 and 52 are not. */
static const char *num_placeholder(const char *s, size_t m, char *ph)
{
    size_t digits = 0, k = s[0] == '-' ? 1 : 0;
    while (k < m && s[k] >= '0' && s[k] <= '9')
        k++, digits++;
    ph[0] = '<', ph[1] = 'N', ph[2] = 'U', ph[3] = 'M';
    ph[4] = digits >= 9 ? '9' : (char)('0' + digits);
    ph[5] = '>', ph[6] = '\0';
    return ph;
}

/* Month and weekday abbreviations of syslog-style stamps ("Sun Dec 04", "Jun 14"). */
static bool cbad_calendar_word(const char *w, size_t n)
{
    static const char names[] = "JanFebMarAprMayJunJulAugSepOctNovDecMonTueWedThuFriSatSun";
    if (n != 3)
        return false;
    for (size_t k = 0; k + 3 <= sizeof names - 1; k += 3)
        if (memcmp(names + k, w, 3) == 0)
            return true;
    return false;
}

/* A part of a word (between underscores) that is an id: >= 6 hex digits mixing digits and
 * letters. Shorter ones and letters alone are words (deadbeef, cafe, ab12). */
static bool cbad_hex_part(const char *p, size_t n)
{
    bool digit = false, alpha = false;
    if (n < 6)
        return false;
    for (size_t k = 0; k < n; k++) {
        if (!is_hex((unsigned char)p[k]))
            return false;
        if (isdigit((unsigned char)p[k]))
            digit = true;
        else
            alpha = true;
    }
    return digit && alpha;
}

/* One word the matchers left alone: calendar names become <TS>; within it, hex id parts become
 * <HEX> and runs of >= 4 digits <NUM> (short digit runs are usually names: v1, x86_64, ssh2). */
static void cbad_canon_word(const char *w, size_t n, bool boundary, tbuf_t *out)
{
    if (boundary && cbad_calendar_word(w, n)) {
        tb_put(out, "<TS>", 4);
        return;
    }
    size_t k = 0;
    while (k < n) {
        size_t e = k;
        while (e < n && w[e] != '_')
            e++;
        if ((k > 0 || boundary) && cbad_hex_part(w + k, e - k)) {
            tb_put(out, "<HEX>", 5);
        } else {
            for (size_t q = k; q < e;) {
                size_t d = q;
                while (d < e && isdigit((unsigned char)w[d]))
                    d++;
                if (d - q >= 4) {
                    tb_put(out, "<NUM>", 5);
                    q = d;
                } else if (d > q) {
                    tb_put(out, w + q, d - q);
                    q = d;
                } else {
                    tb_putc(out, w[q++]);
                }
            }
        }
        if (e < n)
            tb_putc(out, '_');
        k = e + 1;
    }
}

static void cbad_canon(const char *s, size_t len, tbuf_t *out)
{
    size_t i = 0;
    char numph[8];
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        bool boundary = i == 0 || !is_word((unsigned char)s[i - 1]);
        size_t m = 0;
        const char *ph = NULL;
        if (boundary && isalnum(c)) {
            if ((m = match_url(s, len, i)))
                ph = "<URL>";
            else if ((m = match_jwt(s, len, i)))
                ph = "<JWT>";
            else if ((m = match_email(s, len, i)))
                ph = "<EMAIL>";
            else if ((m = match_uuid(s, len, i)))
                ph = "<UUID>";
            else if ((m = match_ts(s, len, i)))
                ph = "<TS>";
            else if ((m = match_ipv4(s, len, i)))
                ph = "<IP>";
            else if ((m = match_ipv6(s, len, i)))
                ph = "<IP>";
            else if ((m = match_hex(s, len, i)))
                ph = "<HEX>";
            else if ((m = match_num(s, len, i)))
                ph = num_placeholder(s + i, m, numph);
        } else if ((i == 0 || !isalnum((unsigned char)s[i - 1])) && c == '-' && i + 1 < len &&
                   isdigit((unsigned char)s[i + 1])) {
            /* After '_' too: blk_-6952295868487656571 is an id like blk_38865049064139660. */
            if ((m = match_num(s, len, i)))
                ph =
                    i > 0 && s[i - 1] == '_' && m >= 5 ? "<NUM>" : num_placeholder(s + i, m, numph);
        } else if (boundary && c == ':' && i + 1 < len && s[i + 1] == ':') {
            if ((m = match_ipv6(s, len, i)))
                ph = "<IP>";
        }
        if (ph) {
            tb_put(out, ph, strlen(ph));
            i += m;
            continue;
        }
        if (is_word(c)) {
            /* The rest of a word at once, so that no match starts inside it; the ids real logs
             * glue into words (blk_1234..., appattempt_..._0020, KB3075220, 9f4ef63) are
             * replaced part by part. */
            size_t j = i;
            while (j < len && is_word((unsigned char)s[j]))
                j++;
            cbad_canon_word(s + i, j - i, boundary, out);
            i = j;
            continue;
        }
        tb_putc(out, (char)c);
        i++;
    }
}

size_t cbad_text_clean(const char *in, size_t len, bool canonicalise, bool redact, char *out,
                       size_t cap)
{
    if (cap == 0)
        return 0;
    tbuf_t o = {out, cap, 0};
    if (!redact && !canonicalise) {
        tb_put(&o, in, len);
    } else if (redact && canonicalise) {
        /* Redaction never grows the text by more than the placeholder per field; a second
         * buffer of the same cap keeps both passes bounded. */
        char tmp[CBAD_EVENT_MAX + 1];
        tbuf_t t = {tmp, sizeof tmp, 0};
        cbad_redact(in, len, &t);
        cbad_canon(tmp, t.n, &o);
    } else if (redact) {
        cbad_redact(in, len, &o);
    } else {
        cbad_canon(in, len, &o);
    }
    out[o.n] = '\0';
    return o.n;
}
