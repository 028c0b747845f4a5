/*
 * journal — payload encoding of journal records. FORMAT VERSION 2 (JOURNAL_FORMAT_VERSION).
 *
 * The WAL segment format frames each record (length, CRC, LSN, type, timestamp); this file defines
 * only the payload: exactly one msgpack (https://msgpack.org/) array per record, no trailing
 * bytes. Multi-byte msgpack lengths and numbers are big-endian, as msgpack defines them.
 *
 * Notation for one element:
 *   uint       non-negative msgpack int (positive fixint, uint8..uint64, or int8..int64 holding a
 *              value >= 0); range noted where narrower than uint64
 *   int        any msgpack int; int64 unless a narrower range is noted. The encoder writes the
 *              shortest form; the decoder accepts every width
 *   enum a..b  int restricted to a..b
 *   bool       msgpack true (0xc3) / false (0xc2)
 *   f64        msgpack float 64 (0xcb + 8 bytes IEEE 754); float 32 is refused
 *   str        msgpack str (fixstr, str8/16/32), at most MAX_STR bytes, no NUL byte
 *   str?       str, or nil (0xc0) for a NULL pointer ("absent")
 *   bin        msgpack bin (bin8/16/32)
 *   [a, b, c]  array of exactly these elements in this order (fixarray, array16/32)
 *   X*         array of any number (up to a cap) of X
 * Maps, ext types and the reserved byte 0xc1 never appear. Times are int64 ms since the Unix epoch
 * (UTC); durations are int64 ms with INT64_MAX (DURATION_INFINITE) for "infinite".
 *
 * Records. Element 0 is always the format version as a uint, so a decoder can tell a future layout
 * apart before it reads anything else; a version other than 2 is refused. (Version 1 was never
 * persisted: its MSG carried enqueued_ms and delivery_count, its PLACE had 7 elements and it had
 * no LOAD_* records.)
 *   1 ENTITY_PUT     [2, path str, desc DESC, is_update bool, created_at int, rule RULE | nil]
 *                    (rule nil: has_rule = false)
 *   2 ENTITY_DELETE  [2, path str]
 *   3 RULE_PUT       [2, sub_path str, rule RULE, is_update bool]
 *   4 RULE_DELETE    [2, sub_path str, name str]
 *   5 MSG_ENQUEUE    [2, target str, msg MSG, counters COUNTER*, places PLACE*]
 *   6 MSG_DELIVER    [2, path str, where WHERE, seq uint]
 *   7 MSG_REMOVE     [2, path str, where WHERE, seq uint, reason enum 0..3]
 *                    (0 complete, 1 receive-and-delete, 2 expire, 3 cancel)
 *   8 MSG_MOVE       [2, path str, where WHERE, seq uint, counters COUNTER*, places PLACE*]
 *   9 MSG_DEFER      [2, path str, where WHERE, seq uint]
 *  10 ENTITY_TOUCH   [2, path str]
 *  11 LOAD_ENTITY    [2, path str, desc DESC, created_at int, updated_at int, accessed_at int,
 *                     last_seq uint, rules RULE*, dups DUP*]
 *  12 LOAD_MESSAGE   [2, place PLACE, deferred bool, msg MSG]
 *
 * Nested layouts:
 *   WHERE    enum 0..2 (0 main, 1 $DeadLetterQueue, 2 scheduled store)
 *   DESC     entity_desc, 23 elements:
 *             0 kind enum 1..3 (1 queue, 2 topic, 3 subscription)
 *             1 lock_duration_ms int        2 max_size_mb int
 *             3 requires_duplicate_detection bool
 *             4 requires_session bool       5 default_ttl_ms int
 *             6 dead_lettering_on_expiration bool
 *             7 dead_lettering_on_filter_exceptions bool
 *             8 dup_window_ms int           9 max_delivery_count int (int32)
 *            10 enable_batched_operations bool
 *            11 is_anonymous_accessible bool
 *            12 support_ordering bool      13 filtering_before_publishing bool
 *            14 status enum 0..3 (0 Active, 1 Disabled, 2 SendDisabled, 3 ReceiveDisabled)
 *            15 auto_delete_on_idle_ms int 16 enable_partitioning bool
 *            17 enable_subscription_partitioning bool
 *            18 enable_express bool        19 max_message_size_kb int
 *            20 forward_to str?            21 forward_dlq_to str?
 *            22 user_metadata str?
 *   RULE     rule_desc, 11 elements:
 *             0 name str
 *             1 filter_type enum 0..3 (0 true, 1 false, 2 sql, 3 correlation)
 *             2 sql_expression str?        3 sql_compat_level int (int32)
 *             4 sql_params PROPS           5 corr CORR
 *             6 action_type enum 0..1 (0 empty, 1 sql)
 *             7 action_sql str?            8 action_compat_level int (int32)
 *             9 action_params PROPS       10 created_at int
 *            Every element is stored whatever filter_type and action_type say.
 *   CORR     correlation_filter, 9 elements: 0 correlation_id str?, 1 message_id str?,
 *            2 to str?, 3 reply_to str?, 4 label str?, 5 session_id str?,
 *            6 reply_to_session_id str?, 7 content_type str?, 8 properties PROPS
 *   PROPS    proplist: [name str, type enum 0..7, value]*, in list order, names unique. The type
 *            code fixes the value's msgpack type:
 *              0 null → nil        1 string → str       2 int → int     3 long → int
 *              4 bool → bool       5 double → f64       6 dateTime → int (ms since epoch)
 *              7 duration → int (ms)
 *            These codes are the wire's own and never change, whatever value_type's order.
 *   MSG      journal_msg: [props MSGPROPS, user PROPS, body bin]
 *   MSGPROPS msg_props, 14 elements: 0 message_id str?, 1 correlation_id str?, 2 session_id str?,
 *            3 reply_to str?, 4 reply_to_session_id str?, 5 to str?, 6 label str?,
 *            7 content_type str?, 8 partition_key str?, 9 via_partition_key str?,
 *            10 has_ttl bool, 11 ttl_ms int, 12 scheduled_enqueue_ms int,
 *            13 force_persistence bool
 *   COUNTER  [path str, seq uint]
 *   PLACE    journal_place, 12 elements:
 *             0 path str                   1 where WHERE
 *             2 seq uint                   3 enqueued_seq uint
 *             4 enqueued_ms int            5 ttl_ms int
 *             6 expires_ms int (INT64_MAX: never)
 *             7 scheduled_ms int           8 delivery_count uint (uint32)
 *             9 dl_reason str?            10 dl_description str?
 *            11 dl_source str?
 *            Every element is stored whatever `where` says; in LOAD_MESSAGE the dl_* elements
 *            are nil by convention (journal.h), which the format does not enforce.
 *   DUP      journal_dup: [id str, ts_ms int]
 *
 * Example, ENTITY_DELETE of "q1" (5 bytes): 92 02 a2 71 31
 *   92 = array of 2; 02 = version 2; a2 71 31 = str "q1".
 *
 * Caps (the decoder refuses more with LZ_EPARSE; the encoder refuses to write more with
 * LZ_ETOOBIG, so every record written can be read back): MAX_STR bytes per string, MAX_BODY bytes
 * of body, MAX_PROPS entries per proplist, MAX_ITEMS counters, places, rules or dups per list.
 *
 * Decoding never trusts the input. msgpack-c allocates every array's element slots as soon as it
 * reads the array header, so a 5-byte payload claiming 2^28 elements would make it reserve
 * gigabytes. payload_scan() therefore walks the raw bytes first and checks that the payload is
 * exactly one object of the types above, nested at most MAX_DEPTH deep, whose every length and
 * element count fits in the bytes that remain; msgpack_unpack_next() then allocates at most a
 * few dozen bytes per payload byte. The object tree is then walked with exact array lengths,
 * exact msgpack types, ranges and caps; the first failure is reported in `detail` by its path,
 * e.g. "entity_put.desc.lock_duration_ms: expected int, got str".
 */
#include "proto/journal.h"

#include <ctype.h>
#include <inttypes.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STR (64u * 1024u)
#define MAX_BODY (16u * 1024u * 1024u)
#define MAX_PROPS 4096u
#define MAX_ITEMS 65536u
/* The deepest layout (LOAD_ENTITY → RULE* → RULE → CORR → PROPS → entry) nests 6 deep. */
#define MAX_DEPTH 8u

/* Array lengths of the nested layouts and records (see the format above). */
#define DESC_LEN 23u
#define RULE_LEN 11u
#define CORR_LEN 9u
#define PROP_LEN 3u
#define MSG_LEN 3u
#define MSGPROPS_LEN 14u
#define COUNTER_LEN 2u
#define PLACE_LEN 12u
#define DUP_LEN 2u

/* Wire codes of the PROPS value types. */
enum wire_value {
	WIRE_NULL = 0,
	WIRE_STRING = 1,
	WIRE_INT = 2,
	WIRE_LONG = 3,
	WIRE_BOOL = 4,
	WIRE_DOUBLE = 5,
	WIRE_DATETIME = 6,
	WIRE_DURATION = 7,
};

static const char *const type_names[] = {
	[JREC_ENTITY_PUT] = "ENTITY_PUT",   [JREC_ENTITY_DELETE] = "ENTITY_DELETE",
	[JREC_RULE_PUT] = "RULE_PUT",	    [JREC_RULE_DELETE] = "RULE_DELETE",
	[JREC_MSG_ENQUEUE] = "MSG_ENQUEUE", [JREC_MSG_DELIVER] = "MSG_DELIVER",
	[JREC_MSG_REMOVE] = "MSG_REMOVE",   [JREC_MSG_MOVE] = "MSG_MOVE",
	[JREC_MSG_DEFER] = "MSG_DEFER",	    [JREC_ENTITY_TOUCH] = "ENTITY_TOUCH",
	[JREC_LOAD_ENTITY] = "LOAD_ENTITY", [JREC_LOAD_MESSAGE] = "LOAD_MESSAGE",
};

#define TYPE_COUNT (sizeof type_names / sizeof type_names[0])

const char *journal_type_name(enum journal_type t)
{
	if ((unsigned)t >= TYPE_COUNT || !type_names[t])
		return "?";
	return type_names[t];
}

/* ------------------------------------------------------------------------------------------ */
/* Encoding                                                                                   */
/* ------------------------------------------------------------------------------------------ */

/* The packer writes into `out`; the first failure sticks in `err` and turns later writes into
 * no-ops, so the layout functions can emit every field and check once at the end. */
struct enc {
	msgpack_packer pk;
	struct strbuf *out;
	lz_err err;
};

static int enc_write(void *data, const char *buf, size_t len)
{
	struct enc *e = data;

	if (e->err == LZ_OK)
		e->err = strbuf_add(e->out, buf, len);
	return e->err == LZ_OK ? 0 : -1;
}

static void enc_fail(struct enc *e, lz_err err)
{
	if (e->err == LZ_OK)
		e->err = err;
}

static void enc_array(struct enc *e, size_t n)
{
	msgpack_pack_array(&e->pk, n);
}

static void enc_int(struct enc *e, int64_t v)
{
	msgpack_pack_int64(&e->pk, v);
}

static void enc_uint(struct enc *e, uint64_t v)
{
	msgpack_pack_uint64(&e->pk, v);
}

static void enc_bool(struct enc *e, bool v)
{
	if (v)
		msgpack_pack_true(&e->pk);
	else
		msgpack_pack_false(&e->pk);
}

/* An enum the decoder checks against lo..hi: refuse to write what could not be read back. */
static void enc_enum(struct enc *e, int64_t v, int64_t lo, int64_t hi)
{
	if (v < lo || v > hi)
		enc_fail(e, LZ_EINVAL);
	enc_int(e, v);
}

/* `s` as str, NULL as nil when `nullable`, else LZ_EINVAL. */
static void enc_str(struct enc *e, const char *s, bool nullable)
{
	size_t len;

	if (!s) {
		if (!nullable)
			enc_fail(e, LZ_EINVAL);
		msgpack_pack_nil(&e->pk);
		return;
	}
	len = strlen(s);
	if (len > MAX_STR)
		enc_fail(e, LZ_ETOOBIG);
	msgpack_pack_str_with_body(&e->pk, s, len);
}

static void enc_props(struct enc *e, const struct proplist *l)
{
	if (l->n > MAX_PROPS)
		enc_fail(e, LZ_ETOOBIG);
	if (e->err != LZ_OK)
		return;
	enc_array(e, l->n);
	for (size_t i = 0; i < l->n; i++) {
		const struct value *v = &l->items[i].v;

		enc_array(e, PROP_LEN);
		enc_str(e, l->items[i].name, false);
		switch (v->type) {
		case VALUE_NULL:
			enc_int(e, WIRE_NULL);
			msgpack_pack_nil(&e->pk);
			break;
		case VALUE_STRING:
			enc_int(e, WIRE_STRING);
			enc_str(e, v->u.s, false);
			break;
		case VALUE_INT:
			enc_int(e, WIRE_INT);
			enc_int(e, v->u.i);
			break;
		case VALUE_LONG:
			enc_int(e, WIRE_LONG);
			enc_int(e, v->u.i);
			break;
		case VALUE_BOOL:
			enc_int(e, WIRE_BOOL);
			enc_bool(e, v->u.b);
			break;
		case VALUE_DOUBLE:
			enc_int(e, WIRE_DOUBLE);
			msgpack_pack_double(&e->pk, v->u.d);
			break;
		case VALUE_DATETIME:
			enc_int(e, WIRE_DATETIME);
			enc_int(e, v->u.i);
			break;
		case VALUE_DURATION:
			enc_int(e, WIRE_DURATION);
			enc_int(e, v->u.i);
			break;
		default:
			enc_fail(e, LZ_EINVAL);
			break;
		}
	}
}

static void enc_desc(struct enc *e, const struct entity_desc *d)
{
	enc_array(e, DESC_LEN);
	enc_enum(e, d->kind, ENTITY_QUEUE, ENTITY_SUBSCRIPTION);
	enc_int(e, d->lock_duration_ms);
	enc_int(e, d->max_size_mb);
	enc_bool(e, d->requires_duplicate_detection);
	enc_bool(e, d->requires_session);
	enc_int(e, d->default_ttl_ms);
	enc_bool(e, d->dead_lettering_on_expiration);
	enc_bool(e, d->dead_lettering_on_filter_exceptions);
	enc_int(e, d->dup_window_ms);
	enc_int(e, d->max_delivery_count);
	enc_bool(e, d->enable_batched_operations);
	enc_bool(e, d->is_anonymous_accessible);
	enc_bool(e, d->support_ordering);
	enc_bool(e, d->filtering_before_publishing);
	enc_enum(e, d->status, STATUS_ACTIVE, STATUS_RECEIVE_DISABLED);
	enc_int(e, d->auto_delete_on_idle_ms);
	enc_bool(e, d->enable_partitioning);
	enc_bool(e, d->enable_subscription_partitioning);
	enc_bool(e, d->enable_express);
	enc_int(e, d->max_message_size_kb);
	enc_str(e, d->forward_to, true);
	enc_str(e, d->forward_dlq_to, true);
	enc_str(e, d->user_metadata, true);
}

static void enc_corr(struct enc *e, const struct correlation_filter *c)
{
	enc_array(e, CORR_LEN);
	enc_str(e, c->correlation_id, true);
	enc_str(e, c->message_id, true);
	enc_str(e, c->to, true);
	enc_str(e, c->reply_to, true);
	enc_str(e, c->label, true);
	enc_str(e, c->session_id, true);
	enc_str(e, c->reply_to_session_id, true);
	enc_str(e, c->content_type, true);
	enc_props(e, &c->properties);
}

static void enc_rule(struct enc *e, const struct rule_desc *r)
{
	enc_array(e, RULE_LEN);
	enc_str(e, r->name, false);
	enc_enum(e, r->filter_type, FILTER_TRUE, FILTER_CORRELATION);
	enc_str(e, r->sql_expression, true);
	enc_int(e, r->sql_compat_level);
	enc_props(e, &r->sql_params);
	enc_corr(e, &r->corr);
	enc_enum(e, r->action_type, ACTION_EMPTY, ACTION_SQL);
	enc_str(e, r->action_sql, true);
	enc_int(e, r->action_compat_level);
	enc_props(e, &r->action_params);
	enc_int(e, r->created_at);
}

static void enc_msg(struct enc *e, const struct journal_msg *m)
{
	const struct msg_props *p = &m->props;

	enc_array(e, MSG_LEN);
	enc_array(e, MSGPROPS_LEN);
	enc_str(e, p->message_id, true);
	enc_str(e, p->correlation_id, true);
	enc_str(e, p->session_id, true);
	enc_str(e, p->reply_to, true);
	enc_str(e, p->reply_to_session_id, true);
	enc_str(e, p->to, true);
	enc_str(e, p->label, true);
	enc_str(e, p->content_type, true);
	enc_str(e, p->partition_key, true);
	enc_str(e, p->via_partition_key, true);
	enc_bool(e, p->has_ttl);
	enc_int(e, p->ttl_ms);
	enc_int(e, p->scheduled_enqueue_ms);
	enc_bool(e, p->force_persistence);
	enc_props(e, &m->user);
	if (m->body_len > MAX_BODY)
		enc_fail(e, LZ_ETOOBIG);
	if (!m->body && m->body_len)
		enc_fail(e, LZ_EINVAL);
	/* After a failure the body is not even looked at: its length may be bogus. */
	if (e->err == LZ_OK)
		msgpack_pack_bin_with_body(&e->pk, m->body, m->body_len);
}

/* A list header for `n` elements at `items`, or a failure that leaves the list unwritten: a
 * count over the cap or without an array is not looked at further. */
static bool enc_list(struct enc *e, const void *items, size_t n)
{
	if (n > MAX_ITEMS)
		enc_fail(e, LZ_ETOOBIG);
	if (!items && n)
		enc_fail(e, LZ_EINVAL);
	if (e->err != LZ_OK)
		return false;
	enc_array(e, n);
	return true;
}

static void enc_counters(struct enc *e, const struct journal_counter *c, size_t n)
{
	if (!enc_list(e, c, n))
		return;
	for (size_t i = 0; i < n; i++) {
		enc_array(e, COUNTER_LEN);
		enc_str(e, c[i].path, false);
		enc_uint(e, c[i].seq);
	}
}

static void enc_place(struct enc *e, const struct journal_place *p)
{
	enc_array(e, PLACE_LEN);
	enc_str(e, p->path, false);
	enc_enum(e, p->where, JWHERE_MAIN, JWHERE_SCHEDULED);
	enc_uint(e, p->seq);
	enc_uint(e, p->enqueued_seq);
	enc_int(e, p->enqueued_ms);
	enc_int(e, p->ttl_ms);
	enc_int(e, p->expires_ms);
	enc_int(e, p->scheduled_ms);
	enc_uint(e, p->delivery_count);
	enc_str(e, p->dl_reason, true);
	enc_str(e, p->dl_description, true);
	enc_str(e, p->dl_source, true);
}

static void enc_places(struct enc *e, const struct journal_place *p, size_t n)
{
	if (!enc_list(e, p, n))
		return;
	for (size_t i = 0; i < n; i++)
		enc_place(e, &p[i]);
}

static void enc_rules(struct enc *e, const struct rule_desc *r, size_t n)
{
	if (!enc_list(e, r, n))
		return;
	for (size_t i = 0; i < n; i++)
		enc_rule(e, &r[i]);
}

static void enc_dups(struct enc *e, const struct journal_dup *d, size_t n)
{
	if (!enc_list(e, d, n))
		return;
	for (size_t i = 0; i < n; i++) {
		enc_array(e, DUP_LEN);
		enc_str(e, d[i].id, false);
		enc_int(e, d[i].ts_ms);
	}
}

/* The record array's header and version. */
static void enc_record(struct enc *e, size_t n)
{
	enc_array(e, n);
	enc_uint(e, JOURNAL_FORMAT_VERSION);
}

lz_err journal_encode(const struct jrec *r, struct strbuf *out)
{
	struct enc e = { .out = out, .err = LZ_OK };

	strbuf_reset(out);
	msgpack_packer_init(&e.pk, &e, enc_write);
	switch (r->type) {
	case JREC_ENTITY_PUT: {
		const struct jrec_entity_put *p = &r->u.entity_put;

		enc_record(&e, 6);
		enc_str(&e, p->path, false);
		enc_desc(&e, &p->desc);
		enc_bool(&e, p->is_update);
		enc_int(&e, p->created_at);
		if (p->has_rule)
			enc_rule(&e, &p->rule);
		else
			msgpack_pack_nil(&e.pk);
		break;
	}
	case JREC_ENTITY_DELETE:
	case JREC_ENTITY_TOUCH:
		enc_record(&e, 2);
		enc_str(&e, r->u.path.path, false);
		break;
	case JREC_RULE_PUT:
		enc_record(&e, 4);
		enc_str(&e, r->u.rule_put.sub_path, false);
		enc_rule(&e, &r->u.rule_put.rule);
		enc_bool(&e, r->u.rule_put.is_update);
		break;
	case JREC_RULE_DELETE:
		enc_record(&e, 3);
		enc_str(&e, r->u.rule_delete.sub_path, false);
		enc_str(&e, r->u.rule_delete.name, false);
		break;
	case JREC_MSG_ENQUEUE: {
		const struct jrec_enqueue *q = &r->u.enqueue;

		enc_record(&e, 5);
		enc_str(&e, q->target, false);
		enc_msg(&e, &q->msg);
		enc_counters(&e, q->counters, q->ncounters);
		enc_places(&e, q->places, q->nplaces);
		break;
	}
	case JREC_MSG_DELIVER:
	case JREC_MSG_DEFER:
	case JREC_MSG_REMOVE: {
		const struct jrec_msg_ref *m = &r->u.msg_ref;
		bool remove = r->type == JREC_MSG_REMOVE;

		enc_record(&e, remove ? 5 : 4);
		enc_str(&e, m->path, false);
		enc_enum(&e, m->where, JWHERE_MAIN, JWHERE_SCHEDULED);
		enc_uint(&e, m->seq);
		if (remove)
			enc_enum(&e, m->reason, JREMOVE_COMPLETE, JREMOVE_CANCEL);
		break;
	}
	case JREC_MSG_MOVE: {
		const struct jrec_move *m = &r->u.move;

		enc_record(&e, 6);
		enc_str(&e, m->path, false);
		enc_enum(&e, m->where, JWHERE_MAIN, JWHERE_SCHEDULED);
		enc_uint(&e, m->seq);
		enc_counters(&e, m->counters, m->ncounters);
		enc_places(&e, m->places, m->nplaces);
		break;
	}
	case JREC_LOAD_ENTITY: {
		const struct jrec_load_entity *l = &r->u.load_entity;

		enc_record(&e, 9);
		enc_str(&e, l->path, false);
		enc_desc(&e, &l->desc);
		enc_int(&e, l->created_at);
		enc_int(&e, l->updated_at);
		enc_int(&e, l->accessed_at);
		enc_uint(&e, l->last_seq);
		enc_rules(&e, l->rules, l->nrules);
		enc_dups(&e, l->dups, l->ndups);
		break;
	}
	case JREC_LOAD_MESSAGE:
		enc_record(&e, 4);
		enc_place(&e, &r->u.load_message.place);
		enc_bool(&e, r->u.load_message.deferred);
		enc_msg(&e, &r->u.load_message.msg);
		break;
	default:
		e.err = LZ_EINVAL;
		break;
	}
	/* Never leave half a record behind for a caller that ignores the error. */
	if (e.err != LZ_OK)
		strbuf_reset(out);
	return e.err;
}

/* ------------------------------------------------------------------------------------------ */
/* Raw pre-scan                                                                               */
/* ------------------------------------------------------------------------------------------ */

/* Big-endian unsigned of `width` bytes (1, 2 or 4) at `p`. */
static uint32_t be_read(const uint8_t *p, size_t width)
{
	uint32_t v = 0;

	for (size_t i = 0; i < width; i++)
		v = v << 8 | p[i];
	return v;
}

/*
 * Checks the raw payload before msgpack-c sees it (see "Decoding never trusts the input" above):
 * exactly one object, only nil/bool/int/float/str/bin/array, nesting ≤ MAX_DEPTH, and every
 * length and element count within the bytes left. Writes the failure to `why` (LZ_EPARSE).
 */
static lz_err payload_scan(const uint8_t *p, size_t len, char *why, size_t why_cap)
{
	size_t pending[MAX_DEPTH + 1]; /* elements still to read at each open level; [0]: root */
	size_t depth = 0;
	size_t off = 0;

	pending[0] = 1;
	for (;;) {
		size_t at = off;
		size_t skip = 0;  /* payload bytes after the header */
		size_t width = 0; /* bytes of the big-endian length or count after the type byte */
		bool array = false;
		uint8_t b;

		while (depth > 0 && pending[depth] == 0)
			depth--;
		if (pending[depth] == 0)
			break;
		pending[depth]--;
		if (off == len) {
			snprintf(why, why_cap, "truncated at byte %zu", off);
			return LZ_EPARSE;
		}
		b = p[off++];
		if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
			/* fixint, nil, bool: the byte is the whole object */
		} else if (b >= 0x90 && b <= 0x9f) {
			array = true;
			skip = b & 0x0f;
		} else if (b >= 0xa0 && b <= 0xbf) {
			skip = b & 0x1f;
		} else if (b == 0xc4 || b == 0xd9) {
			width = 1; /* bin8, str8 */
		} else if (b == 0xc5 || b == 0xda || b == 0xdc) {
			width = 2; /* bin16, str16, array16 */
			array = b == 0xdc;
		} else if (b == 0xc6 || b == 0xdb || b == 0xdd) {
			width = 4; /* bin32, str32, array32 */
			array = b == 0xdd;
		} else if (b == 0xcc || b == 0xd0) {
			skip = 1; /* uint8, int8 */
		} else if (b == 0xcd || b == 0xd1) {
			skip = 2; /* uint16, int16 */
		} else if (b == 0xca || b == 0xce || b == 0xd2) {
			skip = 4; /* float32, uint32, int32 */
		} else if (b == 0xcb || b == 0xcf || b == 0xd3) {
			skip = 8; /* float64, uint64, int64 */
		} else {
			snprintf(why, why_cap, "byte 0x%02x at offset %zu: %s", b, at,
				 b == 0xc1 ? "not msgpack"
					   : "map or ext, which the format never uses");
			return LZ_EPARSE;
		}
		if (width) {
			if (width > len - off) {
				snprintf(why, why_cap, "truncated at byte %zu", len);
				return LZ_EPARSE;
			}
			skip = be_read(p + off, width);
			off += width;
		}
		if (skip > len - off) {
			snprintf(why, why_cap, "%s at offset %zu needs %zu more bytes, %zu left",
				 array ? "array" : "object", at, skip, len - off);
			return LZ_EPARSE;
		}
		if (!array) {
			off += skip;
			continue;
		}
		if (depth == MAX_DEPTH) {
			snprintf(why, why_cap, "array at offset %zu nests deeper than %u", at,
				 MAX_DEPTH);
			return LZ_EPARSE;
		}
		pending[++depth] = skip; /* each element takes at least one byte: checked above */
	}
	if (off != len) {
		snprintf(why, why_cap, "%zu trailing bytes at offset %zu", len - off, off);
		return LZ_EPARSE;
	}
	return LZ_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Decoding                                                                                   */
/* ------------------------------------------------------------------------------------------ */

/* The walk's state. The first failure sticks in `err` (and its message in `detail`) and turns
 * every later getter into a no-op returning a zero value, like the encoder's sticky error. `path`
 * names the object being read: "msg_enqueue.places[2]". */
struct dec {
	lz_err err;
	char *detail;
	size_t detail_cap;
	char path[128];
	size_t path_len;
};

static void dec_fail(struct dec *d, lz_err err, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void dec_fail(struct dec *d, lz_err err, const char *field, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (d->err != LZ_OK)
		return;
	d->err = err;
	if (!d->detail || d->detail_cap == 0)
		return;
	n = snprintf(d->detail, d->detail_cap, "%s%s%s: ", d->path, field ? "." : "",
		     field ? field : "");
	if (n < 0 || (size_t)n >= d->detail_cap)
		return;
	va_start(ap, fmt);
	vsnprintf(d->detail + n, d->detail_cap - (size_t)n, fmt, ap);
	va_end(ap);
}

/* Appends n bytes of `s` to the path, cut short at the buffer's end. */
static void dec_append(struct dec *d, const char *s, size_t n)
{
	size_t room = sizeof d->path - 1 - d->path_len;

	if (n > room)
		n = room;
	memcpy(d->path + d->path_len, s, n);
	d->path_len += n;
	d->path[d->path_len] = '\0';
}

/* Appends ".field" (or "[index]" with a NULL field) to the path; returns what dec_pop restores.
 * A path too long for the buffer is cut short: it only names things in messages. This runs for
 * every element of every record decoded, so it formats by hand rather than with snprintf. */
static size_t dec_push(struct dec *d, const char *field, size_t index)
{
	size_t saved = d->path_len;

	if (field) {
		dec_append(d, ".", 1);
		dec_append(d, field, strlen(field));
	} else {
		char buf[24];
		size_t k = sizeof buf;

		buf[--k] = ']';
		do {
			buf[--k] = (char)('0' + index % 10);
			index /= 10;
		} while (index != 0);
		buf[--k] = '[';
		dec_append(d, buf + k, sizeof buf - k);
	}
	return saved;
}

static void dec_pop(struct dec *d, size_t saved)
{
	d->path_len = saved;
	d->path[saved] = '\0';
}

/* As dec_push for a named `field`; NULL stays at the object at the path itself (a list item). */
static size_t dec_enter(struct dec *d, const char *field)
{
	return field ? dec_push(d, field, 0) : d->path_len;
}

static const char *mp_type_name(msgpack_object_type t)
{
	switch (t) {
	case MSGPACK_OBJECT_NIL:
		return "nil";
	case MSGPACK_OBJECT_BOOLEAN:
		return "bool";
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return "int";
	case MSGPACK_OBJECT_FLOAT32:
		return "float32";
	case MSGPACK_OBJECT_FLOAT64:
		return "float64";
	case MSGPACK_OBJECT_STR:
		return "str";
	case MSGPACK_OBJECT_ARRAY:
		return "array";
	case MSGPACK_OBJECT_BIN:
		return "bin";
	default:
		return "other";
	}
}

/* An int within lo..hi. */
static int64_t dec_int(struct dec *d, const msgpack_object *o, const char *field, int64_t lo,
		       int64_t hi)
{
	int64_t v;

	if (d->err != LZ_OK)
		return 0;
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
		if (o->via.u64 > (uint64_t)INT64_MAX) {
			dec_fail(d, LZ_EPARSE, field,
				 "%" PRIu64 " out of range %" PRId64 "..%" PRId64, o->via.u64, lo,
				 hi);
			return 0;
		}
		v = (int64_t)o->via.u64;
	} else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
		v = o->via.i64;
	} else {
		dec_fail(d, LZ_EPARSE, field, "expected int, got %s", mp_type_name(o->type));
		return 0;
	}
	if (v < lo || v > hi) {
		dec_fail(d, LZ_EPARSE, field, "%" PRId64 " out of range %" PRId64 "..%" PRId64, v,
			 lo, hi);
		return 0;
	}
	return v;
}

static uint64_t dec_uint(struct dec *d, const msgpack_object *o, const char *field, uint64_t hi)
{
	if (d->err != LZ_OK)
		return 0;
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
		dec_fail(d, LZ_EPARSE, field, "expected uint, got %s",
			 o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? "negative int"
								     : mp_type_name(o->type));
		return 0;
	}
	if (o->via.u64 > hi) {
		dec_fail(d, LZ_EPARSE, field, "%" PRIu64 " out of range 0..%" PRIu64, o->via.u64,
			 hi);
		return 0;
	}
	return o->via.u64;
}

static bool dec_bool(struct dec *d, const msgpack_object *o, const char *field)
{
	if (d->err != LZ_OK)
		return false;
	if (o->type != MSGPACK_OBJECT_BOOLEAN) {
		dec_fail(d, LZ_EPARSE, field, "expected bool, got %s", mp_type_name(o->type));
		return false;
	}
	return o->via.boolean;
}

/* A heap copy of a str (NULL for nil when `nullable`). The caller stores it in the output at
 * once, so journal_rec_release frees it whatever happens next. */
static char *dec_str(struct dec *d, const msgpack_object *o, const char *field, bool nullable)
{
	char *s;

	if (d->err != LZ_OK)
		return NULL;
	if (o->type == MSGPACK_OBJECT_NIL && nullable)
		return NULL;
	if (o->type != MSGPACK_OBJECT_STR) {
		dec_fail(d, LZ_EPARSE, field, "expected str%s, got %s", nullable ? " or nil" : "",
			 mp_type_name(o->type));
		return NULL;
	}
	if (o->via.str.size > MAX_STR) {
		dec_fail(d, LZ_EPARSE, field, "string of %" PRIu32 " bytes exceeds %u",
			 o->via.str.size, MAX_STR);
		return NULL;
	}
	/* msgpack-c leaves ptr NULL for an empty str: neither memchr nor memcpy may see it. */
	if (o->via.str.size && memchr(o->via.str.ptr, '\0', o->via.str.size)) {
		dec_fail(d, LZ_EPARSE, field, "string contains a NUL byte");
		return NULL;
	}
	s = malloc((size_t)o->via.str.size + 1);
	if (!s) {
		dec_fail(d, LZ_ENOMEM, field, "out of memory");
		return NULL;
	}
	if (o->via.str.size)
		memcpy(s, o->via.str.ptr, o->via.str.size);
	s[o->via.str.size] = '\0';
	return s;
}

/* The elements of an array of exactly `n` elements (`field` NULL: the object at the path itself),
 * or NULL after a failure. */
static const msgpack_object *dec_tuple(struct dec *d, const msgpack_object *o, const char *field,
				       size_t n)
{
	if (d->err != LZ_OK)
		return NULL;
	if (o->type != MSGPACK_OBJECT_ARRAY) {
		dec_fail(d, LZ_EPARSE, field, "expected array, got %s", mp_type_name(o->type));
		return NULL;
	}
	if (o->via.array.size != n) {
		dec_fail(d, LZ_EPARSE, field, "expected %zu elements, got %" PRIu32, n,
			 o->via.array.size);
		return NULL;
	}
	return o->via.array.ptr;
}

/* The elements of an array of at most `max` elements, their count in *n; NULL after a failure
 * or for an empty array. */
static const msgpack_object *dec_list(struct dec *d, const msgpack_object *o, const char *field,
				      size_t max, size_t *n)
{
	*n = 0;
	if (d->err != LZ_OK)
		return NULL;
	if (o->type != MSGPACK_OBJECT_ARRAY) {
		dec_fail(d, LZ_EPARSE, field, "expected array, got %s", mp_type_name(o->type));
		return NULL;
	}
	if (o->via.array.size > max) {
		dec_fail(d, LZ_EPARSE, field, "%" PRIu32 " elements exceed %zu", o->via.array.size,
			 max);
		return NULL;
	}
	*n = o->via.array.size;
	return o->via.array.ptr;
}

/* An array of `n` zeroed elements of `size` bytes, NULL for n = 0 or after a failure. */
static void *dec_calloc(struct dec *d, const char *field, size_t n, size_t size)
{
	void *p;

	if (d->err != LZ_OK || n == 0)
		return NULL;
	p = calloc(n, size);
	if (!p)
		dec_fail(d, LZ_ENOMEM, field, "out of memory");
	return p;
}

/* One [name, type, value] entry appended to `l`. */
static void dec_prop(struct dec *d, const msgpack_object *o, struct proplist *l)
{
	const msgpack_object *f = dec_tuple(d, o, NULL, PROP_LEN);
	struct value v = { .type = VALUE_NULL };
	char *name;
	size_t before = l->n;
	lz_err err;

	if (!f)
		return;
	name = dec_str(d, &f[0], "name", false);
	switch (dec_int(d, &f[1], "type", WIRE_NULL, WIRE_DURATION)) {
	case WIRE_NULL:
		if (f[2].type != MSGPACK_OBJECT_NIL)
			dec_fail(d, LZ_EPARSE, "value", "expected nil, got %s",
				 mp_type_name(f[2].type));
		break;
	case WIRE_STRING:
		v.type = VALUE_STRING;
		v.u.s = dec_str(d, &f[2], "value", false);
		break;
	case WIRE_INT:
		v.type = VALUE_INT;
		v.u.i = dec_int(d, &f[2], "value", INT64_MIN, INT64_MAX);
		break;
	case WIRE_LONG:
		v.type = VALUE_LONG;
		v.u.i = dec_int(d, &f[2], "value", INT64_MIN, INT64_MAX);
		break;
	case WIRE_BOOL:
		v.type = VALUE_BOOL;
		v.u.b = dec_bool(d, &f[2], "value");
		break;
	case WIRE_DOUBLE:
		v.type = VALUE_DOUBLE;
		if (f[2].type == MSGPACK_OBJECT_FLOAT64)
			v.u.d = f[2].via.f64;
		else
			dec_fail(d, LZ_EPARSE, "value", "expected float64, got %s",
				 mp_type_name(f[2].type));
		break;
	case WIRE_DATETIME:
		v.type = VALUE_DATETIME;
		v.u.i = dec_int(d, &f[2], "value", INT64_MIN, INT64_MAX);
		break;
	case WIRE_DURATION:
		v.type = VALUE_DURATION;
		v.u.i = dec_int(d, &f[2], "value", INT64_MIN, INT64_MAX);
		break;
	}
	if (d->err != LZ_OK)
		goto out_release;
	err = proplist_set(l, name, &v);
	if (err != LZ_OK)
		dec_fail(d, err, NULL, "out of memory");
	else if (l->n == before)
		dec_fail(d, LZ_EPARSE, "name", "duplicate property \"%s\"", name);
out_release:
	value_release(&v);
	free(name);
}

static void dec_props(struct dec *d, const msgpack_object *o, const char *field,
		      struct proplist *l)
{
	size_t n;
	const msgpack_object *items = dec_list(d, o, field, MAX_PROPS, &n);
	size_t saved = dec_push(d, field, 0);

	for (size_t i = 0; i < n && d->err == LZ_OK; i++) {
		size_t item = dec_push(d, NULL, i);

		dec_prop(d, &items[i], l);
		dec_pop(d, item);
	}
	dec_pop(d, saved);
}

static void dec_desc(struct dec *d, const msgpack_object *o, const char *field,
		     struct entity_desc *out)
{
	const msgpack_object *f = dec_tuple(d, o, field, DESC_LEN);
	size_t saved;

	if (!f)
		return;
	saved = dec_push(d, field, 0);
	out->kind = (enum entity_kind)dec_int(d, &f[0], "kind", ENTITY_QUEUE, ENTITY_SUBSCRIPTION);
	out->lock_duration_ms = dec_int(d, &f[1], "lock_duration_ms", INT64_MIN, INT64_MAX);
	out->max_size_mb = dec_int(d, &f[2], "max_size_mb", INT64_MIN, INT64_MAX);
	out->requires_duplicate_detection = dec_bool(d, &f[3], "requires_duplicate_detection");
	out->requires_session = dec_bool(d, &f[4], "requires_session");
	out->default_ttl_ms = dec_int(d, &f[5], "default_ttl_ms", INT64_MIN, INT64_MAX);
	out->dead_lettering_on_expiration = dec_bool(d, &f[6], "dead_lettering_on_expiration");
	out->dead_lettering_on_filter_exceptions =
		dec_bool(d, &f[7], "dead_lettering_on_filter_exceptions");
	out->dup_window_ms = dec_int(d, &f[8], "dup_window_ms", INT64_MIN, INT64_MAX);
	out->max_delivery_count =
		(int32_t)dec_int(d, &f[9], "max_delivery_count", INT32_MIN, INT32_MAX);
	out->enable_batched_operations = dec_bool(d, &f[10], "enable_batched_operations");
	out->is_anonymous_accessible = dec_bool(d, &f[11], "is_anonymous_accessible");
	out->support_ordering = dec_bool(d, &f[12], "support_ordering");
	out->filtering_before_publishing = dec_bool(d, &f[13], "filtering_before_publishing");
	out->status = (enum entity_status)dec_int(d, &f[14], "status", STATUS_ACTIVE,
						  STATUS_RECEIVE_DISABLED);
	out->auto_delete_on_idle_ms =
		dec_int(d, &f[15], "auto_delete_on_idle_ms", INT64_MIN, INT64_MAX);
	out->enable_partitioning = dec_bool(d, &f[16], "enable_partitioning");
	out->enable_subscription_partitioning =
		dec_bool(d, &f[17], "enable_subscription_partitioning");
	out->enable_express = dec_bool(d, &f[18], "enable_express");
	out->max_message_size_kb = dec_int(d, &f[19], "max_message_size_kb", INT64_MIN, INT64_MAX);
	out->forward_to = dec_str(d, &f[20], "forward_to", true);
	out->forward_dlq_to = dec_str(d, &f[21], "forward_dlq_to", true);
	out->user_metadata = dec_str(d, &f[22], "user_metadata", true);
	dec_pop(d, saved);
}

static void dec_corr(struct dec *d, const msgpack_object *o, const char *field,
		     struct correlation_filter *out)
{
	const msgpack_object *f = dec_tuple(d, o, field, CORR_LEN);
	size_t saved;

	if (!f)
		return;
	saved = dec_push(d, field, 0);
	out->correlation_id = dec_str(d, &f[0], "correlation_id", true);
	out->message_id = dec_str(d, &f[1], "message_id", true);
	out->to = dec_str(d, &f[2], "to", true);
	out->reply_to = dec_str(d, &f[3], "reply_to", true);
	out->label = dec_str(d, &f[4], "label", true);
	out->session_id = dec_str(d, &f[5], "session_id", true);
	out->reply_to_session_id = dec_str(d, &f[6], "reply_to_session_id", true);
	out->content_type = dec_str(d, &f[7], "content_type", true);
	dec_props(d, &f[8], "properties", &out->properties);
	dec_pop(d, saved);
}

static void dec_rule(struct dec *d, const msgpack_object *o, const char *field,
		     struct rule_desc *out)
{
	const msgpack_object *f = dec_tuple(d, o, field, RULE_LEN);
	size_t saved;

	if (!f)
		return;
	saved = dec_enter(d, field);
	out->name = dec_str(d, &f[0], "name", false);
	out->filter_type = (enum filter_type)dec_int(d, &f[1], "filter_type", FILTER_TRUE,
						     FILTER_CORRELATION);
	out->sql_expression = dec_str(d, &f[2], "sql_expression", true);
	out->sql_compat_level =
		(int32_t)dec_int(d, &f[3], "sql_compat_level", INT32_MIN, INT32_MAX);
	dec_props(d, &f[4], "sql_params", &out->sql_params);
	dec_corr(d, &f[5], "corr", &out->corr);
	out->action_type =
		(enum action_type)dec_int(d, &f[6], "action_type", ACTION_EMPTY, ACTION_SQL);
	out->action_sql = dec_str(d, &f[7], "action_sql", true);
	out->action_compat_level =
		(int32_t)dec_int(d, &f[8], "action_compat_level", INT32_MIN, INT32_MAX);
	dec_props(d, &f[9], "action_params", &out->action_params);
	out->created_at = dec_int(d, &f[10], "created_at", INT64_MIN, INT64_MAX);
	dec_pop(d, saved);
}

static void dec_rule_item(struct dec *d, const msgpack_object *o, void *out)
{
	dec_rule(d, o, NULL, (struct rule_desc *)out);
}

static void dec_msg_props(struct dec *d, const msgpack_object *o, const char *field,
			  struct msg_props *out)
{
	const msgpack_object *f = dec_tuple(d, o, field, MSGPROPS_LEN);
	size_t saved;

	if (!f)
		return;
	saved = dec_push(d, field, 0);
	out->message_id = dec_str(d, &f[0], "message_id", true);
	out->correlation_id = dec_str(d, &f[1], "correlation_id", true);
	out->session_id = dec_str(d, &f[2], "session_id", true);
	out->reply_to = dec_str(d, &f[3], "reply_to", true);
	out->reply_to_session_id = dec_str(d, &f[4], "reply_to_session_id", true);
	out->to = dec_str(d, &f[5], "to", true);
	out->label = dec_str(d, &f[6], "label", true);
	out->content_type = dec_str(d, &f[7], "content_type", true);
	out->partition_key = dec_str(d, &f[8], "partition_key", true);
	out->via_partition_key = dec_str(d, &f[9], "via_partition_key", true);
	out->has_ttl = dec_bool(d, &f[10], "has_ttl");
	out->ttl_ms = dec_int(d, &f[11], "ttl_ms", INT64_MIN, INT64_MAX);
	out->scheduled_enqueue_ms =
		dec_int(d, &f[12], "scheduled_enqueue_ms", INT64_MIN, INT64_MAX);
	out->force_persistence = dec_bool(d, &f[13], "force_persistence");
	dec_pop(d, saved);
}

static void dec_body(struct dec *d, const msgpack_object *o, const char *field,
		     struct journal_msg *out)
{
	if (d->err != LZ_OK)
		return;
	if (o->type != MSGPACK_OBJECT_BIN) {
		dec_fail(d, LZ_EPARSE, field, "expected bin, got %s", mp_type_name(o->type));
		return;
	}
	if (o->via.bin.size > MAX_BODY) {
		dec_fail(d, LZ_EPARSE, field, "%" PRIu32 " bytes exceed %u", o->via.bin.size,
			 MAX_BODY);
		return;
	}
	if (o->via.bin.size == 0)
		return;
	out->body = malloc(o->via.bin.size);
	if (!out->body) {
		dec_fail(d, LZ_ENOMEM, field, "out of memory");
		return;
	}
	memcpy(out->body, o->via.bin.ptr, o->via.bin.size);
	out->body_len = o->via.bin.size;
}

static void dec_msg(struct dec *d, const msgpack_object *o, const char *field,
		    struct journal_msg *out)
{
	const msgpack_object *f = dec_tuple(d, o, field, MSG_LEN);
	size_t saved;

	if (!f)
		return;
	saved = dec_push(d, field, 0);
	dec_msg_props(d, &f[0], "props", &out->props);
	dec_props(d, &f[1], "user", &out->user);
	dec_body(d, &f[2], "body", out);
	dec_pop(d, saved);
}

/* Decodes a list `field` of at most MAX_ITEMS elements of `elem` bytes each, every element by
 * `item`; *nout is its length (0 when it failed). The caller owns the returned array. */
static void *dec_array(struct dec *d, const msgpack_object *o, const char *field, size_t elem, size_t *nout,
		       void (*item)(struct dec *d, const msgpack_object *o, void *out))
{
	size_t n;
	const msgpack_object *items = dec_list(d, o, field, MAX_ITEMS, &n);
	size_t saved = dec_push(d, field, 0);
	char *out = dec_calloc(d, field, n, elem);

	*nout = out != NULL ? n : 0;
	for (size_t i = 0; i < *nout; i++) {
		size_t at = dec_push(d, NULL, i);

		item(d, &items[i], out + i * elem);
		dec_pop(d, at);
	}
	dec_pop(d, saved);
	return out;
}

static void dec_counter_item(struct dec *d, const msgpack_object *o, void *out)
{
	struct journal_counter *c = out;
	const msgpack_object *f = dec_tuple(d, o, NULL, COUNTER_LEN);

	if (f) {
		c->path = dec_str(d, &f[0], "path", false);
		c->seq = dec_uint(d, &f[1], "seq", UINT64_MAX);
	}
}

static void dec_dup_item(struct dec *d, const msgpack_object *o, void *out)
{
	struct journal_dup *dup = out;
	const msgpack_object *f = dec_tuple(d, o, NULL, DUP_LEN);

	if (f) {
		dup->id = dec_str(d, &f[0], "id", false);
		dup->ts_ms = dec_int(d, &f[1], "ts_ms", INT64_MIN, INT64_MAX);
	}
}


static void dec_place(struct dec *d, const msgpack_object *o, const char *field,
		      struct journal_place *out)
{
	const msgpack_object *f = dec_tuple(d, o, field, PLACE_LEN);
	size_t saved;

	if (!f)
		return;
	saved = dec_enter(d, field);
	out->path = dec_str(d, &f[0], "path", false);
	out->where =
		(enum journal_where)dec_int(d, &f[1], "where", JWHERE_MAIN, JWHERE_SCHEDULED);
	out->seq = dec_uint(d, &f[2], "seq", UINT64_MAX);
	out->enqueued_seq = dec_uint(d, &f[3], "enqueued_seq", UINT64_MAX);
	out->enqueued_ms = dec_int(d, &f[4], "enqueued_ms", INT64_MIN, INT64_MAX);
	out->ttl_ms = dec_int(d, &f[5], "ttl_ms", INT64_MIN, INT64_MAX);
	out->expires_ms = dec_int(d, &f[6], "expires_ms", INT64_MIN, INT64_MAX);
	out->scheduled_ms = dec_int(d, &f[7], "scheduled_ms", INT64_MIN, INT64_MAX);
	out->delivery_count = (uint32_t)dec_uint(d, &f[8], "delivery_count", UINT32_MAX);
	out->dl_reason = dec_str(d, &f[9], "dl_reason", true);
	out->dl_description = dec_str(d, &f[10], "dl_description", true);
	out->dl_source = dec_str(d, &f[11], "dl_source", true);
	dec_pop(d, saved);
}

static void dec_place_item(struct dec *d, const msgpack_object *o, void *out)
{
	dec_place(d, o, NULL, (struct journal_place *)out);
}




/* The record array's elements after checking the version, then the length `n` that this
 * version gives the record type. */
static const msgpack_object *dec_record(struct dec *d, const msgpack_object *o, size_t n)
{
	uint64_t version;

	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size == 0) {
		dec_fail(d, LZ_EPARSE, NULL, "expected an array starting with the format version");
		return NULL;
	}
	version = dec_uint(d, &o->via.array.ptr[0], "version", UINT64_MAX);
	if (d->err == LZ_OK && version != JOURNAL_FORMAT_VERSION)
		dec_fail(d, LZ_EPARSE, "version",
			 "%" PRIu64 " is unsupported (this build reads %d)", version,
			 JOURNAL_FORMAT_VERSION);
	return dec_tuple(d, o, NULL, n);
}

/* Walks the record array `o` of `type` into `out`. */
static void dec_payload(struct dec *d, enum journal_type type, const msgpack_object *o,
			struct jrec *out)
{
	const msgpack_object *f;

	switch (type) {
	case JREC_ENTITY_PUT: {
		struct jrec_entity_put *p = &out->u.entity_put;

		f = dec_record(d, o, 6);
		if (!f)
			return;
		p->path = dec_str(d, &f[1], "path", false);
		dec_desc(d, &f[2], "desc", &p->desc);
		p->is_update = dec_bool(d, &f[3], "is_update");
		p->created_at = dec_int(d, &f[4], "created_at", INT64_MIN, INT64_MAX);
		p->has_rule = f[5].type != MSGPACK_OBJECT_NIL;
		if (p->has_rule)
			dec_rule(d, &f[5], "rule", &p->rule);
		break;
	}
	case JREC_ENTITY_DELETE:
	case JREC_ENTITY_TOUCH:
		f = dec_record(d, o, 2);
		if (f)
			out->u.path.path = dec_str(d, &f[1], "path", false);
		break;
	case JREC_RULE_PUT:
		f = dec_record(d, o, 4);
		if (!f)
			return;
		out->u.rule_put.sub_path = dec_str(d, &f[1], "sub_path", false);
		dec_rule(d, &f[2], "rule", &out->u.rule_put.rule);
		out->u.rule_put.is_update = dec_bool(d, &f[3], "is_update");
		break;
	case JREC_RULE_DELETE:
		f = dec_record(d, o, 3);
		if (!f)
			return;
		out->u.rule_delete.sub_path = dec_str(d, &f[1], "sub_path", false);
		out->u.rule_delete.name = dec_str(d, &f[2], "name", false);
		break;
	case JREC_MSG_ENQUEUE: {
		struct jrec_enqueue *q = &out->u.enqueue;

		f = dec_record(d, o, 5);
		if (!f)
			return;
		q->target = dec_str(d, &f[1], "target", false);
		dec_msg(d, &f[2], "msg", &q->msg);
		q->counters = dec_array(d, &f[3], "counters", sizeof(*q->counters), &q->ncounters, dec_counter_item);
		q->places = dec_array(d, &f[4], "places", sizeof(*q->places), &q->nplaces, dec_place_item);
		break;
	}
	case JREC_MSG_DELIVER:
	case JREC_MSG_DEFER:
	case JREC_MSG_REMOVE: {
		struct jrec_msg_ref *m = &out->u.msg_ref;
		bool remove = type == JREC_MSG_REMOVE;

		f = dec_record(d, o, remove ? 5 : 4);
		if (!f)
			return;
		m->path = dec_str(d, &f[1], "path", false);
		m->where = (enum journal_where)dec_int(d, &f[2], "where", JWHERE_MAIN,
							JWHERE_SCHEDULED);
		m->seq = dec_uint(d, &f[3], "seq", UINT64_MAX);
		if (remove)
			m->reason = (enum journal_remove_reason)dec_int(
				d, &f[4], "reason", JREMOVE_COMPLETE, JREMOVE_CANCEL);
		break;
	}
	case JREC_MSG_MOVE: {
		struct jrec_move *m = &out->u.move;

		f = dec_record(d, o, 6);
		if (!f)
			return;
		m->path = dec_str(d, &f[1], "path", false);
		m->where = (enum journal_where)dec_int(d, &f[2], "where", JWHERE_MAIN,
							JWHERE_SCHEDULED);
		m->seq = dec_uint(d, &f[3], "seq", UINT64_MAX);
		m->counters = dec_array(d, &f[4], "counters", sizeof(*m->counters), &m->ncounters, dec_counter_item);
		m->places = dec_array(d, &f[5], "places", sizeof(*m->places), &m->nplaces, dec_place_item);
		break;
	}
	case JREC_LOAD_ENTITY: {
		struct jrec_load_entity *l = &out->u.load_entity;

		f = dec_record(d, o, 9);
		if (!f)
			return;
		l->path = dec_str(d, &f[1], "path", false);
		dec_desc(d, &f[2], "desc", &l->desc);
		l->created_at = dec_int(d, &f[3], "created_at", INT64_MIN, INT64_MAX);
		l->updated_at = dec_int(d, &f[4], "updated_at", INT64_MIN, INT64_MAX);
		l->accessed_at = dec_int(d, &f[5], "accessed_at", INT64_MIN, INT64_MAX);
		l->last_seq = dec_uint(d, &f[6], "last_seq", UINT64_MAX);
		l->rules = dec_array(d, &f[7], "rules", sizeof(*l->rules), &l->nrules, dec_rule_item);
		l->dups = dec_array(d, &f[8], "dups", sizeof(*l->dups), &l->ndups, dec_dup_item);
		break;
	}
	case JREC_LOAD_MESSAGE:
		f = dec_record(d, o, 4);
		if (!f)
			return;
		dec_place(d, &f[1], "place", &out->u.load_message.place);
		out->u.load_message.deferred = dec_bool(d, &f[2], "deferred");
		dec_msg(d, &f[3], "msg", &out->u.load_message.msg);
		break;
	}
}

lz_err journal_decode(enum journal_type type, const uint8_t *payload, size_t len, struct jrec *out,
		      char *detail, size_t detail_cap)
{
	struct dec d = { .err = LZ_OK, .detail = detail, .detail_cap = detail_cap };
	const char *name = journal_type_name(type);
	char why[96];
	msgpack_unpacked root;
	msgpack_unpack_return ret;
	size_t off = 0;

	memset(out, 0, sizeof *out);
	out->type = type;
	if (detail && detail_cap)
		detail[0] = '\0';
	if (name[0] == '?') {
		if (detail && detail_cap)
			snprintf(detail, detail_cap, "unknown record type %d", (int)type);
		return LZ_EUNSUPPORTED;
	}
	/* The path starts with the type's name in lower case: "entity_put". */
	for (; name[d.path_len] && d.path_len < sizeof d.path - 1; d.path_len++)
		d.path[d.path_len] = (char)tolower((unsigned char)name[d.path_len]);
	d.path[d.path_len] = '\0';

	if (payload_scan(payload, len, why, sizeof why) != LZ_OK) {
		dec_fail(&d, LZ_EPARSE, NULL, "%s", why);
		return d.err;
	}
	msgpack_unpacked_init(&root);
	ret = msgpack_unpack_next(&root, (const char *)payload, len, &off);
	if (ret == MSGPACK_UNPACK_SUCCESS)
		dec_payload(&d, type, &root.data, out);
	else if (ret == MSGPACK_UNPACK_NOMEM_ERROR)
		dec_fail(&d, LZ_ENOMEM, NULL, "out of memory");
	else
		dec_fail(&d, LZ_EPARSE, NULL, "msgpack-c refused the payload (%d)", (int)ret);
	msgpack_unpacked_destroy(&root);
	return d.err;
}

static void journal_counters_free(struct journal_counter *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(c[i].path);
	free(c);
}

static void journal_place_release(struct journal_place *p)
{
	free(p->path);
	free(p->dl_reason);
	free(p->dl_description);
	free(p->dl_source);
}

static void journal_places_free(struct journal_place *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		journal_place_release(&p[i]);
	free(p);
}

static void journal_msg_release(struct journal_msg *m)
{
	msg_props_release(&m->props);
	proplist_release(&m->user);
	free(m->body);
}

static void journal_rules_free(struct rule_desc *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		rule_desc_release(&r[i]);
	free(r);
}

static void journal_dups_free(struct journal_dup *d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(d[i].id);
	free(d);
}

void journal_rec_release(struct jrec *r)
{
	if (!r)
		return;
	switch (r->type) {
	case JREC_ENTITY_PUT:
		free(r->u.entity_put.path);
		entity_desc_release(&r->u.entity_put.desc);
		rule_desc_release(&r->u.entity_put.rule);
		break;
	case JREC_ENTITY_DELETE:
	case JREC_ENTITY_TOUCH:
		free(r->u.path.path);
		break;
	case JREC_RULE_PUT:
		free(r->u.rule_put.sub_path);
		rule_desc_release(&r->u.rule_put.rule);
		break;
	case JREC_RULE_DELETE:
		free(r->u.rule_delete.sub_path);
		free(r->u.rule_delete.name);
		break;
	case JREC_MSG_ENQUEUE:
		free(r->u.enqueue.target);
		journal_msg_release(&r->u.enqueue.msg);
		journal_counters_free(r->u.enqueue.counters, r->u.enqueue.ncounters);
		journal_places_free(r->u.enqueue.places, r->u.enqueue.nplaces);
		break;
	case JREC_MSG_DELIVER:
	case JREC_MSG_REMOVE:
	case JREC_MSG_DEFER:
		free(r->u.msg_ref.path);
		break;
	case JREC_MSG_MOVE:
		free(r->u.move.path);
		journal_counters_free(r->u.move.counters, r->u.move.ncounters);
		journal_places_free(r->u.move.places, r->u.move.nplaces);
		break;
	case JREC_LOAD_ENTITY:
		free(r->u.load_entity.path);
		entity_desc_release(&r->u.load_entity.desc);
		journal_rules_free(r->u.load_entity.rules, r->u.load_entity.nrules);
		journal_dups_free(r->u.load_entity.dups, r->u.load_entity.ndups);
		break;
	case JREC_LOAD_MESSAGE:
		journal_place_release(&r->u.load_message.place);
		journal_msg_release(&r->u.load_message.msg);
		break;
	}
	memset(&r->u, 0, sizeof r->u);
}

void journal_load_entity_release(struct jrec_load_entity *e)
{
	struct jrec r = { .type = JREC_LOAD_ENTITY };

	if (e == NULL)
		return;
	r.u.load_entity = *e;
	journal_rec_release(&r);
	memset(e, 0, sizeof(*e));
}

void journal_load_message_release(struct jrec_load_message *m)
{
	struct jrec r = { .type = JREC_LOAD_MESSAGE };

	if (m == NULL)
		return;
	r.u.load_message = *m;
	journal_rec_release(&r);
	memset(m, 0, sizeof(*m));
}
