/*
 * log — structured, level-checked log lines on stderr.
 *
 * One line per event: `ts=<ISO-8601> level=<lvl> proc=<tag> msg="<text>" key=value ...`.
 * Message text starts lowercase, has no trailing period, names the object concerned (queue,
 * path, LSN) and, for errors, says what to do next. The LZ_LOG macro checks the level before it
 * evaluates its arguments, so debug lines cost nothing when disabled.
 *
 * Thread rules: log_set_* are called once at start-up before other threads exist; log_write is
 * safe from any thread (each line is one write(2)).
 */
#ifndef LZ_COMMON_LOG_H
#define LZ_COMMON_LOG_H

#include <stdbool.h>

#include "common/err.h"

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

extern enum log_level log_threshold;

/* Sets the process tag printed as proc=... (borrowed: must outlive the process). */
void log_set_tag(const char *tag);

/* Parses "debug", "info", "warn" or "error" into `out`; LZ_EINVAL for anything else. */
lz_err log_level_parse(const char *name, enum log_level *out);

/* Writes one line; `fields` is printf-formatted `key=value` text appended after msg (may be ""). */
void log_write(enum log_level lvl, const char *msg, const char *fields_fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define LZ_LOG(lvl, msg, ...)                                                 \
	do {                                                                  \
		if ((lvl) >= log_threshold)                                   \
			log_write((lvl), (msg), __VA_ARGS__);                 \
	} while (0)

#endif
