/* Program files (agents_programs_file.c): the pure part of programs — the *.ini files of a
 * directory read into spawn specs, with their errors by file:line — kept apart from the loop
 * so that the reload can run it on the thread pool and tests can call it. */
#ifndef GANGLION_AGENTS_PROGRAMS_H
#define GANGLION_AGENTS_PROGRAMS_H

#include <jansson.h>

#define AGENTS_PROGRAMS_FILE_MAX    (64 * 1024) /* bytes of one file */
#define AGENTS_PROGRAMS_FILES_MAX   64          /* *.ini files read from the directory */
#define AGENTS_PROGRAMS_MAX         256         /* programs in all files */
#define AGENTS_PROGRAM_NUMPROCS_MAX 64          /* agents of one program */
#define AGENTS_PROGRAM_NAME_MAX     48          /* so that NAME-63 fits an agent's name */
#define AGENTS_PROGRAM_VALUE_MAX    16384       /* a value with its continuation lines */
#define AGENTS_PROGRAMS_ERRORS_MAX  32          /* errors reported (the rest are counted) */

/* Reads dir's *.ini files (in name order; a missing directory is no programs) into a new set:
 * {dir, programs: {NAME: {file, line, numprocs, autostart, spec}}, errors: ["file:line: …"]}.
 * spec is the spawn spec without a name (labels hold program=NAME). A file with any error
 * contributes no program. NULL only when out of memory. */
json_t *agents_programs_read(const char *dir);

#endif
