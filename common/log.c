#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum log_level log_threshold = LOG_INFO;
static const char *log_tag = "localzure";

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void log_set_tag(const char *tag)
{
	log_tag = tag;
}

lz_err log_level_parse(const char *name, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return LZ_OK;
		}
	}
	return LZ_EINVAL;
}

void log_write(enum log_level lvl, const char *msg, const char *fields_fmt, ...)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;
	size_t len;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line), "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s proc=%s msg=\"%s\"",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		     ts.tv_nsec / 1000000, level_names[lvl], log_tag, msg);
	if (n < 0)
		return;
	len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
	if (fields_fmt[0] != '\0' && len + 2 < sizeof(line)) {
		va_list ap;

		line[len++] = ' ';
		va_start(ap, fields_fmt);
		n = vsnprintf(line + len, sizeof(line) - len, fields_fmt, ap);
		va_end(ap);
		if (n > 0)
			len += (size_t)n < sizeof(line) - len ? (size_t)n : sizeof(line) - len - 1;
	}
	if (len + 1 >= sizeof(line))
		len = sizeof(line) - 2;
	line[len++] = '\n';
	/* A failed log write has nowhere to be reported; the line is dropped. */
	if (write(STDERR_FILENO, line, len) < 0)
		return;
}
