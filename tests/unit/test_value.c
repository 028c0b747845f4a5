/* Unit tests for common/value: header typing (spec §1.2) both ways, plain text, copying and
 * equality, type names, and the ordered property list. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/duration.h"
#include "common/err.h"
#include "common/timefmt.h"
#include "common/value.h"

#define ck_assert_err(expr, want)                                                          \
	do {                                                                               \
		lz_err got_ = (expr);                                                      \
		ck_assert_msg(got_ == (want), "%s: got %s, want %s", #expr, err_name(got_), \
			      err_name(want));                                             \
	} while (0)

#define RFC_EXAMPLE_MS 784111777000LL

static uint64_t lcg_next(uint64_t *x)
{
	*x = *x * 6364136223846793005ULL + 1442695040888963407ULL;
	return *x;
}

static struct value make_long(int64_t i)
{
	return (struct value){ .type = VALUE_LONG, .u.i = i };
}

/* A STRING value that borrows `s`: for arguments only, never released. */
static struct value borrow_string(const char *s)
{
	return (struct value){ .type = VALUE_STRING, .u.s = (char *)s };
}

START_TEST(test_parse_header_types)
{
	static const struct {
		const char *text;
		value_type type;
		int64_t i;        /* LONG, DATETIME; BOOL as 0/1 */
		const char *s;    /* STRING */
		double d;         /* DOUBLE */
	} cases[] = {
		{ "\"High\"", VALUE_STRING, 0, "High", 0 },
		{ "  \"High\" \t", VALUE_STRING, 0, "High", 0 },
		{ "\"\"", VALUE_STRING, 0, "", 0 },
		{ "\" padded \"", VALUE_STRING, 0, " padded ", 0 },
		{ "\"a\"b\"", VALUE_STRING, 0, "a\"b", 0 },     /* only the outer quotes go */
		{ "\"a\\\"", VALUE_STRING, 0, "a\\", 0 },       /* no escape processing */
		{ "\"42\"", VALUE_STRING, 0, "42", 0 },
		{ "\"true\"", VALUE_STRING, 0, "true", 0 },
		{ "\"Sun, 06 Nov 1994 08:49:37 GMT\"", VALUE_DATETIME, RFC_EXAMPLE_MS, NULL, 0 },
		{ "\"Sunday, 06-Nov-94 08:49:37 GMT\"", VALUE_DATETIME, RFC_EXAMPLE_MS, NULL, 0 },
		{ "\"Sun Nov  6 08:49:37 1994\"", VALUE_DATETIME, RFC_EXAMPLE_MS, NULL, 0 },
		{ "\" Sun, 06 Nov 1994 08:49:37 GMT\"", VALUE_STRING, 0,
		  " Sun, 06 Nov 1994 08:49:37 GMT", 0 },
		{ "\"Mon, 06 Nov 1994 08:49:37 GMT\"", VALUE_STRING, 0,
		  "Mon, 06 Nov 1994 08:49:37 GMT", 0 },       /* wrong weekday: not a date */
		{ "\"2021-04-19T17:21:10Z\"", VALUE_STRING, 0, "2021-04-19T17:21:10Z", 0 },
		{ "true", VALUE_BOOL, 1, NULL, 0 },
		{ "false", VALUE_BOOL, 0, NULL, 0 },
		{ " true ", VALUE_BOOL, 1, NULL, 0 },
		{ "42", VALUE_LONG, 42, NULL, 0 },
		{ "-42", VALUE_LONG, -42, NULL, 0 },
		{ "+7", VALUE_LONG, 7, NULL, 0 },
		{ "\t7\t", VALUE_LONG, 7, NULL, 0 },
		{ "007", VALUE_LONG, 7, NULL, 0 },
		{ "-0", VALUE_LONG, 0, NULL, 0 },
		{ "9223372036854775807", VALUE_LONG, INT64_MAX, NULL, 0 },
		{ "-9223372036854775808", VALUE_LONG, INT64_MIN, NULL, 0 },
		{ "9223372036854775808", VALUE_DOUBLE, 0, NULL, 9223372036854775808.0 },
		{ "1.5", VALUE_DOUBLE, 0, NULL, 1.5 },
		{ "-2e3", VALUE_DOUBLE, 0, NULL, -2000.0 },
		{ "1E-3", VALUE_DOUBLE, 0, NULL, 0.001 },
		{ ".5", VALUE_DOUBLE, 0, NULL, 0.5 },
		{ "5.", VALUE_DOUBLE, 0, NULL, 5.0 },
		{ "+0.25", VALUE_DOUBLE, 0, NULL, 0.25 },
		{ "1e-400", VALUE_DOUBLE, 0, NULL, 0.0 },       /* underflow is still finite */
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct value v = { 0 };

		ck_assert_msg(value_parse_header(cases[i].text, &v) == LZ_OK, "'%s'",
			      cases[i].text);
		ck_assert_msg(v.type == cases[i].type, "'%s': type %s", cases[i].text,
			      value_type_name(v.type));
		switch (v.type) {
		case VALUE_STRING:
			ck_assert_str_eq(v.u.s, cases[i].s);
			break;
		case VALUE_BOOL:
			ck_assert_int_eq(v.u.b, cases[i].i);
			break;
		case VALUE_DOUBLE:
			ck_assert_msg(v.u.d == cases[i].d, "'%s': %.17g", cases[i].text, v.u.d);
			break;
		default:
			ck_assert_int_eq(v.u.i, cases[i].i);
			break;
		}
		value_release(&v);
	}
}
END_TEST

START_TEST(test_parse_header_errors)
{
	static const char *const bad[] = {
		"", "   ", "\t", "\"", " \" ", "\"abc", "abc\"", "abc", "True", "TRUE", "FALSE",
		"yes", "1 2", "1.5x", "x1", "-", "+", "e5", "1e", "1e+", "..5", "1.2.3", "--1",
		"0x10", "0X1p3", "inf", "-inf", "INF", "Infinity", "nan", "NaN", "1e400", "-1e400",
		"1,5", "\v1", "1\n", "'x'",
	};
	struct value v = { .type = VALUE_LONG, .u.i = 42 };

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		lz_err e = value_parse_header(bad[i], &v);

		ck_assert_msg(e == LZ_EPARSE, "'%s': got %s", bad[i], err_name(e));
		ck_assert(v.type == VALUE_LONG && v.u.i == 42); /* untouched */
	}
	ck_assert_err(value_parse_header(NULL, &v), LZ_EINVAL);
	ck_assert_err(value_parse_header("1", NULL), LZ_EINVAL);
}
END_TEST

START_TEST(test_format_header)
{
	static const struct {
		struct value v;
		const char *text;
	} cases[] = {
		{ { .type = VALUE_STRING, .u.s = "High" }, "\"High\"" },
		{ { .type = VALUE_STRING, .u.s = "" }, "\"\"" },
		{ { .type = VALUE_STRING, .u.s = "a\"b" }, "\"a\"b\"" },
		{ { .type = VALUE_DATETIME, .u.i = RFC_EXAMPLE_MS + 123 },
		  "\"Sun, 06 Nov 1994 08:49:37 GMT\"" },
		{ { .type = VALUE_LONG, .u.i = 42 }, "42" },
		{ { .type = VALUE_LONG, .u.i = INT64_MIN }, "-9223372036854775808" },
		{ { .type = VALUE_INT, .u.i = -5 }, "-5" },
		{ { .type = VALUE_BOOL, .u.b = true }, "true" },
		{ { .type = VALUE_BOOL, .u.b = false }, "false" },
		{ { .type = VALUE_DOUBLE, .u.d = 1.5 }, "1.5" },
		{ { .type = VALUE_DOUBLE, .u.d = 0.1 }, "0.1" },
		{ { .type = VALUE_DOUBLE, .u.d = 1.0 / 3.0 }, "0.3333333333333333" },
		{ { .type = VALUE_DOUBLE, .u.d = 3.0 }, "3" },
		{ { .type = VALUE_DOUBLE, .u.d = -0.0 }, "-0" },
		{ { .type = VALUE_DOUBLE, .u.d = 1e300 }, "1e+300" },
		{ { .type = VALUE_DOUBLE, .u.d = 5e-324 }, "5e-324" },
		{ { .type = VALUE_DOUBLE, .u.d = NAN }, "NaN" },
		{ { .type = VALUE_DOUBLE, .u.d = INFINITY }, "Infinity" },
		{ { .type = VALUE_DOUBLE, .u.d = -INFINITY }, "-Infinity" },
		{ { .type = VALUE_DURATION, .u.i = 30000 }, "30" },
		{ { .type = VALUE_DURATION, .u.i = 2250 }, "2.25" },
		{ { .type = VALUE_DURATION, .u.i = DURATION_INFINITE }, "922337203685.47754" },
	};
	char buf[64];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t need = strlen(cases[i].text) + 1;

		ck_assert_err(value_format_header(&cases[i].v, buf, sizeof buf), LZ_OK);
		ck_assert_str_eq(buf, cases[i].text);
		/* Exactly enough room works; one byte less does not. */
		ck_assert_err(value_format_header(&cases[i].v, buf, need), LZ_OK);
		ck_assert_str_eq(buf, cases[i].text);
		ck_assert_err(value_format_header(&cases[i].v, buf, need - 1), LZ_ETOOBIG);
	}
}
END_TEST

START_TEST(test_format_header_errors)
{
	struct value null = { 0 };
	struct value crlf = borrow_string("a\r\nInjected: 1");
	struct value lf = borrow_string("a\nb");
	struct value early = { .type = VALUE_DATETIME, .u.i = TIMEFMT_MS_MIN - 1 };
	struct value late = { .type = VALUE_DATETIME, .u.i = TIMEFMT_MS_MAX + 1 };
	char buf[64];

	ck_assert_err(value_format_header(&null, buf, sizeof buf), LZ_EINVAL);
	ck_assert_err(value_format_header(&crlf, buf, sizeof buf), LZ_EINVAL);
	ck_assert_err(value_format_header(&lf, buf, sizeof buf), LZ_EINVAL);
	ck_assert_err(value_format_header(&early, buf, sizeof buf), LZ_ERANGE);
	ck_assert_err(value_format_header(&late, buf, sizeof buf), LZ_ERANGE);
	ck_assert_err(value_format_header(NULL, buf, sizeof buf), LZ_EINVAL);
	ck_assert_err(value_format_header(&null, NULL, sizeof buf), LZ_EINVAL);
}
END_TEST

/* format_header then parse_header gives back the value; an integral double comes back as the
 * LONG a receiver would see (the service writes 3.0 as "3" too). */
START_TEST(test_header_round_trips)
{
	struct value in[] = {
		borrow_string("High"), borrow_string(""), borrow_string("Sun"),
		borrow_string("with \"quotes\" inside"),
		{ .type = VALUE_DATETIME, .u.i = RFC_EXAMPLE_MS },
		{ .type = VALUE_DATETIME, .u.i = TIMEFMT_MS_MIN },
		{ .type = VALUE_DATETIME, .u.i = TIMEFMT_MS_MAX - 999 },
		{ .type = VALUE_BOOL, .u.b = true }, { .type = VALUE_BOOL, .u.b = false },
		make_long(0), make_long(INT64_MAX), make_long(INT64_MIN),
		{ .type = VALUE_DOUBLE, .u.d = 0.1 }, { .type = VALUE_DOUBLE, .u.d = -1e-300 },
		{ .type = VALUE_DOUBLE, .u.d = 1.7976931348623157e308 },
	};
	char buf[128];
	uint64_t seed = 7;

	for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
		struct value out = { 0 };

		ck_assert_err(value_format_header(&in[i], buf, sizeof buf), LZ_OK);
		ck_assert_err(value_parse_header(buf, &out), LZ_OK);
		ck_assert_msg(value_equal(&in[i], &out), "%s", buf);
		value_release(&out);
	}
	/* Random bit patterns; the loop calls check only on failure (each ck_assert costs a
	 * pipe write in fork mode). */
	for (int i = 0; i < 100000; i++) {
		struct value d = { .type = VALUE_DOUBLE }, out = { 0 };
		uint64_t bits = lcg_next(&seed);
		bool same;

		memcpy(&d.u.d, &bits, sizeof d.u.d);
		if (!isfinite(d.u.d))
			continue;
		if (value_format_header(&d, buf, sizeof buf) != LZ_OK ||
		    value_parse_header(buf, &out) != LZ_OK)
			ck_abort_msg("%a does not format and parse", d.u.d);
		if (out.type == VALUE_LONG)
			same = (double)out.u.i == d.u.d && d.u.d == trunc(d.u.d);
		else
			same = out.type == VALUE_DOUBLE && out.u.d == d.u.d;
		if (!same)
			ck_abort_msg("%a came back from '%s' as %s", d.u.d, buf,
				     value_type_name(out.type));
	}
	{
		struct value three = { .type = VALUE_DOUBLE, .u.d = 3.0 }, out = { 0 };

		ck_assert_err(value_format_header(&three, buf, sizeof buf), LZ_OK);
		ck_assert_err(value_parse_header(buf, &out), LZ_OK);
		ck_assert(out.type == VALUE_LONG && out.u.i == 3);
	}
}
END_TEST

START_TEST(test_format_text)
{
	static const struct {
		struct value v;
		const char *text;
	} cases[] = {
		{ { .type = VALUE_NULL }, "" },
		{ { .type = VALUE_STRING, .u.s = "a\"b <&>" }, "a\"b <&>" },
		{ { .type = VALUE_BOOL, .u.b = true }, "true" },
		{ { .type = VALUE_BOOL, .u.b = false }, "false" },
		{ { .type = VALUE_INT, .u.i = 7 }, "7" },
		{ { .type = VALUE_LONG, .u.i = -9 }, "-9" },
		{ { .type = VALUE_DOUBLE, .u.d = 2.5 }, "2.5" },
		{ { .type = VALUE_DOUBLE, .u.d = NAN }, "NaN" },
		{ { .type = VALUE_DOUBLE, .u.d = INFINITY }, "INF" },
		{ { .type = VALUE_DOUBLE, .u.d = -INFINITY }, "-INF" },
		{ { .type = VALUE_DATETIME, .u.i = 1618852870687LL }, "2021-04-19T17:21:10.687Z" },
		{ { .type = VALUE_DURATION, .u.i = 60000 }, "PT1M" },
		{ { .type = VALUE_DURATION, .u.i = 0 }, "PT0S" },
		{ { .type = VALUE_DURATION, .u.i = DURATION_INFINITE },
		  "P10675199DT2H48M5.4775807S" },
	};
	struct value neg = { .type = VALUE_DURATION, .u.i = -1 };
	struct value early = { .type = VALUE_DATETIME, .u.i = TIMEFMT_MS_MIN - 1 };
	char buf[64];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t need = strlen(cases[i].text) + 1;

		ck_assert_err(value_format_text(&cases[i].v, buf, sizeof buf), LZ_OK);
		ck_assert_str_eq(buf, cases[i].text);
		ck_assert_err(value_format_text(&cases[i].v, buf, need), LZ_OK);
		ck_assert_str_eq(buf, cases[i].text);
		ck_assert_err(value_format_text(&cases[i].v, buf, need - 1), LZ_ETOOBIG);
	}
	ck_assert_err(value_format_text(&neg, buf, sizeof buf), LZ_ERANGE);
	ck_assert_err(value_format_text(&early, buf, sizeof buf), LZ_ERANGE);
	ck_assert_err(value_format_text(NULL, buf, sizeof buf), LZ_EINVAL);
	ck_assert_err(value_format_text(&neg, NULL, sizeof buf), LZ_EINVAL);
}
END_TEST

START_TEST(test_type_names)
{
	static const struct {
		value_type t;
		const char *name;
	} cases[] = {
		{ VALUE_NULL, "null" },		 { VALUE_STRING, "string" },
		{ VALUE_INT, "int" },		 { VALUE_LONG, "long" },
		{ VALUE_BOOL, "boolean" },	 { VALUE_DOUBLE, "double" },
		{ VALUE_DATETIME, "dateTime" },	 { VALUE_DURATION, "duration" },
	};
	static const char *const unknown[] = { "", "String", "datetime", "xs:string", "bool",
					       "decimal", "int ", "Int" };
	value_type t;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ck_assert_str_eq(value_type_name(cases[i].t), cases[i].name);
		t = VALUE_NULL;
		ck_assert_err(value_type_parse(cases[i].name, &t), LZ_OK);
		ck_assert_int_eq(t, cases[i].t);
	}
	ck_assert_str_eq(value_type_name((value_type)99), "unknown");
	for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
		t = VALUE_BOOL;
		ck_assert_msg(value_type_parse(unknown[i], &t) == LZ_EUNSUPPORTED, "'%s'",
			      unknown[i]);
		ck_assert_int_eq(t, VALUE_BOOL);
	}
	ck_assert_err(value_type_parse(NULL, &t), LZ_EINVAL);
	ck_assert_err(value_type_parse("int", NULL), LZ_EINVAL);
}
END_TEST

START_TEST(test_copy_equal_release)
{
	struct value a = { 0 }, b = { 0 }, c = { 0 };
	struct value one_int = { .type = VALUE_INT, .u.i = 1 }, one_long = make_long(1);
	struct value nan = { .type = VALUE_DOUBLE, .u.d = NAN };
	struct value t = { .type = VALUE_BOOL, .u.b = true }, f = { .type = VALUE_BOOL };
	struct value date = { .type = VALUE_DATETIME, .u.i = 1 };
	struct value dur = { .type = VALUE_DURATION, .u.i = 1 };
	struct value null1 = { 0 }, null2 = { 0 };

	ck_assert_err(value_parse_header("\"hello\"", &a), LZ_OK);
	ck_assert_err(value_copy(&b, &a), LZ_OK);
	ck_assert_ptr_ne(a.u.s, b.u.s);
	ck_assert(value_equal(&a, &b));
	value_release(&a);
	ck_assert_int_eq(a.type, VALUE_NULL);
	ck_assert_str_eq(b.u.s, "hello"); /* the copy is independent */
	ck_assert_err(value_copy(&c, &one_long), LZ_OK);
	ck_assert(value_equal(&c, &one_long));

	ck_assert(!value_equal(&b, &c));
	ck_assert(!value_equal(&one_int, &one_long));
	ck_assert(!value_equal(&date, &dur));
	ck_assert(!value_equal(&date, &one_long));
	ck_assert(!value_equal(&nan, &nan));
	ck_assert(!value_equal(&t, &f));
	ck_assert(value_equal(&t, &t));
	ck_assert(value_equal(&null1, &null2));
	{
		struct value other = borrow_string("hellO");

		ck_assert(!value_equal(&b, &other));
	}
	ck_assert_err(value_copy(NULL, &b), LZ_EINVAL);
	ck_assert_err(value_copy(&c, NULL), LZ_EINVAL);

	value_release(&b);
	value_release(&b); /* released twice is harmless: it is VALUE_NULL now */
	value_release(&c);
	value_release(NULL);
}
END_TEST

/* Names of the list in order, joined with ',' */
static void proplist_names(const struct proplist *l, char *out, size_t cap)
{
	size_t n = 0;

	out[0] = '\0';
	for (size_t i = 0; i < l->n; i++)
		n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? "," : "", l->items[i].name);
}

START_TEST(test_proplist_basics)
{
	struct proplist l;
	struct value v = make_long(1), s = borrow_string("x");
	const struct value *got;
	char names[256];

	proplist_init(&l);
	ck_assert_ptr_null(proplist_get(&l, "a"));
	ck_assert(!proplist_remove(&l, "a"));
	ck_assert_err(proplist_set(&l, "b", &v), LZ_OK);
	ck_assert_err(proplist_set(&l, "a", &s), LZ_OK);
	v.u.i = 3;
	ck_assert_err(proplist_set(&l, "Content", &v), LZ_OK);
	proplist_names(&l, names, sizeof names);
	ck_assert_str_eq(names, "b,a,Content");

	/* The list holds copies. */
	got = proplist_get(&l, "a");
	ck_assert_ptr_nonnull(got);
	ck_assert_int_eq(got->type, VALUE_STRING);
	ck_assert_ptr_ne(got->u.s, s.u.s);
	ck_assert_str_eq(got->u.s, "x");

	/* Replacing keeps the position and the count. */
	v.u.i = 2;
	ck_assert_err(proplist_set(&l, "b", &v), LZ_OK);
	ck_assert_uint_eq(l.n, 3);
	proplist_names(&l, names, sizeof names);
	ck_assert_str_eq(names, "b,a,Content");
	ck_assert_int_eq(proplist_get(&l, "b")->u.i, 2);
	ck_assert_err(proplist_set(&l, "a", &v), LZ_OK); /* string replaced by a long */
	ck_assert_int_eq(proplist_get(&l, "a")->type, VALUE_LONG);

	/* Case: exact by default, folded by _ci. */
	ck_assert_ptr_null(proplist_get(&l, "content"));
	ck_assert_ptr_null(proplist_get(&l, "B"));
	got = proplist_get_ci(&l, "CONTENT");
	ck_assert_ptr_nonnull(got);
	ck_assert_int_eq(got->u.i, 3);
	ck_assert_ptr_null(proplist_get_ci(&l, "missing"));
	ck_assert(!proplist_remove(&l, "CONTENT"));

	/* Names differing only in case are different properties. */
	ck_assert_err(proplist_set(&l, "content", &s), LZ_OK);
	ck_assert_uint_eq(l.n, 4);
	ck_assert_int_eq(proplist_get(&l, "Content")->type, VALUE_LONG);
	ck_assert_int_eq(proplist_get(&l, "content")->type, VALUE_STRING);
	ck_assert_int_eq(proplist_get_ci(&l, "CONTENT")->type, VALUE_LONG); /* first wins */

	/* Removing keeps the order of the rest. */
	ck_assert(proplist_remove(&l, "a"));
	ck_assert(!proplist_remove(&l, "a"));
	proplist_names(&l, names, sizeof names);
	ck_assert_str_eq(names, "b,Content,content");
	ck_assert(proplist_remove(&l, "content"));
	ck_assert(proplist_remove(&l, "b"));
	proplist_names(&l, names, sizeof names);
	ck_assert_str_eq(names, "Content");

	ck_assert_err(proplist_set(&l, NULL, &v), LZ_EINVAL);
	ck_assert_err(proplist_set(&l, "x", NULL), LZ_EINVAL);
	ck_assert_err(proplist_set(NULL, "x", &v), LZ_EINVAL);
	ck_assert_uint_eq(l.n, 1);

	proplist_release(&l);
	ck_assert_uint_eq(l.n, 0);
	ck_assert_ptr_null(l.items);
	/* A released list is reusable, and releasing twice or NULL is harmless. */
	ck_assert_err(proplist_set(&l, "again", &s), LZ_OK);
	proplist_release(&l);
	proplist_release(&l);
	proplist_release(NULL);
}
END_TEST

START_TEST(test_proplist_grow_and_copy)
{
	struct proplist l = { 0 }, dup = { 0 }, empty = { 0 };
	char name[32], text[32];

	for (int i = 0; i < 1000; i++) {
		struct value v = borrow_string(text);

		snprintf(name, sizeof name, "p%d", i);
		snprintf(text, sizeof text, "value %d", i);
		ck_assert_err(proplist_set(&l, name, &v), LZ_OK);
	}
	ck_assert_uint_eq(l.n, 1000);
	ck_assert_err(proplist_copy(&dup, &l), LZ_OK);
	ck_assert_uint_eq(dup.n, 1000);
	for (size_t i = 0; i < l.n; i++) {
		ck_assert_str_eq(dup.items[i].name, l.items[i].name);
		ck_assert_ptr_ne(dup.items[i].name, l.items[i].name);
		ck_assert_ptr_ne(dup.items[i].v.u.s, l.items[i].v.u.s);
		ck_assert(value_equal(&dup.items[i].v, &l.items[i].v));
	}
	/* The copy is deep: changing or dropping the source leaves it intact. */
	ck_assert(proplist_remove(&l, "p500"));
	proplist_release(&l);
	ck_assert_str_eq(proplist_get(&dup, "p500")->u.s, "value 500");
	ck_assert_str_eq(dup.items[999].name, "p999");
	proplist_release(&dup);

	ck_assert_err(proplist_copy(&dup, &empty), LZ_OK);
	ck_assert_uint_eq(dup.n, 0);
	proplist_release(&dup);
}
END_TEST

static Suite *value_suite(void)
{
	Suite *s = suite_create("value");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_parse_header_types);
	tcase_add_test(tc, test_parse_header_errors);
	tcase_add_test(tc, test_format_header);
	tcase_add_test(tc, test_format_header_errors);
	tcase_add_test(tc, test_header_round_trips);
	tcase_add_test(tc, test_format_text);
	tcase_add_test(tc, test_type_names);
	tcase_add_test(tc, test_copy_equal_release);
	tcase_add_test(tc, test_proplist_basics);
	tcase_add_test(tc, test_proplist_grow_and_copy);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(value_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
