/*
 * timefmt — instants as text, in the formats Service Bus puts on the wire.
 *
 * An instant is an int64_t count of milliseconds since 1970-01-01T00:00:00Z (UTC, no leap
 * seconds). Instants before the epoch are negative. The supported calendar range is the one
 * .NET DateTime has: years 0001 through 9999, i.e. TIMEFMT_MS_MIN ..= TIMEFMT_MS_MAX.
 *
 * Formats (all UTC; the calendar is proleptic Gregorian):
 *
 *   RFC 1123     "Sun, 06 Nov 1994 08:49:37 GMT"          BrokerProperties dates, the Date header
 *   RFC 850      "Sunday, 06-Nov-94 08:49:37 GMT"         parsed only (obsolete HTTP form)
 *   asctime      "Sun Nov  6 08:49:37 1994"               parsed only (obsolete HTTP form)
 *   ISO-8601 ms  "2021-04-19T17:21:10.687Z"               queue/topic timestamps in ATOM
 *   ISO-8601 ticks "2020-07-17T02:22:22.6630000Z"         subscription/rule timestamps (7 digits)
 *
 * The three HTTP forms are the ones RFC 2616 §3.3.1 lists. The HTTP forms carry whole seconds:
 * formatting drops the milliseconds (rounding toward the past).
 *
 * Errors: a malformed string gives LZ_EPARSE; a well-formed one outside the supported range
 * gives LZ_ERANGE; an instant outside the range given to a formatter gives LZ_ERANGE; an output
 * buffer too small for the text and its NUL gives LZ_ETOOBIG. On any error the OUT parameter is
 * left unchanged (a formatter may have written a partial string to `out`).
 *
 * Nothing here reads the TZ environment variable or the locale: the conversion is done with
 * integer arithmetic. All functions are reentrant and may be called from any thread.
 */
#ifndef LZ_COMMON_TIMEFMT_H
#define LZ_COMMON_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* 0001-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z. */
#define TIMEFMT_MS_MIN (-62135596800000LL)
#define TIMEFMT_MS_MAX (253402300799999LL)

/* Buffer sizes (including the NUL) that always suffice for each formatter. */
#define TIMEFMT_RFC1123_LEN 30
#define TIMEFMT_ISO8601_MS_LEN 25
#define TIMEFMT_ISO8601_TICKS_LEN 29

/* Write `ms` as "Sun, 06 Nov 1994 08:49:37 GMT" to OUT `out` (sub-second part dropped). */
lz_err timefmt_rfc1123(int64_t ms, char *out, size_t cap);

/*
 * Parse an HTTP date into OUT `*ms`, accepting exactly the three RFC 2616 forms:
 *   "Sun, 06 Nov 1994 08:49:37 GMT"    RFC 1123 (2-digit day, 4-digit year)
 *   "Sunday, 06-Nov-94 08:49:37 GMT"   RFC 850; a 2-digit year 70..99 is 19yy, 00..69 is 20yy
 *   "Sun Nov  6 08:49:37 1994"         asctime; the day is space-padded or 2 digits
 * Names are case-sensitive, as RFC 7231 §7.1.1.1 says. The weekday must be the one the date
 * falls on (.NET rejects a mismatch too). Fields must be in range (hour 00-23, second 00-59, day
 * within its month). No leading or trailing characters are allowed.
 */
lz_err timefmt_parse_http_date(const char *s, int64_t *ms);

/* Write `ms` as "2021-04-19T17:21:10.687Z" to OUT `out`. */
lz_err timefmt_iso8601_ms(int64_t ms, char *out, size_t cap);

/* Write `ms` as "2020-07-17T02:22:22.6630000Z" (7 fraction digits, .NET ticks) to OUT `out`. */
lz_err timefmt_iso8601_ticks(int64_t ms, char *out, size_t cap);

/*
 * Parse "YYYY-MM-DDTHH:MM:SS[.fraction][Z|+hh:mm|-hh:mm]" into OUT `*ms`. No zone means UTC (the
 * form .NET writes for DateTimeKind.Unspecified, e.g. "0001-01-01T00:00:00"). The fraction has
 * one or more digits; digits below the millisecond are dropped (rounding toward the past). 'T'
 * and 'Z' are upper case. An offset is subtracted to give UTC; LZ_ERANGE if the result leaves
 * the supported range.
 */
lz_err timefmt_parse_iso8601(const char *s, int64_t *ms);

#endif
