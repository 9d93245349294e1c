/* Full-text ranking and snippets computed in C from the records' content, so that SQLite (FTS5)
 * and PostgreSQL (tsvector) only choose the candidates and both stores rank them the same way. */
#ifndef GANGLION_MEMORY_TEXT_H
#define GANGLION_MEMORY_TEXT_H

#include <stddef.h>

#define MEMORY_TERMS_MAX 16
#define MEMORY_TERM_LEN  64

typedef struct memory_terms {
    size_t n;
    char t[MEMORY_TERMS_MAX][MEMORY_TERM_LEN]; /* lower-cased words, distinct */
} memory_terms_t;

/* The query's words: runs of ASCII letters and digits and of non-ASCII bytes (UTF-8), ASCII
 * lower-cased, duplicates dropped, at most MEMORY_TERMS_MAX of at most MEMORY_TERM_LEN-1 bytes
 * (longer words are cut). Returns the count. */
size_t memory_text_terms(const char *query, memory_terms_t *out);

/* The candidates' match expression: FTS5 ("a" OR "b") or tsquery (a | b). 0 or -ENOSPC. */
int memory_text_fts5(const memory_terms_t *t, char *buf, size_t len);
int memory_text_tsquery(const memory_terms_t *t, char *buf, size_t len);

/* BM25 of each content among the n given (idf and average length taken over these n, k1 = 1.2,
 * b = 0.75), into score[i]; 0 for a content that holds none of the terms. */
void memory_text_rank(const memory_terms_t *t, const char *const *content, size_t n, double *score);

/* A window of content around its first matching word with every matching word in <b>...</b>,
 * "…" where cut; a new string (the caller frees it) or NULL when out of memory. */
char *memory_text_snippet(const memory_terms_t *t, const char *content);

#endif
