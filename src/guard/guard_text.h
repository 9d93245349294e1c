/* Text as the guard's word matcher sees it: UTF-8 case folding (ASCII, Latin-1, Latin
 * Extended-A, Greek, Cyrillic) with whitespace runs collapsed, word boundaries, and one
 * Aho-Corasick automaton for every word and phrase of every rule. Pure, no I/O. */
#ifndef GANGLION_GUARD_TEXT_H
#define GANGLION_GUARD_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Folds in[0..len) into out (room for at least len bytes: folding never grows the text).
 * Upper-case letters of the scripts above become lower case, final sigma becomes sigma, runs
 * of ASCII whitespace become one space, leading and trailing whitespace go. Bytes that are not
 * valid UTF-8 are copied as they are. Returns the folded length. */
size_t guard_text_fold(const char *in, size_t len, char *out);

/* True when the code point that ends just before text[pos] (pos > 0) or starts at text[pos]
 * (pos < len) is a word character: ASCII letters, digits, '_' and every non-ASCII code point
 * outside the punctuation and space blocks. */
bool guard_text_word_before(const char *text, size_t pos);
bool guard_text_word_at(const char *text, size_t len, size_t pos);

/* The automaton. Patterns are added folded (guard_text_fold) and matched whole-word: a pattern
 * that begins (ends) with a word character matches only where the text has no word character
 * just before (after) it. */
typedef struct guard_ac guard_ac_t;

guard_ac_t *guard_ac_new(void);
void guard_ac_destroy(guard_ac_t **ac);
/* Adds a folded pattern carrying `tag` (the caller's id, e.g. a rule's index). 0, -EINVAL for an
 * empty pattern, -ENOMEM. Only before guard_ac_build. */
int guard_ac_add(guard_ac_t *ac, const char *pat, size_t len, uint32_t tag);
/* Computes the failure links; after it the automaton is immutable and may be shared by
 * threads. 0 or -ENOMEM. */
int guard_ac_build(guard_ac_t *ac);
size_t guard_ac_patterns(const guard_ac_t *ac);
size_t guard_ac_states(const guard_ac_t *ac);

/* Called for every whole-word match in the text, with the pattern's tag and its index (order
 * of guard_ac_add). Return nonzero to stop the scan. */
typedef int (*guard_ac_hit_fn)(void *ud, uint32_t tag, uint32_t pattern);
/* Scans folded text. Returns the number of hits reported. */
size_t guard_ac_scan(const guard_ac_t *ac, const char *text, size_t len, guard_ac_hit_fn hit,
                     void *ud);
/* The folded text of pattern i (borrowed), and its length. */
const char *guard_ac_pattern(const guard_ac_t *ac, uint32_t i, size_t *len);

#endif
