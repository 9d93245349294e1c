/* Structured logging: one JSON object per line ({ts, level, msg, request_id?, ...fields}) to
 * stderr or a file. The logger is process-wide (the one exception to "state lives in the hub"),
 * because every module logs and the log must work before the hub exists. Thread-safe. */
#ifndef GANGLION_LOG_H
#define GANGLION_LOG_H

#include <stddef.h>

typedef enum {
    LOG_LEVEL_DEFAULT = -1, /* a module's level: follow the default */
    LOG_LEVEL_DEBUG = 0,
    LOG_LEVEL_INFO = 1,
    LOG_LEVEL_WARN = 2,
    LOG_LEVEL_ERROR = 3,
    LOG_LEVEL_OFF = 4,
} log_level_t;

/* Parses "debug|info|warn|error|off"; returns 0 or -1. */
int log_level_parse(const char *s, log_level_t *out);
const char *log_level_name(log_level_t level);

/* Sets the level and destination: path NULL or "" means stderr. Returns 0 or -errno. */
int log_open(log_level_t level, const char *path);
void log_level_set(log_level_t level);
/* True when a record at this level could be written by some module (the default level, or a
 * module's own if lower): a cheap check before building an expensive record. */
int log_enabled(log_level_t level);
/* True when a record of this module at this level is written. */
int log_enabled_for(const char *module, log_level_t level);

/* Per-module levels. A record's module is the prefix of its message up to ':' ("agents: spawn
 * failed" is module "agents"); records without one follow the default level. LOG_MODULES are
 * the modules that exist; a module's own level, when set, replaces the default for it. */
#define LOG_MODULE_MAX 16
extern const char *const log_modules[];
/* Sets a module's level; LOG_LEVEL_DEFAULT clears it. Returns 0, or -ENOENT for a module not
 * in log_modules. */
int log_module_level_set(const char *module, log_level_t level);
/* The module's own level, or LOG_LEVEL_DEFAULT when it follows the default. */
log_level_t log_module_level(const char *module);
log_level_t log_level_get(void);
/* Parses "module=level,module=level" and sets each (clearing modules not named). Returns 0, or
 * -EINVAL with err naming the bad entry. Nothing is changed on error. */
int log_module_levels_apply(const char *spec, char *err, size_t errlen);
/* The same check without applying. */
int log_module_levels_check(const char *spec, char *err, size_t errlen);
/* Reopens the log file (SIGHUP, after rotation). No-op for stderr. */
int log_reopen(void);
void log_close(void);

/* Emits a record. `fields` is a jansson json_pack format for an object ("{s:s,s:i}") or NULL,
 * followed by its arguments. request_id may be NULL. */
void log_emit(log_level_t level, const char *request_id, const char *msg, const char *fields, ...);

#define log_debug(rid, msg, ...) log_emit(LOG_LEVEL_DEBUG, rid, msg, __VA_ARGS__)
#define log_info(rid, msg, ...)  log_emit(LOG_LEVEL_INFO, rid, msg, __VA_ARGS__)
#define log_warn(rid, msg, ...)  log_emit(LOG_LEVEL_WARN, rid, msg, __VA_ARGS__)
#define log_error(rid, msg, ...) log_emit(LOG_LEVEL_ERROR, rid, msg, __VA_ARGS__)

#endif
