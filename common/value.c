#include "common/value.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/duration.h"
#include "common/timefmt.h"

/* Room for a double in "%.17g" form (at most 24 characters) or a long long, with the NUL. */
#define NUMBER_TEXT_LEN 32

static const char *const type_names[] = {
	[VALUE_NULL] = "null",	      [VALUE_STRING] = "string",     [VALUE_INT] = "int",
	[VALUE_LONG] = "long",	      [VALUE_BOOL] = "boolean",      [VALUE_DOUBLE] = "double",
	[VALUE_DATETIME] = "dateTime", [VALUE_DURATION] = "duration",
};

#define TYPE_COUNT (sizeof type_names / sizeof type_names[0])

void value_release(struct value *v)
{
	if (!v)
		return;
	if (v->type == VALUE_STRING)
		free(v->u.s);
	memset(v, 0, sizeof *v);
}

lz_err value_copy(struct value *dst, const struct value *src)
{
	struct value tmp;

	if (!dst || !src)
		return LZ_EINVAL;
	tmp = *src;
	if (src->type == VALUE_STRING) {
		tmp.u.s = strdup(src->u.s);
		if (!tmp.u.s)
			return LZ_ENOMEM;
	}
	*dst = tmp;
	return LZ_OK;
}

bool value_equal(const struct value *a, const struct value *b)
{
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case VALUE_NULL:
		return true;
	case VALUE_STRING:
		return strcmp(a->u.s, b->u.s) == 0;
	case VALUE_BOOL:
		return a->u.b == b->u.b;
	case VALUE_DOUBLE:
		return a->u.d == b->u.d;
	case VALUE_INT:
	case VALUE_LONG:
	case VALUE_DATETIME:
	case VALUE_DURATION:
		return a->u.i == b->u.i;
	}
	return false;
}

const char *value_type_name(value_type t)
{
	if ((unsigned)t >= TYPE_COUNT)
		return "unknown";
	return type_names[t];
}

lz_err value_type_parse(const char *name, value_type *out)
{
	if (!name || !out)
		return LZ_EINVAL;
	for (size_t i = 0; i < TYPE_COUNT; i++) {
		if (strcmp(name, type_names[i]) == 0) {
			*out = (value_type)i;
			return LZ_OK;
		}
	}
	return LZ_EUNSUPPORTED;
}

void proplist_init(struct proplist *l)
{
	memset(l, 0, sizeof *l);
}

void proplist_release(struct proplist *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++) {
		free(l->items[i].name);
		value_release(&l->items[i].v);
	}
	free(l->items);
	proplist_init(l);
}

static struct prop *proplist_find(const struct proplist *l, const char *name,
				  int (*cmp)(const char *, const char *))
{
	for (size_t i = 0; i < l->n; i++)
		if (cmp(l->items[i].name, name) == 0)
			return &l->items[i];
	return NULL;
}

lz_err proplist_set(struct proplist *l, const char *name, const struct value *v)
{
	struct value copy;
	struct prop *p;
	char *name_copy;
	lz_err e;

	if (!l || !name || !v)
		return LZ_EINVAL;
	p = proplist_find(l, name, strcmp);
	e = value_copy(&copy, v);
	if (e)
		return e;
	if (p) {
		value_release(&p->v);
		p->v = copy;
		return LZ_OK;
	}
	e = LZ_ENOMEM;
	name_copy = strdup(name);
	if (!name_copy)
		goto out_release_copy;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4;
		struct prop *items;

		if (cap > SIZE_MAX / sizeof *items)
			goto out_free_name;
		items = realloc(l->items, cap * sizeof *items);
		if (!items)
			goto out_free_name;
		l->items = items;
		l->cap = cap;
	}
	l->items[l->n].name = name_copy;
	l->items[l->n].v = copy;
	l->n++;
	return LZ_OK;

out_free_name:
	free(name_copy);
out_release_copy:
	value_release(&copy);
	return e;
}

const struct value *proplist_get(const struct proplist *l, const char *name)
{
	const struct prop *p = proplist_find(l, name, strcmp);

	return p ? &p->v : NULL;
}

const struct value *proplist_get_ci(const struct proplist *l, const char *name)
{
	const struct prop *p = proplist_find(l, name, strcasecmp);

	return p ? &p->v : NULL;
}

bool proplist_remove(struct proplist *l, const char *name)
{
	struct prop *p = proplist_find(l, name, strcmp);
	size_t i;

	if (!p)
		return false;
	i = (size_t)(p - l->items);
	free(p->name);
	value_release(&p->v);
	memmove(p, p + 1, (l->n - i - 1) * sizeof *p);
	l->n--;
	return true;
}

lz_err proplist_copy(struct proplist *dst, const struct proplist *src)
{
	lz_err e = LZ_OK;

	proplist_init(dst);
	for (size_t i = 0; i < src->n && !e; i++)
		e = proplist_set(dst, src->items[i].name, &src->items[i].v);
	if (e)
		proplist_release(dst);
	return e;
}

/* "[+-]digits" fitting in int64. */
static bool parse_long(const char *s, int64_t *out)
{
	const char *p = s + (*s == '+' || *s == '-');
	char *end;
	long long v;

	if (*p < '0' || *p > '9')
		return false;
	for (const char *q = p; *q; q++)
		if (*q < '0' || *q > '9')
			return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno == ERANGE)
		return false;
	*out = v;
	return true;
}

/* A finite decimal floating-point number, whole string. Only digits, sign, '.' and 'e' may
 * appear, which rules out strtod's hex, inf, nan and leading white space. */
static bool parse_double(const char *s, double *out)
{
	char *end;
	double d;

	if (*s == '\0' || s[strspn(s, "0123456789+-.eE")] != '\0')
		return false;
	d = strtod(s, &end);
	if (*end != '\0' || !isfinite(d))
		return false;
	*out = d;
	return true;
}

lz_err value_parse_header(const char *text, struct value *out)
{
	size_t len;
	bool quoted;
	char *copy;
	int64_t i;
	double d;
	lz_err e = LZ_OK;

	if (!text || !out)
		return LZ_EINVAL;
	text += strspn(text, " \t");
	len = strlen(text);
	while (len > 0 && (text[len - 1] == ' ' || text[len - 1] == '\t'))
		len--;
	quoted = len >= 2 && text[0] == '"' && text[len - 1] == '"';
	if (quoted) {
		text++;
		len -= 2;
	}
	copy = strndup(text, len);
	if (!copy)
		return LZ_ENOMEM;
	if (quoted) {
		if (timefmt_parse_http_date(copy, &i) == LZ_OK) {
			out->type = VALUE_DATETIME;
			out->u.i = i;
			goto out_free_copy;
		}
		out->type = VALUE_STRING;
		out->u.s = copy;
		return LZ_OK;
	}
	if (strcmp(copy, "true") == 0 || strcmp(copy, "false") == 0) {
		out->type = VALUE_BOOL;
		out->u.b = copy[0] == 't';
	} else if (parse_long(copy, &i)) {
		out->type = VALUE_LONG;
		out->u.i = i;
	} else if (parse_double(copy, &d)) {
		out->type = VALUE_DOUBLE;
		out->u.d = d;
	} else {
		e = LZ_EPARSE;
	}
out_free_copy:
	free(copy);
	return e;
}

/* snprintf's result as an lz_err: LZ_ETOOBIG when the text and its NUL did not fit. */
static lz_err printed(int n, size_t cap)
{
	return n < 0 || (size_t)n >= cap ? LZ_ETOOBIG : LZ_OK;
}

/* The shortest "%.Ng" form of finite `d` that strtod reads back as `d`. */
static void format_double(double d, char buf[NUMBER_TEXT_LEN])
{
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, NUMBER_TEXT_LEN, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			return;
	}
}

/* `v` as the text both formats share: numbers and booleans; NULL for other types.
 * `nonfinite` names NaN, +inf and -inf in that order. */
static const char *format_scalar(const struct value *v, const char *const nonfinite[3],
				 char buf[NUMBER_TEXT_LEN])
{
	switch (v->type) {
	case VALUE_INT:
	case VALUE_LONG:
		snprintf(buf, NUMBER_TEXT_LEN, "%lld", (long long)v->u.i);
		return buf;
	case VALUE_BOOL:
		return v->u.b ? "true" : "false";
	case VALUE_DOUBLE:
		if (isnan(v->u.d))
			return nonfinite[0];
		if (isinf(v->u.d))
			return nonfinite[v->u.d > 0 ? 1 : 2];
		format_double(v->u.d, buf);
		return buf;
	default:
		return NULL;
	}
}

lz_err value_format_header(const struct value *v, char *out, size_t cap)
{
	static const char *const nonfinite[3] = { "NaN", "Infinity", "-Infinity" };
	char buf[NUMBER_TEXT_LEN], date[TIMEFMT_RFC1123_LEN];
	const char *scalar;
	lz_err e;

	if (!v || !out)
		return LZ_EINVAL;
	scalar = format_scalar(v, nonfinite, buf);
	if (scalar)
		return printed(snprintf(out, cap, "%s", scalar), cap);
	switch (v->type) {
	case VALUE_STRING:
		if (strpbrk(v->u.s, "\r\n"))
			return LZ_EINVAL;
		return printed(snprintf(out, cap, "\"%s\"", v->u.s), cap);
	case VALUE_DATETIME:
		e = timefmt_rfc1123(v->u.i, date, sizeof date);
		if (e)
			return e;
		return printed(snprintf(out, cap, "\"%s\"", date), cap);
	case VALUE_DURATION:
		duration_format_seconds(v->u.i, buf, sizeof buf);
		return printed(snprintf(out, cap, "%s", buf), cap);
	default:
		return LZ_EINVAL;
	}
}

lz_err value_format_text(const struct value *v, char *out, size_t cap)
{
	static const char *const nonfinite[3] = { "NaN", "INF", "-INF" };
	char buf[NUMBER_TEXT_LEN];
	const char *scalar;

	if (!v || !out)
		return LZ_EINVAL;
	scalar = format_scalar(v, nonfinite, buf);
	if (scalar)
		return printed(snprintf(out, cap, "%s", scalar), cap);
	switch (v->type) {
	case VALUE_STRING:
		return printed(snprintf(out, cap, "%s", v->u.s), cap);
	case VALUE_DATETIME:
		return timefmt_iso8601_ms(v->u.i, out, cap);
	case VALUE_DURATION:
		return duration_format_xs(v->u.i, out, cap);
	default:
		return printed(snprintf(out, cap, "%s", ""), cap);
	}
}
