#include "common/timefmt.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define MS_PER_DAY 86400000LL

/* A broken-down UTC instant; month 1-12, day 1-31, wday 0 = Sunday. */
struct civil {
	int64_t year;
	int month, day, hour, min, sec, msec, wday;
};

static const char *const wday_short[7] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
static const char *const wday_long[7] = { "Sunday", "Monday", "Tuesday", "Wednesday",
					  "Thursday", "Friday", "Saturday" };
static const char *const month_short[12] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

/*
 * Days since 1970-01-01 of a proleptic Gregorian date, and back. These are Howard Hinnant's
 * days_from_civil/civil_from_days: eras of 400 years (146097 days) starting on March 1st, so
 * that the leap day falls at the end of the computational year.
 */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, struct civil *c)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	c->day = (int)(doy - (153 * mp + 2) / 5 + 1);
	c->month = (int)(mp < 10 ? mp + 3 : mp - 9);
	c->year = yoe + era * 400 + (c->month <= 2);
}

/* 0 = Sunday; 1970-01-01 was a Thursday. */
static int weekday_from_days(int64_t z)
{
	return (int)(z >= -4 ? (z + 4) % 7 : (z + 5) % 7 + 6);
}

static int days_in_month(int64_t y, int m)
{
	static const int dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : dim[m - 1];
}

/* Break `ms` down into `c`; LZ_ERANGE outside years 0001..9999. */
static lz_err civil_split(int64_t ms, struct civil *c)
{
	int64_t days, rem;

	if (ms < TIMEFMT_MS_MIN || ms > TIMEFMT_MS_MAX)
		return LZ_ERANGE;
	days = ms / MS_PER_DAY;
	rem = ms % MS_PER_DAY;
	if (rem < 0) {
		days--;
		rem += MS_PER_DAY;
	}
	civil_from_days(days, c);
	c->wday = weekday_from_days(days);
	c->hour = (int)(rem / 3600000);
	c->min = (int)(rem / 60000 % 60);
	c->sec = (int)(rem / 1000 % 60);
	c->msec = (int)(rem % 1000);
	return LZ_OK;
}

/* Check the fields of a parsed date: LZ_EPARSE for an impossible date or time, LZ_ERANGE for a
 * year outside 0001..9999. */
static lz_err civil_check(const struct civil *c)
{
	if (c->month < 1 || c->month > 12 || c->day < 1 ||
	    c->day > days_in_month(c->year, c->month) || c->hour > 23 || c->min > 59 ||
	    c->sec > 59)
		return LZ_EPARSE;
	if (c->year < 1 || c->year > 9999)
		return LZ_ERANGE;
	return LZ_OK;
}

static int64_t civil_days(const struct civil *c)
{
	return days_from_civil(c->year, c->month, c->day);
}

static int64_t civil_ms(const struct civil *c)
{
	return civil_days(c) * MS_PER_DAY + c->hour * 3600000LL + c->min * 60000LL +
	       c->sec * 1000LL + c->msec;
}

/* snprintf's result as an lz_err: LZ_ETOOBIG when the text and its NUL did not fit. */
static lz_err printed(int n, size_t cap)
{
	return n < 0 || (size_t)n >= cap ? LZ_ETOOBIG : LZ_OK;
}

lz_err timefmt_rfc1123(int64_t ms, char *out, size_t cap)
{
	struct civil c;
	lz_err e;

	if (!out)
		return LZ_EINVAL;
	e = civil_split(ms, &c);
	if (e)
		return e;
	return printed(snprintf(out, cap, "%s, %02d %s %04d %02d:%02d:%02d GMT", wday_short[c.wday],
				c.day, month_short[c.month - 1], (int)c.year, c.hour, c.min, c.sec),
		       cap);
}

lz_err timefmt_iso8601_ms(int64_t ms, char *out, size_t cap)
{
	struct civil c;
	lz_err e;

	if (!out)
		return LZ_EINVAL;
	e = civil_split(ms, &c);
	if (e)
		return e;
	return printed(snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (int)c.year,
				c.month, c.day, c.hour, c.min, c.sec, c.msec),
		       cap);
}

lz_err timefmt_iso8601_ticks(int64_t ms, char *out, size_t cap)
{
	struct civil c;
	lz_err e;

	if (!out)
		return LZ_EINVAL;
	e = civil_split(ms, &c);
	if (e)
		return e;
	return printed(snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03d0000Z", (int)c.year,
				c.month, c.day, c.hour, c.min, c.sec, c.msec),
		       cap);
}

/* Parsing helpers: each consumes from `*p` only on success. */

static bool take_lit(const char **p, const char *lit)
{
	size_t n = strlen(lit);

	if (strncmp(*p, lit, n) != 0)
		return false;
	*p += n;
	return true;
}

/* Exactly `n` ASCII digits. */
static bool take_digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		char ch = (*p)[i];

		if (ch < '0' || ch > '9')
			return false;
		v = v * 10 + (ch - '0');
	}
	*p += n;
	*out = v;
	return true;
}

/* One of `count` names; returns its index or -1. Names sharing a prefix must not both be in
 * one table. */
static int take_name(const char **p, const char *const *names, int count)
{
	for (int i = 0; i < count; i++)
		if (take_lit(p, names[i]))
			return i;
	return -1;
}

/* "HH:MM:SS" */
static bool take_hms(const char **p, struct civil *c)
{
	const char *q = *p;

	if (!take_digits(&q, 2, &c->hour) || !take_lit(&q, ":") || !take_digits(&q, 2, &c->min) ||
	    !take_lit(&q, ":") || !take_digits(&q, 2, &c->sec))
		return false;
	*p = q;
	return true;
}

/* After "Www": ", DD Mon YYYY HH:MM:SS GMT" */
static bool http_take_rfc1123(const char *p, struct civil *c)
{
	int year;

	if (!take_lit(&p, ", ") || !take_digits(&p, 2, &c->day) || !take_lit(&p, " "))
		return false;
	c->month = take_name(&p, month_short, 12) + 1;
	if (c->month == 0 || !take_lit(&p, " ") || !take_digits(&p, 4, &year) ||
	    !take_lit(&p, " ") || !take_hms(&p, c) || !take_lit(&p, " GMT"))
		return false;
	c->year = year;
	return *p == '\0';
}

/* After "Weekday": ", DD-Mon-YY HH:MM:SS GMT" */
static bool http_take_rfc850(const char *p, struct civil *c)
{
	int yy;

	if (!take_lit(&p, ", ") || !take_digits(&p, 2, &c->day) || !take_lit(&p, "-"))
		return false;
	c->month = take_name(&p, month_short, 12) + 1;
	if (c->month == 0 || !take_lit(&p, "-") || !take_digits(&p, 2, &yy) ||
	    !take_lit(&p, " ") || !take_hms(&p, c) || !take_lit(&p, " GMT"))
		return false;
	/* Fixed pivot rather than "now"-relative, so that parsing is deterministic. */
	c->year = yy < 70 ? 2000 + yy : 1900 + yy;
	return *p == '\0';
}

/* After "Www": " Mon DD HH:MM:SS YYYY" where DD is " D" or "DD" */
static bool http_take_asctime(const char *p, struct civil *c)
{
	int year;

	if (!take_lit(&p, " "))
		return false;
	c->month = take_name(&p, month_short, 12) + 1;
	if (c->month == 0 || !take_lit(&p, " "))
		return false;
	if (!take_digits(&p, 2, &c->day)) {
		if (!take_lit(&p, " ") || !take_digits(&p, 1, &c->day))
			return false;
	}
	if (!take_lit(&p, " ") || !take_hms(&p, c) || !take_lit(&p, " ") ||
	    !take_digits(&p, 4, &year))
		return false;
	c->year = year;
	return *p == '\0';
}

lz_err timefmt_parse_http_date(const char *s, int64_t *ms)
{
	struct civil c = { 0 };
	const char *p = s;
	bool ok;
	int wday;
	lz_err e;

	if (!s || !ms)
		return LZ_EINVAL;
	/* The long weekday names start with the short ones, so try them first. */
	wday = take_name(&p, wday_long, 7);
	if (wday >= 0 && *p == ',') {
		ok = http_take_rfc850(p, &c);
	} else {
		p = s;
		wday = take_name(&p, wday_short, 7);
		if (wday < 0)
			return LZ_EPARSE;
		ok = *p == ',' ? http_take_rfc1123(p, &c) : http_take_asctime(p, &c);
	}
	if (!ok)
		return LZ_EPARSE;
	e = civil_check(&c);
	if (e)
		return e;
	if (weekday_from_days(civil_days(&c)) != wday)
		return LZ_EPARSE;
	*ms = civil_ms(&c);
	return LZ_OK;
}

lz_err timefmt_parse_iso8601(const char *s, int64_t *ms)
{
	struct civil c = { 0 };
	const char *p = s;
	int64_t offset_ms = 0, result;
	int year;
	lz_err e;

	if (!s || !ms)
		return LZ_EINVAL;
	if (!take_digits(&p, 4, &year) || !take_lit(&p, "-") || !take_digits(&p, 2, &c.month) ||
	    !take_lit(&p, "-") || !take_digits(&p, 2, &c.day) || !take_lit(&p, "T") ||
	    !take_hms(&p, &c))
		return LZ_EPARSE;
	c.year = year;
	if (take_lit(&p, ".")) {
		int ndigits = 0;

		for (; *p >= '0' && *p <= '9'; p++, ndigits++)
			if (ndigits < 3)
				c.msec = c.msec * 10 + (*p - '0');
		if (ndigits == 0)
			return LZ_EPARSE;
		for (; ndigits < 3; ndigits++)
			c.msec *= 10;
	}
	if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1, oh, om;

		p++;
		if (!take_digits(&p, 2, &oh) || !take_lit(&p, ":") || !take_digits(&p, 2, &om) ||
		    oh > 23 || om > 59)
			return LZ_EPARSE;
		offset_ms = sign * (oh * 3600000LL + om * 60000LL);
	} else {
		take_lit(&p, "Z");
	}
	if (*p != '\0')
		return LZ_EPARSE;
	e = civil_check(&c);
	if (e)
		return e;
	result = civil_ms(&c) - offset_ms;
	if (result < TIMEFMT_MS_MIN || result > TIMEFMT_MS_MAX)
		return LZ_ERANGE;
	*ms = result;
	return LZ_OK;
}
