/*
 * duration — time spans as text, in the forms Service Bus uses.
 *
 * A duration is an int64_t count of milliseconds, never negative. Azure's "infinite" is .NET
 * TimeSpan.MaxValue (10675199 days 02:48:05.4775807); here it is DURATION_INFINITE. Every
 * duration of DURATION_INFINITE_MIN_MS (10675199 days) or more is infinite: parsers return
 * DURATION_INFINITE for it and formatters write TimeSpan.MaxValue for it. This absorbs the
 * rounded forms clients send for "infinite" (Python: "P10675199DT2H48M5.477539S") and keeps
 * every finite value round-tripping exactly through all three text forms.
 *
 * Forms:
 *   xs:duration  "PT1M", "P14D", "P1DT2H3M4.5S", "PT0S"    ATOM management bodies
 *                (as .NET XmlConvert writes them)
 *   TimeSpan     "[-][d.]hh:mm:ss[.fffffff]"              .NET TimeSpan.ToString()
 *   seconds      "30", "0.5", "922337203685.47754"         BrokerProperties TimeToLive (JSON number)
 *
 * Precision is the millisecond: parsers drop anything finer (rounding toward zero), except
 * duration_from_seconds, which rounds to the nearest millisecond as .NET TimeSpan.FromSeconds
 * did before .NET 7.
 *
 * Errors: malformed text → LZ_EPARSE; a negative (non-zero) duration → LZ_ERANGE; output
 * buffer too small for text and NUL → LZ_ETOOBIG. On error the OUT parameter is unchanged.
 *
 * All functions are reentrant and may be called from any thread.
 */
#ifndef LZ_COMMON_DURATION_H
#define LZ_COMMON_DURATION_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define DURATION_INFINITE INT64_MAX
/* 10675199 days: the smallest duration treated as infinite. */
#define DURATION_INFINITE_MIN_MS (10675199LL * 86400000LL)

/* Buffer sizes (including the NUL) that always suffice. */
#define DURATION_XS_LEN 27
#define DURATION_SECONDS_LEN 24

/*
 * Parse an xs:duration "[-]P[nY][nM][nD][T[nH][nM][n[.f]S]]" into OUT `*ms`. At least one
 * component must be present, and at least one after a 'T'; components appear in that order;
 * only seconds may have a fraction, with digits on both sides of the '.'. Y counts 365 days and
 * M (before the 'T') 30 days, as .NET's XmlConvert.ToTimeSpan does. Leading and trailing XML
 * white space (space, tab, CR, LF) is ignored, as xs:duration's whiteSpace=collapse requires.
 * A leading '-' on a non-zero value gives LZ_ERANGE. Values too large for int64 saturate to
 * DURATION_INFINITE.
 */
lz_err duration_parse_xs(const char *s, int64_t *ms);

/*
 * Write `ms` to OUT `out` the way XmlConvert.ToString(TimeSpan) does: days, then 'T' and the
 * non-zero hours, minutes and seconds, the fraction without trailing zeros; "PT0S" for zero;
 * "P10675199DT2H48M5.4775807S" for infinite. LZ_ERANGE for a negative `ms`.
 */
lz_err duration_format_xs(int64_t ms, char *out, size_t cap);

/*
 * Parse .NET TimeSpan text "[-][d.]hh:mm:ss[.fffffff]" into OUT `*ms`: hours 0-23, minutes and
 * seconds 0-59, each one or two digits; one to seven fraction digits. "0.00:00:40",
 * "00:05:00", "1.02:03:04.5"; "10675199.02:48:05.4775807" is infinite. A '-' on a non-zero
 * value gives LZ_ERANGE. No white space is allowed.
 */
lz_err duration_parse_timespan(const char *s, int64_t *ms);

/*
 * Write `ms` as a seconds number to `out`: up to 3 decimals without trailing zeros ("30",
 * "0.5", "2.25"); infinite as "922337203685.47754" (TimeSpan.MaxValue in seconds, as the
 * service writes it). Never fails: with `cap` below DURATION_SECONDS_LEN the text may be cut
 * short (always NUL-terminated when cap > 0). A negative `ms` is written with a '-'.
 */
void duration_format_seconds(int64_t ms, char *out, size_t cap);

/*
 * Convert a seconds count (BrokerProperties TimeToLive) into OUT `*ms`, rounded to the nearest
 * millisecond. Infinite (≥ DURATION_INFINITE_MIN_MS, which includes 922337203685 and +inf) →
 * DURATION_INFINITE. Negative or NaN → LZ_ERANGE.
 */
lz_err duration_from_seconds(double s, int64_t *ms);

#endif
