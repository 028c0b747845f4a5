#include "broker/brokerprops.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/duration.h"
#include "common/timefmt.h"

/* ---- settable BrokerProperties keys ---------------------------------------------------- */

enum key_kind {
	KEY_STRING,       /* a char * field of struct msg_props */
	KEY_TTL,          /* TimeToLive: seconds as a JSON number */
	KEY_TTL_TIMESPAN, /* TimeToLiveTimeSpan (batch only): .NET TimeSpan text */
	KEY_DATE,         /* ScheduledEnqueueTimeUtc: HTTP date (or ISO-8601) */
	KEY_BOOL,         /* ForcePersistence */
};

struct key_spec {
	const char *name;
	enum key_kind kind;
	size_t off;      /* KEY_STRING: offset of the char * in struct msg_props */
	size_t max_len;  /* KEY_STRING: 0 = no limit */
	bool batch_only;
};

#define STR_KEY(n, field, max) { n, KEY_STRING, offsetof(struct msg_props, field), max, false }

static const struct key_spec settable_keys[] = {
	STR_KEY("MessageId", message_id, BROKERPROPS_ID_MAX),
	STR_KEY("CorrelationId", correlation_id, 0),
	STR_KEY("SessionId", session_id, BROKERPROPS_ID_MAX),
	STR_KEY("ReplyTo", reply_to, 0),
	STR_KEY("ReplyToSessionId", reply_to_session_id, BROKERPROPS_ID_MAX),
	STR_KEY("To", to, 0),
	STR_KEY("Label", label, 0),
	STR_KEY("ContentType", content_type, 0),
	STR_KEY("PartitionKey", partition_key, BROKERPROPS_ID_MAX),
	STR_KEY("ViaPartitionKey", via_partition_key, BROKERPROPS_ID_MAX),
	{ "TimeToLive", KEY_TTL, 0, 0, false },
	{ "TimeToLiveTimeSpan", KEY_TTL_TIMESPAN, 0, 0, true },
	{ "ScheduledEnqueueTimeUtc", KEY_DATE, 0, 0, false },
	{ "ForcePersistence", KEY_BOOL, 0, 0, false },
};

static void detail_set(struct lz_detail *d, const char *prefix, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Writes `prefix` followed by the formatted text to `d` (may be NULL). */
static void detail_set(struct lz_detail *d, const char *prefix, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (d == NULL)
		return;
	n = snprintf(d->text, sizeof(d->text), "%s", prefix);
	if (n < 0 || (size_t)n >= sizeof(d->text))
		return;
	va_start(ap, fmt);
	vsnprintf(d->text + n, sizeof(d->text) - (size_t)n, fmt, ap);
	va_end(ap);
}

static const struct key_spec *key_find(const char *name, bool batch)
{
	for (size_t i = 0; i < sizeof(settable_keys) / sizeof(settable_keys[0]); i++) {
		if (strcmp(settable_keys[i].name, name) == 0)
			return settable_keys[i].batch_only && !batch ? NULL : &settable_keys[i];
	}
	return NULL;
}

/* ---- JSON input ----------------------------------------------------------------------------
 *
 * A small reader for exactly what these bodies need, because a batch of 100 1 KiB messages is
 * ~110 KB of JSON per request and a general DOM parser costs most of the request's time. It
 * accepts RFC 8259 JSON; raw control characters inside strings are tolerated. Scalars come out
 * as a struct jv; strings are unescaped into one of two scratch buffers (NUL-terminated, valid
 * until the next string read into the same buffer), or, for message bodies without escapes,
 * point straight into the input.
 */

#define JSON_MAX_DEPTH 64
#define JSON_NUMBER_LEN 64

enum jv_type { JV_NULL, JV_BOOL, JV_INT, JV_REAL, JV_STRING, JV_OBJECT, JV_ARRAY };

struct jv {
	enum jv_type type;
	bool b;
	int64_t i;
	double d;        /* JV_INT and JV_REAL */
	const char *s;   /* JV_STRING */
	size_t len;
};

struct jreader {
	const char *p, *end, *base;
	const char *what;        /* "BrokerProperties header", "batch body": for error text */
	struct strbuf key, val;  /* scratch for unescaped keys and values */
	struct lz_detail *detail;
};

static void jr_init(struct jreader *r, const char *text, size_t len, const char *what, struct lz_detail *detail)
{
	r->p = r->base = text;
	r->end = text + len;
	r->what = what;
	strbuf_init(&r->key);
	strbuf_init(&r->val);
	r->detail = detail;
}

static void jr_release(struct jreader *r)
{
	strbuf_release(&r->key);
	strbuf_release(&r->val);
}

static lz_err jr_fail(struct jreader *r, const char *reason)
{
	detail_set(r->detail, "", "The %s is not valid JSON: %s at offset %zu.", r->what, reason,
		   (size_t)(r->p - r->base));
	return LZ_EINVAL;
}

/* The next non-blank character (not consumed), or -1 at the end. */
static int jr_peek(struct jreader *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
		r->p++;
	return r->p < r->end ? (unsigned char)*r->p : -1;
}

static bool jr_eat(struct jreader *r, char c)
{
	if (jr_peek(r) != (unsigned char)c)
		return false;
	r->p++;
	return true;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Reads the 4 hex digits after "\u" at r->p. */
static bool jr_hex4(struct jreader *r, uint32_t *out)
{
	uint32_t v = 0;

	if (r->end - r->p < 4)
		return false;
	for (int i = 0; i < 4; i++) {
		int d = hex_digit(r->p[i]);

		if (d < 0)
			return false;
		v = v << 4 | (uint32_t)d;
	}
	r->p += 4;
	*out = v;
	return true;
}

static lz_err utf8_add(struct strbuf *b, uint32_t cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | cp >> 12);
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | cp >> 18);
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return strbuf_add(b, u, n);
}

/* One escape sequence after the backslash at r->p, appended to `b`. */
static lz_err jr_escape(struct jreader *r, struct strbuf *b)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *hit;
	uint32_t cp, lo;

	if (++r->p >= r->end)
		return jr_fail(r, "unterminated string");
	if (*r->p != 'u') {
		hit = strchr(from, *r->p);
		if (hit == NULL || *r->p == '\0')
			return jr_fail(r, "invalid escape sequence");
		r->p++;
		return strbuf_addch(b, to[hit - from]);
	}
	r->p++;
	if (!jr_hex4(r, &cp))
		return jr_fail(r, "invalid \\u escape");
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return jr_fail(r, "unpaired UTF-16 surrogate");
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (r->end - r->p < 2 || r->p[0] != '\\' || r->p[1] != 'u')
			return jr_fail(r, "unpaired UTF-16 surrogate");
		r->p += 2;
		if (!jr_hex4(r, &lo) || lo < 0xdc00 || lo > 0xdfff)
			return jr_fail(r, "unpaired UTF-16 surrogate");
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	}
	return utf8_add(b, cp);
}

/*
 * Reads a string into OUT s/len. Into `b` (NUL-terminated) when `b` is not NULL or the string
 * has escapes (then into r->val); otherwise s points into the input.
 */
static lz_err jr_string(struct jreader *r, struct strbuf *b, const char **s, size_t *len)
{
	const char *start, *quote, *bs;
	lz_err e;

	if (jr_peek(r) != '"')
		return jr_fail(r, "a string was expected");
	start = ++r->p;
	quote = memchr(start, '"', (size_t)(r->end - start));
	if (quote == NULL)
		return jr_fail(r, "unterminated string");
	bs = memchr(start, '\\', (size_t)(quote - start));
	if (bs == NULL && b == NULL) {
		*s = start;
		*len = (size_t)(quote - start);
		r->p = quote + 1;
		return LZ_OK;
	}
	if (b == NULL)
		b = &r->val;
	strbuf_reset(b);
	for (;;) {
		const char *run = r->p;

		while (r->p < r->end && *r->p != '"' && *r->p != '\\')
			r->p++;
		e = strbuf_add(b, run, (size_t)(r->p - run));
		if (e != LZ_OK)
			return e;
		if (r->p >= r->end)
			return jr_fail(r, "unterminated string");
		if (*r->p == '"')
			break;
		e = jr_escape(r, b);
		if (e != LZ_OK)
			return e;
	}
	r->p++;
	*s = strbuf_cstr(b);
	*len = b->len;
	return LZ_OK;
}

static lz_err jr_number(struct jreader *r, struct jv *v)
{
	char text[JSON_NUMBER_LEN];
	const char *start = r->p;
	bool real = false;
	size_t n;

	if (r->p < r->end && *r->p == '-')
		r->p++;
	if (r->p < r->end && *r->p == '0') {
		r->p++;
	} else if (r->p < r->end && *r->p >= '1' && *r->p <= '9') {
		while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
			r->p++;
	} else {
		return jr_fail(r, "invalid number");
	}
	if (r->p < r->end && *r->p == '.') {
		real = true;
		if (++r->p >= r->end || *r->p < '0' || *r->p > '9')
			return jr_fail(r, "invalid number");
		while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
			r->p++;
	}
	if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
		real = true;
		if (++r->p < r->end && (*r->p == '+' || *r->p == '-'))
			r->p++;
		if (r->p >= r->end || *r->p < '0' || *r->p > '9')
			return jr_fail(r, "invalid number");
		while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
			r->p++;
	}
	n = (size_t)(r->p - start);
	if (n >= sizeof(text))
		return jr_fail(r, "number too long");
	memcpy(text, start, n);
	text[n] = '\0';
	if (!real) {
		errno = 0;
		v->i = strtoll(text, NULL, 10);
		real = errno == ERANGE;
	}
	v->type = real ? JV_REAL : JV_INT;
	v->d = real ? strtod(text, NULL) : (double)v->i;
	return LZ_OK;
}

static lz_err jr_literal(struct jreader *r, const char *word, size_t len)
{
	if ((size_t)(r->end - r->p) < len || memcmp(r->p, word, len) != 0)
		return jr_fail(r, "invalid literal");
	r->p += len;
	return LZ_OK;
}

/* Reads a scalar into OUT v (strings into r->val); an object or array is only reported
 * (JV_OBJECT / JV_ARRAY, not consumed). */
static lz_err jr_scalar(struct jreader *r, struct jv *v)
{
	int c = jr_peek(r);

	memset(v, 0, sizeof(*v));
	switch (c) {
	case '"':
		v->type = JV_STRING;
		return jr_string(r, &r->val, &v->s, &v->len);
	case '{':
		v->type = JV_OBJECT;
		return LZ_OK;
	case '[':
		v->type = JV_ARRAY;
		return LZ_OK;
	case 't':
		v->type = JV_BOOL;
		v->b = true;
		return jr_literal(r, "true", 4);
	case 'f':
		v->type = JV_BOOL;
		return jr_literal(r, "false", 5);
	case 'n':
		v->type = JV_NULL;
		return jr_literal(r, "null", 4);
	default:
		if (c == '-' || (c >= '0' && c <= '9'))
			return jr_number(r, v);
		return jr_fail(r, c < 0 ? "unexpected end of input" : "a value was expected");
	}
}

/* Consumes one value of any kind. */
static lz_err jr_skip(struct jreader *r, int depth)
{
	const char *s;
	struct jv v;
	size_t len;
	char close;
	lz_err e;

	e = jr_scalar(r, &v);
	if (e != LZ_OK || (v.type != JV_OBJECT && v.type != JV_ARRAY))
		return e;
	if (depth >= JSON_MAX_DEPTH)
		return jr_fail(r, "nesting too deep");
	close = v.type == JV_OBJECT ? '}' : ']';
	r->p++;
	if (jr_eat(r, close))
		return LZ_OK;
	do {
		if (v.type == JV_OBJECT) {
			e = jr_string(r, &r->key, &s, &len);
			if (e == LZ_OK && !jr_eat(r, ':'))
				e = jr_fail(r, "':' was expected");
		}
		if (e == LZ_OK)
			e = jr_skip(r, depth + 1);
		if (e != LZ_OK)
			return e;
	} while (jr_eat(r, ','));
	return jr_eat(r, close) ? LZ_OK : jr_fail(r, close == '}' ? "',' or '}' was expected" : "',' or ']' was expected");
}

/*
 * Iterates the members of the object at r->p: calls `fn` with each key (borrowed, in r->key)
 * with r->p at the member's value, which `fn` must consume.
 */
static lz_err jr_object(struct jreader *r, lz_err (*fn)(struct jreader *r, const char *key, void *arg), void *arg)
{
	const char *key;
	size_t len;
	lz_err e;

	if (!jr_eat(r, '{'))
		return jr_fail(r, "an object was expected");
	if (jr_eat(r, '}'))
		return LZ_OK;
	do {
		e = jr_string(r, &r->key, &key, &len);
		if (e == LZ_OK && !jr_eat(r, ':'))
			e = jr_fail(r, "':' was expected");
		if (e == LZ_OK)
			e = fn(r, key, arg);
		if (e != LZ_OK)
			return e;
	} while (jr_eat(r, ','));
	return jr_eat(r, '}') ? LZ_OK : jr_fail(r, "',' or '}' was expected");
}

/* Characters (not bytes) of UTF-8 text. */
static size_t utf8_length(const char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += ((unsigned char)s[i] & 0xc0) != 0x80;
	return n;
}

static lz_err key_apply(const struct key_spec *k, const struct jv *v, struct msg_props *out, bool *ttl_from_span,
			const char *where, struct lz_detail *detail)
{
	char **field;
	int64_t ms;
	lz_err e;

	switch (k->kind) {
	case KEY_STRING:
		if (v->type != JV_STRING || memchr(v->s, '\0', v->len) != NULL) {
			detail_set(detail, where, "The value of '%s' must be a string.", k->name);
			return LZ_EINVAL;
		}
		if (k->max_len != 0 && utf8_length(v->s, v->len) > k->max_len) {
			detail_set(detail, where, "The value of '%s' exceeds the maximum length of %zu characters.",
				   k->name, k->max_len);
			return LZ_ERANGE;
		}
		field = (char **)((char *)out + k->off);
		free(*field);
		*field = strdup(v->s);
		return *field == NULL ? LZ_ENOMEM : LZ_OK;
	case KEY_TTL:
		if (v->type != JV_INT && v->type != JV_REAL) {
			detail_set(detail, where, "The value of '%s' must be a number of seconds.", k->name);
			return LZ_EINVAL;
		}
		e = duration_from_seconds(v->d, &ms);
		if (e != LZ_OK) {
			detail_set(detail, where, "The value of '%s' must not be negative.", k->name);
			return LZ_ERANGE;
		}
		if (!*ttl_from_span) {
			out->has_ttl = true;
			out->ttl_ms = ms;
		}
		return LZ_OK;
	case KEY_TTL_TIMESPAN:
		if (v->type != JV_STRING) {
			detail_set(detail, where, "The value of '%s' must be a TimeSpan string.", k->name);
			return LZ_EINVAL;
		}
		e = duration_parse_timespan(v->s, &ms);
		if (e != LZ_OK) {
			detail_set(detail, where, "The value of '%s' is not a valid non-negative TimeSpan: '%s'.",
				   k->name, v->s);
			return e == LZ_ERANGE ? LZ_ERANGE : LZ_EINVAL;
		}
		out->has_ttl = true;
		out->ttl_ms = ms;
		*ttl_from_span = true;
		return LZ_OK;
	case KEY_DATE:
		if (v->type != JV_STRING) {
			detail_set(detail, where, "The value of '%s' must be an RFC 1123 date string.", k->name);
			return LZ_EINVAL;
		}
		if (timefmt_parse_http_date(v->s, &ms) != LZ_OK && timefmt_parse_iso8601(v->s, &ms) != LZ_OK) {
			detail_set(detail, where, "The value of '%s' is not a valid RFC 1123 date: '%s'.", k->name, v->s);
			return LZ_EINVAL;
		}
		out->scheduled_enqueue_ms = ms;
		return LZ_OK;
	case KEY_BOOL:
		if (v->type != JV_BOOL) {
			detail_set(detail, where, "The value of '%s' must be true or false.", k->name);
			return LZ_EINVAL;
		}
		out->force_persistence = v->b;
		return LZ_OK;
	}
	return LZ_EINVAL;
}

struct props_ctx {
	struct msg_props *out;
	bool batch, ttl_from_span;
	const char *where;
};

static lz_err props_member(struct jreader *r, const char *key, void *arg)
{
	struct props_ctx *pc = arg;
	const struct key_spec *k = key_find(key, pc->batch);
	struct jv v;
	lz_err e;

	if (k == NULL)
		return jr_skip(r, 1);
	e = jr_scalar(r, &v);
	if (e != LZ_OK || v.type == JV_NULL)
		return e;
	/* key_apply refuses an object or array, which jr_scalar only looked at. */
	return key_apply(k, &v, pc->out, &pc->ttl_from_span, pc->where, r->detail);
}

/* Fills `out` (zeroed) from the object at r->p; releases `out` on failure. */
static lz_err props_read(struct jreader *r, bool batch, const char *where, struct msg_props *out)
{
	struct props_ctx pc = { out, batch, false, where };
	lz_err e;

	e = jr_object(r, props_member, &pc);
	if (e == LZ_OK && out->session_id != NULL && out->partition_key != NULL &&
	    strcmp(out->session_id, out->partition_key) != 0) {
		detail_set(r->detail, where, "'PartitionKey' must be equal to 'SessionId' when both are set.");
		e = LZ_EINVAL;
	}
	if (e != LZ_OK)
		msg_props_release(out);
	return e;
}

lz_err brokerprops_parse(const char *json, size_t len, struct msg_props *out, struct lz_detail *detail)
{
	struct jreader r;
	lz_err e;

	jr_init(&r, json, len, "BrokerProperties header", detail);
	if (jr_peek(&r) < 0)
		return LZ_OK;
	if (jr_peek(&r) != '{') {
		detail_set(detail, "", "The BrokerProperties header must be a JSON object.");
		e = LZ_EINVAL;
		goto out_release_reader;
	}
	e = props_read(&r, false, "BrokerProperties: ", out);
	if (e == LZ_OK && jr_peek(&r) >= 0) {
		e = jr_fail(&r, "unexpected text after the object");
		msg_props_release(out);
	}
out_release_reader:
	jr_release(&r);
	return e;
}

/* ---- JSON output ------------------------------------------------------------------------- */

/* Decodes one UTF-8 sequence at `s` into *cp; returns its length, or 0 when invalid. */
static size_t utf8_decode(const unsigned char *s, uint32_t *cp)
{
	size_t n, i;
	uint32_t c;

	if (s[0] < 0xc2 || s[0] > 0xf4)
		return 0;
	if (s[0] < 0xe0) {
		n = 2;
		c = s[0] & 0x1fu;
	} else if (s[0] < 0xf0) {
		n = 3;
		c = s[0] & 0x0fu;
	} else {
		n = 4;
		c = s[0] & 0x07u;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3fu);
	}
	if ((n == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) || (n == 4 && (c < 0x10000 || c > 0x10ffff)))
		return 0;
	*cp = c;
	return n;
}

lz_err brokerprops_json_string(struct strbuf *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t run;
	lz_err e;

	e = strbuf_addch(out, '"');
	while (e == LZ_OK && *p != '\0') {
		uint32_t cp;
		size_t n;

		for (run = 0; p[run] >= 0x20 && p[run] < 0x7f && p[run] != '"' && p[run] != '\\'; run++)
			;
		if (run > 0) {
			e = strbuf_add(out, p, run);
			p += run;
			continue;
		}
		switch (*p) {
		case '"':
			e = strbuf_adds(out, "\\\"");
			break;
		case '\\':
			e = strbuf_adds(out, "\\\\");
			break;
		case '\n':
			e = strbuf_adds(out, "\\n");
			break;
		case '\r':
			e = strbuf_adds(out, "\\r");
			break;
		case '\t':
			e = strbuf_adds(out, "\\t");
			break;
		default:
			if (*p < 0x80) {
				e = strbuf_addf(out, "\\u%04x", *p);
				break;
			}
			n = utf8_decode(p, &cp);
			if (n == 0) {
				/* Invalid UTF-8: one replacement character per bad byte. */
				e = strbuf_adds(out, "\\ufffd");
				break;
			}
			if (cp >= 0x10000) {
				cp -= 0x10000;
				e = strbuf_addf(out, "\\u%04x\\u%04x", 0xd800u + (cp >> 10), 0xdc00u + (cp & 0x3ffu));
			} else {
				e = strbuf_addf(out, "\\u%04x", cp);
			}
			p += n - 1;
			break;
		}
		p++;
	}
	return e == LZ_OK ? strbuf_addch(out, '"') : e;
}

/* Appends `,"key":` (no comma before the first key). */
static lz_err json_key(struct strbuf *out, bool *first, const char *key)
{
	lz_err e = LZ_OK;

	if (!*first)
		e = strbuf_addch(out, ',');
	*first = false;
	if (e == LZ_OK)
		e = strbuf_addf(out, "\"%s\":", key);
	return e;
}

static lz_err json_str_field(struct strbuf *out, bool *first, const char *key, const char *s)
{
	lz_err e;

	if (s == NULL)
		return LZ_OK;
	e = json_key(out, first, key);
	return e == LZ_OK ? brokerprops_json_string(out, s) : e;
}

static lz_err json_date_field(struct strbuf *out, bool *first, const char *key, int64_t ms)
{
	char text[TIMEFMT_RFC1123_LEN];
	lz_err e;

	e = timefmt_rfc1123(ms, text, sizeof(text));
	if (e == LZ_OK)
		e = json_key(out, first, key);
	return e == LZ_OK ? strbuf_addf(out, "\"%s\"", text) : e;
}

/* The keys of spec §1.2 in ordinal order; ContentType only for the emulator's JSON form. */
static lz_err props_render(const struct msg_out *m, bool with_content_type, struct strbuf *out)
{
	const struct msg_props *p = &m->props;
	char ttl[DURATION_SECONDS_LEN];
	bool first = true;
	lz_err e;

	e = strbuf_addch(out, '{');
	if (e == LZ_OK && with_content_type)
		e = json_str_field(out, &first, "ContentType", p->content_type);
	if (e == LZ_OK)
		e = json_str_field(out, &first, "CorrelationId", p->correlation_id);
	if (e == LZ_OK)
		e = json_str_field(out, &first, "DeadLetterSource", m->dead_letter_source);
	if (e == LZ_OK)
		e = json_key(out, &first, "DeliveryCount");
	if (e == LZ_OK)
		e = strbuf_addf(out, "%" PRIu32, m->delivery_count);
	if (e == LZ_OK)
		e = json_key(out, &first, "EnqueuedSequenceNumber");
	if (e == LZ_OK)
		e = strbuf_addf(out, "%" PRIu64, m->enqueued_seq);
	if (e == LZ_OK)
		e = json_date_field(out, &first, "EnqueuedTimeUtc", m->enqueued_ms);
	if (e == LZ_OK)
		e = json_str_field(out, &first, "Label", p->label);
	if (e == LZ_OK && m->lock_token[0] != '\0') {
		e = json_str_field(out, &first, "LockToken", m->lock_token);
		if (e == LZ_OK)
			e = json_date_field(out, &first, "LockedUntilUtc", m->locked_until_ms);
	}
	if (e == LZ_OK)
		e = json_str_field(out, &first, "MessageId", p->message_id);
	if (e == LZ_OK)
		e = json_str_field(out, &first, "PartitionKey", p->partition_key);
	if (e == LZ_OK)
		e = json_str_field(out, &first, "ReplyTo", p->reply_to);
	if (e == LZ_OK)
		e = json_str_field(out, &first, "ReplyToSessionId", p->reply_to_session_id);
	if (e == LZ_OK && p->scheduled_enqueue_ms != 0)
		e = json_date_field(out, &first, "ScheduledEnqueueTimeUtc", p->scheduled_enqueue_ms);
	if (e == LZ_OK)
		e = json_key(out, &first, "SequenceNumber");
	if (e == LZ_OK)
		e = strbuf_addf(out, "%" PRIu64, m->seq);
	if (e == LZ_OK)
		e = json_str_field(out, &first, "SessionId", p->session_id);
	if (e == LZ_OK)
		e = json_str_field(out, &first, "State", msg_state_name(m->state));
	if (e == LZ_OK)
		e = json_key(out, &first, "TimeToLive");
	if (e == LZ_OK) {
		duration_format_seconds(m->ttl_ms, ttl, sizeof(ttl));
		e = strbuf_adds(out, ttl);
	}
	if (e == LZ_OK)
		e = json_str_field(out, &first, "To", p->to);
	if (e == LZ_OK)
		e = json_str_field(out, &first, "ViaPartitionKey", p->via_partition_key);
	return e == LZ_OK ? strbuf_addch(out, '}') : e;
}

lz_err brokerprops_render(const struct msg_out *m, struct strbuf *out)
{
	return props_render(m, false, out);
}

/* One user property as a JSON value: strings and dates (RFC 1123) as strings, durations as
 * seconds, doubles that JSON cannot hold as the .NET names in a string. */
static lz_err json_value(struct strbuf *out, const struct value *v)
{
	char text[64];
	lz_err e;

	switch (v->type) {
	case VALUE_STRING:
		return brokerprops_json_string(out, v->u.s);
	case VALUE_INT:
	case VALUE_LONG:
		return strbuf_addf(out, "%" PRId64, v->u.i);
	case VALUE_BOOL:
		return strbuf_adds(out, v->u.b ? "true" : "false");
	case VALUE_DOUBLE:
		if (!isfinite(v->u.d))
			return strbuf_adds(out, isnan(v->u.d) ? "\"NaN\"" : v->u.d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
		e = value_format_text(v, text, sizeof(text));
		return e == LZ_OK ? strbuf_adds(out, text) : e;
	case VALUE_DATETIME:
		e = timefmt_rfc1123(v->u.i, text, sizeof(text));
		return e == LZ_OK ? strbuf_addf(out, "\"%s\"", text) : e;
	case VALUE_DURATION:
		duration_format_seconds(v->u.i, text, sizeof(text));
		return strbuf_adds(out, text);
	case VALUE_NULL:
		break;
	}
	return strbuf_adds(out, "null");
}

static lz_err base64_add(struct strbuf *out, const uint8_t *p, size_t len)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i;
	char *w;
	lz_err e;

	e = strbuf_grow(out, (len + 2) / 3 * 4);
	if (e != LZ_OK)
		return e;
	w = out->data + out->len;
	for (i = 0; i + 2 < len; i += 3) {
		uint32_t n = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

		*w++ = alphabet[n >> 18];
		*w++ = alphabet[(n >> 12) & 63];
		*w++ = alphabet[(n >> 6) & 63];
		*w++ = alphabet[n & 63];
	}
	if (i < len) {
		uint32_t n = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);

		*w++ = alphabet[n >> 18];
		*w++ = alphabet[(n >> 12) & 63];
		*w++ = i + 1 < len ? alphabet[(n >> 6) & 63] : '=';
		*w++ = '=';
	}
	out->len = (size_t)(w - out->data);
	out->data[out->len] = '\0';
	return LZ_OK;
}

lz_err brokerprops_render_json_message(const struct msg_out *m, struct strbuf *out)
{
	lz_err e;

	e = strbuf_adds(out, "{\"BrokerProperties\":");
	if (e == LZ_OK)
		e = props_render(m, true, out);
	if (e == LZ_OK)
		e = strbuf_adds(out, ",\"UserProperties\":{");
	for (size_t i = 0; e == LZ_OK && i < m->user.n; i++) {
		if (i > 0)
			e = strbuf_addch(out, ',');
		if (e == LZ_OK)
			e = brokerprops_json_string(out, m->user.items[i].name);
		if (e == LZ_OK)
			e = strbuf_addch(out, ':');
		if (e == LZ_OK)
			e = json_value(out, &m->user.items[i].v);
	}
	if (e == LZ_OK)
		e = strbuf_adds(out, "},\"Body\":\"");
	if (e == LZ_OK && m->body != NULL)
		e = base64_add(out, m->body->bytes, m->body->len);
	return e == LZ_OK ? strbuf_adds(out, "\"}") : e;
}

/* ---- user properties as headers ---------------------------------------------------------- */

static const char *const reserved_exact[] = {
	"Authorization", "BrokerProperties", "Cache-Control", "Connection", "Cookie", "Correlation-Context",
	"Date", "Expect", "Forwarded", "Host", "Keep-Alive", "Origin", "Pragma", "Range", "Referer",
	"Request-Id", "ServiceBusDlqSupplementaryAuthorization", "ServiceBusSupplementaryAuthorization",
	"TE", "Trailer", "Transfer-Encoding", "Upgrade", "User-Agent", "Via", "Warning", "baggage",
	"traceparent", "tracestate",
};

static const char *const reserved_prefix[] = {
	"Accept", "Content-", "If-", "Proxy-", "Sec-", "x-forwarded-", "x-ms-",
};

bool brokerprops_header_reserved(const char *name)
{
	size_t i;

	int first = tolower((unsigned char)name[0]);

	/* Every send runs this for each header: compare the first letter before the whole name. */
	for (i = 0; i < sizeof(reserved_exact) / sizeof(reserved_exact[0]); i++) {
		if (tolower((unsigned char)reserved_exact[i][0]) == first && strcasecmp(name, reserved_exact[i]) == 0)
			return true;
	}
	for (i = 0; i < sizeof(reserved_prefix) / sizeof(reserved_prefix[0]); i++) {
		if (tolower((unsigned char)reserved_prefix[i][0]) == first &&
		    strncasecmp(name, reserved_prefix[i], strlen(reserved_prefix[i])) == 0)
			return true;
	}
	return false;
}

bool brokerprops_header_name_ok(const char *name)
{
	const char *p;

	if (name == NULL || name[0] == '\0')
		return false;
	for (p = name; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("!#$%&'*+-.^_`|~", c) != NULL))
			return false;
	}
	return true;
}

lz_err brokerprops_user_from_header(struct proplist *user, const char *name, const char *value,
				    struct lz_detail *detail)
{
	struct value v = { 0 };
	lz_err e;

	if (brokerprops_header_reserved(name))
		return LZ_OK;
	e = value_parse_header(value, &v);
	if (e == LZ_EPARSE) {
		detail_set(detail, "", "The value of the custom property '%s' cannot be typed: '%s'. Quote "
			   "strings; use true/false, integers or decimal numbers otherwise.", name, value);
		return LZ_EINVAL;
	}
	if (e != LZ_OK)
		return e;
	e = proplist_set(user, name, &v);
	value_release(&v);
	return e;
}

/* ---- batch body ---------------------------------------------------------------------------- */

struct item_ctx {
	struct msg_in *m;
	char where[48];
};

static lz_err user_member(struct jreader *r, const char *key, void *arg)
{
	struct item_ctx *ic = arg;
	struct value v = { 0 };
	struct jv j;
	lz_err e;

	e = jr_scalar(r, &j);
	if (e != LZ_OK)
		return e;
	switch (j.type) {
	case JV_STRING:
		v.type = VALUE_STRING;
		/* proplist_set copies the value, so the borrowed scratch text is never freed here. */
		v.u.s = (char *)j.s;
		break;
	case JV_INT:
		v.type = VALUE_LONG;
		v.u.i = j.i;
		break;
	case JV_REAL:
		v.type = VALUE_DOUBLE;
		v.u.d = j.d;
		break;
	case JV_BOOL:
		v.type = VALUE_BOOL;
		v.u.b = j.b;
		break;
	default:
		detail_set(r->detail, ic->where, "The user property '%s' must be a string, number or boolean.", key);
		return LZ_EINVAL;
	}
	return proplist_set(&ic->m->user, key, &v);
}

static lz_err item_member(struct jreader *r, const char *key, void *arg)
{
	struct item_ctx *ic = arg;
	const char *s;
	size_t len;
	int c = jr_peek(r);
	lz_err e;

	if (strcmp(key, "Body") == 0) {
		if (c == 'n')
			return jr_literal(r, "null", 4);
		if (c != '"') {
			detail_set(r->detail, ic->where, "'Body' must be a string.");
			return LZ_EINVAL;
		}
		e = jr_string(r, NULL, &s, &len);
		if (e != LZ_OK)
			return e;
		msg_body_unref(ic->m->body);
		ic->m->body = msg_body_new(s, len);
		return ic->m->body == NULL ? LZ_ENOMEM : LZ_OK;
	}
	if (strcmp(key, "BrokerProperties") == 0 || strcmp(key, "UserProperties") == 0) {
		bool user = key[0] == 'U';

		if (c == 'n')
			return jr_literal(r, "null", 4);
		if (c != '{') {
			detail_set(r->detail, ic->where, "'%s' must be a JSON object.", user ? "UserProperties" : "BrokerProperties");
			return LZ_EINVAL;
		}
		if (user)
			return jr_object(r, user_member, ic);
		msg_props_release(&ic->m->props);
		memset(&ic->m->props, 0, sizeof(ic->m->props));
		return props_read(r, true, ic->where, &ic->m->props);
	}
	return jr_skip(r, 1);
}

/* Writes "Batch message N: " to `where` (snprintf would cost more than the rest of the item). */
static void where_set(char where[48], size_t idx)
{
	static const char prefix[] = "Batch message ";
	char digits[24];
	size_t nd = 0, len = sizeof(prefix) - 1;

	do {
		digits[nd++] = (char)('0' + idx % 10);
		idx /= 10;
	} while (idx > 0);
	memcpy(where, prefix, len);
	while (nd > 0)
		where[len++] = digits[--nd];
	memcpy(where + len, ": ", 3);
}

lz_err brokerprops_parse_batch(const char *json, size_t len, struct msg_in **msgs, size_t *n,
			       struct lz_detail *detail)
{
	struct jreader r;
	struct msg_in *arr = NULL;
	size_t count = 0, cap = 0;
	lz_err e;

	jr_init(&r, json, len, "batch body", detail);
	if (!jr_eat(&r, '[')) {
		e = jr_fail(&r, "an array of messages was expected");
		goto out_release_reader;
	}
	if (jr_eat(&r, ']')) {
		detail_set(detail, "", "The batch body must be a non-empty JSON array of messages.");
		e = LZ_EINVAL;
		goto out_release_reader;
	}
	do {
		struct item_ctx ic;

		if (count == cap) {
			size_t ncap = cap == 0 ? 16 : cap * 2;
			struct msg_in *grown = realloc(arr, ncap * sizeof(*arr));

			if (grown == NULL) {
				e = LZ_ENOMEM;
				goto out_free_batch;
			}
			arr = grown;
			cap = ncap;
		}
		memset(&arr[count], 0, sizeof(arr[count]));
		ic.m = &arr[count++];
		where_set(ic.where, count - 1);
		e = jr_object(&r, item_member, &ic);
		if (e == LZ_OK && ic.m->body == NULL) {
			ic.m->body = msg_body_new("", 0);
			if (ic.m->body == NULL)
				e = LZ_ENOMEM;
		}
		if (e != LZ_OK)
			goto out_free_batch;
	} while (jr_eat(&r, ','));
	if (!jr_eat(&r, ']')) {
		e = jr_fail(&r, "',' or ']' was expected");
		goto out_free_batch;
	}
	if (jr_peek(&r) >= 0) {
		e = jr_fail(&r, "unexpected text after the array");
		goto out_free_batch;
	}
	*msgs = arr;
	*n = count;
	jr_release(&r);
	return LZ_OK;

out_free_batch:
	brokerprops_batch_free(arr, count);
out_release_reader:
	jr_release(&r);
	return e;
}

void brokerprops_batch_free(struct msg_in *msgs, size_t n)
{
	if (msgs == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		msg_props_release(&msgs[i].props);
		proplist_release(&msgs[i].user);
		msg_body_unref(msgs[i].body);
	}
	free(msgs);
}
