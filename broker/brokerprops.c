#include "broker/brokerprops.h"

#include <ctype.h>
#include <pthread.h>
#include <stddef.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

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
 * JSON is parsed with cJSON: a batch of 100 1 KiB messages is ~110 KB of JSON per request, and
 * jansson's lexer (the first choice) spent 68 % of the broker's CPU on it (64 MB/s measured
 * against cJSON's 594 MB/s on this machine). cJSON keeps no number text and ends strings at a
 * NUL, so two limits follow, both documented in the header: a JSON number is an Int64 when it is
 * integral and within ±2^53 (a Double otherwise), and a "\u0000" escape is refused.
 */

enum jv_type { JV_NULL, JV_BOOL, JV_INT, JV_REAL, JV_STRING, JV_OBJECT, JV_ARRAY };

struct jv {
	enum jv_type type;
	bool b;
	int64_t i;
	double d;        /* JV_INT and JV_REAL */
	const char *s;   /* JV_STRING, borrowed from the cJSON tree */
	size_t len;
};

#define JSON_EXACT_INT 9007199254740992.0 /* 2^53 */

static void jv_from_item(const cJSON *it, struct jv *v)
{
	memset(v, 0, sizeof(*v));
	if (cJSON_IsString(it)) {
		v->type = JV_STRING;
		v->s = it->valuestring;
		v->len = strlen(it->valuestring);
	} else if (cJSON_IsNumber(it)) {
		v->d = it->valuedouble;
		if (v->d == floor(v->d) && fabs(v->d) <= JSON_EXACT_INT) {
			v->type = JV_INT;
			v->i = (int64_t)v->d;
		} else {
			v->type = JV_REAL;
		}
	} else if (cJSON_IsBool(it)) {
		v->type = JV_BOOL;
		v->b = cJSON_IsTrue(it);
	} else if (cJSON_IsObject(it)) {
		v->type = JV_OBJECT;
	} else if (cJSON_IsArray(it)) {
		v->type = JV_ARRAY;
	} else {
		v->type = JV_NULL;
	}
}

/* True when the JSON text holds a \\u0000 escape (an escaped backslash before "u0000" does not
 * count). Only backslashes are looked at, so a body without escapes costs one memchr. */
static bool json_has_nul_escape(const char *text, size_t len)
{
	const char *p = text, *end = text + len;

	while ((p = memchr(p, '\\', (size_t)(end - p))) != NULL) {
		if (end - p >= 6 && memcmp(p + 1, "u0000", 5) == 0)
			return true;
		p += 2; /* skip the escaped character, which may itself be a backslash */
		if (p >= end)
			break;
	}
	return false;
}

/*
 * cJSON trees live in a per-thread bump arena for the duration of one parse call. A batch parse
 * makes ~400 small allocations; through malloc they interleave with the long-lived messages
 * created from them and fragment the heap (malloc_consolidate and unlink_chunk took 18 % of the
 * broker's CPU on batch sends). json_arena_end() frees the whole arena, so nothing outlives the
 * call and no thread keeps memory between requests.
 */
#define JSON_ARENA_BLOCK 65536

struct json_arena_block {
	struct json_arena_block *next;
	size_t cap, used;
	max_align_t data[];
};

static _Thread_local struct json_arena_block *json_arena;
static _Thread_local bool json_arena_on;
static pthread_once_t json_hooks_once = PTHREAD_ONCE_INIT;

static void *json_arena_malloc(size_t n)
{
	struct json_arena_block *b = json_arena;
	void *p;

	if (!json_arena_on)
		return malloc(n);
	n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
	if (b == NULL || b->cap - b->used < n) {
		size_t cap = n > JSON_ARENA_BLOCK ? n : JSON_ARENA_BLOCK;

		b = malloc(sizeof(*b) + cap);
		if (b == NULL)
			return NULL;
		b->next = json_arena;
		b->cap = cap;
		b->used = 0;
		json_arena = b;
	}
	p = (char *)b->data + b->used;
	b->used += n;
	return p;
}

/* Arena memory goes back all at once in json_arena_end(). */
static void json_arena_free(void *p)
{
	if (!json_arena_on)
		free(p);
}

static void json_hooks_install(void)
{
	cJSON_Hooks hooks = { json_arena_malloc, json_arena_free };

	cJSON_InitHooks(&hooks);
}

static void json_arena_begin(void)
{
	pthread_once(&json_hooks_once, json_hooks_install);
	json_arena_on = true;
}

static void json_arena_end(void)
{
	while (json_arena != NULL) {
		struct json_arena_block *next = json_arena->next;

		free(json_arena);
		json_arena = next;
	}
	json_arena_on = false;
}

static void json_tree_free(cJSON *root)
{
	cJSON_Delete(root);
	json_arena_end();
}

/* Parses `len` bytes of `text` into *root, to be freed with json_tree_free(); LZ_EINVAL with
 * detail naming `what` otherwise. */
static lz_err json_parse(const char *text, size_t len, const char *what, cJSON **root, struct lz_detail *detail)
{
	const char *end = NULL;

	*root = NULL;
	if (json_has_nul_escape(text, len)) {
		detail_set(detail, "", "The %s contains a \\u0000 escape, which is not supported.", what);
		return LZ_EINVAL;
	}
	json_arena_begin();
	*root = cJSON_ParseWithLengthOpts(text, len, &end, false);
	if (*root == NULL) {
		size_t off = end != NULL && end >= text && end <= text + len ? (size_t)(end - text) : 0;

		json_arena_end();
		detail_set(detail, "", "The %s is not valid JSON (error near offset %zu).", what, off);
		return LZ_EINVAL;
	}
	while (end != NULL && end < text + len && (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
		end++;
	if (end != NULL && end < text + len) {
		detail_set(detail, "", "The %s is not valid JSON: unexpected text at offset %zu.", what,
			   (size_t)(end - text));
		json_tree_free(*root);
		*root = NULL;
		return LZ_EINVAL;
	}
	return LZ_OK;
}

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

/* Fills `out` (zeroed) from the JSON object `obj`; releases `out` on failure. */
static lz_err props_read(const cJSON *obj, bool batch, const char *where, struct msg_props *out,
			 struct lz_detail *detail)
{
	bool ttl_from_span = false;
	const cJSON *it;
	lz_err e = LZ_OK;

	cJSON_ArrayForEach(it, obj) {
		const struct key_spec *k = it->string != NULL ? key_find(it->string, batch) : NULL;
		struct jv v;

		if (k == NULL)
			continue;
		jv_from_item(it, &v);
		if (v.type == JV_NULL)
			continue;
		e = key_apply(k, &v, out, &ttl_from_span, where, detail);
		if (e != LZ_OK)
			break;
	}
	if (e == LZ_OK && out->session_id != NULL && out->partition_key != NULL &&
	    strcmp(out->session_id, out->partition_key) != 0) {
		detail_set(detail, where, "'PartitionKey' must be equal to 'SessionId' when both are set.");
		e = LZ_EINVAL;
	}
	if (e != LZ_OK)
		msg_props_release(out);
	return e;
}

static bool text_blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return false;
	}
	return true;
}

lz_err brokerprops_parse(const char *json, size_t len, struct msg_props *out, struct lz_detail *detail)
{
	cJSON *root;
	lz_err e;

	if (text_blank(json, len))
		return LZ_OK;
	e = json_parse(json, len, "BrokerProperties header", &root, detail);
	if (e != LZ_OK)
		return e;
	if (!cJSON_IsObject(root)) {
		detail_set(detail, "", "The BrokerProperties header must be a JSON object.");
		e = LZ_EINVAL;
	} else {
		e = props_read(root, false, "BrokerProperties: ", out, detail);
	}
	json_tree_free(root);
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

static lz_err user_read(const cJSON *obj, const char *where, struct proplist *user, struct lz_detail *detail)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, obj) {
		struct value v = { 0 };
		struct jv j;
		lz_err e;

		jv_from_item(it, &j);
		switch (j.type) {
		case JV_STRING:
			v.type = VALUE_STRING;
			/* proplist_set copies the value, so the borrowed text is never freed here. */
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
			detail_set(detail, where, "The user property '%s' must be a string, number or boolean.",
				   it->string);
			return LZ_EINVAL;
		}
		e = proplist_set(user, it->string, &v);
		if (e != LZ_OK)
			return e;
	}
	return LZ_OK;
}

/* Fills `m` (zeroed) from one batch element. */
static lz_err item_read(const cJSON *obj, const char *where, struct msg_in *m, struct lz_detail *detail)
{
	const cJSON *body = cJSON_GetObjectItemCaseSensitive(obj, "Body");
	const cJSON *bp = cJSON_GetObjectItemCaseSensitive(obj, "BrokerProperties");
	const cJSON *up = cJSON_GetObjectItemCaseSensitive(obj, "UserProperties");
	lz_err e;

	if (!cJSON_IsObject(obj)) {
		detail_set(detail, where, "Each batch element must be a JSON object.");
		return LZ_EINVAL;
	}
	if (body != NULL && !cJSON_IsNull(body) && !cJSON_IsString(body)) {
		detail_set(detail, where, "'Body' must be a string.");
		return LZ_EINVAL;
	}
	if (bp != NULL && !cJSON_IsNull(bp) && !cJSON_IsObject(bp)) {
		detail_set(detail, where, "'BrokerProperties' must be a JSON object.");
		return LZ_EINVAL;
	}
	if (up != NULL && !cJSON_IsNull(up) && !cJSON_IsObject(up)) {
		detail_set(detail, where, "'UserProperties' must be a JSON object.");
		return LZ_EINVAL;
	}
	if (cJSON_IsString(body))
		m->body = msg_body_new(body->valuestring, strlen(body->valuestring));
	else
		m->body = msg_body_new("", 0);
	if (m->body == NULL)
		return LZ_ENOMEM;
	if (cJSON_IsObject(bp)) {
		e = props_read(bp, true, where, &m->props, detail);
		if (e != LZ_OK)
			return e;
	}
	return cJSON_IsObject(up) ? user_read(up, where, &m->user, detail) : LZ_OK;
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
	cJSON *root;
	const cJSON *it;
	struct msg_in *arr = NULL;
	size_t count = 0, total;
	lz_err e;

	e = json_parse(json, len, "batch body", &root, detail);
	if (e != LZ_OK)
		return e;
	if (!cJSON_IsArray(root) || (total = (size_t)cJSON_GetArraySize(root)) == 0) {
		detail_set(detail, "", "The batch body must be a non-empty JSON array of messages.");
		e = LZ_EINVAL;
		goto out_delete_tree;
	}
	arr = calloc(total, sizeof(*arr));
	if (arr == NULL) {
		e = LZ_ENOMEM;
		goto out_delete_tree;
	}
	cJSON_ArrayForEach(it, root) {
		char where[48];

		where_set(where, count);
		e = item_read(it, where, &arr[count++], detail);
		if (e != LZ_OK)
			goto out_free_batch;
	}
	*msgs = arr;
	*n = count;
	json_tree_free(root);
	return LZ_OK;

out_free_batch:
	brokerprops_batch_free(arr, count);
out_delete_tree:
	json_tree_free(root);
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
