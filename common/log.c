/* Process log sink and the always-on assertion handler. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <errno.h>
#include <pthread.h>
#include "common/log.h"
#include "common/assert.h"

static const char *const sub_names[NORN_SUB_MAX] = {
	"main", "msg", "auth", "crush", "mon", "raft", "osd", "pg",
	"store", "client", "vol", "nbd", "s3",
};
static const char *const level_names[] = { "ERR", "WARN", "INFO", "DEBUG", "TRACE" };

static struct {
	char name[48];
	FILE *fp;
	unsigned char level[NORN_SUB_MAX];
	int inited;
} g_log;

void norn_log_init(const char *name, FILE *fp, enum norn_log_level level)
{
	snprintf(g_log.name, sizeof(g_log.name), "%s", name ? name : "norn");
	g_log.fp = fp;
	for (int i = 0; i < NORN_SUB_MAX; i++)
		g_log.level[i] = (unsigned char)level;
	g_log.inited = 1;
}

void norn_log_set_level(enum norn_log_subsys sub, enum norn_log_level level)
{
	NORN_ASSERT(sub < NORN_SUB_MAX);
	if (!g_log.inited)
		norn_log_init(NULL, NULL, NORN_LOG_WARN);
	g_log.level[sub] = (unsigned char)level;
}

int norn_log_parse_level(const char *s, enum norn_log_level *out)
{
	static const char *const names[] = { "err", "warn", "info", "debug", "trace" };
	for (int i = 0; i < 5; i++) {
		if (!strcasecmp(s, names[i]) || (s[0] == '0' + i && s[1] == 0)) {
			*out = (enum norn_log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

int norn_log_enabled(enum norn_log_subsys sub, enum norn_log_level level)
{
	if (!g_log.inited)
		return level <= NORN_LOG_WARN;
	return level <= g_log.level[sub];
}

void norn_log_write(enum norn_log_subsys sub, enum norn_log_level level,
                    const char *fmt, ...)
{
	char line[1024];
	struct timespec ts;
	struct tm tm;
	int n;
	va_list ap;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s %s: ",
	             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	             tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
	             g_log.inited ? g_log.name : "norn", level_names[level],
	             sub_names[sub]);
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(line))
		vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	/* One fputs per line: stdio locks the stream, so lines never interleave. */
	size_t len = strnlen(line, sizeof(line) - 2);
	line[len] = '\n';
	line[len + 1] = 0;
	FILE *fp = g_log.fp ? g_log.fp : stderr;
	fputs(line, fp);
	if (level <= NORN_LOG_WARN)
		fflush(fp);
}

void norn__assert_fail(const char *expr, const char *file, int line, const char *func)
{
	norn_log_write(NORN_SUB_MAIN, NORN_LOG_ERR, "assertion failed: %s at %s:%d (%s)",
	               expr, file, line, func);
	fflush(NULL);
	abort();
}
