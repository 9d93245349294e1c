/* The data directory's permissions: it holds password hashes, agent environments, signing keys
 * and tokens, so it should be 0700 and its files 0600. The daemon creates them so; this check
 * warns at start about what an operator, an older version or a restore left wider. */
#ifndef GANGLION_DATADIR_H
#define GANGLION_DATADIR_H

/* Logs one warning per entry of dir (the directory itself and the regular files directly in
 * it, public keys "*.pub" excepted) readable, writable or searchable by group or others.
 * Returns how many were found, or a negative errno when dir cannot be read. */
int datadir_modes_check(const char *dir);

#endif
