#include "common/duration.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define MS_PER_DAY 86400000LL

/* TimeSpan.MaxValue as .NET writes it. */
static const char infinite_xs[] = "P10675199DT2H48M5.4775807S";
static const char infinite_seconds[] = "922337203685.47754";

static int64_t sat_add(int64_t a, int64_t b)
{
	return a > INT64_MAX - b ? INT64_MAX : a + b;
}

static int64_t sat_mul(int64_t a, int64_t b)
{
	return b != 0 && a > INT64_MAX / b ? INT64_MAX : a * b;
}

/* One or more digits at `*p` (before `end`) as a count saturating at INT64_MAX. */
static bool take_count(const char **p, const char *end, int64_t *out)
{
	const char *q = *p;
	int64_t v = 0;

	for (; q < end && *q >= '0' && *q <= '9'; q++)
		v = sat_add(sat_mul(v, 10), *q - '0');
	if (q == *p)
		return false;
	*p = q;
	*out = v;
	return true;
}

/* An optional '.' and one to `max_digits` digits, as milliseconds (digits past the third are
 * dropped) in `*msec` and whether it was there in `*present`. */
static bool take_fraction(const char **p, const char *end, size_t max_digits, bool *present,
			  int64_t *msec)
{
	const char *q = *p;
	int64_t v = 0;
	size_t n = 0;

	*present = false;
	*msec = 0;
	if (q == end || *q != '.')
		return true;
	for (q++; q < end && *q >= '0' && *q <= '9'; q++, n++)
		if (n < 3)
			v = v * 10 + (*q - '0');
	if (n == 0 || n > max_digits)
		return false;
	for (; n < 3; n++)
		v *= 10;
	*p = q;
	*present = true;
	*msec = v;
	return true;
}

/* Store a parsed magnitude in `*ms`: LZ_ERANGE if it carried a '-' and is not zero; infinite
 * from DURATION_INFINITE_MIN_MS up. */
static lz_err duration_finish(bool negative, int64_t total, int64_t *ms)
{
	if (negative && total != 0)
		return LZ_ERANGE;
	*ms = total >= DURATION_INFINITE_MIN_MS ? DURATION_INFINITE : total;
	return LZ_OK;
}

static bool is_xml_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * Parse the components of one part of an xs:duration (the date part before 'T', or the time
 * part after it) from `*p` up to `stop` or `end`. `units` lists the designators in the order
 * they may appear and `unit_ms` their sizes; a fraction is allowed before `frac_unit` only ('\0':
 * nowhere). Adds to `*total`; sets `*any` if a component was seen.
 */
static bool xs_take_part(const char **p, const char *end, char stop, const char *units,
			 const int64_t *unit_ms, char frac_unit, int64_t *total, bool *any)
{
	const char *q = *p, *u;
	size_t next = 0;

	while (q < end && *q != stop) {
		int64_t n, frac;
		bool has_frac;

		if (!take_count(&q, end, &n) || !take_fraction(&q, end, SIZE_MAX, &has_frac, &frac) ||
		    q == end)
			return false;
		u = strchr(units + next, *q);
		if (!u || (has_frac && *u != frac_unit))
			return false;
		*total = sat_add(*total, sat_add(sat_mul(n, unit_ms[u - units]), frac));
		next = (size_t)(u - units) + 1;
		*any = true;
		q++;
	}
	*p = q;
	return true;
}

lz_err duration_parse_xs(const char *s, int64_t *ms)
{
	static const int64_t date_ms[] = { 365 * MS_PER_DAY, 30 * MS_PER_DAY, MS_PER_DAY };
	static const int64_t time_ms[] = { 3600000, 60000, 1000 };
	const char *p, *end;
	bool negative = false, any_date = false, any_time = false;
	int64_t total = 0;

	if (!s || !ms)
		return LZ_EINVAL;
	end = s + strlen(s);
	for (p = s; p < end && is_xml_space(*p); p++)
		;
	while (end > p && is_xml_space(end[-1]))
		end--;
	if (p < end && *p == '-') {
		negative = true;
		p++;
	}
	if (p == end || *p++ != 'P')
		return LZ_EPARSE;
	if (!xs_take_part(&p, end, 'T', "YMD", date_ms, '\0', &total, &any_date))
		return LZ_EPARSE;
	if (p < end) {
		p++; /* the 'T' */
		if (!xs_take_part(&p, end, '\0', "HMS", time_ms, 'S', &total, &any_time) ||
		    !any_time)
			return LZ_EPARSE;
	}
	if (!any_date && !any_time)
		return LZ_EPARSE;
	return duration_finish(negative, total, ms);
}

/* Copy `text` to `out` whole, or fail with LZ_ETOOBIG. */
static lz_err copy_out(const char *text, char *out, size_t cap)
{
	size_t n = strlen(text);

	if (n >= cap)
		return LZ_ETOOBIG;
	memcpy(out, text, n + 1);
	return LZ_OK;
}

/* Milliseconds 1-999 as ".5", ".25", ".125": no trailing zeros. */
static void format_msec(int msec, char buf[5])
{
	snprintf(buf, 5, ".%03d", msec);
	for (int i = 3; buf[i] == '0'; i--)
		buf[i] = '\0';
}

lz_err duration_format_xs(int64_t ms, char *out, size_t cap)
{
	char buf[DURATION_XS_LEN], frac[5] = "";
	int64_t days, hours, mins, secs;
	int msec;
	size_t n;

	if (!out)
		return LZ_EINVAL;
	if (ms < 0)
		return LZ_ERANGE;
	if (ms == 0)
		return copy_out("PT0S", out, cap);
	if (ms >= DURATION_INFINITE_MIN_MS)
		return copy_out(infinite_xs, out, cap);
	days = ms / MS_PER_DAY;
	hours = ms / 3600000 % 24;
	mins = ms / 60000 % 60;
	secs = ms / 1000 % 60;
	msec = (int)(ms % 1000);
	/* Every field is bounded (days < 10675199), so buf cannot overflow. */
	n = (size_t)snprintf(buf, sizeof buf, "P");
	if (days)
		n += (size_t)snprintf(buf + n, sizeof buf - n, "%lldD", (long long)days);
	if (hours || mins || secs || msec) {
		n += (size_t)snprintf(buf + n, sizeof buf - n, "T");
		if (hours)
			n += (size_t)snprintf(buf + n, sizeof buf - n, "%lldH", (long long)hours);
		if (mins)
			n += (size_t)snprintf(buf + n, sizeof buf - n, "%lldM", (long long)mins);
		if (secs || msec) {
			if (msec)
				format_msec(msec, frac);
			snprintf(buf + n, sizeof buf - n, "%lld%sS", (long long)secs, frac);
		}
	}
	return copy_out(buf, out, cap);
}

/* One or two digits, at most `max`. */
static bool take_2digits(const char **p, const char *end, int max, int64_t *out)
{
	const char *q = *p;
	int64_t v;

	if (!take_count(&q, end, &v) || q - *p > 2 || v > max)
		return false;
	*p = q;
	*out = v;
	return true;
}

lz_err duration_parse_timespan(const char *s, int64_t *ms)
{
	const char *p, *end, *first;
	int64_t days = 0, hours, mins, secs, msec, total;
	bool negative, has_frac;

	if (!s || !ms)
		return LZ_EINVAL;
	end = s + strlen(s);
	negative = *s == '-';
	p = first = s + negative;
	/* The first number is days when a '.' follows it, hours when a ':' does. */
	if (!take_count(&p, end, &hours))
		return LZ_EPARSE;
	if (p < end && *p == '.') {
		days = hours;
		p++;
		if (!take_2digits(&p, end, 23, &hours))
			return LZ_EPARSE;
	} else if (p - first > 2 || hours > 23) {
		return LZ_EPARSE;
	}
	if (p == end || *p++ != ':' || !take_2digits(&p, end, 59, &mins) || p == end ||
	    *p++ != ':' || !take_2digits(&p, end, 59, &secs) ||
	    !take_fraction(&p, end, 7, &has_frac, &msec) || p != end)
		return LZ_EPARSE;
	total = sat_add(sat_mul(days, MS_PER_DAY),
			hours * 3600000 + mins * 60000 + secs * 1000 + msec);
	return duration_finish(negative, total, ms);
}

void duration_format_seconds(int64_t ms, char *out, size_t cap)
{
	char frac[5] = "";
	uint64_t mag;

	if (!out || cap == 0)
		return;
	if (ms >= DURATION_INFINITE_MIN_MS) {
		snprintf(out, cap, "%s", infinite_seconds);
		return;
	}
	mag = ms < 0 ? -(uint64_t)ms : (uint64_t)ms;
	if (mag % 1000)
		format_msec((int)(mag % 1000), frac);
	snprintf(out, cap, "%s%llu%s", ms < 0 ? "-" : "", (unsigned long long)(mag / 1000), frac);
}

lz_err duration_from_seconds(double s, int64_t *ms)
{
	double scaled;

	if (!ms)
		return LZ_EINVAL;
	if (isnan(s) || s < 0)
		return LZ_ERANGE;
	scaled = s * 1000.0 + 0.5;
	if (scaled >= (double)DURATION_INFINITE_MIN_MS) {
		*ms = DURATION_INFINITE;
		return LZ_OK;
	}
	*ms = (int64_t)scaled;
	return LZ_OK;
}
