/*
 * store_json — a directory of JSON files, for reading and diffing the state by hand.
 *
 * DIRECTORY FORMAT 1 (JSON_FORMAT):
 *
 *   <dir>/meta.json      {"format": 1, "store_id": "<uuid>", "last_applied_lsn": N}
 *   <dir>/commit.json    exists only while a commit is being applied (see Commit below):
 *                        {"format": 1, "last_applied_lsn": N, "put": [rel...], "delete": [rel...]}
 *   <dir>/entities/<name>.json                 one file per entity
 *   <dir>/messages/<name>/<w>-<seq>.json       one file per message of entity <name>: <w> is the
 *                        place (0 main, 1 dead-letter queue, 2 scheduled store), <seq> the
 *                        sequence number in 20 decimal digits, so that `ls` lists load order
 *   <any>.tmp            a file being written; removed at open unless commit.json names it
 *
 *   <name> is the entity key — the path lower-cased (ASCII) — with every byte outside
 *   [a-z0-9_.-], and a leading '.', written as %XX (upper-case hex): "Orders/Subscriptions/S1"
 *   → "orders%2Fsubscriptions%2Fs1". At most JSON_NAME_MAX bytes. "rel" above is a path
 *   relative to <dir> ("entities/orders.json"). Files are UTF-8 JSON (strings are copied byte
 *   for byte), indented with tabs when pretty_json is set, one trailing newline.
 *
 * Values:
 *   integer   a JSON number when |v| <= 2^53 (exact in a double), else a string of decimal
 *             digits ("9223372036854775807"); readers accept both forms
 *   instant   ISO-8601 UTC with milliseconds ("2024-01-31T12:00:00.000Z") when inside years
 *             0001..9999, else an integer (ms since the Unix epoch; INT64_MAX means "never")
 *   duration  xs:duration ("PT1M", "P10675199DT2H48M5.4775807S" for infinite) when that text
 *             reads back to the same millisecond count, else an integer (ms)
 *   double    a JSON number in the shortest form that reads back bit for bit; "NaN", "INF",
 *             "-INF" as strings
 *   absent    a NULL string is JSON null, or the member is left out where noted ("opt")
 *
 * Entity file (a struct jrec_load_entity): Path, Kind ("Queue" | "Topic" | "Subscription"),
 * the 22 other entity_desc properties by their Azure names (LockDuration, MaxSizeInMegabytes,
 * RequiresDuplicateDetection, RequiresSession, DefaultMessageTimeToLive,
 * DeadLetteringOnMessageExpiration, DeadLetteringOnFilterEvaluationExceptions,
 * DuplicateDetectionHistoryTimeWindow, MaxDeliveryCount, EnableBatchedOperations,
 * IsAnonymousAccessible, SupportOrdering, FilteringMessagesBeforePublishing, Status,
 * AutoDeleteOnIdle, EnablePartitioning, EnableSubscriptionPartitioning, EnableExpress,
 * MaxMessageSizeInKilobytes, ForwardTo, ForwardDeadLetteredMessagesTo, UserMetadata) — every
 * one written whatever the kind, CreatedAt, UpdatedAt, AccessedAt (instants),
 * LastSequenceNumber, Rules: [{Name, Filter: {Type: "TrueFilter" | "FalseFilter" | "SqlFilter"
 * | "CorrelationFilter", SqlExpression opt, CompatibilityLevel, Parameters opt, CorrelationId
 * opt, MessageId opt, To opt, ReplyTo opt, Label opt, SessionId opt, ReplyToSessionId opt,
 * ContentType opt, Properties opt}, Action: {Type: "EmptyRuleAction" | "SqlRuleAction",
 * SqlExpression opt, CompatibilityLevel, Parameters opt}, CreatedAt}], DuplicateDetectionHistory:
 * [{MessageId, Time}]. Property lists (Parameters, Properties, UserProperties) are arrays of
 * {Name, Type: "string" | "int" | "long" | "boolean" | "double" | "dateTime" | "duration" |
 * "null", Value}, in list order; an empty list is left out.
 *
 * Message file (a struct jrec_load_message): Path, Where ("Main" | "DeadLetter" | "Scheduled"),
 * SequenceNumber, State ("Active" | "Deferred" | "DeadLettered" | "Scheduled"; written for the
 * reader, ignored when read), Deferred, EnqueuedSequenceNumber opt (0), EnqueuedTimeUtc,
 * TimeToLive, ExpiresAtUtc, ScheduledEnqueueTimeUtc opt (0), DeliveryCount, DeadLetterReason
 * opt, DeadLetterErrorDescription opt, DeadLetterSource opt (the place's fields), BrokerProperties:
 * {MessageId, CorrelationId, SessionId, ReplyTo, ReplyToSessionId, To, Label, ContentType,
 * PartitionKey, ViaPartitionKey (all opt), TimeToLive (present exactly when the sender set one;
 * absent reads as has_ttl = false, ttl_ms = 0), ScheduledEnqueueTimeUtc opt (0),
 * ForcePersistence}, UserProperties, Body (base64, RFC 4648 with padding), BodyText (opt: the
 * body again when it is valid UTF-8 without NUL bytes; ignored when read).
 *
 * Commit (crash-atomic; the redo log is commit.json):
 *   1. every changed file is written as <file>.tmp and fsynced; so is every directory that got
 *      a temp file or a new message directory;
 *   2. commit.json is written (temp, fsync, rename, fsync of <dir>): the commit point;
 *   3. each temp is renamed over its file, each deleted file unlinked, the directories fsynced;
 *   4. meta.json gets the new last_applied_lsn (temp, fsync, rename, fsync of <dir>);
 *   5. commit.json is unlinked and <dir> fsynced.
 * Open redoes steps 3-5 when commit.json exists (renames whose temp is gone are done already,
 * unlinks of missing files are done already), then removes every other temp file. So after a
 * crash the directory shows exactly the last commit that reached step 2, and last_applied_lsn
 * always matches the data.
 *
 * In memory: the whole state is mirrored in a store_memory handle (reads, load, list and
 * counts come from it; a transaction runs in it too) and the paths written in the open
 * transaction are remembered; commit renders those from the mirror. Open reads every file.
 *
 * Errors: a failing system call gives LZ_ESYS naming the file; a file that does not parse or
 * does not match its name gives LZ_EPARSE naming the file. After a failed commit or purge the
 * mirror may differ from the files, so the handle refuses new transactions (LZ_ESTATE): close it
 * and open the directory again, which recovers the last commit that reached its commit point.
 * compact and purge are refused inside a transaction (LZ_ESTATE), and so are writes outside one.
 */
#include "persistd/store.h"
#include "persistd/jsonform.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/duration.h"
#include "common/fsio.h"
#include "common/log.h"
#include "common/map.h"
#include "common/timefmt.h"
#include "common/uuid.h"

#define JSON_FORMAT 1
/* Longest escaped entity name: with ".json.tmp" it stays below NAME_MAX (255). */
#define JSON_NAME_MAX 200
/* Largest file read back: a 16 MiB body as base64 plus its text, escaped. */
#define JSON_FILE_MAX (256u * 1024u * 1024u)
/* Integers up to this magnitude are exact in a double, so JSON numbers. */
#define JSON_EXACT_INT 9007199254740992LL

enum json_dirty_kind {
	DIRTY_ENTITY,  /* an entity file: written from the mirror, or deleted */
	DIRTY_MESSAGE, /* a message file: written from the mirror, or deleted */
	DIRTY_DIR,     /* every *.json in a directory not otherwise dirty is deleted */
};

struct json_dirty {
	enum json_dirty_kind kind;
	char *rel;               /* file or directory relative to the store directory */
	char *path;              /* entity path (DIRTY_ENTITY, DIRTY_MESSAGE) */
	enum journal_where where;
	uint64_t seq;
};

struct store {
	const struct fsio_ops *io;
	char *dir;
	bool pretty;
	char store_id[40];
	store *mem;        /* a store_memory handle mirroring the directory */
	bool in_tx;
	bool failed;       /* an I/O error left the mirror and the files apart */
	struct map dirty;  /* rel → struct json_dirty, for the open transaction */
};

/* LZ_ESYS naming the operation and the file, with errno's text. */
static lz_err json_sys(struct store_detail *d, const char *op, const char *file)
{
	int e = errno;

	store_detail_set(d, "json: cannot %s %s: %s", op, file, strerror(e));
	return LZ_ESYS;
}

/* A new heap string from a printf format; NULL when out of memory. */
static char *json_strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *json_strf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}

static bool json_has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Names                                                                                      */
/* ------------------------------------------------------------------------------------------ */

/* The escaped entity name of `path` into `out` (see the format above). LZ_EINVAL when empty or
 * longer than JSON_NAME_MAX. */
static lz_err json_name(const char *path, char out[JSON_NAME_MAX + 1], struct store_detail *detail)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	if (path == NULL || path[0] == '\0') {
		store_detail_set(detail, "json: empty entity path");
		return LZ_EINVAL;
	}
	for (size_t i = 0; path[i] != '\0'; i++) {
		unsigned char c = (unsigned char)path[i];

		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || (c == '.' && i > 0)) {
			if (n + 1 > JSON_NAME_MAX)
				goto out_too_long;
			out[n++] = (char)c;
		} else {
			if (n + 3 > JSON_NAME_MAX)
				goto out_too_long;
			out[n++] = '%';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 15];
		}
	}
	out[n] = '\0';
	return LZ_OK;

out_too_long:
	store_detail_set(detail, "json: entity path '%.80s...' is too long for a file name", path);
	return LZ_EINVAL;
}

static char *json_entity_rel(const char *name)
{
	return json_strf("entities/%s.json", name);
}

static char *json_msgdir_rel(const char *name)
{
	return json_strf("messages/%s", name);
}

static char *json_message_rel(const char *name, enum journal_where where, uint64_t seq)
{
	return json_strf("messages/%s/%d-%020" PRIu64 ".json", name, (int)where, seq);
}

/* ------------------------------------------------------------------------------------------ */
/* Text forms of bytes                                                                        */
/* ------------------------------------------------------------------------------------------ */

static const char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64_encode(const uint8_t *p, size_t n)
{
	char *out = malloc((n + 2) / 3 * 4 + 1);
	size_t o = 0;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		out[o++] = b64_alphabet[v >> 18];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? b64_alphabet[v & 63] : '=';
	}
	out[o] = '\0';
	return out;
}

/* The alphabet's index of `c`, -1 for anything else ('=' included). Runs for every body byte read
 * back, so it computes instead of searching the alphabet. */
static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Strict base64 (padding required, no white space) into a new buffer (NULL for zero bytes).
 * LZ_EPARSE or LZ_ENOMEM. */
static lz_err b64_decode(const char *s, uint8_t **out, size_t *len)
{
	size_t n = strlen(s), o = 0;
	uint8_t *buf;

	*out = NULL;
	*len = 0;
	if (n % 4 != 0)
		return LZ_EPARSE;
	if (n == 0)
		return LZ_OK;
	buf = malloc(n / 4 * 3);
	if (buf == NULL)
		return LZ_ENOMEM;
	for (size_t i = 0; i < n; i += 4) {
		int a = b64_value(s[i]), b = b64_value(s[i + 1]);
		int c = b64_value(s[i + 2]), d = b64_value(s[i + 3]);
		bool last = i + 4 == n;
		uint32_t v;

		if (a < 0 || b < 0)
			goto out_bad;
		if (c < 0 && !(last && s[i + 2] == '=' && s[i + 3] == '='))
			goto out_bad;
		if (d < 0 && !(last && s[i + 3] == '='))
			goto out_bad;
		v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)(c < 0 ? 0 : c) << 6 | (uint32_t)(d < 0 ? 0 : d);
		buf[o++] = (uint8_t)(v >> 16);
		if (c >= 0)
			buf[o++] = (uint8_t)(v >> 8);
		if (d >= 0)
			buf[o++] = (uint8_t)v;
	}
	*out = buf;
	*len = o;
	return LZ_OK;

out_bad:
	free(buf);
	return LZ_EPARSE;
}

/* True when `p` is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, at most
 * U+10FFFF) without NUL bytes, so that it survives as a JSON string. */
static bool utf8_text(const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = p[i];
		size_t extra;
		uint32_t cp, min;

		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xE0) == 0xC0) {
			extra = 1;
			cp = c & 0x1F;
			min = 0x80;
		} else if ((c & 0xF0) == 0xE0) {
			extra = 2;
			cp = c & 0x0F;
			min = 0x800;
		} else if ((c & 0xF8) == 0xF0) {
			extra = 3;
			cp = c & 0x07;
			min = 0x10000;
		} else {
			return false;
		}
		if (n - i <= extra)
			return false;
		for (size_t k = 1; k <= extra; k++) {
			if ((p[i + k] & 0xC0) != 0x80)
				return false;
			cp = cp << 6 | (p[i + k] & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += extra + 1;
	}
	return true;
}

/* ------------------------------------------------------------------------------------------ */
/* Writing JSON                                                                               */
/* ------------------------------------------------------------------------------------------ */

/* A tree under construction; any failed allocation sets `oom` and the tree is thrown away. */
struct jw {
	bool oom;
};

/* Adds `item` (may be NULL: allocation failed) to object `obj` under `name`, or to array `obj`
 * when `name` is NULL. Returns the item, or NULL after a failure. */
static cJSON *jw_add(struct jw *w, cJSON *obj, const char *name, cJSON *item)
{
	cJSON_bool ok;

	if (item == NULL || obj == NULL) {
		cJSON_Delete(item);
		w->oom = true;
		return NULL;
	}
	ok = name != NULL ? cJSON_AddItemToObject(obj, name, item) : cJSON_AddItemToArray(obj, item);
	if (!ok) {
		cJSON_Delete(item);
		w->oom = true;
		return NULL;
	}
	return item;
}

static cJSON *jw_int_new(int64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRId64, v);
	return (v >= -JSON_EXACT_INT && v <= JSON_EXACT_INT) ? cJSON_CreateRaw(buf) : cJSON_CreateString(buf);
}

static cJSON *jw_uint_new(uint64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return v <= (uint64_t)JSON_EXACT_INT ? cJSON_CreateRaw(buf) : cJSON_CreateString(buf);
}

static cJSON *jw_time_new(int64_t ms)
{
	char buf[TIMEFMT_ISO8601_MS_LEN];
	int64_t back;

	if (timefmt_iso8601_ms(ms, buf, sizeof(buf)) == LZ_OK && timefmt_parse_iso8601(buf, &back) == LZ_OK &&
	    back == ms)
		return cJSON_CreateString(buf);
	return jw_int_new(ms);
}

static cJSON *jw_duration_new(int64_t ms)
{
	char buf[DURATION_XS_LEN];
	int64_t back;

	if (ms >= 0 && duration_format_xs(ms, buf, sizeof(buf)) == LZ_OK && duration_parse_xs(buf, &back) == LZ_OK &&
	    back == ms)
		return cJSON_CreateString(buf);
	return jw_int_new(ms);
}

static cJSON *jw_double_new(double d)
{
	char buf[40];

	if (isnan(d))
		return cJSON_CreateString("NaN");
	if (isinf(d))
		return cJSON_CreateString(d > 0 ? "INF" : "-INF");
	for (int digits = 15; digits <= 17; digits++) {
		snprintf(buf, sizeof(buf), "%.*g", digits, d);
		if (strtod(buf, NULL) == d && signbit(strtod(buf, NULL)) == signbit(d))
			break;
	}
	return cJSON_CreateRaw(buf);
}

static cJSON *jw_str_new(const char *s)
{
	return s != NULL ? cJSON_CreateString(s) : cJSON_CreateNull();
}

/* Adds string `s` unless it is NULL. */
static void jw_opt_str(struct jw *w, cJSON *obj, const char *name, const char *s)
{
	if (s != NULL)
		jw_add(w, obj, name, cJSON_CreateString(s));
}

static cJSON *jw_value_new(const struct value *v)
{
	switch (v->type) {
	case VALUE_STRING:
		return cJSON_CreateString(v->u.s);
	case VALUE_INT:
	case VALUE_LONG:
		return jw_int_new(v->u.i);
	case VALUE_BOOL:
		return cJSON_CreateBool(v->u.b);
	case VALUE_DOUBLE:
		return jw_double_new(v->u.d);
	case VALUE_DATETIME:
		return jw_time_new(v->u.i);
	case VALUE_DURATION:
		return jw_duration_new(v->u.i);
	case VALUE_NULL:
		break;
	}
	return cJSON_CreateNull();
}

/* Adds the list as [{Name, Type, Value}...]; an empty list is left out. */
static void jw_props(struct jw *w, cJSON *obj, const char *name, const struct proplist *l)
{
	cJSON *arr;

	if (l->n == 0)
		return;
	arr = jw_add(w, obj, name, cJSON_CreateArray());
	for (size_t i = 0; i < l->n && arr != NULL; i++) {
		cJSON *p = jw_add(w, arr, NULL, cJSON_CreateObject());

		jw_add(w, p, "Name", cJSON_CreateString(l->items[i].name));
		jw_add(w, p, "Type", cJSON_CreateString(value_type_name(l->items[i].v.type)));
		jw_add(w, p, "Value", jw_value_new(&l->items[i].v));
	}
}

/* ------------------------------------------------------------------------------------------ */
/* Reading JSON                                                                               */
/* ------------------------------------------------------------------------------------------ */

/* A file being read; the first failure is kept in `err` and described in `detail`. */
struct jr {
	const char *file;
	struct store_detail *detail;
	lz_err err;
};

static void jr_fail(struct jr *r, lz_err err, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void jr_fail(struct jr *r, lz_err err, const char *field, const char *fmt, ...)
{
	char why[200];
	va_list ap;

	if (r->err != LZ_OK)
		return;
	r->err = err;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	store_detail_set(r->detail, "json: %s: %s: %s", r->file, field, why);
}

/* Member `name` of `obj`; NULL when missing (a failure when `required`) or after a failure. */
static const cJSON *jr_get(struct jr *r, const cJSON *obj, const char *name, bool required)
{
	const cJSON *it;

	if (r->err != LZ_OK)
		return NULL;
	it = cJSON_GetObjectItemCaseSensitive(obj, name);
	if (it == NULL && required)
		jr_fail(r, LZ_EPARSE, name, "missing");
	return it;
}

/* An integer in either written form. */
static bool jr_parse_int(const cJSON *it, int64_t *out)
{
	if (cJSON_IsNumber(it)) {
		double d = it->valuedouble;

		if (d < (double)-JSON_EXACT_INT || d > (double)JSON_EXACT_INT || d != floor(d))
			return false;
		*out = (int64_t)d;
		return true;
	}
	if (cJSON_IsString(it)) {
		const char *s = it->valuestring;
		char *end;
		long long v;

		if (!((s[0] >= '0' && s[0] <= '9') || (s[0] == '-' && s[1] >= '0' && s[1] <= '9')))
			return false;
		errno = 0;
		v = strtoll(s, &end, 10);
		if (errno != 0 || *end != '\0')
			return false;
		*out = v;
		return true;
	}
	return false;
}

static int64_t jr_int(struct jr *r, const cJSON *obj, const char *name, int64_t lo, int64_t hi, bool required)
{
	const cJSON *it = jr_get(r, obj, name, required);
	int64_t v;

	if (it == NULL)
		return 0;
	if (!jr_parse_int(it, &v)) {
		jr_fail(r, LZ_EPARSE, name, "expected an integer");
		return 0;
	}
	if (v < lo || v > hi) {
		jr_fail(r, LZ_EPARSE, name, "%" PRId64 " is out of range", v);
		return 0;
	}
	return v;
}

static uint64_t jr_uint(struct jr *r, const cJSON *obj, const char *name, uint64_t hi, bool required)
{
	const cJSON *it = jr_get(r, obj, name, required);
	uint64_t v;

	if (it == NULL)
		return 0;
	if (cJSON_IsNumber(it)) {
		double d = it->valuedouble;

		if (d < 0 || d > (double)JSON_EXACT_INT || d != floor(d))
			goto out_bad;
		v = (uint64_t)d;
	} else if (cJSON_IsString(it) && it->valuestring[0] >= '0' && it->valuestring[0] <= '9') {
		char *end;

		errno = 0;
		v = strtoull(it->valuestring, &end, 10);
		if (errno != 0 || *end != '\0')
			goto out_bad;
	} else {
		goto out_bad;
	}
	if (v > hi) {
		jr_fail(r, LZ_EPARSE, name, "%" PRIu64 " is out of range", v);
		return 0;
	}
	return v;

out_bad:
	jr_fail(r, LZ_EPARSE, name, "expected a non-negative integer");
	return 0;
}

static int64_t jr_time_of(struct jr *r, const cJSON *it, const char *name)
{
	int64_t v;

	if (cJSON_IsString(it) && timefmt_parse_iso8601(it->valuestring, &v) == LZ_OK)
		return v;
	if (jr_parse_int(it, &v))
		return v;
	jr_fail(r, LZ_EPARSE, name, "expected an ISO-8601 instant or an integer");
	return 0;
}

static int64_t jr_time(struct jr *r, const cJSON *obj, const char *name, bool required)
{
	const cJSON *it = jr_get(r, obj, name, required);

	return it != NULL ? jr_time_of(r, it, name) : 0;
}

static int64_t jr_duration_of(struct jr *r, const cJSON *it, const char *name)
{
	int64_t v;

	if (cJSON_IsString(it) && it->valuestring[0] == 'P' && duration_parse_xs(it->valuestring, &v) == LZ_OK)
		return v;
	if (jr_parse_int(it, &v))
		return v;
	jr_fail(r, LZ_EPARSE, name, "expected an xs:duration or an integer");
	return 0;
}

static int64_t jr_duration(struct jr *r, const cJSON *obj, const char *name, bool required)
{
	const cJSON *it = jr_get(r, obj, name, required);

	return it != NULL ? jr_duration_of(r, it, name) : 0;
}

static bool jr_bool(struct jr *r, const cJSON *obj, const char *name, bool required)
{
	const cJSON *it = jr_get(r, obj, name, required);

	if (it == NULL)
		return false;
	if (!cJSON_IsBool(it)) {
		jr_fail(r, LZ_EPARSE, name, "expected true or false");
		return false;
	}
	return cJSON_IsTrue(it);
}

/* A string, or NULL for JSON null / a missing optional member. */
static char *jr_str(struct jr *r, const cJSON *obj, const char *name, bool required)
{
	const cJSON *it = jr_get(r, obj, name, required);
	char *s;

	if (it == NULL || (cJSON_IsNull(it) && !required))
		return NULL;
	if (!cJSON_IsString(it)) {
		jr_fail(r, LZ_EPARSE, name, "expected a string");
		return NULL;
	}
	s = strdup(it->valuestring);
	if (s == NULL)
		jr_fail(r, LZ_ENOMEM, name, "out of memory");
	return s;
}

/* The index of `s` in `names`, or -1 after a failure. */
static int jr_enum(struct jr *r, const cJSON *obj, const char *name, const char *const *names, int n)
{
	const cJSON *it = jr_get(r, obj, name, true);

	if (it == NULL)
		return -1;
	if (cJSON_IsString(it)) {
		for (int i = 0; i < n; i++) {
			if (names[i] != NULL && strcmp(it->valuestring, names[i]) == 0)
				return i;
		}
	}
	jr_fail(r, LZ_EPARSE, name, "unknown value");
	return -1;
}

static void jr_value(struct jr *r, const cJSON *it, value_type type, struct value *out)
{
	memset(out, 0, sizeof(*out));
	out->type = type;
	switch (type) {
	case VALUE_STRING:
		if (!cJSON_IsString(it)) {
			jr_fail(r, LZ_EPARSE, "Value", "expected a string");
			break;
		}
		out->u.s = strdup(it->valuestring);
		if (out->u.s == NULL)
			jr_fail(r, LZ_ENOMEM, "Value", "out of memory");
		break;
	case VALUE_INT:
		if (!jr_parse_int(it, &out->u.i) || out->u.i < INT32_MIN || out->u.i > INT32_MAX)
			jr_fail(r, LZ_EPARSE, "Value", "expected a 32-bit integer");
		break;
	case VALUE_LONG:
		if (!jr_parse_int(it, &out->u.i))
			jr_fail(r, LZ_EPARSE, "Value", "expected an integer");
		break;
	case VALUE_BOOL:
		if (!cJSON_IsBool(it))
			jr_fail(r, LZ_EPARSE, "Value", "expected true or false");
		out->u.b = cJSON_IsTrue(it);
		break;
	case VALUE_DOUBLE:
		if (cJSON_IsNumber(it))
			out->u.d = it->valuedouble;
		else if (cJSON_IsString(it) && strcmp(it->valuestring, "NaN") == 0)
			out->u.d = NAN;
		else if (cJSON_IsString(it) && strcmp(it->valuestring, "INF") == 0)
			out->u.d = INFINITY;
		else if (cJSON_IsString(it) && strcmp(it->valuestring, "-INF") == 0)
			out->u.d = -INFINITY;
		else
			jr_fail(r, LZ_EPARSE, "Value", "expected a number, \"NaN\", \"INF\" or \"-INF\"");
		break;
	case VALUE_DATETIME:
		out->u.i = jr_time_of(r, it, "Value");
		break;
	case VALUE_DURATION:
		out->u.i = jr_duration_of(r, it, "Value");
		break;
	case VALUE_NULL:
		if (!cJSON_IsNull(it))
			jr_fail(r, LZ_EPARSE, "Value", "expected null");
		break;
	}
	if (r->err != LZ_OK)
		value_release(out);
}

static void jr_props(struct jr *r, const cJSON *obj, const char *name, struct proplist *out)
{
	const cJSON *arr = jr_get(r, obj, name, false);
	const cJSON *p;

	proplist_init(out);
	if (arr == NULL)
		return;
	if (!cJSON_IsArray(arr)) {
		jr_fail(r, LZ_EPARSE, name, "expected an array");
		return;
	}
	cJSON_ArrayForEach(p, arr)
	{
		const cJSON *tname = jr_get(r, p, "Type", true);
		const cJSON *pname = jr_get(r, p, "Name", true);
		const cJSON *val = jr_get(r, p, "Value", true);
		struct value v;
		value_type t;
		lz_err err;

		if (r->err != LZ_OK)
			break;
		if (!cJSON_IsString(pname) || !cJSON_IsString(tname) ||
		    value_type_parse(tname->valuestring, &t) != LZ_OK) {
			jr_fail(r, LZ_EPARSE, name, "expected {Name: string, Type: a value type, Value}");
			break;
		}
		jr_value(r, val, t, &v);
		if (r->err != LZ_OK)
			break;
		err = proplist_set(out, pname->valuestring, &v);
		value_release(&v);
		if (err != LZ_OK) {
			jr_fail(r, err, name, "%s", err_str(err));
			break;
		}
	}
	if (r->err != LZ_OK)
		proplist_release(out);
}

/* ------------------------------------------------------------------------------------------ */
/* Entities                                                                                   */
/* ------------------------------------------------------------------------------------------ */

enum json_field_type { JF_BOOL, JF_INT64, JF_INT32, JF_DURATION, JF_STATUS, JF_STRING };

static const struct json_field {
	const char *name;
	enum json_field_type type;
	size_t off;
} json_desc_fields[] = {
	{ "LockDuration", JF_DURATION, offsetof(struct entity_desc, lock_duration_ms) },
	{ "MaxSizeInMegabytes", JF_INT64, offsetof(struct entity_desc, max_size_mb) },
	{ "RequiresDuplicateDetection", JF_BOOL, offsetof(struct entity_desc, requires_duplicate_detection) },
	{ "RequiresSession", JF_BOOL, offsetof(struct entity_desc, requires_session) },
	{ "DefaultMessageTimeToLive", JF_DURATION, offsetof(struct entity_desc, default_ttl_ms) },
	{ "DeadLetteringOnMessageExpiration", JF_BOOL, offsetof(struct entity_desc, dead_lettering_on_expiration) },
	{ "DeadLetteringOnFilterEvaluationExceptions", JF_BOOL,
	  offsetof(struct entity_desc, dead_lettering_on_filter_exceptions) },
	{ "DuplicateDetectionHistoryTimeWindow", JF_DURATION, offsetof(struct entity_desc, dup_window_ms) },
	{ "MaxDeliveryCount", JF_INT32, offsetof(struct entity_desc, max_delivery_count) },
	{ "EnableBatchedOperations", JF_BOOL, offsetof(struct entity_desc, enable_batched_operations) },
	{ "IsAnonymousAccessible", JF_BOOL, offsetof(struct entity_desc, is_anonymous_accessible) },
	{ "SupportOrdering", JF_BOOL, offsetof(struct entity_desc, support_ordering) },
	{ "FilteringMessagesBeforePublishing", JF_BOOL, offsetof(struct entity_desc, filtering_before_publishing) },
	{ "Status", JF_STATUS, offsetof(struct entity_desc, status) },
	{ "AutoDeleteOnIdle", JF_DURATION, offsetof(struct entity_desc, auto_delete_on_idle_ms) },
	{ "EnablePartitioning", JF_BOOL, offsetof(struct entity_desc, enable_partitioning) },
	{ "EnableSubscriptionPartitioning", JF_BOOL, offsetof(struct entity_desc, enable_subscription_partitioning) },
	{ "EnableExpress", JF_BOOL, offsetof(struct entity_desc, enable_express) },
	{ "MaxMessageSizeInKilobytes", JF_INT64, offsetof(struct entity_desc, max_message_size_kb) },
	{ "ForwardTo", JF_STRING, offsetof(struct entity_desc, forward_to) },
	{ "ForwardDeadLetteredMessagesTo", JF_STRING, offsetof(struct entity_desc, forward_dlq_to) },
	{ "UserMetadata", JF_STRING, offsetof(struct entity_desc, user_metadata) },
};

#define JSON_DESC_FIELDS (sizeof(json_desc_fields) / sizeof(json_desc_fields[0]))

static const char *const json_kind_names[] = {
	[ENTITY_QUEUE] = "Queue",
	[ENTITY_TOPIC] = "Topic",
	[ENTITY_SUBSCRIPTION] = "Subscription",
};

static const char *const json_filter_names[] = {
	[FILTER_TRUE] = "TrueFilter",
	[FILTER_FALSE] = "FalseFilter",
	[FILTER_SQL] = "SqlFilter",
	[FILTER_CORRELATION] = "CorrelationFilter",
};

static const char *const json_action_names[] = {
	[ACTION_EMPTY] = "EmptyRuleAction",
	[ACTION_SQL] = "SqlRuleAction",
};

static const char *const json_status_names[] = {
	[STATUS_ACTIVE] = "Active",
	[STATUS_DISABLED] = "Disabled",
	[STATUS_SEND_DISABLED] = "SendDisabled",
	[STATUS_RECEIVE_DISABLED] = "ReceiveDisabled",
};

#define JSON_COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const char *json_enum_name(const char *const *names, int n, int v)
{
	return v >= 0 && v < n && names[v] != NULL ? names[v] : "?";
}

static void jw_desc(struct jw *w, cJSON *obj, const struct entity_desc *d)
{
	for (size_t i = 0; i < JSON_DESC_FIELDS; i++) {
		const struct json_field *f = &json_desc_fields[i];
		const void *p = (const char *)d + f->off;
		cJSON *item = NULL;

		switch (f->type) {
		case JF_BOOL:
			item = cJSON_CreateBool(*(const bool *)p);
			break;
		case JF_INT64:
			item = jw_int_new(*(const int64_t *)p);
			break;
		case JF_INT32:
			item = jw_int_new(*(const int32_t *)p);
			break;
		case JF_DURATION:
			item = jw_duration_new(*(const int64_t *)p);
			break;
		case JF_STATUS:
			item = cJSON_CreateString(
				json_enum_name(json_status_names, JSON_COUNT(json_status_names), *(const int *)p));
			break;
		case JF_STRING:
			item = jw_str_new(*(char *const *)p);
			break;
		}
		jw_add(w, obj, f->name, item);
	}
}

static void jr_desc(struct jr *r, const cJSON *obj, struct entity_desc *d)
{
	for (size_t i = 0; i < JSON_DESC_FIELDS && r->err == LZ_OK; i++) {
		const struct json_field *f = &json_desc_fields[i];
		void *p = (char *)d + f->off;
		int status;

		switch (f->type) {
		case JF_BOOL:
			*(bool *)p = jr_bool(r, obj, f->name, true);
			break;
		case JF_INT64:
			*(int64_t *)p = jr_int(r, obj, f->name, INT64_MIN, INT64_MAX, true);
			break;
		case JF_INT32:
			*(int32_t *)p = (int32_t)jr_int(r, obj, f->name, INT32_MIN, INT32_MAX, true);
			break;
		case JF_DURATION:
			*(int64_t *)p = jr_duration(r, obj, f->name, true);
			break;
		case JF_STATUS:
			status = jr_enum(r, obj, f->name, json_status_names, JSON_COUNT(json_status_names));
			*(enum entity_status *)p = status < 0 ? STATUS_ACTIVE : (enum entity_status)status;
			break;
		case JF_STRING:
			*(char **)p = jr_str(r, obj, f->name, false);
			break;
		}
	}
}

static void jw_rule(struct jw *w, cJSON *arr, const struct rule_desc *rule)
{
	cJSON *o = jw_add(w, arr, NULL, cJSON_CreateObject());
	cJSON *f, *a;

	jw_add(w, o, "Name", cJSON_CreateString(rule->name));
	f = jw_add(w, o, "Filter", cJSON_CreateObject());
	jw_add(w, f, "Type",
	       cJSON_CreateString(json_enum_name(json_filter_names, JSON_COUNT(json_filter_names), rule->filter_type)));
	jw_opt_str(w, f, "SqlExpression", rule->sql_expression);
	jw_add(w, f, "CompatibilityLevel", jw_int_new(rule->sql_compat_level));
	jw_props(w, f, "Parameters", &rule->sql_params);
	jw_opt_str(w, f, "CorrelationId", rule->corr.correlation_id);
	jw_opt_str(w, f, "MessageId", rule->corr.message_id);
	jw_opt_str(w, f, "To", rule->corr.to);
	jw_opt_str(w, f, "ReplyTo", rule->corr.reply_to);
	jw_opt_str(w, f, "Label", rule->corr.label);
	jw_opt_str(w, f, "SessionId", rule->corr.session_id);
	jw_opt_str(w, f, "ReplyToSessionId", rule->corr.reply_to_session_id);
	jw_opt_str(w, f, "ContentType", rule->corr.content_type);
	jw_props(w, f, "Properties", &rule->corr.properties);
	a = jw_add(w, o, "Action", cJSON_CreateObject());
	jw_add(w, a, "Type",
	       cJSON_CreateString(json_enum_name(json_action_names, JSON_COUNT(json_action_names), rule->action_type)));
	jw_opt_str(w, a, "SqlExpression", rule->action_sql);
	jw_add(w, a, "CompatibilityLevel", jw_int_new(rule->action_compat_level));
	jw_props(w, a, "Parameters", &rule->action_params);
	jw_add(w, o, "CreatedAt", jw_time_new(rule->created_at));
}

static void jr_rule(struct jr *r, const cJSON *o, struct rule_desc *rule)
{
	const cJSON *f = jr_get(r, o, "Filter", true);
	const cJSON *a = jr_get(r, o, "Action", true);
	int type;

	rule->name = jr_str(r, o, "Name", true);
	type = jr_enum(r, f, "Type", json_filter_names, JSON_COUNT(json_filter_names));
	rule->filter_type = type < 0 ? FILTER_TRUE : (enum filter_type)type;
	rule->sql_expression = jr_str(r, f, "SqlExpression", false);
	rule->sql_compat_level = (int32_t)jr_int(r, f, "CompatibilityLevel", INT32_MIN, INT32_MAX, true);
	jr_props(r, f, "Parameters", &rule->sql_params);
	rule->corr.correlation_id = jr_str(r, f, "CorrelationId", false);
	rule->corr.message_id = jr_str(r, f, "MessageId", false);
	rule->corr.to = jr_str(r, f, "To", false);
	rule->corr.reply_to = jr_str(r, f, "ReplyTo", false);
	rule->corr.label = jr_str(r, f, "Label", false);
	rule->corr.session_id = jr_str(r, f, "SessionId", false);
	rule->corr.reply_to_session_id = jr_str(r, f, "ReplyToSessionId", false);
	rule->corr.content_type = jr_str(r, f, "ContentType", false);
	jr_props(r, f, "Properties", &rule->corr.properties);
	type = jr_enum(r, a, "Type", json_action_names, JSON_COUNT(json_action_names));
	rule->action_type = type < 0 ? ACTION_EMPTY : (enum action_type)type;
	rule->action_sql = jr_str(r, a, "SqlExpression", false);
	rule->action_compat_level = (int32_t)jr_int(r, a, "CompatibilityLevel", INT32_MIN, INT32_MAX, true);
	jr_props(r, a, "Parameters", &rule->action_params);
	rule->created_at = jr_time(r, o, "CreatedAt", true);
}

/* The entity as a JSON tree; NULL when out of memory. */
static cJSON *json_entity_new(const struct jrec_load_entity *e)
{
	struct jw w = { false };
	cJSON *root = cJSON_CreateObject();
	cJSON *arr;

	jw_add(&w, root, "Path", cJSON_CreateString(e->path));
	jw_add(&w, root, "Kind",
	       cJSON_CreateString(json_enum_name(json_kind_names, JSON_COUNT(json_kind_names), e->desc.kind)));
	jw_desc(&w, root, &e->desc);
	jw_add(&w, root, "CreatedAt", jw_time_new(e->created_at));
	jw_add(&w, root, "UpdatedAt", jw_time_new(e->updated_at));
	jw_add(&w, root, "AccessedAt", jw_time_new(e->accessed_at));
	jw_add(&w, root, "LastSequenceNumber", jw_uint_new(e->last_seq));
	arr = jw_add(&w, root, "Rules", cJSON_CreateArray());
	for (size_t i = 0; i < e->nrules && arr != NULL; i++)
		jw_rule(&w, arr, &e->rules[i]);
	arr = jw_add(&w, root, "DuplicateDetectionHistory", cJSON_CreateArray());
	for (size_t i = 0; i < e->ndups && arr != NULL; i++) {
		cJSON *d = jw_add(&w, arr, NULL, cJSON_CreateObject());

		jw_add(&w, d, "MessageId", cJSON_CreateString(e->dups[i].id));
		jw_add(&w, d, "Time", jw_time_new(e->dups[i].ts_ms));
	}
	if (w.oom) {
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}

/* The required array member `name`: *arr gets it (NULL after a failure) and the result is a
 * zeroed allocation of one `size` item per element (NULL for an empty array). */
static void *jr_list(struct jr *r, const cJSON *obj, const char *name, size_t size, const cJSON **arr)
{
	const cJSON *it = jr_get(r, obj, name, true);
	void *items = NULL;
	int n;

	*arr = NULL;
	if (it == NULL)
		return NULL;
	if (!cJSON_IsArray(it)) {
		jr_fail(r, LZ_EPARSE, name, "expected an array");
		return NULL;
	}
	n = cJSON_GetArraySize(it);
	if (n > 0) {
		items = calloc((size_t)n, size);
		if (items == NULL) {
			jr_fail(r, LZ_ENOMEM, name, "out of memory");
			return NULL;
		}
	}
	*arr = it;
	return items;
}

/* Reads an entity tree into OUT `e` (released on failure). */
static lz_err jr_entity(struct jr *r, const cJSON *root, struct jrec_load_entity *e)
{
	const cJSON *arr, *it;
	int kind;

	memset(e, 0, sizeof(*e));
	e->path = jr_str(r, root, "Path", true);
	kind = jr_enum(r, root, "Kind", json_kind_names, JSON_COUNT(json_kind_names));
	e->desc.kind = kind < 0 ? ENTITY_QUEUE : (enum entity_kind)kind;
	jr_desc(r, root, &e->desc);
	e->created_at = jr_time(r, root, "CreatedAt", true);
	e->updated_at = jr_time(r, root, "UpdatedAt", true);
	e->accessed_at = jr_time(r, root, "AccessedAt", true);
	e->last_seq = jr_uint(r, root, "LastSequenceNumber", UINT64_MAX, true);
	e->rules = jr_list(r, root, "Rules", sizeof(*e->rules), &arr);
	cJSON_ArrayForEach(it, arr)
	{
		jr_rule(r, it, &e->rules[e->nrules++]);
		if (r->err != LZ_OK)
			break;
	}
	e->dups = jr_list(r, root, "DuplicateDetectionHistory", sizeof(*e->dups), &arr);
	cJSON_ArrayForEach(it, arr)
	{
		struct journal_dup *d = &e->dups[e->ndups++];

		d->id = jr_str(r, it, "MessageId", true);
		d->ts_ms = jr_time(r, it, "Time", true);
		if (r->err != LZ_OK)
			break;
	}
	if (r->err != LZ_OK)
		journal_load_entity_release(e);
	return r->err;
}

/* ------------------------------------------------------------------------------------------ */
/* Messages                                                                                   */
/* ------------------------------------------------------------------------------------------ */

static const char *const json_where_names[] = {
	[JWHERE_MAIN] = "Main",
	[JWHERE_DLQ] = "DeadLetter",
	[JWHERE_SCHEDULED] = "Scheduled",
};

static const char *json_state_name(const struct jrec_load_message *m)
{
	if (m->place.where == JWHERE_DLQ)
		return "DeadLettered";
	if (m->place.where == JWHERE_SCHEDULED)
		return "Scheduled";
	return m->deferred ? "Deferred" : "Active";
}

/* The message object; BodyText only `with_text` (the files have it, for people reading them). */
static cJSON *json_message_new(const struct jrec_load_message *m, bool with_text)
{
	const struct journal_place *pl = &m->place;
	const struct msg_props *p = &m->msg.props;
	struct jw w = { false };
	cJSON *root = cJSON_CreateObject();
	cJSON *bp;
	char *b64;

	jw_add(&w, root, "Path", cJSON_CreateString(pl->path));
	jw_add(&w, root, "Where",
	       cJSON_CreateString(json_enum_name(json_where_names, JSON_COUNT(json_where_names), pl->where)));
	jw_add(&w, root, "SequenceNumber", jw_uint_new(pl->seq));
	jw_add(&w, root, "State", cJSON_CreateString(json_state_name(m)));
	jw_add(&w, root, "Deferred", cJSON_CreateBool(m->deferred));
	if (pl->enqueued_seq != 0)
		jw_add(&w, root, "EnqueuedSequenceNumber", jw_uint_new(pl->enqueued_seq));
	jw_add(&w, root, "EnqueuedTimeUtc", jw_time_new(pl->enqueued_ms));
	jw_add(&w, root, "TimeToLive", jw_duration_new(pl->ttl_ms));
	jw_add(&w, root, "ExpiresAtUtc", jw_time_new(pl->expires_ms));
	if (pl->scheduled_ms != 0)
		jw_add(&w, root, "ScheduledEnqueueTimeUtc", jw_time_new(pl->scheduled_ms));
	jw_add(&w, root, "DeliveryCount", jw_uint_new(pl->delivery_count));
	jw_opt_str(&w, root, "DeadLetterReason", pl->dl_reason);
	jw_opt_str(&w, root, "DeadLetterErrorDescription", pl->dl_description);
	jw_opt_str(&w, root, "DeadLetterSource", pl->dl_source);
	bp = jw_add(&w, root, "BrokerProperties", cJSON_CreateObject());
	jw_opt_str(&w, bp, "MessageId", p->message_id);
	jw_opt_str(&w, bp, "CorrelationId", p->correlation_id);
	jw_opt_str(&w, bp, "SessionId", p->session_id);
	jw_opt_str(&w, bp, "ReplyTo", p->reply_to);
	jw_opt_str(&w, bp, "ReplyToSessionId", p->reply_to_session_id);
	jw_opt_str(&w, bp, "To", p->to);
	jw_opt_str(&w, bp, "Label", p->label);
	jw_opt_str(&w, bp, "ContentType", p->content_type);
	jw_opt_str(&w, bp, "PartitionKey", p->partition_key);
	jw_opt_str(&w, bp, "ViaPartitionKey", p->via_partition_key);
	if (p->has_ttl)
		jw_add(&w, bp, "TimeToLive", jw_duration_new(p->ttl_ms));
	if (p->scheduled_enqueue_ms != 0)
		jw_add(&w, bp, "ScheduledEnqueueTimeUtc", jw_time_new(p->scheduled_enqueue_ms));
	jw_add(&w, bp, "ForcePersistence", cJSON_CreateBool(p->force_persistence));
	jw_props(&w, root, "UserProperties", &m->msg.user);
	b64 = b64_encode(m->msg.body, m->msg.body_len);
	jw_add(&w, root, "Body", b64 != NULL ? cJSON_CreateString(b64) : NULL);
	free(b64);
	if (with_text && m->msg.body_len > 0 && utf8_text(m->msg.body, m->msg.body_len)) {
		char *text = malloc(m->msg.body_len + 1);

		if (text != NULL) {
			memcpy(text, m->msg.body, m->msg.body_len);
			text[m->msg.body_len] = '\0';
		}
		jw_add(&w, root, "BodyText", text != NULL ? cJSON_CreateString(text) : NULL);
		free(text);
	}
	if (w.oom) {
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}

/* Reads a message tree into OUT `m` (released on failure). */
static lz_err jr_message(struct jr *r, const cJSON *root, struct jrec_load_message *m)
{
	struct journal_place *pl = &m->place;
	struct msg_props *p = &m->msg.props;
	const cJSON *bp, *body, *ttl;
	int where;

	memset(m, 0, sizeof(*m));
	pl->path = jr_str(r, root, "Path", true);
	where = jr_enum(r, root, "Where", json_where_names, JSON_COUNT(json_where_names));
	pl->where = where < 0 ? JWHERE_MAIN : (enum journal_where)where;
	pl->seq = jr_uint(r, root, "SequenceNumber", UINT64_MAX, true);
	m->deferred = jr_bool(r, root, "Deferred", true);
	pl->enqueued_seq = jr_uint(r, root, "EnqueuedSequenceNumber", UINT64_MAX, false);
	pl->enqueued_ms = jr_time(r, root, "EnqueuedTimeUtc", true);
	pl->ttl_ms = jr_duration(r, root, "TimeToLive", true);
	pl->expires_ms = jr_time(r, root, "ExpiresAtUtc", true);
	pl->scheduled_ms = jr_time(r, root, "ScheduledEnqueueTimeUtc", false);
	pl->delivery_count = (uint32_t)jr_uint(r, root, "DeliveryCount", UINT32_MAX, true);
	pl->dl_reason = jr_str(r, root, "DeadLetterReason", false);
	pl->dl_description = jr_str(r, root, "DeadLetterErrorDescription", false);
	pl->dl_source = jr_str(r, root, "DeadLetterSource", false);
	bp = jr_get(r, root, "BrokerProperties", true);
	if (bp != NULL && !cJSON_IsObject(bp))
		jr_fail(r, LZ_EPARSE, "BrokerProperties", "expected an object");
	p->message_id = jr_str(r, bp, "MessageId", false);
	p->correlation_id = jr_str(r, bp, "CorrelationId", false);
	p->session_id = jr_str(r, bp, "SessionId", false);
	p->reply_to = jr_str(r, bp, "ReplyTo", false);
	p->reply_to_session_id = jr_str(r, bp, "ReplyToSessionId", false);
	p->to = jr_str(r, bp, "To", false);
	p->label = jr_str(r, bp, "Label", false);
	p->content_type = jr_str(r, bp, "ContentType", false);
	p->partition_key = jr_str(r, bp, "PartitionKey", false);
	p->via_partition_key = jr_str(r, bp, "ViaPartitionKey", false);
	ttl = jr_get(r, bp, "TimeToLive", false);
	if (ttl != NULL) {
		p->has_ttl = true;
		p->ttl_ms = jr_duration_of(r, ttl, "TimeToLive");
	}
	p->scheduled_enqueue_ms = jr_time(r, bp, "ScheduledEnqueueTimeUtc", false);
	p->force_persistence = jr_bool(r, bp, "ForcePersistence", true);
	jr_props(r, root, "UserProperties", &m->msg.user);
	body = jr_get(r, root, "Body", true);
	if (body != NULL) {
		lz_err err = cJSON_IsString(body) ? b64_decode(body->valuestring, &m->msg.body, &m->msg.body_len)
						  : LZ_EPARSE;

		if (err != LZ_OK)
			jr_fail(r, err, "Body", "expected base64 text");
	}
	if (r->err != LZ_OK)
		journal_load_message_release(m);
	return r->err;
}

/* ------------------------------------------------------------------------------------------ */
/* Files                                                                                      */
/* ------------------------------------------------------------------------------------------ */

/* Reads a whole file into a new NUL-terminated buffer. LZ_ENOTFOUND (no detail) when it does
 * not exist. */
static lz_err json_file_read(store *s, const char *file, char **out, size_t *len, struct store_detail *detail)
{
	struct stat st;
	lz_err err = LZ_OK;
	char *buf = NULL;
	int fd;

	*out = NULL;
	*len = 0;
	fd = s->io->open(file, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return errno == ENOENT ? LZ_ENOTFOUND : json_sys(detail, "open", file);
	if (s->io->fstat(fd, &st) != 0) {
		err = json_sys(detail, "stat", file);
		goto out_close;
	}
	if (st.st_size < 0 || (uint64_t)st.st_size > JSON_FILE_MAX) {
		store_detail_set(detail, "json: %s: larger than %u bytes", file, JSON_FILE_MAX);
		err = LZ_EPARSE;
		goto out_close;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		err = LZ_ENOMEM;
		goto out_close;
	}
	err = fsio_pread_all(s->io, fd, buf, (size_t)st.st_size, 0);
	if (err == LZ_ESYS) {
		err = json_sys(detail, "read", file);
	} else if (err == LZ_ESHORT) {
		store_detail_set(detail, "json: %s: shrank while being read", file);
		err = LZ_ESYS;
	}
	if (err != LZ_OK)
		goto out_free_buf;
	buf[st.st_size] = '\0';
	*out = buf;
	*len = (size_t)st.st_size;
	buf = NULL;
out_free_buf:
	free(buf);
out_close:
	if (s->io->close(fd) != 0 && err == LZ_OK) {
		free(*out);
		*out = NULL;
		err = json_sys(detail, "close", file);
	}
	return err;
}

/* Reads and parses a file holding one JSON object. LZ_ENOTFOUND (no detail) when missing. */
static lz_err json_file_parse(store *s, const char *file, cJSON **out, struct store_detail *detail)
{
	const char *end = NULL;
	size_t len;
	char *buf;
	lz_err err;

	*out = NULL;
	err = json_file_read(s, file, &buf, &len, detail);
	if (err != LZ_OK)
		return err;
	*out = cJSON_ParseWithLengthOpts(buf, len, &end, false);
	if (*out == NULL || !cJSON_IsObject(*out)) {
		store_detail_set(detail, "json: %s: not a JSON object (byte %td)", file, end != NULL ? end - buf : (ptrdiff_t)0);
		cJSON_Delete(*out);
		*out = NULL;
		err = LZ_EPARSE;
	}
	free(buf);
	return err;
}

/* Creates (or truncates) `file`, writes the tree and a newline, fsyncs and closes it. */
static lz_err json_file_write(store *s, const char *file, const cJSON *root, struct store_detail *detail)
{
	char *text = s->pretty ? cJSON_Print(root) : cJSON_PrintUnformatted(root);
	lz_err err = LZ_OK;
	int fd;

	if (text == NULL)
		return LZ_ENOMEM;
	fd = s->io->open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		err = json_sys(detail, "create", file);
		goto out_free_text;
	}
	if (fsio_write_all(s->io, fd, text, strlen(text)) != LZ_OK || fsio_write_all(s->io, fd, "\n", 1) != LZ_OK)
		err = json_sys(detail, "write", file);
	else if (s->io->fsync(fd) != 0)
		err = json_sys(detail, "fsync", file);
	if (s->io->close(fd) != 0 && err == LZ_OK)
		err = json_sys(detail, "close", file);
out_free_text:
	cJSON_free(text);
	return err;
}

static lz_err json_fsync_dir(store *s, const char *dir, struct store_detail *detail)
{
	if (fsio_fsync_dir(s->io, dir) != LZ_OK)
		return json_sys(detail, "fsync directory", dir);
	return LZ_OK;
}

/* Replaces <dir>/<name> with the tree: temp file, fsync, rename, fsync of the directory. */
static lz_err json_file_replace(store *s, const char *name, const cJSON *root, struct store_detail *detail)
{
	char *file = json_strf("%s/%s", s->dir, name);
	char *tmp = json_strf("%s/%s.tmp", s->dir, name);
	lz_err err = LZ_ENOMEM;

	if (file == NULL || tmp == NULL)
		goto out_free_names;
	err = json_file_write(s, tmp, root, detail);
	if (err != LZ_OK)
		goto out_free_names;
	if (s->io->rename(tmp, file) != 0) {
		err = json_sys(detail, "rename over", file);
		goto out_free_names;
	}
	err = json_fsync_dir(s, s->dir, detail);
out_free_names:
	free(tmp);
	free(file);
	return err;
}

/* mkdir that accepts an existing directory; *created (may be NULL) tells which happened. */
static lz_err json_mkdir(store *s, const char *dir, bool *created, struct store_detail *detail)
{
	bool made = s->io->mkdir(dir, 0755) == 0;

	if (!made && errno != EEXIST)
		return json_sys(detail, "create directory", dir);
	if (created != NULL)
		*created = made;
	return LZ_OK;
}

static void json_list_free(struct dirent **names, int n)
{
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static int json_list_filter(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

/* The entries of `dir` but those starting with '.', sorted; *n = 0 when `dir` does not exist. */
static lz_err json_list(store *s, const char *dir, struct dirent ***names, int *n, struct store_detail *detail)
{
	*names = NULL;
	*n = s->io->scandir(dir, names, json_list_filter, alphasort);
	if (*n >= 0)
		return LZ_OK;
	*n = 0;
	*names = NULL;
	if (errno == ENOENT)
		return LZ_OK;
	return json_sys(detail, "list", dir);
}

/* Removes every *.tmp file in `dir` (missing: nothing to do). */
static lz_err json_clean_dir(store *s, const char *dir, struct store_detail *detail)
{
	struct dirent **names;
	lz_err err;
	int n;

	err = json_list(s, dir, &names, &n, detail);
	for (int i = 0; i < n && err == LZ_OK; i++) {
		char *file;

		if (!json_has_suffix(names[i]->d_name, ".tmp"))
			continue;
		file = json_strf("%s/%s", dir, names[i]->d_name);
		if (file == NULL) {
			err = LZ_ENOMEM;
			break;
		}
		if (s->io->unlink(file) != 0 && errno != ENOENT)
			err = json_sys(detail, "remove", file);
		free(file);
	}
	json_list_free(names, n);
	return err;
}

/* Calls fn for every directory under <dir>/messages. */
static lz_err json_each_msgdir(store *s, lz_err (*fn)(store *s, const char *dir, const char *name, void *arg),
			       void *arg, struct store_detail *detail)
{
	struct dirent **names;
	char *root = json_strf("%s/messages", s->dir);
	lz_err err;
	int n;

	if (root == NULL)
		return LZ_ENOMEM;
	err = json_list(s, root, &names, &n, detail);
	for (int i = 0; i < n && err == LZ_OK; i++) {
		char *dir = json_strf("%s/%s", root, names[i]->d_name);
		struct stat st;

		if (dir == NULL) {
			err = LZ_ENOMEM;
			break;
		}
		if (stat(dir, &st) != 0)
			err = json_sys(detail, "stat", dir);
		else if (S_ISDIR(st.st_mode))
			err = fn(s, dir, names[i]->d_name, arg);
		free(dir);
	}
	json_list_free(names, n);
	free(root);
	return err;
}

static lz_err json_clean_msgdir(store *s, const char *dir, const char *name, void *arg)
{
	(void)name;
	return json_clean_dir(s, dir, arg);
}

/* Removes the temp files an interrupted commit left (after any redo). */
static lz_err json_clean_temps(store *s, struct store_detail *detail)
{
	char *entities = json_strf("%s/entities", s->dir);
	lz_err err = LZ_ENOMEM;

	if (entities == NULL)
		return err;
	err = json_clean_dir(s, s->dir, detail);
	if (err == LZ_OK)
		err = json_clean_dir(s, entities, detail);
	if (err == LZ_OK)
		err = json_each_msgdir(s, json_clean_msgdir, detail, detail);
	free(entities);
	return err;
}

/* ------------------------------------------------------------------------------------------ */
/* Commit                                                                                     */
/* ------------------------------------------------------------------------------------------ */

struct json_change {
	char *rel;
	bool put; /* false: delete */
};

struct json_plan {
	struct json_change *v;
	size_t n, cap;
	struct map tmp_dirs; /* directories that received temp files or new subdirectories */
	struct map dirs;     /* every directory touched (value: non-NULL marker) */
};

static void json_plan_init(struct json_plan *p)
{
	memset(p, 0, sizeof(*p));
	map_init(&p->tmp_dirs);
	map_init(&p->dirs);
}

static void json_plan_release(struct json_plan *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i].rel);
	free(p->v);
	map_release(&p->tmp_dirs);
	map_release(&p->dirs);
}

/* Notes that the directory holding `rel` (or `rel` itself when `is_dir`) needs an fsync. */
static lz_err json_plan_dir(struct json_plan *p, const char *rel, bool is_dir, bool tmp)
{
	const char *slash = is_dir ? rel + strlen(rel) : strrchr(rel, '/');
	size_t len = slash != NULL ? (size_t)(slash - rel) : 0;
	char *dir = malloc(len + 1);
	lz_err err;

	if (dir == NULL)
		return LZ_ENOMEM;
	memcpy(dir, rel, len);
	dir[len] = '\0';
	err = map_put(&p->dirs, dir, p, NULL);
	if (err == LZ_OK && tmp)
		err = map_put(&p->tmp_dirs, dir, p, NULL);
	free(dir);
	return err;
}

/* Adds a change; takes `rel`. */
static lz_err json_plan_add(struct json_plan *p, char *rel, bool put)
{
	lz_err err;

	if (rel == NULL)
		return LZ_ENOMEM;
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		struct json_change *v = realloc(p->v, cap * sizeof(*v));

		if (v == NULL) {
			free(rel);
			return LZ_ENOMEM;
		}
		p->v = v;
		p->cap = cap;
	}
	p->v[p->n].rel = rel;
	p->v[p->n].put = put;
	p->n++;
	err = json_plan_dir(p, rel, false, put);
	return err;
}

struct json_fsync_ctx {
	store *s;
	bool allow_missing;
	struct store_detail *detail;
	lz_err err;
};

static void json_fsync_one(void *arg, const char *rel, void *value)
{
	struct json_fsync_ctx *c = arg;
	char *dir;

	(void)value;
	if (c->err != LZ_OK)
		return;
	dir = rel[0] != '\0' ? json_strf("%s/%s", c->s->dir, rel) : strdup(c->s->dir);
	if (dir == NULL) {
		c->err = LZ_ENOMEM;
		return;
	}
	if (fsio_fsync_dir(c->s->io, dir) != LZ_OK && !(c->allow_missing && errno == ENOENT))
		c->err = json_sys(c->detail, "fsync directory", dir);
	free(dir);
}

/* fsyncs every directory of `dirs`; `allow_missing`: a directory that does not exist had no
 * file to delete (a message directory never created), so there is nothing to make durable. */
static lz_err json_fsync_dirs(store *s, const struct map *dirs, bool allow_missing, struct store_detail *detail)
{
	struct json_fsync_ctx c = { s, allow_missing, detail, LZ_OK };

	map_foreach(dirs, json_fsync_one, &c);
	return c.err;
}

/* Writes <rel>.tmp from a tree (NULL: out of memory), creating its message directory. */
static lz_err json_plan_put(store *s, struct json_plan *p, char *rel, cJSON *root, struct store_detail *detail)
{
	char *file = NULL, *dir = NULL;
	bool created = false;
	lz_err err = LZ_ENOMEM;

	if (rel == NULL || root == NULL)
		goto out_free_rel;
	if (strncmp(rel, "messages/", 9) == 0) {
		dir = json_strf("%s/%.*s", s->dir, (int)(strrchr(rel, '/') - rel), rel);
		if (dir == NULL)
			goto out_free_rel;
		err = json_mkdir(s, dir, &created, detail);
		if (err == LZ_OK && created)
			err = json_plan_dir(p, "messages", true, true);
		if (err != LZ_OK)
			goto out_free_rel;
	}
	file = json_strf("%s/%s.tmp", s->dir, rel);
	if (file == NULL) {
		err = LZ_ENOMEM;
		goto out_free_rel;
	}
	err = json_file_write(s, file, root, detail);
	if (err != LZ_OK)
		goto out_free_rel;
	err = json_plan_add(p, rel, true);
	rel = NULL;
out_free_rel:
	free(rel);
	free(file);
	free(dir);
	cJSON_Delete(root);
	return err;
}

/* Plans the deletion of every *.json in directory `rel` that the transaction did not touch. */
static lz_err json_plan_dir_deletes(store *s, struct json_plan *p, const char *rel, struct store_detail *detail)
{
	char *dir = json_strf("%s/%s", s->dir, rel);
	struct dirent **names;
	lz_err err;
	int n;

	if (dir == NULL)
		return LZ_ENOMEM;
	err = json_list(s, dir, &names, &n, detail);
	for (int i = 0; i < n && err == LZ_OK; i++) {
		char *file;

		if (!json_has_suffix(names[i]->d_name, ".json"))
			continue;
		file = json_strf("%s/%s", rel, names[i]->d_name);
		if (file != NULL && map_get(&s->dirty, file) != NULL) {
			free(file);
			continue;
		}
		err = json_plan_add(p, file, false);
	}
	json_list_free(names, n);
	free(dir);
	return err;
}

/* Writes the temp file of one dirty entry, or plans its deletion. */
static lz_err json_plan_dirty(store *s, struct json_plan *p, const struct json_dirty *d, struct store_detail *detail)
{
	struct jrec_load_entity e;
	struct jrec_load_message m;
	cJSON *root;
	lz_err err;

	switch (d->kind) {
	case DIRTY_ENTITY:
		err = store_memory_ops.get_entity(s->mem, d->path, &e, detail);
		if (err == LZ_ENOTFOUND)
			return json_plan_add(p, strdup(d->rel), false);
		if (err != LZ_OK)
			return err;
		root = json_entity_new(&e);
		journal_load_entity_release(&e);
		return json_plan_put(s, p, strdup(d->rel), root, detail);
	case DIRTY_MESSAGE:
		err = store_memory_ops.get_message(s->mem, d->path, d->where, d->seq, &m, detail);
		if (err == LZ_ENOTFOUND)
			return json_plan_add(p, strdup(d->rel), false);
		if (err != LZ_OK)
			return err;
		root = json_message_new(&m, true);
		journal_load_message_release(&m);
		return json_plan_put(s, p, strdup(d->rel), root, detail);
	case DIRTY_DIR:
		return json_plan_dir_deletes(s, p, d->rel, detail);
	}
	return LZ_EINVAL;
}

struct json_dirty_list {
	const struct json_dirty **v;
	size_t n;
	lz_err err;
};

static void json_dirty_collect(void *arg, const char *key, void *value)
{
	struct json_dirty_list *l = arg;

	(void)key;
	l->v[l->n++] = value;
}

static int json_dirty_cmp(const void *a, const void *b)
{
	return strcmp((*(const struct json_dirty *const *)a)->rel, (*(const struct json_dirty *const *)b)->rel);
}

/* Step 1: the temp files of every dirty entry (in path order), and the plan. */
static lz_err json_plan_build(store *s, struct json_plan *p, struct store_detail *detail)
{
	struct json_dirty_list l = { NULL, 0, LZ_OK };
	lz_err err = LZ_OK;

	if (s->dirty.n == 0)
		return LZ_OK;
	l.v = malloc(s->dirty.n * sizeof(*l.v));
	if (l.v == NULL)
		return LZ_ENOMEM;
	map_foreach(&s->dirty, json_dirty_collect, &l);
	qsort(l.v, l.n, sizeof(l.v[0]), json_dirty_cmp);
	for (size_t i = 0; i < l.n && err == LZ_OK; i++)
		err = json_plan_dirty(s, p, l.v[i], detail);
	free(l.v);
	return err;
}

/* Step 3: renames and unlinks, then the directory fsyncs. `redo`: a rename whose temp file is
 * gone was done before the crash. */
static lz_err json_plan_apply(store *s, const struct json_plan *p, bool redo, struct store_detail *detail)
{
	lz_err err = LZ_OK;

	for (size_t i = 0; i < p->n && err == LZ_OK; i++) {
		char *file = json_strf("%s/%s", s->dir, p->v[i].rel);
		char *tmp = json_strf("%s/%s.tmp", s->dir, p->v[i].rel);

		if (file == NULL || tmp == NULL)
			err = LZ_ENOMEM;
		else if (p->v[i].put && s->io->rename(tmp, file) != 0 && !(redo && errno == ENOENT))
			err = json_sys(detail, "rename over", file);
		else if (!p->v[i].put && s->io->unlink(file) != 0 && errno != ENOENT)
			err = json_sys(detail, "remove", file);
		free(tmp);
		free(file);
	}
	if (err == LZ_OK)
		err = json_fsync_dirs(s, &p->dirs, true, detail);
	return err;
}

static lz_err json_meta_write(store *s, uint64_t lsn, struct store_detail *detail)
{
	struct jw w = { false };
	cJSON *root = cJSON_CreateObject();
	lz_err err = LZ_ENOMEM;

	jw_add(&w, root, "format", jw_int_new(JSON_FORMAT));
	jw_add(&w, root, "store_id", cJSON_CreateString(s->store_id));
	jw_add(&w, root, "last_applied_lsn", jw_uint_new(lsn));
	if (!w.oom)
		err = json_file_replace(s, "meta.json", root, detail);
	cJSON_Delete(root);
	return err;
}

/* Steps 4 and 5: meta.json, then the redo log (if one was written) goes. */
static lz_err json_plan_finish(store *s, bool manifest, uint64_t lsn, struct store_detail *detail)
{
	char *file;
	lz_err err = json_meta_write(s, lsn, detail);

	if (err != LZ_OK || !manifest)
		return err;
	file = json_strf("%s/commit.json", s->dir);
	if (file == NULL)
		return LZ_ENOMEM;
	if (s->io->unlink(file) != 0)
		err = json_sys(detail, "remove", file);
	else
		err = json_fsync_dir(s, s->dir, detail);
	free(file);
	return err;
}

/* Step 2: the redo log. */
static lz_err json_manifest_write(store *s, const struct json_plan *p, uint64_t lsn, struct store_detail *detail)
{
	struct jw w = { false };
	cJSON *root = cJSON_CreateObject();
	cJSON *puts, *dels;
	lz_err err = LZ_ENOMEM;

	jw_add(&w, root, "format", jw_int_new(JSON_FORMAT));
	jw_add(&w, root, "last_applied_lsn", jw_uint_new(lsn));
	puts = jw_add(&w, root, "put", cJSON_CreateArray());
	dels = jw_add(&w, root, "delete", cJSON_CreateArray());
	for (size_t i = 0; i < p->n && !w.oom; i++)
		jw_add(&w, p->v[i].put ? puts : dels, NULL, cJSON_CreateString(p->v[i].rel));
	if (!w.oom)
		err = json_file_replace(s, "commit.json", root, detail);
	cJSON_Delete(root);
	return err;
}

/* The whole commit protocol for the dirty entries (see the top of the file). */
static lz_err json_files_commit(store *s, uint64_t lsn, struct store_detail *detail)
{
	struct json_plan p;
	lz_err err;

	json_plan_init(&p);
	err = json_plan_build(s, &p, detail);
	if (err == LZ_OK)
		err = json_fsync_dirs(s, &p.tmp_dirs, false, detail);
	if (err == LZ_OK && p.n > 0)
		err = json_manifest_write(s, &p, lsn, detail);
	if (err == LZ_OK)
		err = json_plan_apply(s, &p, false, detail);
	if (err == LZ_OK)
		err = json_plan_finish(s, p.n > 0, lsn, detail);
	json_plan_release(&p);
	return err;
}

/* A path from commit.json is used only if it looks like one this file writes. */
static bool json_rel_valid(const char *rel)
{
	const char *c = rel;

	if (strncmp(rel, "entities/", 9) != 0 && strncmp(rel, "messages/", 9) != 0)
		return false;
	while (c != NULL) {
		if (c[0] == '\0' || c[0] == '.' || c[0] == '/')
			return false;
		c = strchr(c, '/');
		if (c != NULL)
			c++;
	}
	return true;
}

/* Finishes a commit that reached its commit point before a crash. */
static lz_err json_redo(store *s, const cJSON *manifest, const char *file, struct store_detail *detail)
{
	struct jr r = { file, detail, LZ_OK };
	struct json_plan p;
	uint64_t lsn;
	lz_err err = LZ_OK;

	json_plan_init(&p);
	if (jr_int(&r, manifest, "format", 0, INT64_MAX, true) != JSON_FORMAT && r.err == LZ_OK)
		jr_fail(&r, LZ_EUNSUPPORTED, "format", "not %d", JSON_FORMAT);
	lsn = jr_uint(&r, manifest, "last_applied_lsn", UINT64_MAX, true);
	for (int put = 1; put >= 0 && r.err == LZ_OK && err == LZ_OK; put--) {
		const char *name = put ? "put" : "delete";
		const cJSON *arr = jr_get(&r, manifest, name, true), *it;

		if (arr != NULL && !cJSON_IsArray(arr))
			jr_fail(&r, LZ_EPARSE, name, "expected an array");
		if (r.err != LZ_OK)
			arr = NULL;
		cJSON_ArrayForEach(it, arr)
		{
			if (!cJSON_IsString(it) || !json_rel_valid(it->valuestring)) {
				jr_fail(&r, LZ_EPARSE, name, "not a store path");
				break;
			}
			err = json_plan_add(&p, strdup(it->valuestring), put);
			if (err != LZ_OK)
				break;
		}
	}
	if (err == LZ_OK)
		err = r.err;
	if (err == LZ_OK)
		err = json_plan_apply(s, &p, true, detail);
	if (err == LZ_OK)
		err = json_plan_finish(s, true, lsn, detail);
	if (err == LZ_OK)
		LZ_LOG(LOG_WARN, "json store: finished a commit interrupted by a crash",
		       "dir=\"%s\" lsn=%" PRIu64 " files=%zu", s->dir, lsn, p.n);
	json_plan_release(&p);
	return err;
}

/* ------------------------------------------------------------------------------------------ */
/* Open                                                                                       */
/* ------------------------------------------------------------------------------------------ */

/* Reads meta.json into s->store_id and *lsn; *found false when it does not exist. */
static lz_err json_meta_read(store *s, bool *found, uint64_t *lsn, struct store_detail *detail)
{
	char *file = json_strf("%s/meta.json", s->dir);
	struct jr r = { file, detail, LZ_OK };
	cJSON *root;
	char *id;
	lz_err err;

	*found = false;
	*lsn = 0;
	if (file == NULL)
		return LZ_ENOMEM;
	err = json_file_parse(s, file, &root, detail);
	if (err == LZ_ENOTFOUND) {
		err = LZ_OK;
		goto out_free_file;
	}
	if (err != LZ_OK)
		goto out_free_file;
	*found = true;
	if (jr_int(&r, root, "format", 0, INT64_MAX, true) != JSON_FORMAT && r.err == LZ_OK)
		jr_fail(&r, LZ_EUNSUPPORTED, "format", "not %d: written by another version of localzure-persistd",
			JSON_FORMAT);
	id = jr_str(&r, root, "store_id", true);
	*lsn = jr_uint(&r, root, "last_applied_lsn", UINT64_MAX, true);
	if (id != NULL && strlen(id) >= sizeof(s->store_id))
		jr_fail(&r, LZ_EPARSE, "store_id", "too long");
	if (r.err == LZ_OK)
		strcpy(s->store_id, id);
	free(id);
	cJSON_Delete(root);
	err = r.err;
out_free_file:
	free(file);
	return err;
}

static lz_err json_has_files(store *s, const char *dir, const char *name, void *arg)
{
	struct dirent **names;
	bool *any = arg;
	lz_err err;
	int n;

	(void)name;
	err = json_list(s, dir, &names, &n, NULL);
	for (int i = 0; i < n; i++) {
		if (json_has_suffix(names[i]->d_name, ".json"))
			*any = true;
	}
	json_list_free(names, n);
	return err;
}

/* A new store: refuses a directory that holds data without meta.json. */
static lz_err json_init(store *s, struct store_detail *detail)
{
	char *entities = json_strf("%s/entities", s->dir);
	char *messages = json_strf("%s/messages", s->dir);
	bool any = false;
	lz_err err = LZ_ENOMEM;

	if (entities == NULL || messages == NULL)
		goto out_free_names;
	err = json_has_files(s, entities, NULL, &any);
	if (err == LZ_OK)
		err = json_each_msgdir(s, json_has_files, &any, detail);
	if (err == LZ_OK && any) {
		store_detail_set(detail, "json: %s/meta.json is missing but the directory holds entities or messages",
			   s->dir);
		err = LZ_EPARSE;
	}
	if (err != LZ_OK)
		goto out_free_names;
	uuid_generate_str(s->store_id);
	err = json_meta_write(s, 0, detail);
out_free_names:
	free(messages);
	free(entities);
	return err;
}

/* Loads one entity file into the mirror. */
static lz_err json_load_entity(store *s, const char *file, const char *fname, struct store_detail *detail)
{
	struct jr r = { file, detail, LZ_OK };
	struct jrec_load_entity e;
	char name[JSON_NAME_MAX + 1];
	cJSON *root;
	lz_err err;

	err = json_file_parse(s, file, &root, detail);
	if (err == LZ_ENOTFOUND)
		return json_sys(detail, "open", file);
	if (err != LZ_OK)
		return err;
	err = jr_entity(&r, root, &e);
	cJSON_Delete(root);
	if (err != LZ_OK)
		return err;
	if (json_name(e.path, name, NULL) != LZ_OK || strncmp(fname, name, strlen(name)) != 0 ||
	    strcmp(fname + strlen(name), ".json") != 0) {
		store_detail_set(detail, "json: %s: holds entity '%s', which belongs in another file", file, e.path);
		err = LZ_EPARSE;
	} else {
		err = store_memory_ops.put_entity(s->mem, &e, detail);
	}
	journal_load_entity_release(&e);
	return err;
}

static lz_err json_load_message(store *s, const char *file, const char *dname, const char *fname,
				struct store_detail *detail)
{
	struct jr r = { file, detail, LZ_OK };
	struct jrec_load_message m;
	char name[JSON_NAME_MAX + 1];
	char *want = NULL, *have;
	cJSON *root;
	lz_err err;

	err = json_file_parse(s, file, &root, detail);
	if (err == LZ_ENOTFOUND)
		return json_sys(detail, "open", file);
	if (err != LZ_OK)
		return err;
	err = jr_message(&r, root, &m);
	cJSON_Delete(root);
	if (err != LZ_OK)
		return err;
	if (json_name(m.place.path, name, NULL) == LZ_OK)
		want = json_strf("%s/%d-%020" PRIu64 ".json", name, (int)m.place.where, m.place.seq);
	have = json_strf("%s/%s", dname, fname);
	if (want == NULL || have == NULL) {
		err = LZ_ENOMEM;
	} else if (strcmp(want, have) != 0) {
		store_detail_set(detail, "json: %s: holds message %" PRIu64 " of '%s', which belongs in another file", file,
			   m.place.seq, m.place.path);
		err = LZ_EPARSE;
	} else {
		err = store_memory_ops.put_message(s->mem, &m, detail);
	}
	free(have);
	free(want);
	journal_load_message_release(&m);
	return err;
}

static lz_err json_load_msgdir(store *s, const char *dir, const char *dname, void *arg)
{
	struct store_detail *detail = arg;
	struct dirent **names;
	lz_err err;
	int n;

	err = json_list(s, dir, &names, &n, detail);
	for (int i = 0; i < n && err == LZ_OK; i++) {
		char *file;

		if (!json_has_suffix(names[i]->d_name, ".json"))
			continue;
		file = json_strf("%s/%s", dir, names[i]->d_name);
		if (file == NULL) {
			err = LZ_ENOMEM;
			break;
		}
		err = json_load_message(s, file, dname, names[i]->d_name, detail);
		free(file);
	}
	json_list_free(names, n);
	return err;
}

/* Reads every entity and message file into the mirror (one memory transaction at `lsn`). */
static lz_err json_load_files(store *s, uint64_t lsn, struct store_detail *detail)
{
	char *dir = json_strf("%s/entities", s->dir);
	struct dirent **names;
	lz_err err;
	int n;

	if (dir == NULL)
		return LZ_ENOMEM;
	err = store_memory_ops.begin(s->mem, detail);
	if (err != LZ_OK)
		goto out_free_dir;
	err = json_list(s, dir, &names, &n, detail);
	for (int i = 0; i < n && err == LZ_OK; i++) {
		char *file;

		if (!json_has_suffix(names[i]->d_name, ".json"))
			continue;
		file = json_strf("%s/%s", dir, names[i]->d_name);
		if (file == NULL) {
			err = LZ_ENOMEM;
			break;
		}
		err = json_load_entity(s, file, names[i]->d_name, detail);
		free(file);
	}
	json_list_free(names, n);
	if (err == LZ_OK)
		err = json_each_msgdir(s, json_load_msgdir, detail, detail);
	if (err == LZ_OK)
		err = store_memory_ops.commit(s->mem, lsn, detail);
	else
		store_memory_ops.rollback(s->mem);
out_free_dir:
	free(dir);
	return err;
}

static void json_dirty_free(void *arg, const char *key, void *value)
{
	struct json_dirty *d = value;

	(void)arg;
	(void)key;
	free(d->rel);
	free(d->path);
	free(d);
}

static void json_dirty_clear(store *s)
{
	map_foreach(&s->dirty, json_dirty_free, NULL);
	map_release(&s->dirty);
}

static void json_close(store *s)
{
	if (s == NULL)
		return;
	json_dirty_clear(s);
	store_memory_ops.close(s->mem); /* rolls back an open transaction */
	free(s->dir);
	free(s);
}

static lz_err json_open(const struct store_config *cfg, store **out, struct store_detail *detail)
{
	char *manifest_file = NULL;
	cJSON *manifest = NULL;
	bool found = false, created = false;
	uint64_t lsn = 0;
	store *s;
	lz_err err;

	*out = NULL;
	if (cfg->location == NULL || cfg->location[0] == '\0') {
		store_detail_set(detail, "json: no directory given");
		return LZ_EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return LZ_ENOMEM;
	s->io = &fsio_real;
	s->pretty = cfg->pretty_json;
	map_init(&s->dirty);
	s->dir = strdup(cfg->location);
	manifest_file = json_strf("%s/commit.json", cfg->location);
	if (s->dir == NULL || manifest_file == NULL) {
		err = LZ_ENOMEM;
		goto out_close;
	}
	err = store_memory_ops.open(cfg, &s->mem, detail);
	if (err == LZ_OK)
		err = json_mkdir(s, s->dir, &created, detail);
	if (err == LZ_OK && created && fsio_fsync_parent(s->io, s->dir) != LZ_OK)
		err = json_sys(detail, "fsync the parent of", s->dir);
	if (err == LZ_OK)
		err = json_meta_read(s, &found, &lsn, detail);
	if (err != LZ_OK)
		goto out_close;
	err = json_file_parse(s, manifest_file, &manifest, detail);
	if (err == LZ_OK && !found) {
		store_detail_set(detail, "json: %s exists but meta.json does not", manifest_file);
		err = LZ_EPARSE;
	}
	if (err == LZ_OK) {
		err = json_redo(s, manifest, manifest_file, detail);
		if (err == LZ_OK)
			err = json_meta_read(s, &found, &lsn, detail);
	} else if (err == LZ_ENOTFOUND) {
		err = LZ_OK;
	}
	if (err == LZ_OK)
		err = json_clean_temps(s, detail);
	if (err == LZ_OK && !found)
		err = json_init(s, detail);
	if (err != LZ_OK)
		goto out_close;
	for (int i = 0; i < 2 && err == LZ_OK; i++) {
		char *dir = json_strf("%s/%s", s->dir, i == 0 ? "entities" : "messages");

		err = dir != NULL ? json_mkdir(s, dir, &created, detail) : LZ_ENOMEM;
		if (err == LZ_OK && created)
			err = json_fsync_dir(s, s->dir, detail);
		free(dir);
	}
	if (err == LZ_OK)
		err = json_load_files(s, lsn, detail);
	if (err != LZ_OK)
		goto out_close;
	cJSON_Delete(manifest);
	free(manifest_file);
	*out = s;
	return LZ_OK;

out_close:
	cJSON_Delete(manifest);
	free(manifest_file);
	json_close(s);
	return err;
}

/* ------------------------------------------------------------------------------------------ */
/* Operations                                                                                 */
/* ------------------------------------------------------------------------------------------ */

/* Remembers that `rel` must be written or deleted at commit; takes `rel`. */
static lz_err json_dirty_add(store *s, char *rel, enum json_dirty_kind kind, const char *path,
			     enum journal_where where, uint64_t seq)
{
	struct json_dirty *d;
	lz_err err;

	if (rel == NULL)
		return LZ_ENOMEM;
	if (map_get(&s->dirty, rel) != NULL) {
		free(rel);
		return LZ_OK;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		goto out_free_rel;
	d->kind = kind;
	d->rel = rel;
	d->where = where;
	d->seq = seq;
	if (path != NULL) {
		d->path = strdup(path);
		if (d->path == NULL)
			goto out_free_dirty;
	}
	err = map_put(&s->dirty, rel, d, NULL);
	if (err == LZ_OK)
		return LZ_OK;
out_free_dirty:
	free(d->path);
	free(d);
out_free_rel:
	free(rel);
	return LZ_ENOMEM;
}

static lz_err json_begin(store *s, struct store_detail *detail)
{
	lz_err err = store_check_tx("json", s->in_tx, false, "begin", detail);

	if (err == LZ_OK && s->failed) {
		store_detail_set(detail, "json: an earlier write to %s failed; close and reopen the store", s->dir);
		err = LZ_ESTATE;
	}
	if (err == LZ_OK)
		err = store_memory_ops.begin(s->mem, detail);
	if (err == LZ_OK)
		s->in_tx = true;
	return err;
}

static void json_rollback(store *s)
{
	if (!s->in_tx)
		return;
	store_memory_ops.rollback(s->mem);
	json_dirty_clear(s);
	s->in_tx = false;
}

static lz_err json_commit(store *s, uint64_t lsn, struct store_detail *detail)
{
	lz_err err = store_check_tx("json", s->in_tx, true, "commit", detail);

	if (err != LZ_OK)
		return err;
	err = json_files_commit(s, lsn, detail);
	if (err != LZ_OK) {
		s->failed = true;
		json_rollback(s);
		return err;
	}
	err = store_memory_ops.commit(s->mem, lsn, detail);
	json_dirty_clear(s);
	s->in_tx = false;
	return err;
}

static lz_err json_put_entity(store *s, const struct jrec_load_entity *e, struct store_detail *detail)
{
	char name[JSON_NAME_MAX + 1];
	lz_err err = store_check_tx("json", s->in_tx, true, "put", detail);

	if (err == LZ_OK)
		err = json_name(e->path, name, detail);
	if (err == LZ_OK)
		err = json_dirty_add(s, json_entity_rel(name), DIRTY_ENTITY, e->path, JWHERE_MAIN, 0);
	if (err == LZ_OK)
		err = store_memory_ops.put_entity(s->mem, e, detail);
	return err;
}

static lz_err json_get_entity(store *s, const char *path, struct jrec_load_entity *out, struct store_detail *detail)
{
	return store_memory_ops.get_entity(s->mem, path, out, detail);
}

static lz_err json_delete_entity(store *s, const char *path, struct store_detail *detail)
{
	char name[JSON_NAME_MAX + 1];
	lz_err err = store_check_tx("json", s->in_tx, true, "delete", detail);

	if (err == LZ_OK)
		err = json_name(path, name, detail);
	if (err == LZ_OK)
		err = json_dirty_add(s, json_entity_rel(name), DIRTY_ENTITY, path, JWHERE_MAIN, 0);
	if (err == LZ_OK)
		err = json_dirty_add(s, json_msgdir_rel(name), DIRTY_DIR, NULL, JWHERE_MAIN, 0);
	if (err == LZ_OK)
		err = store_memory_ops.delete_entity(s->mem, path, detail);
	return err;
}

static lz_err json_list_entities(store *s, const char *prefix, lz_err (*fn)(void *arg, const char *path), void *arg,
				 struct store_detail *detail)
{
	return store_memory_ops.list_entities(s->mem, prefix, fn, arg, detail);
}

static lz_err json_put_message(store *s, const struct jrec_load_message *m, struct store_detail *detail)
{
	char name[JSON_NAME_MAX + 1];
	lz_err err = store_check_tx("json", s->in_tx, true, "put", detail);

	if (err == LZ_OK)
		err = json_name(m->place.path, name, detail);
	if (err == LZ_OK)
		err = json_dirty_add(s, json_message_rel(name, m->place.where, m->place.seq), DIRTY_MESSAGE,
				     m->place.path, m->place.where, m->place.seq);
	if (err == LZ_OK)
		err = store_memory_ops.put_message(s->mem, m, detail);
	return err;
}

static lz_err json_get_message(store *s, const char *path, enum journal_where where, uint64_t seq,
			       struct jrec_load_message *out, struct store_detail *detail)
{
	return store_memory_ops.get_message(s->mem, path, where, seq, out, detail);
}

static lz_err json_delete_message(store *s, const char *path, enum journal_where where, uint64_t seq,
				  struct store_detail *detail)
{
	char name[JSON_NAME_MAX + 1];
	lz_err err = store_check_tx("json", s->in_tx, true, "delete", detail);

	if (err == LZ_OK)
		err = json_name(path, name, detail);
	if (err == LZ_OK)
		err = json_dirty_add(s, json_message_rel(name, where, seq), DIRTY_MESSAGE, path, where, seq);
	if (err == LZ_OK)
		err = store_memory_ops.delete_message(s->mem, path, where, seq, detail);
	return err;
}

static lz_err json_last_applied_lsn(store *s, uint64_t *lsn, struct store_detail *detail)
{
	return store_memory_ops.last_applied_lsn(s->mem, lsn, detail);
}

static lz_err json_load(store *s, const struct store_visitor *v, struct store_detail *detail)
{
	return store_memory_ops.load(s->mem, v, detail);
}

/* Adds the size of every file in `dir` to *(uint64_t *)arg. */
static lz_err json_du(store *s, const char *dir, const char *name, void *arg)
{
	struct dirent **names;
	uint64_t *total = arg;
	lz_err err;
	int n;

	(void)name;
	err = json_list(s, dir, &names, &n, NULL);
	for (int i = 0; i < n && err == LZ_OK; i++) {
		char *file = json_strf("%s/%s", dir, names[i]->d_name);
		struct stat st;

		if (file == NULL)
			err = LZ_ENOMEM;
		else if (stat(file, &st) == 0 && S_ISREG(st.st_mode))
			*total += (uint64_t)st.st_size;
		free(file);
	}
	json_list_free(names, n);
	return err;
}

static lz_err json_stats(store *s, struct store_stats *out, struct store_detail *detail)
{
	char *entities = json_strf("%s/entities", s->dir);
	uint64_t size = 0;
	lz_err err = LZ_ENOMEM;

	if (entities == NULL)
		return err;
	err = store_memory_ops.stats(s->mem, out, detail);
	if (err == LZ_OK)
		err = json_du(s, s->dir, NULL, &size);
	if (err == LZ_OK)
		err = json_du(s, entities, NULL, &size);
	if (err == LZ_OK)
		err = json_each_msgdir(s, json_du, &size, detail);
	out->size_bytes = size;
	free(entities);
	return err;
}

struct json_prune {
	bool removed;
	struct store_detail *detail;
};

/* Removes a message directory if it is empty. */
static lz_err json_prune_msgdir(store *s, const char *dir, const char *name, void *arg)
{
	struct json_prune *pr = arg;

	(void)s;
	(void)name;
	if (rmdir(dir) == 0)
		pr->removed = true;
	else if (errno != ENOTEMPTY && errno != EEXIST)
		return json_sys(pr->detail, "remove", dir);
	return LZ_OK;
}

static lz_err json_compact(store *s, struct store_detail *detail)
{
	char *messages = json_strf("%s/messages", s->dir);
	struct json_prune pr = { false, detail };
	lz_err err = LZ_ENOMEM;

	if (messages == NULL)
		return err;
	err = store_check_tx("json", s->in_tx, false, "compact", detail);
	if (err == LZ_OK)
		err = json_clean_temps(s, detail);
	if (err == LZ_OK)
		err = json_each_msgdir(s, json_prune_msgdir, &pr, detail);
	if (err == LZ_OK && pr.removed)
		err = json_fsync_dir(s, messages, detail);
	free(messages);
	return err;
}

static lz_err json_purge_msgdir(store *s, const char *dir, const char *name, void *arg)
{
	(void)dir;
	(void)arg;
	return json_dirty_add(s, json_msgdir_rel(name), DIRTY_DIR, NULL, JWHERE_MAIN, 0);
}

static lz_err json_purge(store *s, struct store_detail *detail)
{
	lz_err err = store_check_tx("json", s->in_tx, false, "purge", detail);

	if (err == LZ_OK && s->failed) {
		store_detail_set(detail, "json: an earlier write to %s failed; close and reopen the store", s->dir);
		err = LZ_ESTATE;
	}
	if (err == LZ_OK)
		err = json_dirty_add(s, strdup("entities"), DIRTY_DIR, NULL, JWHERE_MAIN, 0);
	if (err == LZ_OK)
		err = json_each_msgdir(s, json_purge_msgdir, NULL, detail);
	if (err == LZ_OK)
		err = store_memory_ops.purge(s->mem, detail);
	if (err == LZ_OK) {
		err = json_files_commit(s, 0, detail);
		if (err != LZ_OK)
			s->failed = true;
	}
	json_dirty_clear(s);
	return err;
}

const struct store_ops store_json_ops = {
	.name = "json",
	.open = json_open,
	.close = json_close,
	.begin = json_begin,
	.commit = json_commit,
	.rollback = json_rollback,
	.put_entity = json_put_entity,
	.get_entity = json_get_entity,
	.delete_entity = json_delete_entity,
	.list_entities = json_list_entities,
	.put_message = json_put_message,
	.get_message = json_get_message,
	.delete_message = json_delete_message,
	.last_applied_lsn = json_last_applied_lsn,
	.load = json_load,
	.stats = json_stats,
	.compact = json_compact,
	.purge = json_purge,
};

/* ------------------------------------------------------------------------------------------ */
/* The JSON form for other modules (persistd/jsonform.h)                                      */
/* ------------------------------------------------------------------------------------------ */

cJSON *jsonform_entity_new(const struct jrec_load_entity *e)
{
	return json_entity_new(e);
}

cJSON *jsonform_message_new(const struct jrec_load_message *m, bool with_text)
{
	return json_message_new(m, with_text);
}

lz_err jsonform_entity_read(const cJSON *root, const char *where, struct jrec_load_entity *out,
			    struct store_detail *detail)
{
	struct jr r = { where, detail, LZ_OK };

	return jr_entity(&r, root, out);
}

lz_err jsonform_message_read(const cJSON *root, const char *where, struct jrec_load_message *out,
			     struct store_detail *detail)
{
	struct jr r = { where, detail, LZ_OK };

	return jr_message(&r, root, out);
}
