/* Logging with levels and subsystems.
 *
 * The log sink is process-wide (a daemon has one log file), set once at
 * start-up by norn_log_init() before threads start; everything else about
 * a daemon is passed explicitly. Lines look like:
 *   2026-11-23T11:47:43.123Z osd.3 WARN msg: peer 127.0.0.1:6801 bad frame crc
 * Each subsystem has its own level so `debug_msg = 20`-style tuning works.
 */
#ifndef NORN_LOG_H
#define NORN_LOG_H

#include <stdio.h>

enum norn_log_level {
	NORN_LOG_ERR = 0,
	NORN_LOG_WARN = 1,
	NORN_LOG_INFO = 2,
	NORN_LOG_DEBUG = 3,
	NORN_LOG_TRACE = 4,
};

enum norn_log_subsys {
	NORN_SUB_MAIN = 0,
	NORN_SUB_MSG,
	NORN_SUB_AUTH,
	NORN_SUB_CRUSH,
	NORN_SUB_MON,
	NORN_SUB_RAFT,
	NORN_SUB_OSD,
	NORN_SUB_PG,
	NORN_SUB_STORE,
	NORN_SUB_CLIENT,
	NORN_SUB_VOL,
	NORN_SUB_NBD,
	NORN_SUB_S3,
	NORN_SUB_MAX,
};

/* Initialise the process log: @name is the entity ("osd.3"), @fp the sink
 * (NULL: stderr), @level the default level for every subsystem. Call once,
 * before any thread starts. */
void norn_log_init(const char *name, FILE *fp, enum norn_log_level level);

/* Set one subsystem's level (before threads start). */
void norn_log_set_level(enum norn_log_subsys sub, enum norn_log_level level);

/* Parse "err|warn|info|debug|trace" or "0".."4". Returns 0 or -EINVAL. */
int norn_log_parse_level(const char *s, enum norn_log_level *out);

/* Returns non-zero if a message at @level for @sub would be written. */
int norn_log_enabled(enum norn_log_subsys sub, enum norn_log_level level);

void norn_log_write(enum norn_log_subsys sub, enum norn_log_level level,
                    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define NLOG(sub, lvl, ...) \
	do { if (norn_log_enabled(NORN_SUB_##sub, NORN_LOG_##lvl)) \
		norn_log_write(NORN_SUB_##sub, NORN_LOG_##lvl, __VA_ARGS__); } while (0)

#endif
