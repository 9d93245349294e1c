/* Input validation against endpoint schemas. Every field error names where it was found (path,
 * query, body with a JSON pointer) and what would be accepted, so a client can fix its request
 * without reading the source. Handlers receive only values that passed. */
#include "api/api_internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define API_QUERY_MAX_PARAMS 64
#define API_QUERY_VALUE_MAX  4096

static const char *api_type_name(api_type_t t)
{
    switch (t) {
    case API_T_STRING:
        return "a string";
    case API_T_INTEGER:
        return "an integer";
    case API_T_NUMBER:
        return "a number";
    case API_T_BOOLEAN:
        return "a boolean";
    case API_T_OBJECT:
        return "an object";
    case API_T_ARRAY:
        return "an array";
    default:
        return "a value";
    }
}

static const char *api_json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

/* Appends "/name" to a JSON pointer, escaping '~' and '/' as RFC 6901 says. */
static void api_pointer_join(char *out, size_t outlen, const char *base, const char *name)
{
    size_t o = (size_t)snprintf(out, outlen, "%s/", base);
    for (const char *s = name; *s && o + 3 < outlen; s++) {
        if (*s == '~') {
            out[o++] = '~';
            out[o++] = '0';
        } else if (*s == '/') {
            out[o++] = '~';
            out[o++] = '1';
        } else {
            out[o++] = *s;
        }
    }
    out[o < outlen ? o : outlen - 1] = '\0';
}

static void api_enum_list(const char *const *enums, char *out, size_t outlen)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; enums[i] && o < outlen; i++)
        o += (size_t)snprintf(out + o, outlen - o, "%s\"%s\"", i ? ", " : "", enums[i]);
}

static size_t api_utf8_chars(const char *s, size_t bytes)
{
    size_t n = 0;
    for (size_t i = 0; i < bytes; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            n++;
    return n;
}

void api_validate_value(json_t *v, const api_field_t *f, const char *in, const char *pointer,
                        problem_t **p)
{
    if (json_is_null(v)) {
        if (!(f->flags & API_F_NULLABLE))
            problem_field_error(p, in, pointer, "must be %s, not null", api_type_name(f->type));
        return;
    }
    switch (f->type) {
    case API_T_ANY:
        return;
    case API_T_STRING: {
        if (!json_is_string(v))
            break;
        size_t len = api_utf8_chars(json_string_value(v), json_string_length(v));
        if (strlen(json_string_value(v)) != json_string_length(v)) {
            problem_field_error(p, in, pointer, "must not contain NUL characters");
            return;
        }
        if ((f->flags & API_F_MIN) && len < (size_t)f->min)
            problem_field_error(p, in, pointer, "must be at least %.0f characters long (got %zu)",
                                f->min, len);
        else if ((f->flags & API_F_MAX) && len > (size_t)f->max)
            problem_field_error(p, in, pointer, "must be at most %.0f characters long (got %zu)",
                                f->max, len);
        if (f->chars) {
            const char *s = json_string_value(v);
            for (size_t i = 0; s[i]; i++) {
                char c = s[i];
                if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    strchr(f->chars, c))
                    continue;
                problem_field_error(p, in, pointer,
                                    "may contain only letters, digits and the characters %s",
                                    f->chars);
                return;
            }
        }
        if (f->enums) {
            const char *s = json_string_value(v);
            size_t i = 0;
            while (f->enums[i] && strcmp(f->enums[i], s) != 0)
                i++;
            if (!f->enums[i]) {
                char list[512];
                api_enum_list(f->enums, list, sizeof list);
                problem_field_error(p, in, pointer, "must be one of %s", list);
            }
        }
        return;
    }
    case API_T_INTEGER:
    case API_T_NUMBER: {
        double d;
        if (json_is_integer(v))
            d = (double)json_integer_value(v);
        else if (f->type == API_T_NUMBER && json_is_real(v))
            d = json_real_value(v);
        else if (f->type == API_T_INTEGER && json_is_real(v) &&
                 json_real_value(v) == floor(json_real_value(v))) {
            /* 3.0 is an integer to a JavaScript client; accept it, the handler reads it as one. */
            d = json_real_value(v);
        } else
            break;
        if ((f->flags & API_F_MIN) && d < f->min)
            problem_field_error(p, in, pointer, "must be >= %.15g (got %.15g)", f->min, d);
        else if ((f->flags & API_F_MAX) && d > f->max)
            problem_field_error(p, in, pointer, "must be <= %.15g (got %.15g)", f->max, d);
        return;
    }
    case API_T_BOOLEAN:
        if (json_is_boolean(v))
            return;
        break;
    case API_T_OBJECT:
        if (!json_is_object(v))
            break;
        if (f->props)
            api_validate_object(v, f->props, (f->flags & API_F_ADDITIONAL) != 0, in, pointer, p);
        return;
    case API_T_ARRAY: {
        if (!json_is_array(v))
            break;
        size_t n = json_array_size(v);
        if ((f->flags & API_F_MIN) && n < (size_t)f->min)
            problem_field_error(p, in, pointer, "must have at least %.0f items (got %zu)", f->min,
                                n);
        else if ((f->flags & API_F_MAX) && n > (size_t)f->max) {
            problem_field_error(p, in, pointer, "must have at most %.0f items (got %zu)", f->max,
                                n);
            return;
        }
        if (f->items) {
            for (size_t i = 0; i < n; i++) {
                char ptr[512];
                snprintf(ptr, sizeof ptr, "%s/%zu", pointer, i);
                api_validate_value(json_array_get(v, i), f->items, in, ptr, p);
            }
        }
        return;
    }
    }
    problem_field_error(p, in, pointer, "must be %s, not %s", api_type_name(f->type),
                        api_json_kind(v));
}

void api_validate_object(json_t *obj, const api_field_t *fields, bool additional, const char *in,
                         const char *pointer, problem_t **p)
{
    char ptr[512];
    for (const api_field_t *f = fields; f && f->name; f++) {
        api_pointer_join(ptr, sizeof ptr, pointer, f->name);
        json_t *v = json_object_get(obj, f->name);
        if (!v) {
            if (f->flags & API_F_REQUIRED)
                problem_field_error(p, in, ptr, "is required");
            continue;
        }
        api_validate_value(v, f, in, ptr, p);
    }
    if (additional || !fields)
        return;
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        const api_field_t *f = fields;
        while (f->name && strcmp(f->name, key) != 0)
            f++;
        if (!f->name) {
            api_pointer_join(ptr, sizeof ptr, pointer, key);
            problem_field_error(p, in, ptr, "is not a known field");
        }
    }
}

int api_url_decode(const char *in, size_t len, char *out, size_t outlen, bool plus_space)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (o + 1 >= outlen)
            return -1;
        char c = in[i];
        if (c == '%') {
            if (i + 2 >= len || !isxdigit((unsigned char)in[i + 1]) ||
                !isxdigit((unsigned char)in[i + 2]))
                return -1;
            char hex[3] = {in[i + 1], in[i + 2], 0};
            c = (char)strtol(hex, NULL, 16);
            if (c == '\0')
                return -1; /* %00 would truncate the value silently */
            i += 2;
        } else if (c == '+' && plus_space) {
            c = ' ';
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

json_t *api_query_parse(const char *query, problem_t **p)
{
    json_t *o = json_object();
    if (!query || !*query)
        return o;
    size_t count = 0;
    const char *s = query;
    while (*s) {
        const char *amp = strchr(s, '&');
        size_t len = amp ? (size_t)(amp - s) : strlen(s);
        if (len) {
            if (++count > API_QUERY_MAX_PARAMS) {
                problem_field_error(p, "query", "", "too many query parameters (at most %d)",
                                    API_QUERY_MAX_PARAMS);
                break;
            }
            const char *eq = memchr(s, '=', len);
            size_t klen = eq ? (size_t)(eq - s) : len;
            char key[256], val[API_QUERY_VALUE_MAX];
            if (api_url_decode(s, klen, key, sizeof key, true) < 0) {
                problem_field_error(p, "query", "",
                                    "a parameter name is badly percent-encoded or too long");
            } else if (api_url_decode(eq ? eq + 1 : s + len, eq ? len - klen - 1 : 0, val,
                                      sizeof val, true) < 0) {
                problem_field_error(p, "query", key,
                                    "is badly percent-encoded or longer than %d bytes",
                                    API_QUERY_VALUE_MAX - 1);
            } else {
                json_t *js = json_string(val);
                if (!js)
                    problem_field_error(p, "query", key, "is not valid UTF-8");
                else if (json_object_get(o, key)) {
                    json_decref(js);
                    problem_field_error(p, "query", key, "is given more than once");
                } else
                    json_object_set_new(o, key, js);
            }
        }
        if (!amp)
            break;
        s = amp + 1;
    }
    return o;
}

/* Converts one string to the field's type. Returns a new value, or NULL with an error added. */
static json_t *api_convert_one(const char *s, const api_field_t *f, const char *in, problem_t **p)
{
    char *end;
    switch (f->type) {
    case API_T_INTEGER: {
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (!*s || *end || errno) {
            problem_field_error(p, in, f->name, "must be an integer");
            return NULL;
        }
        return json_integer(v);
    }
    case API_T_NUMBER: {
        errno = 0;
        double v = strtod(s, &end);
        if (!*s || *end || errno || !isfinite(v)) {
            problem_field_error(p, in, f->name, "must be a number");
            return NULL;
        }
        return json_real(v);
    }
    case API_T_BOOLEAN:
        if (!strcmp(s, "true") || !strcmp(s, "1") || !strcmp(s, "yes") || !*s)
            return json_true();
        if (!strcmp(s, "false") || !strcmp(s, "0") || !strcmp(s, "no"))
            return json_false();
        problem_field_error(p, in, f->name, "must be a boolean (true/false, 1/0)");
        return NULL;
    default:
        return json_string(s);
    }
}

json_t *api_convert_params(json_t *strings, const api_field_t *fields, const char *in,
                           problem_t **p)
{
    json_t *out = json_object();
    const char *key;
    json_t *v;
    json_object_foreach(strings, key, v)
    {
        const api_field_t *f = fields;
        while (f && f->name && strcmp(f->name, key) != 0)
            f++;
        if (!f || !f->name) {
            problem_field_error(p, in, key, "is not a known parameter");
            continue;
        }
        json_t *typed;
        if (json_is_string(v))
            typed = api_convert_one(json_string_value(v), f, in, p);
        else
            typed = json_incref(v); /* transports that carry typed values (ZMQ) */
        if (!typed)
            continue;
        problem_t *before = *p;
        size_t nerr = before ? problem_field_count(before) : 0;
        api_validate_value(typed, f, in, f->name, p);
        if (*p && problem_field_count(*p) != nerr) {
            json_decref(typed);
            continue;
        }
        json_object_set_new(out, key, typed);
    }
    for (const api_field_t *f = fields; f && f->name; f++) {
        if (json_object_get(out, f->name) || json_object_get(strings, f->name))
            continue;
        if (f->flags & API_F_REQUIRED)
            problem_field_error(p, in, f->name, "is required");
        else if (f->def) {
            json_t *d = api_convert_one(f->def, f, in, p);
            if (d)
                json_object_set_new(out, f->name, d);
        }
    }
    return out;
}
