/* A rule set compiled for evaluation: every word and phrase of every enabled rule in one
 * automaton, each rule's regular expressions compiled once (PCRE2 through core/gregex, with
 * tight per-match limits), its conditions parsed. Built off the loop, immutable once built,
 * swapped in on the loop. Evaluation is a single pass over the folded text plus the rules'
 * regexes and conditions. Pure apart from the regex engine. */
#ifndef GANGLION_GUARD_RULES_H
#define GANGLION_GUARD_RULES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GUARD_WORDS_MAX      64    /* words and phrases per rule */
#define GUARD_WORD_MAX       128   /* bytes of one word or phrase */
#define GUARD_REGEX_PER_RULE 8     /* regular expressions per rule */
#define GUARD_REGEX_MAX      256   /* bytes of one regular expression */
#define GUARD_CONDS_MAX      16    /* conditions per rule */
#define GUARD_TEXT_MAX       65536 /* bytes of an action's text that are scanned */
#define GUARD_REGEX_STEPS    20000 /* backtracking steps of one regex match */

typedef struct guard_set guard_set_t;

/* Checks a rule's `match` object: {words?: [..], regex?: [..], conditions?: [..]}, at least one
 * of them non-empty, within the bounds above, every regex compiling. 0, or -EINVAL with err. */
int guard_match_check(const json_t *match, char *err, size_t errlen);

/* Builds the set from an array of rule objects {id, name, weight, enabled, match} (borrowed;
 * checked already). NULL with err on failure. */
guard_set_t *guard_set_build(const json_t *rules, char *err, size_t errlen);
void guard_set_destroy(guard_set_t **set);
size_t guard_set_rules(const guard_set_t *set);
size_t guard_set_words(const guard_set_t *set);

/* One evaluation's result. */
typedef struct guard_hit {
    uint32_t rule;   /* index in the set */
    int32_t word;    /* the automaton's pattern that matched, or -1 */
    int32_t regex;   /* the rule's regex that matched, or -1 */
    bool regex_cost; /* the regex went past its limits: counted as a match (fail closed) */
} guard_hit_t;

typedef struct guard_eval {
    int64_t score;
    size_t nfired;
    guard_hit_t *fired; /* owned; guard_eval_clear frees */
} guard_eval_t;

/* The text of an action that words and regexes are matched against: a string action itself;
 * for an object, its text, argv (joined by spaces) and input, one per line. Bounded by
 * GUARD_TEXT_MAX. Returns a new string with its length in *len, or NULL. */
char *guard_action_text(const json_t *action, size_t *len);

/* Evaluates an action (a string or an object) for a principal (may be NULL) of the given
 * trust. 0 or -ENOMEM. Thread-safe on one set. */
int guard_set_eval(const guard_set_t *set, const json_t *action, const char *principal,
                   double trust, guard_eval_t *out);
void guard_eval_clear(guard_eval_t *ev);
/* The fired rules as [{rule, name, weight, why:[...]}]. New reference. */
json_t *guard_eval_fired_json(const guard_set_t *set, const guard_eval_t *ev, const json_t *action,
                              const char *principal, double trust);

#endif
