/* Unit tests for common/timefmt: known vectors, every error path, and round trips checked
 * against glibc's gmtime_r as an independent calendar. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "common/timefmt.h"

#define ck_assert_err(expr, want)                                                          \
	do {                                                                               \
		lz_err got_ = (expr);                                                      \
		ck_assert_msg(got_ == (want), "%s: got %s, want %s", #expr, err_name(got_), \
			      err_name(want));                                             \
	} while (0)

/* 1994-11-06T08:49:37Z, the RFC 2616 example. */
#define RFC_EXAMPLE_MS 784111777000LL

/* A small deterministic generator so failures reproduce. */
static uint64_t lcg_next(uint64_t *x)
{
	*x = *x * 6364136223846793005ULL + 1442695040888963407ULL;
	return *x >> 11;
}

START_TEST(test_rfc1123_vectors)
{
	static const struct {
		int64_t ms;
		const char *text;
	} cases[] = {
		{ RFC_EXAMPLE_MS, "Sun, 06 Nov 1994 08:49:37 GMT" },
		{ RFC_EXAMPLE_MS + 999, "Sun, 06 Nov 1994 08:49:37 GMT" },
		{ 0, "Thu, 01 Jan 1970 00:00:00 GMT" },
		{ -1, "Wed, 31 Dec 1969 23:59:59 GMT" },
		{ 1709208000000LL, "Thu, 29 Feb 2024 12:00:00 GMT" },
		{ TIMEFMT_MS_MIN, "Mon, 01 Jan 0001 00:00:00 GMT" },
		{ TIMEFMT_MS_MAX, "Fri, 31 Dec 9999 23:59:59 GMT" },
	};
	char buf[TIMEFMT_RFC1123_LEN];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ck_assert_err(timefmt_rfc1123(cases[i].ms, buf, sizeof buf), LZ_OK);
		ck_assert_str_eq(buf, cases[i].text);
	}
}
END_TEST

START_TEST(test_format_errors)
{
	char buf[64];

	ck_assert_err(timefmt_rfc1123(TIMEFMT_MS_MIN - 1, buf, sizeof buf), LZ_ERANGE);
	ck_assert_err(timefmt_rfc1123(TIMEFMT_MS_MAX + 1, buf, sizeof buf), LZ_ERANGE);
	ck_assert_err(timefmt_iso8601_ms(TIMEFMT_MS_MIN - 1, buf, sizeof buf), LZ_ERANGE);
	ck_assert_err(timefmt_iso8601_ms(INT64_MAX, buf, sizeof buf), LZ_ERANGE);
	ck_assert_err(timefmt_iso8601_ticks(INT64_MIN, buf, sizeof buf), LZ_ERANGE);
	ck_assert_err(timefmt_iso8601_ticks(TIMEFMT_MS_MAX + 1, buf, sizeof buf), LZ_ERANGE);
	/* The text needs exactly LEN bytes with its NUL. */
	ck_assert_err(timefmt_rfc1123(0, buf, TIMEFMT_RFC1123_LEN - 1), LZ_ETOOBIG);
	ck_assert_err(timefmt_rfc1123(0, buf, TIMEFMT_RFC1123_LEN), LZ_OK);
	ck_assert_err(timefmt_iso8601_ms(0, buf, TIMEFMT_ISO8601_MS_LEN - 1), LZ_ETOOBIG);
	ck_assert_err(timefmt_iso8601_ms(0, buf, TIMEFMT_ISO8601_MS_LEN), LZ_OK);
	ck_assert_err(timefmt_iso8601_ticks(0, buf, TIMEFMT_ISO8601_TICKS_LEN - 1), LZ_ETOOBIG);
	ck_assert_err(timefmt_iso8601_ticks(0, buf, TIMEFMT_ISO8601_TICKS_LEN), LZ_OK);
	ck_assert_err(timefmt_rfc1123(0, buf, 0), LZ_ETOOBIG);
	ck_assert_err(timefmt_rfc1123(0, NULL, 10), LZ_EINVAL);
	ck_assert_err(timefmt_iso8601_ms(0, NULL, 10), LZ_EINVAL);
	ck_assert_err(timefmt_iso8601_ticks(0, NULL, 10), LZ_EINVAL);
}
END_TEST

START_TEST(test_iso8601_vectors)
{
	char buf[TIMEFMT_ISO8601_TICKS_LEN];

	ck_assert_err(timefmt_iso8601_ms(1618852870687LL, buf, sizeof buf), LZ_OK);
	ck_assert_str_eq(buf, "2021-04-19T17:21:10.687Z");
	ck_assert_err(timefmt_iso8601_ticks(1594952542663LL, buf, sizeof buf), LZ_OK);
	ck_assert_str_eq(buf, "2020-07-17T02:22:22.6630000Z");
	ck_assert_err(timefmt_iso8601_ms(TIMEFMT_MS_MIN, buf, sizeof buf), LZ_OK);
	ck_assert_str_eq(buf, "0001-01-01T00:00:00.000Z");
	ck_assert_err(timefmt_iso8601_ticks(TIMEFMT_MS_MAX, buf, sizeof buf), LZ_OK);
	ck_assert_str_eq(buf, "9999-12-31T23:59:59.9990000Z");
	ck_assert_err(timefmt_iso8601_ms(-1, buf, sizeof buf), LZ_OK);
	ck_assert_str_eq(buf, "1969-12-31T23:59:59.999Z");
}
END_TEST

START_TEST(test_parse_http_forms)
{
	static const struct {
		const char *text;
		int64_t ms;
	} cases[] = {
		{ "Sun, 06 Nov 1994 08:49:37 GMT", RFC_EXAMPLE_MS },
		{ "Sunday, 06-Nov-94 08:49:37 GMT", RFC_EXAMPLE_MS },
		{ "Sun Nov  6 08:49:37 1994", RFC_EXAMPLE_MS },
		{ "Sun Nov 06 08:49:37 1994", RFC_EXAMPLE_MS },
		{ "Thu, 29 Feb 2024 12:00:00 GMT", 1709208000000LL },
		{ "Mon, 01 Jan 0001 00:00:00 GMT", TIMEFMT_MS_MIN },
		{ "Fri, 31 Dec 9999 23:59:59 GMT", TIMEFMT_MS_MAX - 999 },
		{ "Wed, 31 Dec 1969 23:59:59 GMT", -1000 },
		/* RFC 850 two-digit years: 70..99 → 19yy, 00..69 → 20yy. */
		{ "Thursday, 01-Jan-70 00:00:00 GMT", 0 },
		{ "Saturday, 01-Jan-00 00:00:00 GMT", 946684800000LL },
		{ "Tuesday, 01-Jan-69 00:00:00 GMT", 3124224000000LL },
	};
	int64_t ms;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ms = 42;
		ck_assert_msg(timefmt_parse_http_date(cases[i].text, &ms) == LZ_OK, "%s",
			      cases[i].text);
		ck_assert_msg(ms == cases[i].ms, "%s: got %lld", cases[i].text, (long long)ms);
	}
}
END_TEST

START_TEST(test_parse_http_errors)
{
	static const struct {
		const char *text;
		lz_err want;
	} cases[] = {
		{ "", LZ_EPARSE },
		{ "Sun", LZ_EPARSE },
		{ "Sun, 06 Nov 1994 08:49:37 GMT ", LZ_EPARSE },  /* trailing garbage */
		{ " Sun, 06 Nov 1994 08:49:37 GMT", LZ_EPARSE },  /* leading blank */
		{ "Sun, 06 Nov 1994 08:49:37 GMTx", LZ_EPARSE },
		{ "Sun, 06 Nov 1994 08:49:37 UTC", LZ_EPARSE },
		{ "Sun, 06 Nov 1994 08:49:37", LZ_EPARSE },
		{ "sun, 06 Nov 1994 08:49:37 GMT", LZ_EPARSE },   /* names are case-sensitive */
		{ "Sun, 06 nov 1994 08:49:37 GMT", LZ_EPARSE },
		{ "Sun, 6 Nov 1994 08:49:37 GMT", LZ_EPARSE },    /* RFC 1123 day is 2 digits */
		{ "Sun, 06 Nov 94 08:49:37 GMT", LZ_EPARSE },
		{ "Sun, 06 Nov 1994 8:49:37 GMT", LZ_EPARSE },
		{ "Sun, 06 Nov 1994 08:49 GMT", LZ_EPARSE },
		{ "Sun,06 Nov 1994 08:49:37 GMT", LZ_EPARSE },
		{ "Mon, 06 Nov 1994 08:49:37 GMT", LZ_EPARSE },   /* wrong weekday */
		{ "Xyz, 06 Nov 1994 08:49:37 GMT", LZ_EPARSE },
		{ "Sun, 06 Foo 1994 08:49:37 GMT", LZ_EPARSE },
		{ "Thu, 30 Feb 2024 12:00:00 GMT", LZ_EPARSE },   /* no such day */
		{ "Thu, 29 Feb 2023 12:00:00 GMT", LZ_EPARSE },   /* not a leap year */
		{ "Sun, 00 Nov 1994 08:49:37 GMT", LZ_EPARSE },
		{ "Sun, 06 Nov 1994 24:00:00 GMT", LZ_EPARSE },
		{ "Sun, 06 Nov 1994 08:60:00 GMT", LZ_EPARSE },
		{ "Sun, 06 Nov 1994 08:49:60 GMT", LZ_EPARSE },   /* no leap seconds */
		{ "Sat, 01 Jan 0000 00:00:00 GMT", LZ_ERANGE },   /* year 0 */
		{ "Sun, 06-Nov-94 08:49:37 GMT", LZ_EPARSE },     /* RFC 850 needs the long name */
		{ "Sunday, 06 Nov 1994 08:49:37 GMT", LZ_EPARSE },
		{ "Sunday, 06-Nov-1994 08:49:37 GMT", LZ_EPARSE },
		{ "Sunday, 06-Nov-94 08:49:37 GMT x", LZ_EPARSE },
		{ "Monday, 06-Nov-94 08:49:37 GMT", LZ_EPARSE },
		{ "Sun Nov 6 08:49:37 1994", LZ_EPARSE },         /* asctime day is padded */
		{ "Sun Nov  6 08:49:37 1994 ", LZ_EPARSE },
		{ "Sun Nov  6 08:49:37 94", LZ_EPARSE },
		{ "Sun Nov  6 08:49:37 1994 GMT", LZ_EPARSE },
		{ "Mon Nov  6 08:49:37 1994", LZ_EPARSE },
	};
	int64_t ms = 42;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		lz_err e = timefmt_parse_http_date(cases[i].text, &ms);

		ck_assert_msg(e == cases[i].want, "'%s': got %s, want %s", cases[i].text,
			      err_name(e), err_name(cases[i].want));
		ck_assert_int_eq(ms, 42); /* untouched on error */
	}
	ck_assert_err(timefmt_parse_http_date(NULL, &ms), LZ_EINVAL);
	ck_assert_err(timefmt_parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", NULL), LZ_EINVAL);
}
END_TEST

START_TEST(test_parse_iso8601)
{
	static const struct {
		const char *text;
		int64_t ms;
	} cases[] = {
		{ "2021-04-19T17:21:10.687Z", 1618852870687LL },
		{ "2021-04-19T17:21:10.687", 1618852870687LL },
		{ "2021-04-19T17:21:10Z", 1618852870000LL },
		{ "2020-07-17T02:22:22.6633698Z", 1594952542663LL }, /* ticks: sub-ms dropped */
		{ "2020-07-17T02:22:22.6630000Z", 1594952542663LL },
		{ "2021-04-19T17:21:10.5Z", 1618852870500LL },
		{ "2021-04-19T17:21:10.05Z", 1618852870050LL },
		{ "2021-04-19T17:21:10.999999999Z", 1618852870999LL },
		{ "2021-04-19T18:21:10.687+01:00", 1618852870687LL },
		{ "2021-04-19T11:51:10.687-05:30", 1618852870687LL },
		{ "2021-04-19T17:21:10+00:00", 1618852870000LL },
		{ "1970-01-01T00:00:00Z", 0 },
		{ "1969-12-31T23:59:59.999Z", -1 },
		{ "0001-01-01T00:00:00", TIMEFMT_MS_MIN },
		{ "0001-01-01T00:00:00Z", TIMEFMT_MS_MIN },
		{ "0001-01-01T01:00:00+01:00", TIMEFMT_MS_MIN },
		{ "9999-12-31T23:59:59.999Z", TIMEFMT_MS_MAX },
		{ "2024-02-29T00:00:00Z", 1709164800000LL },
	};
	int64_t ms;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ms = 42;
		ck_assert_msg(timefmt_parse_iso8601(cases[i].text, &ms) == LZ_OK, "%s",
			      cases[i].text);
		ck_assert_msg(ms == cases[i].ms, "%s: got %lld", cases[i].text, (long long)ms);
	}
}
END_TEST

START_TEST(test_parse_iso8601_errors)
{
	static const struct {
		const char *text;
		lz_err want;
	} cases[] = {
		{ "", LZ_EPARSE },
		{ "2021-04-19", LZ_EPARSE },
		{ "2021-04-19 17:21:10Z", LZ_EPARSE },
		{ "2021-04-19t17:21:10Z", LZ_EPARSE },
		{ "2021-04-19T17:21:10z", LZ_EPARSE },
		{ "2021-4-19T17:21:10Z", LZ_EPARSE },
		{ "21-04-19T17:21:10Z", LZ_EPARSE },
		{ "2021-04-19T17:21Z", LZ_EPARSE },
		{ "2021-04-19T17:21:10.Z", LZ_EPARSE },
		{ "2021-04-19T17:21:10.", LZ_EPARSE },
		{ "2021-04-19T17:21:10ZZ", LZ_EPARSE },
		{ "2021-04-19T17:21:10Z ", LZ_EPARSE },
		{ " 2021-04-19T17:21:10Z", LZ_EPARSE },
		{ "2021-04-19T17:21:10+0100", LZ_EPARSE },
		{ "2021-04-19T17:21:10+01", LZ_EPARSE },
		{ "2021-04-19T17:21:10+24:00", LZ_EPARSE },
		{ "2021-04-19T17:21:10+01:60", LZ_EPARSE },
		{ "2021-04-19T17:21:10+01:00Z", LZ_EPARSE },
		{ "2021-13-19T17:21:10Z", LZ_EPARSE },
		{ "2021-00-19T17:21:10Z", LZ_EPARSE },
		{ "2021-04-31T17:21:10Z", LZ_EPARSE },
		{ "2021-04-19T24:00:00Z", LZ_EPARSE },
		{ "2021-04-19T17:60:10Z", LZ_EPARSE },
		{ "2021-04-19T17:21:60Z", LZ_EPARSE },
		{ "0000-01-01T00:00:00Z", LZ_ERANGE },
		{ "0001-01-01T00:00:00+00:01", LZ_ERANGE }, /* before year 1 in UTC */
		{ "9999-12-31T23:59:59-00:01", LZ_ERANGE }, /* after year 9999 in UTC */
	};
	int64_t ms = 42;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		lz_err e = timefmt_parse_iso8601(cases[i].text, &ms);

		ck_assert_msg(e == cases[i].want, "'%s': got %s, want %s", cases[i].text,
			      err_name(e), err_name(cases[i].want));
		ck_assert_int_eq(ms, 42);
	}
	ck_assert_err(timefmt_parse_iso8601(NULL, &ms), LZ_EINVAL);
	ck_assert_err(timefmt_parse_iso8601("1970-01-01T00:00:00Z", NULL), LZ_EINVAL);
}
END_TEST

/*
 * The hot loops below test conditions directly and call check only on failure: in fork mode
 * every ck_assert sends its location to the parent through a pipe, which made millions of
 * them take a minute.
 */

/* `ms` through every format, checked against glibc's gmtime_r as an independent calendar.
 * Returns NULL, or the step that failed. */
static const char *instant_check(int64_t ms)
{
	static const char *const wdays[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	char iso[TIMEFMT_ISO8601_MS_LEN], ticks[TIMEFMT_ISO8601_TICKS_LEN];
	char http[TIMEFMT_RFC1123_LEN], want[64];
	time_t secs = (time_t)(ms / 1000 - (ms % 1000 < 0));
	int64_t back;
	struct tm tm;

	if (!gmtime_r(&secs, &tm))
		return "gmtime_r";
	snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (int)(ms - (int64_t)secs * 1000));
	if (timefmt_iso8601_ms(ms, iso, sizeof iso) != LZ_OK || strcmp(iso, want) != 0)
		return "iso8601_ms differs from gmtime_r";
	if (timefmt_parse_iso8601(iso, &back) != LZ_OK || back != ms)
		return "iso8601_ms does not parse back";
	if (timefmt_iso8601_ticks(ms, ticks, sizeof ticks) != LZ_OK ||
	    timefmt_parse_iso8601(ticks, &back) != LZ_OK || back != ms)
		return "iso8601_ticks does not parse back";
	snprintf(want, sizeof want, "%s, %02d %s ", wdays[tm.tm_wday], tm.tm_mday,
		 months[tm.tm_mon]);
	if (timefmt_rfc1123(ms, http, sizeof http) != LZ_OK ||
	    strncmp(http, want, strlen(want)) != 0)
		return "rfc1123 weekday or date differs from gmtime_r";
	if (timefmt_parse_http_date(http, &back) != LZ_OK || back != (int64_t)secs * 1000)
		return "rfc1123 does not parse back";
	return NULL;
}

/* Every day of years 0001..9999, at a time of day that varies from day to day. */
START_TEST(test_every_day_against_gmtime)
{
	for (int64_t n = 0; n <= (TIMEFMT_MS_MAX - TIMEFMT_MS_MIN) / 86400000; n++) {
		int64_t ms = TIMEFMT_MS_MIN + n * 86400000 + (n * 7919 % 86400) * 1000 + n % 1000;
		const char *failed = instant_check(ms);

		if (failed)
			ck_abort_msg("%lld: %s", (long long)ms, failed);
	}
}
END_TEST

/* The RFC 850 and asctime forms of `ms`, rebuilt from its RFC 1123 text, parse to the same
 * whole second. Returns NULL, or the form that failed. */
static const char *http_forms_check(int64_t ms)
{
	static const char *const long_names[] = { "Sunday", "Monday", "Tuesday", "Wednesday",
						  "Thursday", "Friday", "Saturday" };
	static const char *const short_names[] = { "Sun", "Mon", "Tue", "Wed",
						   "Thu", "Fri", "Sat" };
	int64_t whole = ms - ((ms % 1000) + 1000) % 1000, back;
	char http[TIMEFMT_RFC1123_LEN], other[64], wday[4], mon[4];
	int day, year, h, m, s, wi = 0;

	if (timefmt_rfc1123(ms, http, sizeof http) != LZ_OK ||
	    sscanf(http, "%3s, %d %3s %d %d:%d:%d", wday, &day, mon, &year, &h, &m, &s) != 7)
		return "rfc1123";
	while (wi < 6 && strcmp(short_names[wi], wday) != 0)
		wi++;
	snprintf(other, sizeof other, "%s %s %2d %02d:%02d:%02d %04d", wday, mon, day, h, m, s,
		 year);
	if (timefmt_parse_http_date(other, &back) != LZ_OK || back != whole)
		return "asctime";
	if (year < 1970 || year > 2069)
		return NULL;
	snprintf(other, sizeof other, "%s, %02d-%s-%02d %02d:%02d:%02d GMT", long_names[wi], day,
		 mon, year % 100, h, m, s);
	if (timefmt_parse_http_date(other, &back) != LZ_OK || back != whole)
		return "rfc850";
	return NULL;
}

/* Random instants over the whole range, and densely over the RFC 850 years. */
START_TEST(test_random_round_trips)
{
	int64_t span = TIMEFMT_MS_MAX - TIMEFMT_MS_MIN + 1, y1970_2069 = 3155760000000LL;
	uint64_t seed = 12345;

	for (int i = 0; i < 400000; i++) {
		uint64_t r = lcg_next(&seed);
		int64_t ms = i % 2 ? TIMEFMT_MS_MIN + (int64_t)(r % (uint64_t)span)
				   : (int64_t)(r % (uint64_t)y1970_2069);
		const char *failed = instant_check(ms);

		if (!failed)
			failed = http_forms_check(ms);
		if (failed)
			ck_abort_msg("%lld: %s", (long long)ms, failed);
	}
}
END_TEST

static Suite *timefmt_suite(void)
{
	Suite *s = suite_create("timefmt");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_rfc1123_vectors);
	tcase_add_test(tc, test_format_errors);
	tcase_add_test(tc, test_iso8601_vectors);
	tcase_add_test(tc, test_parse_http_forms);
	tcase_add_test(tc, test_parse_http_errors);
	tcase_add_test(tc, test_parse_iso8601);
	tcase_add_test(tc, test_parse_iso8601_errors);
	tcase_add_test(tc, test_every_day_against_gmtime);
	tcase_add_test(tc, test_random_round_trips);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(timefmt_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
