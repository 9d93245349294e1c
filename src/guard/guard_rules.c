/* Rule sets: checked, compiled (one automaton for every word, regexes and conditions per
 * rule) and evaluated. A rule with words or regexes fires when one of them matches and all its
 * conditions hold; a rule with conditions only fires when they all hold. */
#include "guard/guard_rules.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/gregex.h"
#include "guard/guard_cond.h"
#include "guard/guard_text.h"

typedef struct guard_crule {
    int64_t id;
    char *name;
    int64_t weight;
    bool textual; /* has words or regexes */
    gregex_t **re;
    char **re_src; /* the patterns as written, for explanations */
    size_t nre;
    guard_cond_t **conds;
    size_t nconds;
} guard_crule_t;

struct guard_set {
    guard_crule_t *rules;
    size_t nrules;
    guard_ac_t *ac;
    /* the rules an evaluation must look at whatever the automaton finds (those with regexes
     * or conditions only), in rule order; a rule with words only is looked at when one of
     * its words was found, so an evaluation touches the rules that can fire, not all */
    uint32_t *always;
    size_t nalways;
};

static void guard_regex_limits(gregex_limits_t *lim)
{
    gregex_limits_default(lim);
    lim->pattern_max = GUARD_REGEX_MAX;
    lim->match_limit = GUARD_REGEX_STEPS;
    lim->depth_limit = GUARD_REGEX_STEPS;
    lim->heap_kib = 1024;
    lim->budget_ns = 50 * 1000000ull; /* CPU for all the regexes of one evaluation */
    lim->deadline_ns = 0;
    lim->jit = true; /* on the request's path: every evaluation runs them */
}

static int guard_list_check(const json_t *list, const char *what, size_t max_items, size_t max_len,
                            char *err, size_t errlen)
{
    if (!list)
        return 0;
    if (!json_is_array(list) || json_array_size(list) > max_items) {
        snprintf(err, errlen, "match.%s: an array of up to %zu items", what, max_items);
        return -EINVAL;
    }
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        size_t n = json_string_length(v);
        if (!json_is_string(v) || n == 0 || n > max_len) {
            snprintf(err, errlen, "match.%s[%zu]: a string of 1 to %zu bytes", what, i, max_len);
            return -EINVAL;
        }
    }
    return 0;
}

int guard_match_check(const json_t *match, char *err, size_t errlen)
{
    if (!json_is_object(match)) {
        snprintf(err, errlen, "match: an object {words?, regex?, conditions?}");
        return -EINVAL;
    }
    json_t *v;
    if (json_object_size(match) > (size_t)(json_object_get(match, "words") != NULL) +
                                      (json_object_get(match, "regex") != NULL) +
                                      (json_object_get(match, "conditions") != NULL)) {
        snprintf(err, errlen, "match: only words, regex and conditions");
        return -EINVAL;
    }
    json_t *words = json_object_get(match, "words"), *re = json_object_get(match, "regex"),
           *conds = json_object_get(match, "conditions");
    if (guard_list_check(words, "words", GUARD_WORDS_MAX, GUARD_WORD_MAX, err, errlen) < 0 ||
        guard_list_check(re, "regex", GUARD_REGEX_PER_RULE, GUARD_REGEX_MAX, err, errlen) < 0)
        return -EINVAL;
    size_t i;
    json_array_foreach(words, i, v)
    {
        char folded[GUARD_WORD_MAX];
        if (guard_text_fold(json_string_value(v), json_string_length(v), folded) == 0) {
            snprintf(err, errlen, "match.words[%zu]: blank", i);
            return -EINVAL;
        }
    }
    gregex_limits_t lim;
    guard_regex_limits(&lim);
    json_array_foreach(re, i, v)
    {
        gregex_t *g = NULL;
        char why[GREGEX_ERR_MAX];
        if (gregex_compile(json_string_value(v), json_string_length(v), &lim, &g, why, sizeof why) <
            0) {
            snprintf(err, errlen, "match.regex[%zu]: %s", i, why);
            return -EINVAL;
        }
        gregex_destroy(&g);
    }
    if (conds && (!json_is_array(conds) || json_array_size(conds) > GUARD_CONDS_MAX)) {
        snprintf(err, errlen, "match.conditions: an array of up to %d conditions", GUARD_CONDS_MAX);
        return -EINVAL;
    }
    json_array_foreach(conds, i, v)
    {
        char why[200];
        guard_cond_t *c = guard_cond_parse(v, why, sizeof why);
        if (!c) {
            snprintf(err, errlen, "match.conditions[%zu]: %s", i, why);
            return -EINVAL;
        }
        guard_cond_destroy(&c);
    }
    if (json_array_size(words) + json_array_size(re) + json_array_size(conds) == 0) {
        snprintf(err, errlen, "match: at least one word, regex or condition");
        return -EINVAL;
    }
    return 0;
}

void guard_set_destroy(guard_set_t **sp)
{
    guard_set_t *s = sp ? *sp : NULL;
    if (!s)
        return;
    for (size_t i = 0; i < s->nrules; i++) {
        guard_crule_t *r = &s->rules[i];
        free(r->name);
        for (size_t k = 0; k < r->nre; k++) {
            gregex_destroy(&r->re[k]);
            free(r->re_src[k]);
        }
        free(r->re);
        free(r->re_src);
        for (size_t k = 0; k < r->nconds; k++)
            guard_cond_destroy(&r->conds[k]);
        free(r->conds);
    }
    free(s->rules);
    free(s->always);
    guard_ac_destroy(&s->ac);
    free(s);
    *sp = NULL;
}

static int guard_crule_build(guard_set_t *s, guard_crule_t *r, const json_t *rule, char *err,
                             size_t errlen)
{
    json_t *match = json_object_get(rule, "match");
    json_t *words = json_object_get(match, "words"), *re = json_object_get(match, "regex"),
           *conds = json_object_get(match, "conditions");
    r->id = json_integer_value(json_object_get(rule, "id"));
    r->weight = json_integer_value(json_object_get(rule, "weight"));
    r->name = strdup(json_string_value(json_object_get(rule, "name")) ?: "");
    r->textual = json_array_size(words) + json_array_size(re) > 0;
    r->re = calloc(json_array_size(re) + 1, sizeof *r->re);
    r->re_src = calloc(json_array_size(re) + 1, sizeof *r->re_src);
    r->conds = calloc(json_array_size(conds) + 1, sizeof *r->conds);
    if (!r->name || !r->re || !r->re_src || !r->conds)
        return -ENOMEM;
    size_t i;
    json_t *v;
    json_array_foreach(words, i, v)
    {
        char folded[GUARD_WORD_MAX];
        size_t n = guard_text_fold(json_string_value(v), json_string_length(v), folded);
        if (n && guard_ac_add(s->ac, folded, n, (uint32_t)(r - s->rules)) < 0)
            return -ENOMEM;
    }
    gregex_limits_t lim;
    guard_regex_limits(&lim);
    json_array_foreach(re, i, v)
    {
        char why[GREGEX_ERR_MAX];
        if (gregex_compile(json_string_value(v), json_string_length(v), &lim, &r->re[r->nre], why,
                           sizeof why) < 0) {
            snprintf(err, errlen, "rule %s: regex %zu: %s", r->name, i, why);
            return -EINVAL;
        }
        if (!(r->re_src[r->nre] = strdup(json_string_value(v)))) {
            gregex_destroy(&r->re[r->nre]);
            return -ENOMEM;
        }
        r->nre++;
    }
    json_array_foreach(conds, i, v)
    {
        char why[200];
        if (!(r->conds[r->nconds] = guard_cond_parse(v, why, sizeof why))) {
            snprintf(err, errlen, "rule %s: condition %zu: %s", r->name, i, why);
            return -EINVAL;
        }
        r->nconds++;
    }
    return 0;
}

guard_set_t *guard_set_build(const json_t *rules, char *err, size_t errlen)
{
    guard_set_t *s = calloc(1, sizeof *s);
    if (s) {
        s->rules = calloc(json_array_size(rules) + 1, sizeof *s->rules);
        s->always = calloc(json_array_size(rules) + 1, sizeof *s->always);
        s->ac = guard_ac_new();
    }
    if (!s || !s->rules || !s->always || !s->ac) {
        snprintf(err, errlen, "out of memory");
        guard_set_destroy(&s);
        return NULL;
    }
    size_t i;
    json_t *rule;
    json_array_foreach(rules, i, rule)
    {
        if (!json_is_true(json_object_get(rule, "enabled")))
            continue;
        guard_crule_t *r = &s->rules[s->nrules];
        int rc = guard_crule_build(s, r, rule, err, errlen);
        s->nrules++;
        if (rc < 0) {
            if (rc == -ENOMEM)
                snprintf(err, errlen, "out of memory");
            guard_set_destroy(&s);
            return NULL;
        }
        if (!r->textual || r->nre > 0)
            s->always[s->nalways++] = (uint32_t)(s->nrules - 1);
    }
    if (guard_ac_build(s->ac) < 0) {
        snprintf(err, errlen, "out of memory");
        guard_set_destroy(&s);
        return NULL;
    }
    return s;
}

size_t guard_set_rules(const guard_set_t *set)
{
    return set->nrules;
}

size_t guard_set_words(const guard_set_t *set)
{
    return guard_ac_patterns(set->ac);
}

static int guard_text_add(char *buf, size_t *len, const char *s, size_t n)
{
    if (*len && *len < GUARD_TEXT_MAX)
        buf[(*len)++] = '\n';
    size_t room = GUARD_TEXT_MAX - *len;
    if (n > room)
        n = room;
    memcpy(buf + *len, s, n);
    *len += n;
    return 0;
}

char *guard_action_text(const json_t *action, size_t *len)
{
    char *buf = malloc(GUARD_TEXT_MAX + 1);
    if (!buf)
        return NULL;
    *len = 0;
    if (json_is_string(action)) {
        guard_text_add(buf, len, json_string_value(action), json_string_length(action));
    } else {
        json_t *t = json_object_get(action, "text"), *argv = json_object_get(action, "argv"),
               *input = json_object_get(action, "input");
        if (json_is_string(t))
            guard_text_add(buf, len, json_string_value(t), json_string_length(t));
        if (json_is_array(argv) && json_array_size(argv)) {
            size_t i;
            json_t *a;
            if (*len && *len < GUARD_TEXT_MAX)
                buf[(*len)++] = '\n';
            json_array_foreach(argv, i, a)
            {
                if (!json_is_string(a) || *len >= GUARD_TEXT_MAX)
                    continue;
                if (i && *len < GUARD_TEXT_MAX)
                    buf[(*len)++] = ' ';
                size_t n = json_string_length(a), room = GUARD_TEXT_MAX - *len;
                memcpy(buf + *len, json_string_value(a), n < room ? n : room);
                *len += n < room ? n : room;
            }
        }
        if (json_is_string(input))
            guard_text_add(buf, len, json_string_value(input), json_string_length(input));
    }
    buf[*len] = '\0';
    return buf;
}

/* What the automaton found: for each rule its first word (by end position in the text), -1
 * when none; and the rules found, in the order found. */
typedef struct guard_found {
    int32_t *first;
    uint32_t *rules;
    size_t n;
} guard_found_t;

static int guard_word_hit(void *ud, uint32_t tag, uint32_t pattern)
{
    guard_found_t *f = ud;
    if (f->first[tag] < 0) {
        f->first[tag] = (int32_t)pattern;
        f->rules[f->n++] = tag;
    }
    return 0;
}

static int guard_u32_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static bool guard_conds_hold(const guard_crule_t *r, const guard_subject_t *subj)
{
    for (size_t k = 0; k < r->nconds; k++)
        if (!guard_cond_eval(r->conds[k], subj, NULL, 0))
            return false;
    return true;
}

/* Judges rule i (its words found or not as first[i] says) and appends it to out when it fires.
 * *sc is the evaluation's one regex scan, made on first use. */
static void guard_rule_judge(const guard_set_t *set, uint32_t i, int32_t word, const char *raw,
                             size_t len, const guard_subject_t *subj, gregex_scan_t **sc,
                             guard_eval_t *out)
{
    const guard_crule_t *r = &set->rules[i];
    guard_hit_t h = {.rule = i, .word = word, .regex = -1};
    if (r->textual && h.word < 0 && r->nre == 0)
        return;
    if (!guard_conds_hold(r, subj))
        return;
    if (r->textual && h.word < 0) {
        for (size_t k = 0; k < r->nre && h.regex < 0; k++) {
            /* one scan for the evaluation: its match state and CPU budget are shared */
            int m = *sc ? gregex_scan_rebind(*sc, r->re[k]) : gregex_scan_new(r->re[k], sc);
            if (m == 0)
                m = gregex_scan_match(*sc, raw, len);
            if (m != 0 && m != -ENOMEM) { /* a match, or too costly: fail closed */
                h.regex = (int32_t)k;
                h.regex_cost = m < 0;
            }
        }
        if (h.regex < 0)
            return;
    }
    out->fired[out->nfired++] = h;
    out->score += r->weight;
}

int guard_set_eval(const guard_set_t *set, const json_t *action, const char *principal,
                   double trust, guard_eval_t *out)
{
    memset(out, 0, sizeof *out);
    size_t len = 0;
    char *raw = guard_action_text(action, &len);
    /* one scratch block: the folded text, first[] and the rules found */
    size_t n = set->nrules + 1, text_room = (len + 1 + 3) & ~(size_t)3;
    char *scratch = malloc(text_room + n * (sizeof(int32_t) + sizeof(uint32_t)));
    if (!raw || !scratch) {
        free(raw);
        free(scratch);
        return -ENOMEM;
    }
    char *folded = scratch;
    guard_found_t found = {.first = (int32_t *)(void *)(scratch + text_room)};
    found.rules = (uint32_t *)(void *)(found.first + n);
    size_t flen = guard_text_fold(raw, len, folded);
    memset(found.first, 0xff, set->nrules * sizeof *found.first); /* every entry -1 */
    guard_ac_scan(set->ac, folded, flen, guard_word_hit, &found);
    out->fired = malloc((found.n + set->nalways + 1) * sizeof *out->fired);
    if (!out->fired) {
        free(raw);
        free(scratch);
        return -ENOMEM;
    }
    /* the rules found and the rules always judged, merged in rule order (fired[] is in
     * rule order, as the explanation lists them) */
    qsort(found.rules, found.n, sizeof *found.rules, guard_u32_cmp);
    guard_subject_t subj = {
        .action = json_is_object(action) ? action : NULL, .principal = principal, .trust = trust};
    gregex_scan_t *sc = NULL;
    size_t a = 0, w = 0;
    while (a < set->nalways || w < found.n) {
        uint32_t i;
        if (w == found.n || (a < set->nalways && set->always[a] < found.rules[w]))
            i = set->always[a++];
        else if (a < set->nalways && set->always[a] == found.rules[w])
            i = set->always[a++], w++;
        else
            i = found.rules[w++];
        guard_rule_judge(set, i, found.first[i], raw, len, &subj, &sc, out);
    }
    gregex_scan_destroy(&sc);
    free(raw);
    free(scratch);
    return 0;
}

void guard_eval_clear(guard_eval_t *ev)
{
    free(ev->fired);
    memset(ev, 0, sizeof *ev);
}

json_t *guard_eval_fired_json(const guard_set_t *set, const guard_eval_t *ev, const json_t *action,
                              const char *principal, double trust)
{
    json_t *arr = json_array();
    guard_subject_t subj = {
        .action = json_is_object(action) ? action : NULL, .principal = principal, .trust = trust};
    for (size_t i = 0; arr && i < ev->nfired; i++) {
        const guard_hit_t *h = &ev->fired[i];
        const guard_crule_t *r = &set->rules[h->rule];
        json_t *why = json_array();
        if (h->word >= 0) {
            size_t n;
            const char *w = guard_ac_pattern(set->ac, (uint32_t)h->word, &n);
            json_array_append_new(why, json_sprintf("word \"%.*s\"", (int)n, w));
        }
        if (h->regex >= 0)
            json_array_append_new(why, json_sprintf(h->regex_cost ? "regex /%s/ went past its "
                                                                    "match limits (counted as "
                                                                    "a match)"
                                                                  : "regex /%s/ matched",
                                                    r->re_src[h->regex]));
        for (size_t k = 0; k < r->nconds; k++) {
            char w[400];
            if (guard_cond_eval(r->conds[k], &subj, w, sizeof w))
                json_array_append_new(why, json_string(w));
        }
        json_array_append_new(arr, json_pack("{s:I,s:s,s:I,s:o}", "rule", (json_int_t)r->id, "name",
                                             r->name, "weight", (json_int_t)r->weight, "why", why));
    }
    return arr;
}
