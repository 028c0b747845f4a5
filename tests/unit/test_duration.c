/* Unit tests for common/duration: the xs:duration, TimeSpan and seconds forms, "infinite",
 * every error path, and round trips of finite values through each form. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/duration.h"
#include "common/err.h"

#define ck_assert_err(expr, want)                                                          \
	do {                                                                               \
		lz_err got_ = (expr);                                                      \
		ck_assert_msg(got_ == (want), "%s: got %s, want %s", #expr, err_name(got_), \
			      err_name(want));                                             \
	} while (0)

#define DAY_MS 86400000LL

struct text_case {
	const char *text;
	int64_t ms;
};

struct error_case {
	const char *text;
	lz_err want;
};

static uint64_t lcg_next(uint64_t *x)
{
	*x = *x * 6364136223846793005ULL + 1442695040888963407ULL;
	return *x >> 11;
}

static void check_parses(lz_err (*parse)(const char *, int64_t *), const struct text_case *cases,
			 size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int64_t ms = -42;
		lz_err e = parse(cases[i].text, &ms);

		ck_assert_msg(e == LZ_OK, "'%s': %s", cases[i].text, err_name(e));
		ck_assert_msg(ms == cases[i].ms, "'%s': got %lld, want %lld", cases[i].text,
			      (long long)ms, (long long)cases[i].ms);
	}
}

static void check_errors(lz_err (*parse)(const char *, int64_t *),
			 const struct error_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int64_t ms = -42;
		lz_err e = parse(cases[i].text, &ms);

		ck_assert_msg(e == cases[i].want, "'%s': got %s, want %s", cases[i].text,
			      err_name(e), err_name(cases[i].want));
		ck_assert_int_eq(ms, -42);
	}
}

START_TEST(test_parse_xs)
{
	static const struct text_case cases[] = {
		{ "PT1M", 60000 },
		{ "PT13S", 13000 },
		{ "PT10M", 600000 },
		{ "PT1H", 3600000 },
		{ "P14D", 14 * DAY_MS },
		{ "P1DT2H3M", DAY_MS + 2 * 3600000 + 3 * 60000 },
		{ "P1DT2H3M4.5S", DAY_MS + 2 * 3600000 + 3 * 60000 + 4500 },
		{ "PT0.5S", 500 },
		{ "PT0.25S", 250 },
		{ "PT0.001S", 1 },
		{ "PT0.0009S", 0 },  /* sub-millisecond rounds down */
		{ "PT1.9999S", 1999 },
		{ "PT0S", 0 },
		{ "P0D", 0 },
		{ "PT90M", 5400000 },
		{ "PT100000S", 100000000 },
		{ "P1Y", 365 * DAY_MS },
		{ "P1M", 30 * DAY_MS },
		{ "P1Y2M3DT4H5M6.7S", (365 + 60 + 3) * DAY_MS + 4 * 3600000 + 5 * 60000 + 6700 },
		{ "P1DT1S", DAY_MS + 1000 },
		{ " PT1M\n", 60000 },     /* XML white space around the value */
		{ "\t\r\nP14D  ", 14 * DAY_MS },
		{ "-PT0S", 0 },           /* negative zero is zero */
		{ "P10675198DT23H59M59.999S", DURATION_INFINITE_MIN_MS - 1 },
		{ "P10675199DT2H48M5.4775807S", DURATION_INFINITE },
		{ "P10675199DT2H48M5.477539S", DURATION_INFINITE },
		{ "P10675199D", DURATION_INFINITE },
		{ "P99999999D", DURATION_INFINITE },
		{ "PT99999999999999999999999S", DURATION_INFINITE },   /* saturates */
		{ "P99999999999999999999999Y", DURATION_INFINITE },
		{ "PT1.00000000000000000000000001S", 1000 },
	};

	check_parses(duration_parse_xs, cases, sizeof cases / sizeof cases[0]);
}
END_TEST

START_TEST(test_parse_xs_errors)
{
	static const struct error_case cases[] = {
		{ "", LZ_EPARSE },
		{ "   ", LZ_EPARSE },
		{ "P", LZ_EPARSE },
		{ "PT", LZ_EPARSE },
		{ "P1DT", LZ_EPARSE },
		{ "-P", LZ_EPARSE },
		{ "1D", LZ_EPARSE },
		{ "T1M", LZ_EPARSE },
		{ "PT1", LZ_EPARSE },
		{ "P1", LZ_EPARSE },
		{ "P1S", LZ_EPARSE },         /* seconds belong after T */
		{ "P1H", LZ_EPARSE },
		{ "PT1D", LZ_EPARSE },        /* days belong before T */
		{ "PT1Y", LZ_EPARSE },
		{ "P1D1D", LZ_EPARSE },       /* repeated */
		{ "PT1S1M", LZ_EPARSE },      /* out of order */
		{ "P1D1Y", LZ_EPARSE },
		{ "PT1M1M", LZ_EPARSE },
		{ "P1.5D", LZ_EPARSE },       /* fraction only on seconds */
		{ "PT1.5M", LZ_EPARSE },
		{ "PT1.5H", LZ_EPARSE },
		{ "PT.5S", LZ_EPARSE },
		{ "PT1.S", LZ_EPARSE },
		{ "PT1..5S", LZ_EPARSE },
		{ "PT-1S", LZ_EPARSE },
		{ "PT+1S", LZ_EPARSE },
		{ "+PT1S", LZ_EPARSE },
		{ "--PT1S", LZ_EPARSE },
		{ "pt1m", LZ_EPARSE },
		{ "PT1m", LZ_EPARSE },
		{ "P T1M", LZ_EPARSE },
		{ "PT1M junk", LZ_EPARSE },
		{ "PT1M\v", LZ_EPARSE },      /* not XML white space */
		{ "P1DTT1H", LZ_EPARSE },
		{ "PT1H2", LZ_EPARSE },
		{ "-PT1S", LZ_ERANGE },
		{ "-P1D", LZ_ERANGE },
		{ " -PT0.001S", LZ_ERANGE },
		{ "-P10675199DT2H48M5.4775807S", LZ_ERANGE },
	};
	int64_t ms;

	check_errors(duration_parse_xs, cases, sizeof cases / sizeof cases[0]);
	ck_assert_err(duration_parse_xs(NULL, &ms), LZ_EINVAL);
	ck_assert_err(duration_parse_xs("PT1M", NULL), LZ_EINVAL);
}
END_TEST

START_TEST(test_format_xs)
{
	static const struct text_case cases[] = {
		{ "PT0S", 0 },
		{ "PT0.001S", 1 },
		{ "PT0.25S", 250 },
		{ "PT0.5S", 500 },
		{ "PT30S", 30000 },
		{ "PT1M", 60000 },
		{ "PT10M", 600000 },
		{ "PT1H", 3600000 },
		{ "PT1H0.01S", 3600010 },
		{ "P1D", DAY_MS },
		{ "P14D", 14 * DAY_MS },
		{ "P1DT1S", DAY_MS + 1000 },
		{ "P1DT2H3M", DAY_MS + 2 * 3600000 + 3 * 60000 },
		{ "P1DT2H3M4.5S", DAY_MS + 2 * 3600000 + 3 * 60000 + 4500 },
		{ "P10675198DT23H59M59.999S", DURATION_INFINITE_MIN_MS - 1 },
		{ "P10675199DT2H48M5.4775807S", DURATION_INFINITE_MIN_MS },
		{ "P10675199DT2H48M5.4775807S", DURATION_INFINITE },
	};
	char buf[DURATION_XS_LEN];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ck_assert_err(duration_format_xs(cases[i].ms, buf, sizeof buf), LZ_OK);
		ck_assert_str_eq(buf, cases[i].text);
	}
	ck_assert_err(duration_format_xs(-1, buf, sizeof buf), LZ_ERANGE);
	ck_assert_err(duration_format_xs(INT64_MIN, buf, sizeof buf), LZ_ERANGE);
	ck_assert_err(duration_format_xs(60000, NULL, 10), LZ_EINVAL);
	ck_assert_err(duration_format_xs(60000, buf, 4), LZ_ETOOBIG); /* "PT1M" needs 5 */
	ck_assert_err(duration_format_xs(60000, buf, 5), LZ_OK);
	ck_assert_str_eq(buf, "PT1M");
	ck_assert_err(duration_format_xs(0, buf, 4), LZ_ETOOBIG);
	ck_assert_err(duration_format_xs(DURATION_INFINITE, buf, DURATION_XS_LEN - 1),
		      LZ_ETOOBIG);
	ck_assert_err(duration_format_xs(DURATION_INFINITE, buf, 0), LZ_ETOOBIG);
}
END_TEST

START_TEST(test_parse_timespan)
{
	static const struct text_case cases[] = {
		{ "0.00:00:40", 40000 },
		{ "00:05:00", 300000 },
		{ "00:00:00", 0 },
		{ "1.02:03:04.5", DAY_MS + 2 * 3600000 + 3 * 60000 + 4500 },
		{ "1:2:3", 3723000 },
		{ "23:59:59.9999999", DAY_MS - 1 },
		{ "14.00:00:00", 14 * DAY_MS },
		{ "00:00:00.0009", 0 },
		{ "00:00:00.001", 1 },
		{ "-00:00:00", 0 },
		{ "10675198.23:59:59.999", DURATION_INFINITE_MIN_MS - 1 },
		{ "10675199.02:48:05.4775807", DURATION_INFINITE },
		{ "10675199.00:00:00", DURATION_INFINITE },
		{ "99999999999999999999999.00:00:00", DURATION_INFINITE },
	};
	static const struct error_case errors[] = {
		{ "", LZ_EPARSE },
		{ "-", LZ_EPARSE },
		{ "abc", LZ_EPARSE },
		{ "00:00", LZ_EPARSE },
		{ "5", LZ_EPARSE },
		{ "1.", LZ_EPARSE },
		{ "1.5", LZ_EPARSE },
		{ ".00:00:00", LZ_EPARSE },
		{ "24:00:00", LZ_EPARSE },
		{ "000:00:00", LZ_EPARSE },
		{ "00:60:00", LZ_EPARSE },
		{ "00:00:60", LZ_EPARSE },
		{ "00:000:00", LZ_EPARSE },
		{ "1.24:00:00", LZ_EPARSE },
		{ "1.123:00:00", LZ_EPARSE },
		{ "00:00:00.", LZ_EPARSE },
		{ "00:00:00.12345678", LZ_EPARSE },  /* more than 7 digits (ticks) */
		{ "00:00:00 ", LZ_EPARSE },
		{ " 00:00:00", LZ_EPARSE },
		{ "00::00", LZ_EPARSE },
		{ "00:00:00:00", LZ_EPARSE },
		{ "--00:00:01", LZ_EPARSE },
		{ "+00:00:01", LZ_EPARSE },
		{ "-00:00:01", LZ_ERANGE },
		{ "-1.00:00:00", LZ_ERANGE },
	};
	int64_t ms;

	check_parses(duration_parse_timespan, cases, sizeof cases / sizeof cases[0]);
	check_errors(duration_parse_timespan, errors, sizeof errors / sizeof errors[0]);
	ck_assert_err(duration_parse_timespan(NULL, &ms), LZ_EINVAL);
	ck_assert_err(duration_parse_timespan("00:00:01", NULL), LZ_EINVAL);
}
END_TEST

START_TEST(test_format_seconds)
{
	static const struct text_case cases[] = {
		{ "0", 0 },
		{ "0.001", 1 },
		{ "0.01", 10 },
		{ "0.5", 500 },
		{ "2.25", 2250 },
		{ "30", 30000 },
		{ "60.123", 60123 },
		{ "-1.5", -1500 },
		{ "-9223372036854775.808", INT64_MIN },
		{ "922337193599.999", DURATION_INFINITE_MIN_MS - 1 },
		{ "922337203685.47754", DURATION_INFINITE_MIN_MS },
		{ "922337203685.47754", DURATION_INFINITE },
	};
	char buf[DURATION_SECONDS_LEN];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		duration_format_seconds(cases[i].ms, buf, sizeof buf);
		ck_assert_str_eq(buf, cases[i].text);
	}
	/* A short buffer gets a cut, NUL-terminated text; cap 0 and NULL write nothing. */
	duration_format_seconds(2250, buf, 3);
	ck_assert_str_eq(buf, "2.");
	buf[0] = 'x';
	duration_format_seconds(2250, buf, 0);
	ck_assert_int_eq(buf[0], 'x');
	duration_format_seconds(2250, NULL, 10);
}
END_TEST

START_TEST(test_from_seconds)
{
	static const struct {
		double s;
		int64_t ms;
	} cases[] = {
		{ 0.0, 0 },
		{ -0.0, 0 },
		{ 30.0, 30000 },
		{ 0.5, 500 },
		{ 2.25, 2250 },
		{ 2.3, 2300 },           /* 2299.9999… rounds to nearest */
		{ 0.0004, 0 },
		{ 0.0005, 1 },
		{ 60.123, 60123 },
		{ 922337193599.999, DURATION_INFINITE_MIN_MS - 1 },
		{ 922337193600.0, DURATION_INFINITE },
		{ 922337203685.0, DURATION_INFINITE },
		{ 922337203685.47754, DURATION_INFINITE },
		{ 1e300, DURATION_INFINITE },
		{ INFINITY, DURATION_INFINITE },
	};
	int64_t ms;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ms = -42;
		ck_assert_err(duration_from_seconds(cases[i].s, &ms), LZ_OK);
		ck_assert_msg(ms == cases[i].ms, "%.17g: got %lld", cases[i].s, (long long)ms);
	}
	ms = -42;
	ck_assert_err(duration_from_seconds(-1.0, &ms), LZ_ERANGE);
	ck_assert_err(duration_from_seconds(-0.0001, &ms), LZ_ERANGE);
	ck_assert_err(duration_from_seconds(-INFINITY, &ms), LZ_ERANGE);
	ck_assert_err(duration_from_seconds(NAN, &ms), LZ_ERANGE);
	ck_assert_int_eq(ms, -42);
	ck_assert_err(duration_from_seconds(1.0, NULL), LZ_EINVAL);
}
END_TEST

/* Every finite duration comes back unchanged from each text form. Returns NULL or the form
 * that failed; tested directly rather than with ck_assert, which costs a pipe write per call in
 * fork mode. */
static const char *round_trip_check(int64_t ms)
{
	char xs[DURATION_XS_LEN], secs[DURATION_SECONDS_LEN], ts[64];
	int64_t back;

	if (duration_format_xs(ms, xs, sizeof xs) != LZ_OK ||
	    duration_parse_xs(xs, &back) != LZ_OK || back != ms)
		return "xs:duration";
	duration_format_seconds(ms, secs, sizeof secs);
	if (duration_from_seconds(strtod(secs, NULL), &back) != LZ_OK || back != ms)
		return "seconds";
	snprintf(ts, sizeof ts, "%lld.%02lld:%02lld:%02lld.%03lld", (long long)(ms / DAY_MS),
		 (long long)(ms / 3600000 % 24), (long long)(ms / 60000 % 60),
		 (long long)(ms / 1000 % 60), (long long)(ms % 1000));
	if (duration_parse_timespan(ts, &back) != LZ_OK || back != ms)
		return "TimeSpan";
	return NULL;
}

static void check_round_trip(int64_t ms)
{
	const char *failed = round_trip_check(ms);

	if (failed)
		ck_abort_msg("%lld: %s", (long long)ms, failed);
}

START_TEST(test_round_trips)
{
	static const int64_t edges[] = { 0, 1, 999, 1000, 59999, 60000, 3599999, 3600000,
					 DAY_MS - 1, DAY_MS, DURATION_INFINITE_MIN_MS - 1 };
	uint64_t seed = 99;

	for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
		check_round_trip(edges[i]);
	for (int i = 0; i < 100000; i++) {
		/* Mix magnitudes: ms, seconds, minutes and days ranges. */
		static const int64_t spans[] = { 1000, 60000, 3600000, DAY_MS * 30,
						 DURATION_INFINITE_MIN_MS };
		uint64_t r = lcg_next(&seed);

		check_round_trip((int64_t)(r % (uint64_t)spans[i % 5]));
	}
	/* Infinite is a fixed point of every form. */
	{
		char xs[DURATION_XS_LEN], secs[DURATION_SECONDS_LEN];
		int64_t back;

		ck_assert_err(duration_format_xs(DURATION_INFINITE, xs, sizeof xs), LZ_OK);
		ck_assert_err(duration_parse_xs(xs, &back), LZ_OK);
		ck_assert(back == DURATION_INFINITE);
		duration_format_seconds(DURATION_INFINITE, secs, sizeof secs);
		ck_assert_err(duration_from_seconds(strtod(secs, NULL), &back), LZ_OK);
		ck_assert(back == DURATION_INFINITE);
	}
}
END_TEST

static Suite *duration_suite(void)
{
	Suite *s = suite_create("duration");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_parse_xs);
	tcase_add_test(tc, test_parse_xs_errors);
	tcase_add_test(tc, test_format_xs);
	tcase_add_test(tc, test_parse_timespan);
	tcase_add_test(tc, test_format_seconds);
	tcase_add_test(tc, test_from_seconds);
	tcase_add_test(tc, test_round_trips);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(duration_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
