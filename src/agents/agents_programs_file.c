/* Program files: `[program:NAME]` sections of the *.ini files in a directory, parsed (inih)
 * into spawn specs with every error named by file:line. Pure: no loop, no agents; the reload
 * runs it on the thread pool. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agents/agents_internal.h"
#include "agents/agents_programs.h"
#include "core/problem.h"

typedef struct prog_parse {
    const char *path;
    const char *text;
    size_t pos, len;
    int line;
    int section_line; /* of the last [section] header */
    bool cont;        /* the line handed to inih is indented (a continuation of the last key) */
    bool too_long;    /* a line over inih's limit: the file is refused */
    json_t *errors;   /* borrowed: the set's */
    json_t *progs;    /* this file's raw programs: NAME -> {line, keys{k: {v, line}}} */
    json_t *cur;      /* borrowed from progs: the section being read (NULL outside a program) */
    char last_key[128];
    size_t nerr;
} prog_parse_t;

static void prog_error(json_t *errors, const char *path, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void prog_error(json_t *errors, const char *path, int line, const char *fmt, ...)
{
    if (json_array_size(errors) >= AGENTS_PROGRAMS_ERRORS_MAX)
        return;
    char msg[512], full[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (line > 0)
        snprintf(full, sizeof full, "%s:%d: %s", path, line, msg);
    else
        snprintf(full, sizeof full, "%s: %s", path, msg);
    json_array_append_new(errors, json_string(full));
}

#define PERR(st, line, ...)                                                                        \
    do {                                                                                           \
        (st)->nerr++;                                                                              \
        prog_error((st)->errors, (st)->path, (line), __VA_ARGS__);                                 \
    } while (0)

/* fgets over the file's text for inih: counts lines (inih cannot tell its handler) and
 * refuses lines it would split silently. */
static char *prog_read(char *str, int num, void *stream)
{
    prog_parse_t *st = stream;
    if (st->too_long || st->pos >= st->len)
        return NULL;
    const char *p = st->text + st->pos;
    const char *nl = memchr(p, '\n', st->len - st->pos);
    size_t n = nl ? (size_t)(nl - p) + 1 : st->len - st->pos;
    st->pos += n;
    st->line++;
    size_t content = n;
    while (content && (p[content - 1] == '\n' || p[content - 1] == '\r'))
        content--;
    if (content + 2 > (size_t)num) {
        PERR(st, st->line,
             "line is too long (at most %d bytes; continue a long value on "
             "indented lines)",
             num - 3);
        st->too_long = true;
        return NULL;
    }
    size_t lead = 0;
    while (lead < content && (p[lead] == ' ' || p[lead] == '\t'))
        lead++;
    st->cont = lead > 0 && lead < content && p[lead] != ';' && p[lead] != '#';
    if (lead < content && p[lead] == '[')
        st->section_line = st->line;
    memcpy(str, p, content);
    str[content] = '\n';
    str[content + 1] = '\0';
    return str;
}

static bool prog_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > AGENTS_PROGRAM_NAME_MAX)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.')
            return false;
    return true;
}

static int prog_handler(void *user, const char *section, const char *name, const char *value)
{
    prog_parse_t *st = user;
    if (st->cont && st->cur && !strcmp(name, st->last_key)) {
        /* an indented line continues the last value */
        json_t *k = json_object_get(json_object_get(st->cur, "keys"), name);
        const char *old = json_string_value(json_object_get(k, "v"));
        size_t total = strlen(old ? old : "") + strlen(value) + 2;
        if (total > AGENTS_PROGRAM_VALUE_MAX) {
            PERR(st, st->line, "%s: value too long (at most %d bytes)", name,
                 AGENTS_PROGRAM_VALUE_MAX);
            return 1;
        }
        char *joined = malloc(total);
        if (joined) {
            snprintf(joined, total, "%s %s", old ? old : "", value);
            json_object_set_new(k, "v", json_string(joined));
            free(joined);
        }
        return 1;
    }
    if (!section || !*section) {
        PERR(st, st->line, "key \"%.80s\" is outside a section (start with [program:NAME])", name);
        return 1;
    }
    if (strncmp(section, "program:", 8) != 0) {
        PERR(st, st->line, "unknown section [%.80s] (expected [program:NAME])", section);
        st->cur = NULL;
        return 1;
    }
    const char *pname = section + 8;
    json_t *cur = json_object_get(st->progs, pname);
    if (!cur) {
        if (!prog_name_ok(pname)) {
            PERR(st, st->line, "program name \"%.80s\": 1-%d characters of [A-Za-z0-9._-] expected",
                 pname, AGENTS_PROGRAM_NAME_MAX);
            return 1;
        }
        cur = json_pack("{s:i,s:{}}", "line", st->section_line, "keys");
        json_object_set_new(st->progs, pname, cur);
    } else if (json_integer_value(json_object_get(cur, "line")) != st->section_line) {
        PERR(st, st->section_line, "[program:%s] is already declared at line %d", pname,
             (int)json_integer_value(json_object_get(cur, "line")));
        json_object_set_new(cur, "line", json_integer(st->section_line)); /* reported once */
        return 1;
    }
    st->cur = cur;
    json_t *keys = json_object_get(cur, "keys");
    if (json_object_get(keys, name)) {
        PERR(st, st->line, "%s is given twice in [program:%s]", name, pname);
        return 1;
    }
    if (strlen(name) >= sizeof st->last_key || json_object_size(keys) >= 128) {
        PERR(st, st->line, "too many or too long keys in [program:%s]", pname);
        return 1;
    }
    snprintf(st->last_key, sizeof st->last_key, "%s", name);
    json_object_set_new(keys, name, json_pack("{s:s,s:i}", "v", value, "line", st->line));
    return 1;
}

/* ---- values ---- */

/* A command line split like a shell would, without one: blanks separate words, '...' is
 * literal, "..." allows \" \\ \$ \` escapes, a backslash outside quotes takes the next
 * character as it is. No expansion, no redirection, no pipes. */
static json_t *prog_split(const char *s, char *err, size_t errlen)
{
    json_t *argv = json_array();
    char *word = malloc(strlen(s) + 1);
    if (!argv || !word) {
        json_decref(argv);
        free(word);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    size_t n = 0;
    bool in_word = false;
    for (const char *p = s;; p++) {
        char c = *p;
        if (c == '\0' || c == ' ' || c == '\t') {
            if (in_word) {
                word[n] = '\0';
                if (json_array_size(argv) >= 256 || n > 4096) {
                    snprintf(err, errlen, "at most 256 words of at most 4096 bytes");
                    goto fail;
                }
                json_array_append_new(argv, json_string(word));
                n = 0;
                in_word = false;
            }
            if (c == '\0')
                break;
            continue;
        }
        in_word = true;
        if (c == '\'') {
            const char *e = strchr(p + 1, '\'');
            if (!e) {
                snprintf(err, errlen, "unterminated ' quote");
                goto fail;
            }
            memcpy(word + n, p + 1, (size_t)(e - p - 1));
            n += (size_t)(e - p - 1);
            p = e;
        } else if (c == '"') {
            for (p++; *p && *p != '"'; p++) {
                if (*p == '\\' && p[1] && strchr("\"\\$`", p[1]))
                    p++;
                word[n++] = *p;
            }
            if (!*p) {
                snprintf(err, errlen, "unterminated \" quote");
                goto fail;
            }
        } else if (c == '\\' && p[1]) {
            word[n++] = *++p;
        } else {
            word[n++] = c;
        }
    }
    free(word);
    if (json_array_size(argv) == 0) {
        snprintf(err, errlen, "empty command");
        json_decref(argv);
        return NULL;
    }
    return argv;
fail:
    free(word);
    json_decref(argv);
    return NULL;
}

static json_t *prog_argv_json(const char *s, char *err, size_t errlen)
{
    json_error_t je;
    json_t *v = json_loads(s, JSON_REJECT_DUPLICATES, &je);
    size_t i;
    json_t *x;
    if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > 256) {
        snprintf(err, errlen, "expected a JSON array of 1-256 strings%s%s", v ? "" : ": ",
                 v ? "" : je.text);
        json_decref(v);
        return NULL;
    }
    json_array_foreach(v, i, x)
    {
        if (!json_is_string(x) || json_string_length(x) > 4096 ||
            strlen(json_string_value(x)) != json_string_length(x)) {
            snprintf(err, errlen, "item %zu: a string of at most 4096 bytes expected", i);
            json_decref(v);
            return NULL;
        }
    }
    return v;
}

static int prog_int(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int prog_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no",
                                                                                "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (!strcasecmp(s, yes[i]))
            return *out = true, 0;
        if (!strcasecmp(s, no[i]))
            return *out = false, 0;
    }
    return -1;
}

static bool prog_env_name_ok(const char *k)
{
    if (!(*k == '_' || isalpha((unsigned char)*k)) || strlen(k) > 128)
        return false;
    for (; *k; k++)
        if (*k != '_' && !isalnum((unsigned char)*k))
            return false;
    return true;
}

static bool prog_label_ok(const char *k, const char *v)
{
    size_t n = strlen(k);
    if (n < 1 || n > 63 || strlen(v) > 256 || strchr(v, ','))
        return false;
    for (; *k; k++)
        if (!isalnum((unsigned char)*k) && !strchr("._-/", *k))
            return false;
    return true;
}

static char *prog_trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

/* "k=v, k2=v2" into obj (env: names checked as variables, else as labels). -1 on a bad pair
 * (err set). */
static int prog_pairs(const char *text, json_t *obj, bool env, char *err, size_t errlen)
{
    char *copy = strdup(text), *save = NULL;
    if (!copy)
        return -1;
    int rc = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok && rc == 0; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq) {
            snprintf(err, errlen, "\"%.60s\": expected KEY=VALUE", prog_trim(tok));
            rc = -1;
            break;
        }
        *eq = '\0';
        char *k = prog_trim(tok), *v = prog_trim(eq + 1);
        size_t vl = strlen(v);
        if (vl >= 2 && (v[0] == '"' || v[0] == '\'') && v[vl - 1] == v[0]) {
            v[vl - 1] = '\0';
            v++;
        }
        if (env ? !prog_env_name_ok(k) : !prog_label_ok(k, v)) {
            snprintf(err, errlen,
                     env ? "\"%.60s\": variable names are [A-Za-z_][A-Za-z0-9_]*"
                         : "\"%.60s\": label keys are 1-63 characters of [A-Za-z0-9._/-], "
                           "values at most 256",
                     k);
            rc = -1;
        } else {
            json_object_set_new(obj, k, json_string(v));
        }
    }
    free(copy);
    return rc;
}

/* ---- one program ---- */

static const char *const prog_limit_keys[] = {"memory_mb", "cpu_s", "nofile", "timeout_s",
                                              "cpu_percent"};
static const int64_t prog_limit_lo[] = {1, 1, 3, 1, 1};
static const int64_t prog_limit_hi[] = {1048576, 31536000, 1048576, 31536000, 100000};

/* The restart-trigger keys (max_memory_restart, cron, watch …) checked as a spawn body's
 * (agents_triggers_check); each field error becomes an error at the key's line. A number-only
 * max_memory_restart is bytes, as in the spawn spec. */
static void prog_triggers_check(prog_parse_t *st, json_t *spec, const json_t *lines, int pline)
{
    const char *mm = json_string_value(json_object_get(spec, "max_memory_restart"));
    if (mm && *mm && strspn(mm, "0123456789") == strlen(mm))
        json_object_set_new(spec, "max_memory_restart", json_integer(strtoll(mm, NULL, 10)));
    if (!json_object_size(lines))
        return;
    const char *cwd = json_string_value(json_object_get(spec, "cwd"));
    problem_t *p = NULL;
    agents_triggers_check(spec, cwd ? cwd : "/", &p);
    if (!p)
        return;
    json_t *pj = problem_to_json(p, NULL);
    json_t *fe;
    size_t i;
    json_array_foreach(json_object_get(pj, "errors"), i, fe)
    {
        const char *field = json_string_value(json_object_get(fe, "field"));
        const char *msg = json_string_value(json_object_get(fe, "message"));
        char key[64] = "";
        if (field && field[0] == '/')
            snprintf(key, sizeof key, "%.*s", (int)strcspn(field + 1, "/"), field + 1);
        json_t *l = json_object_get(lines, key);
        PERR(st, l ? (int)json_integer_value(l) : pline, "%s: %s", key[0] ? key : "trigger",
             msg ? msg : "invalid");
    }
    json_decref(pj);
    problem_destroy(&p);
}

/* The raw keys of one [program:NAME] into {file, line, numprocs, autostart, spec}; NULL with
 * errors added when a key is wrong. */
static json_t *prog_build(prog_parse_t *st, const char *pname, json_t *raw)
{
    json_t *keys = json_object_get(raw, "keys");
    int pline = (int)json_integer_value(json_object_get(raw, "line"));
    size_t nerr = st->nerr;
    json_t *spec = json_object(), *env = json_object(), *labels = json_object(),
           *limits = json_object();
    json_t *argv = NULL;
    json_t *watch = json_object(), *trig_lines = json_object();
    int64_t numprocs = 1;
    bool autostart = true;
    const char *restart = "always";
    int64_t restart_max = 5, restart_window_s = 60, grace = -1;
    char err[256];
    const char *k;
    json_t *kv;
    json_object_foreach(keys, k, kv)
    {
        const char *v = json_string_value(json_object_get(kv, "v"));
        int line = (int)json_integer_value(json_object_get(kv, "line"));
        int64_t n;
        size_t li;
        for (li = 0; li < 5 && strcmp(k, prog_limit_keys[li]); li++)
            ;
        if (!strcmp(k, "command") || !strcmp(k, "argv")) {
            if (argv) {
                PERR(st, line, "give either command or argv, not both");
                continue;
            }
            argv = !strcmp(k, "command") ? prog_split(v, err, sizeof err)
                                         : prog_argv_json(v, err, sizeof err);
            if (!argv)
                PERR(st, line, "%s: %s", k, err);
        } else if (!strcmp(k, "cwd")) {
            if (v[0] != '/' || strlen(v) > 4096)
                PERR(st, line, "cwd: an absolute path expected");
            else
                json_object_set_new(spec, "cwd", json_string(v));
        } else if (!strncmp(k, "env.", 4)) {
            if (!prog_env_name_ok(k + 4) || strlen(v) > 32768)
                PERR(st, line, "%s: variable names are [A-Za-z_][A-Za-z0-9_]*", k);
            else
                json_object_set_new(env, k + 4, json_string(v));
        } else if (!strcmp(k, "environment")) {
            if (prog_pairs(v, env, true, err, sizeof err) < 0)
                PERR(st, line, "environment: %s", err);
        } else if (!strcmp(k, "labels")) {
            if (prog_pairs(v, labels, false, err, sizeof err) < 0)
                PERR(st, line, "labels: %s", err);
        } else if (!strncmp(k, "label.", 6)) {
            if (!prog_label_ok(k + 6, v))
                PERR(st, line,
                     "%s: label keys are 1-63 characters of [A-Za-z0-9._/-], "
                     "values at most 256 without commas",
                     k);
            else
                json_object_set_new(labels, k + 6, json_string(v));
        } else if (!strcmp(k, "capabilities")) {
            json_t *caps = json_array();
            char *copy = strdup(v), *save = NULL;
            for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t;
                 t = strtok_r(NULL, ",", &save)) {
                t = prog_trim(t);
                if (*t && strlen(t) <= 128 && json_array_size(caps) < 64)
                    json_array_append_new(caps, json_string(t));
                else if (*t)
                    PERR(st, line, "capabilities: at most 64 names of at most 128 bytes");
            }
            free(copy);
            json_object_set_new(spec, "capabilities", caps);
        } else if (li < 5) {
            if (prog_int(v, prog_limit_lo[li], prog_limit_hi[li], &n) < 0)
                PERR(st, line, "%s: an integer from %" PRId64 " to %" PRId64 " expected", k,
                     prog_limit_lo[li], prog_limit_hi[li]);
            else
                json_object_set_new(limits, k, json_integer(n));
        } else if (!strcmp(k, "restart")) {
            if (strcmp(v, "never") && strcmp(v, "on-failure") && strcmp(v, "always"))
                PERR(st, line, "restart: never, on-failure or always expected");
            else
                restart = json_string_value(json_object_get(kv, "v"));
        } else if (!strcmp(k, "restart_max")) {
            if (prog_int(v, 0, 1000, &restart_max) < 0)
                PERR(st, line, "restart_max: an integer from 0 to 1000 expected");
        } else if (!strcmp(k, "restart_window_s")) {
            if (prog_int(v, 1, 86400, &restart_window_s) < 0)
                PERR(st, line, "restart_window_s: an integer from 1 to 86400 expected");
        } else if (!strcmp(k, "stop_grace_ms")) {
            if (prog_int(v, 0, 600000, &grace) < 0)
                PERR(st, line, "stop_grace_ms: an integer from 0 to 600000 expected");
        } else if (!strcmp(k, "max_memory_restart") || !strcmp(k, "cron")) {
            /* checked with the other trigger fields below, as a spawn checks them */
            json_object_set_new(spec, k, json_string(v));
            json_object_set_new(trig_lines, k, json_integer(line));
        } else if (!strcmp(k, "watch") || !strcmp(k, "watch_ignore")) {
            json_t *list = json_array();
            char *copy = strdup(v), *save = NULL;
            for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t;
                 t = strtok_r(NULL, ",", &save)) {
                t = prog_trim(t);
                if (*t)
                    json_array_append_new(list, json_string(t));
            }
            free(copy);
            json_object_set_new(watch, !strcmp(k, "watch") ? "paths" : "ignore", list);
            json_object_set_new(trig_lines, "watch", json_integer(line));
        } else if (!strcmp(k, "watch_debounce_ms")) {
            if (prog_int(v, 0, 600000, &n) < 0)
                PERR(st, line, "watch_debounce_ms: an integer from 0 to 600000 expected");
            else
                json_object_set_new(watch, "debounce_ms", json_integer(n));
        } else if (!strcmp(k, "log_max_bytes") || !strcmp(k, "log_backups")) {
            bool bytes = !strcmp(k, "log_max_bytes");
            if (prog_int(v, 0, bytes ? 1073741824 : 100, &n) < 0)
                PERR(st, line, "%s: an integer from 0 to %d expected", k, bytes ? 1073741824 : 100);
            else
                json_object_set_new(spec, k, json_integer(n));
        } else if (!strcmp(k, "autostart")) {
            if (prog_bool(v, &autostart) < 0)
                PERR(st, line, "autostart: true or false expected");
        } else if (!strcmp(k, "numprocs")) {
            if (prog_int(v, 1, AGENTS_PROGRAM_NUMPROCS_MAX, &numprocs) < 0)
                PERR(st, line, "numprocs: an integer from 1 to %d expected",
                     AGENTS_PROGRAM_NUMPROCS_MAX);
        } else if (!strcmp(k, "user")) {
            struct passwd pw, *res = NULL;
            char buf[4096];
            if (getpwnam_r(v, &pw, buf, sizeof buf, &res) != 0 || !res)
                PERR(st, line, "user: no user named \"%.64s\"", v);
            else if (geteuid() != 0 && res->pw_uid != geteuid())
                PERR(st, line,
                     "user = %.64s: the daemon runs as uid %u and cannot switch users (that "
                     "needs a root daemon); remove the key or run the daemon as root",
                     v, (unsigned)geteuid());
            else if (res->pw_uid != geteuid())
                json_object_set_new(spec, "user", json_string(v));
        } else {
            PERR(st, line, "unknown key \"%.80s\" in [program:%s]", k, pname);
        }
    }
    if (!argv && st->nerr == nerr)
        PERR(st, pline, "[program:%s] needs command = ... or argv = [...]", pname);
    if (json_object_size(watch) && !json_object_get(watch, "paths"))
        PERR(st, pline, "[program:%s]: watch_ignore and watch_debounce_ms need watch = PATHS",
             pname);
    else if (json_object_size(watch))
        json_object_set(spec, "watch", watch);
    prog_triggers_check(st, spec, trig_lines, pline);
    if (json_object_get(labels, "program"))
        PERR(st, pline, "[program:%s]: the label program is set by ganglion", pname);
    if (json_object_size(env) > 256 || json_object_size(labels) > 63)
        PERR(st, pline, "[program:%s]: at most 256 variables and 63 labels", pname);
    json_decref(watch);
    json_decref(trig_lines);
    if (st->nerr != nerr) {
        json_decref(spec);
        json_decref(env);
        json_decref(labels);
        json_decref(limits);
        json_decref(argv);
        return NULL;
    }
    json_object_set_new(labels, "program", json_string(pname));
    json_object_set_new(spec, "argv", argv);
    json_object_set_new(spec, "env", env);
    json_object_set_new(spec, "labels", labels);
    json_object_set_new(spec, "limits", limits);
    json_object_set_new(spec, "restart", json_string(restart));
    json_object_set_new(spec, "restart_max", json_integer(restart_max));
    json_object_set_new(spec, "restart_window_s", json_integer(restart_window_s));
    if (grace >= 0)
        json_object_set_new(spec, "stop_grace_ms", json_integer(grace));
    return json_pack("{s:s,s:i,s:I,s:b,s:o}", "file", st->path, "line", pline, "numprocs",
                     (json_int_t)numprocs, "autostart", autostart, "spec", spec);
}

/* ---- files ---- */

static int prog_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads path (at most AGENTS_PROGRAMS_FILE_MAX bytes) into a NUL-terminated buffer. */
static char *prog_slurp(const char *path, size_t *len, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) < 0) {
        snprintf(err, errlen, "cannot open: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    if (!S_ISREG(sb.st_mode) || sb.st_size > AGENTS_PROGRAMS_FILE_MAX) {
        snprintf(err, errlen, S_ISREG(sb.st_mode) ? "larger than %d bytes" : "not a regular file",
                 AGENTS_PROGRAMS_FILE_MAX);
        close(fd);
        return NULL;
    }
    char *buf = malloc((size_t)sb.st_size + 1);
    size_t n = 0;
    while (buf && n < (size_t)sb.st_size) {
        ssize_t r = read(fd, buf + n, (size_t)sb.st_size - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    buf[n] = '\0';
    if (memchr(buf, '\0', n)) {
        snprintf(err, errlen, "binary data (a NUL byte): not a program file");
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

static void prog_file_read(const char *path, json_t *set)
{
    json_t *errors = json_object_get(set, "errors");
    json_t *programs = json_object_get(set, "programs");
    char err[256];
    size_t len = 0;
    char *text = prog_slurp(path, &len, err, sizeof err);
    if (!text) {
        prog_error(errors, path, 0, "%s", err);
        return;
    }
    prog_parse_t st = {.path = path, .text = text, .len = len, .errors = errors};
    st.progs = json_object();
    int rc = ini_parse_stream(prog_read, &st, prog_handler, &st);
    if (rc > 0 && !st.too_long)
        PERR(&st, rc, "expected \"key = value\", \"[program:NAME]\" or a comment");
    else if (rc < 0)
        PERR(&st, 0, "cannot parse (error %d)", rc);
    const char *name;
    json_t *raw;
    json_t *built = json_object();
    json_object_foreach(st.progs, name, raw)
    {
        json_t *prev = json_object_get(programs, name);
        if (prev) {
            PERR(&st, (int)json_integer_value(json_object_get(raw, "line")),
                 "program %s is already declared at %s:%" JSON_INTEGER_FORMAT, name,
                 json_string_value(json_object_get(prev, "file")),
                 json_integer_value(json_object_get(prev, "line")));
            continue;
        }
        json_t *p = st.nerr ? NULL : prog_build(&st, name, raw);
        if (p)
            json_object_set_new(built, name, p);
    }
    /* a file with an error is left out whole: half of a file is not what anyone wrote */
    if (st.nerr == 0) {
        json_object_foreach(built, name, raw)
        {
            if (json_object_size(programs) >= AGENTS_PROGRAMS_MAX) {
                prog_error(errors, path, 0, "more than %d programs", AGENTS_PROGRAMS_MAX);
                break;
            }
            json_object_set(programs, name, raw);
        }
    }
    json_decref(built);
    json_decref(st.progs);
    free(text);
}

json_t *agents_programs_read(const char *dir)
{
    json_t *set = json_pack("{s:s,s:{},s:[]}", "dir", dir, "programs", "errors");
    if (!set)
        return NULL;
    DIR *d = opendir(dir);
    if (!d) {
        if (errno != ENOENT)
            prog_error(json_object_get(set, "errors"), dir, 0, "cannot open the directory: %s",
                       strerror(errno));
        return set; /* no directory: no programs */
    }
    char *names[AGENTS_PROGRAMS_FILES_MAX];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (e->d_name[0] == '.' || l < 5 || strcmp(e->d_name + l - 4, ".ini") != 0)
            continue;
        if (n == AGENTS_PROGRAMS_FILES_MAX) {
            prog_error(json_object_get(set, "errors"), dir, 0,
                       "more than %d *.ini files: the rest are ignored", AGENTS_PROGRAMS_FILES_MAX);
            break;
        }
        if (asprintf(&names[n], "%s/%s", dir, e->d_name) >= 0)
            n++;
    }
    closedir(d);
    qsort(names, n, sizeof names[0], prog_cmp);
    for (size_t i = 0; i < n; i++) {
        prog_file_read(names[i], set);
        free(names[i]);
    }
    return set;
}
