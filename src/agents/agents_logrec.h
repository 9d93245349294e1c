/* The records of agents' log files (agents_logfile.c writes them, agents_logquery.c reads
 * them): one compact JSON object per line, {"seq":N,"stream":"stdout"|"stderr","ts":MS,
 * "text":"…"[,…]}, the object GET /agents/{id}/output returns for the line. */
#ifndef GANGLION_AGENTS_LOGREC_H
#define GANGLION_AGENTS_LOGREC_H

#include <stddef.h>
#include <stdint.h>

/* The record's seq and stream (AGENTS_STDOUT or AGENTS_STDERR) from its first bytes. 0, or
 * -EINVAL when p[0..len) does not start like a record. */
int agents_logrec_head_parse(const char *p, size_t len, uint64_t *seq, int *stream);
/* The record's "text" with its escapes undone: *text points into rec when the string has no
 * escapes, else into *buf (grown to at least len bytes as needed; the caller frees it). 0,
 * -EINVAL (not a record this reader knows: parse it as JSON instead) or -ENOMEM. */
int agents_logrec_text_get(const char *rec, size_t len, char **buf, size_t *cap, const char **text,
                           size_t *tlen);

#endif
