/*
 * ipc — messages between the broker and persistd. FORMAT VERSION 1 (IPC_FORMAT_VERSION).
 *
 * One nng message holds exactly one IPC message. Integers are big-endian; u8..u64 are unsigned,
 * i64 is two's complement. Offsets are bytes from the start of the message. A message is valid
 * when it is at most IPC_MAX_MESSAGE bytes, every field below is present and in range, and the
 * last field ends exactly at the end of the message (no trailing bytes).
 *
 * Envelope, every message:
 *   off  len  field
 *     0    1  version      IPC_FORMAT_VERSION = 1; another value → LZ_EUNSUPPORTED
 *     1    1  type         enum ipc_type (1..7); another value → LZ_EUNSUPPORTED
 *     2    .  body         per type:
 *
 * 1 HELLO (broker → persistd), 12 + n bytes:
 *     2    8  broker_acked_lsn   highest LSN the broker has seen acked; 0 on a fresh start
 *    10    2  n                  instance id length, 0..65535
 *    12    n  instance_id        bytes, no NUL byte
 *
 * 2 WELCOME (persistd → broker), 34 bytes:
 *     2   16  store_id           random id of the store, fixed when it was created
 *    18    8  base_lsn           the LSN the following STATE corresponds to
 *    26    8  durable_lsn        highest durable LSN; ≥ base_lsn
 *
 * 3 STATE (persistd → broker) and 5 APPEND (broker → persistd), 6 + records bytes:
 *     2    4  count              0..IPC_MAX_RECORDS (2^20)
 *     6    .  count records, back to back, each 21 + len bytes:
 *              +0    8  lsn
 *              +8    8  ts_ms    i64, ms since the Unix epoch
 *             +16    1  type     enum journal_type; one this build does not know → LZ_EUNSUPPORTED
 *             +17    4  len      payload length, 0..IPC_MAX_PAYLOAD (32 MiB)
 *             +21  len  payload  the journal payload (msgpack, proto/journal.c), not decoded here
 *            APPEND only: every lsn ≥ 1 and greater than the one before it. (STATE also carries
 *            the stored state, whose records' LSNs the replay server chooses.)
 *
 * 4 STATE_END (persistd → broker), 10 bytes:
 *     2    8  last_lsn           the state plus the WAL tail, replayed up to this LSN
 *
 * 6 ACK (persistd → broker), 10 bytes:
 *     2    8  durable_lsn        every record up to it is durable
 *
 * 7 ERROR (persistd → broker), 6 + n bytes:
 *     2    2  code               an lz_err value (common/err.h, append-only numbering), never 0;
 *                                codes newer than the reader are kept as they are
 *     4    2  n                  text length, 0..65535
 *     6    n  text               bytes, no NUL byte
 *
 * Example, ACK of LSN 258: 01 06 00 00 00 00 00 00 01 02
 *
 * Version history: 1 is the first version.
 */
#include "proto/ipc.h"

#include "common/endian.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HELLO_FIXED 12u      /* message bytes before the instance id */
#define WELCOME_LEN 34u
#define LSN_MSG_LEN 10u      /* STATE_END, ACK */
#define ERROR_FIXED 6u       /* message bytes before the text */

/* common/endian.h has no 16-bit helpers (yet); these follow its conventions. */
static inline void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static const char *const type_names[] = {
	[IPC_HELLO] = "HELLO",     [IPC_WELCOME] = "WELCOME", [IPC_STATE] = "STATE", [IPC_STATE_END] = "STATE_END",
	[IPC_APPEND] = "APPEND",   [IPC_ACK] = "ACK",         [IPC_ERROR] = "ERROR",
};

#define TYPE_COUNT (sizeof type_names / sizeof type_names[0])

const char *ipc_type_name(enum ipc_type t)
{
	if ((unsigned)t >= TYPE_COUNT || type_names[t] == NULL)
		return "?";
	return type_names[t];
}

/* Whether this build can fold records of journal type `t`. */
static bool record_type_known(unsigned t)
{
	return t >= 1 && t <= UINT8_MAX && strcmp(journal_type_name((enum journal_type)t), "?") != 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Encoding                                                                                   */
/* ------------------------------------------------------------------------------------------ */

static void put_envelope(uint8_t *p, enum ipc_type type)
{
	p[0] = IPC_FORMAT_VERSION;
	p[1] = (uint8_t)type;
}

/* Appends a message made of `head` and then `text`; strbuf_grow first, so the second add cannot
 * fail and leave half a message. */
static lz_err append_head_text(struct strbuf *out, const uint8_t *head, size_t head_len, const char *text,
			       size_t text_len)
{
	lz_err err = strbuf_grow(out, head_len + text_len);

	if (err != LZ_OK)
		return err;
	strbuf_add(out, head, head_len);
	strbuf_add(out, text, text_len);
	return LZ_OK;
}

/* HELLO: version | type | u64 broker_acked_lsn | u16 n | n bytes instance id. */
lz_err ipc_encode_hello(struct strbuf *out, uint64_t broker_acked_lsn, const char *instance_id)
{
	uint8_t head[HELLO_FIXED];
	size_t n = strlen(instance_id);

	if (n > IPC_MAX_TEXT)
		return LZ_ETOOBIG;
	put_envelope(head, IPC_HELLO);
	endian_put_u64(head + 2, broker_acked_lsn);
	put_be16(head + 10, (uint16_t)n);
	return append_head_text(out, head, sizeof head, instance_id, n);
}

/* WELCOME: version | type | 16 bytes store_id | u64 base_lsn | u64 durable_lsn. */
lz_err ipc_encode_welcome(struct strbuf *out, const uint8_t store_id[IPC_STORE_ID_LEN], uint64_t base_lsn,
			  uint64_t durable_lsn)
{
	uint8_t msg[WELCOME_LEN];

	if (durable_lsn < base_lsn)
		return LZ_EINVAL;
	put_envelope(msg, IPC_WELCOME);
	memcpy(msg + 2, store_id, IPC_STORE_ID_LEN);
	endian_put_u64(msg + 18, base_lsn);
	endian_put_u64(msg + 26, durable_lsn);
	return strbuf_add(out, msg, sizeof msg);
}

/*
 * STATE / APPEND: version | type | u32 count | count × (u64 lsn | i64 ts_ms | u8 type | u32 len |
 * len bytes payload). Checks every record before it appends anything, then grows `out` once.
 */
lz_err ipc_encode_records(struct strbuf *out, enum ipc_type type, const struct journal_rec *recs, size_t n)
{
	uint8_t head[IPC_RECORDS_OVERHEAD];
	size_t total = IPC_RECORDS_OVERHEAD;
	lz_err err;

	if (type != IPC_STATE && type != IPC_APPEND)
		return LZ_EINVAL;
	if (n > IPC_MAX_RECORDS)
		return LZ_ETOOBIG;
	for (size_t i = 0; i < n; i++) {
		const struct journal_rec *r = &recs[i];

		if (!record_type_known((unsigned)r->type))
			return LZ_EINVAL;
		if (r->len > 0 && r->payload == NULL)
			return LZ_EINVAL;
		if (type == IPC_APPEND && (r->lsn == 0 || (i > 0 && r->lsn <= recs[i - 1].lsn)))
			return LZ_EINVAL;
		if (r->len > IPC_MAX_PAYLOAD)
			return LZ_ETOOBIG;
		total += IPC_RECORD_OVERHEAD + r->len;
		if (total > IPC_MAX_MESSAGE)
			return LZ_ETOOBIG;
	}
	err = strbuf_grow(out, total);
	if (err != LZ_OK)
		return err;
	put_envelope(head, type);
	endian_put_u32(head + 2, (uint32_t)n);
	strbuf_add(out, head, sizeof head);
	for (size_t i = 0; i < n; i++) {
		uint8_t rh[IPC_RECORD_OVERHEAD];

		endian_put_u64(rh, recs[i].lsn);
		endian_put_u64(rh + 8, (uint64_t)recs[i].ts_ms);
		rh[16] = (uint8_t)recs[i].type;
		endian_put_u32(rh + 17, (uint32_t)recs[i].len);
		strbuf_add(out, rh, sizeof rh);
		strbuf_add(out, recs[i].payload, recs[i].len);
	}
	return LZ_OK;
}

/* STATE_END and ACK: version | type | u64 lsn. */
static lz_err encode_lsn_msg(struct strbuf *out, enum ipc_type type, uint64_t lsn)
{
	uint8_t msg[LSN_MSG_LEN];

	put_envelope(msg, type);
	endian_put_u64(msg + 2, lsn);
	return strbuf_add(out, msg, sizeof msg);
}

lz_err ipc_encode_state_end(struct strbuf *out, uint64_t last_lsn)
{
	return encode_lsn_msg(out, IPC_STATE_END, last_lsn);
}

lz_err ipc_encode_ack(struct strbuf *out, uint64_t durable_lsn)
{
	return encode_lsn_msg(out, IPC_ACK, durable_lsn);
}

/* ERROR: version | type | u16 code | u16 n | n bytes text. */
lz_err ipc_encode_error(struct strbuf *out, lz_err code, const char *text)
{
	uint8_t head[ERROR_FIXED];
	size_t n = strlen(text);

	if (code == LZ_OK || (unsigned)code > UINT16_MAX)
		return LZ_EINVAL;
	if (n > IPC_MAX_TEXT)
		return LZ_ETOOBIG;
	put_envelope(head, IPC_ERROR);
	put_be16(head + 2, (uint16_t)code);
	put_be16(head + 4, (uint16_t)n);
	return append_head_text(out, head, sizeof head, text, n);
}

/* ------------------------------------------------------------------------------------------ */
/* Decoding                                                                                   */
/* ------------------------------------------------------------------------------------------ */

#define NO_RECORD SIZE_MAX

/* A read position in the message; the first failure writes `detail` and is returned. */
struct cur {
	const uint8_t *buf;
	size_t len;
	size_t off;
	const char *what;    /* message type name, "message" before the type is read */
	char *detail;
	size_t detail_cap;
};

/* Reports `err` for `field` (of record `rec` unless NO_RECORD) at offset `off`. */
__attribute__((format(printf, 6, 7)))
static lz_err cur_fail(struct cur *c, lz_err err, size_t rec, const char *field, size_t off, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (c->detail == NULL || c->detail_cap == 0)
		return err;
	if (rec == NO_RECORD)
		n = snprintf(c->detail, c->detail_cap, "ipc %s: %s at offset %zu: ", c->what, field, off);
	else
		n = snprintf(c->detail, c->detail_cap, "ipc %s: record %zu %s at offset %zu: ", c->what, rec, field,
			     off);
	if (n < 0 || (size_t)n >= c->detail_cap)
		return err;
	va_start(ap, fmt);
	vsnprintf(c->detail + n, c->detail_cap - (size_t)n, fmt, ap);
	va_end(ap);
	return err;
}

/* Borrows the next `n` bytes as OUT `*p`. */
static lz_err cur_take(struct cur *c, size_t rec, const char *field, size_t n, const uint8_t **p)
{
	size_t left = c->len - c->off;

	/* cur_fail returns its `err`, but the compiler cannot see that through the varargs call:
	 * return LZ_EPARSE itself so that it knows `*p` is set whenever LZ_OK comes back. */
	if (n > left) {
		cur_fail(c, LZ_EPARSE, rec, field, c->off, "truncated: needs %zu bytes, %zu left", n, left);
		return LZ_EPARSE;
	}
	*p = c->buf + c->off;
	c->off += n;
	return LZ_OK;
}

static lz_err cur_u8(struct cur *c, const char *field, uint8_t *v)
{
	const uint8_t *p;
	lz_err err = cur_take(c, NO_RECORD, field, 1, &p);

	if (err == LZ_OK)
		*v = p[0];
	return err;
}

static lz_err cur_u16(struct cur *c, const char *field, uint16_t *v)
{
	const uint8_t *p;
	lz_err err = cur_take(c, NO_RECORD, field, 2, &p);

	if (err == LZ_OK)
		*v = get_be16(p);
	return err;
}

static lz_err cur_u32(struct cur *c, const char *field, uint32_t *v)
{
	const uint8_t *p;
	lz_err err = cur_take(c, NO_RECORD, field, 4, &p);

	if (err == LZ_OK)
		*v = endian_get_u32(p);
	return err;
}

static lz_err cur_u64(struct cur *c, const char *field, uint64_t *v)
{
	const uint8_t *p;
	lz_err err = cur_take(c, NO_RECORD, field, 8, &p);

	if (err == LZ_OK)
		*v = endian_get_u64(p);
	return err;
}

/* u16 n | n bytes without NUL, borrowed as OUT `*text`, `*text_len`. */
static lz_err cur_text(struct cur *c, const char *len_field, const char *field, const char **text, size_t *text_len)
{
	const uint8_t *p;
	uint16_t n;
	lz_err err = cur_u16(c, len_field, &n);

	if (err != LZ_OK)
		return err;
	err = cur_take(c, NO_RECORD, field, n, &p);
	if (err != LZ_OK)
		return err;
	if (memchr(p, '\0', n) != NULL)
		return cur_fail(c, LZ_EPARSE, NO_RECORD, field, c->off - n, "contains a NUL byte");
	*text = (const char *)p;
	*text_len = n;
	return LZ_OK;
}

static lz_err decode_hello(struct cur *c, struct ipc_msg *m)
{
	lz_err err = cur_u64(c, "broker_acked_lsn", &m->u.hello.broker_acked_lsn);

	if (err != LZ_OK)
		return err;
	return cur_text(c, "instance_id length", "instance_id", &m->u.hello.instance_id, &m->u.hello.instance_id_len);
}

static lz_err decode_welcome(struct cur *c, struct ipc_msg *m)
{
	const uint8_t *p;
	size_t durable_off;
	lz_err err = cur_take(c, NO_RECORD, "store_id", IPC_STORE_ID_LEN, &p);

	if (err != LZ_OK)
		return err;
	memcpy(m->u.welcome.store_id, p, IPC_STORE_ID_LEN);
	err = cur_u64(c, "base_lsn", &m->u.welcome.base_lsn);
	if (err != LZ_OK)
		return err;
	durable_off = c->off;
	err = cur_u64(c, "durable_lsn", &m->u.welcome.durable_lsn);
	if (err != LZ_OK)
		return err;
	if (m->u.welcome.durable_lsn < m->u.welcome.base_lsn)
		return cur_fail(c, LZ_EPARSE, NO_RECORD, "durable_lsn", durable_off, "%llu is below base_lsn %llu",
				(unsigned long long)m->u.welcome.durable_lsn,
				(unsigned long long)m->u.welcome.base_lsn);
	return LZ_OK;
}

/* One record's header and payload into OUT `r`; `prev_lsn` is the LSN before it (APPEND order). */
static lz_err decode_record(struct cur *c, size_t i, bool append, uint64_t prev_lsn, struct journal_rec *r)
{
	const uint8_t *h;
	size_t start = c->off;
	uint32_t len;
	lz_err err = cur_take(c, i, "header", IPC_RECORD_OVERHEAD, &h);

	if (err != LZ_OK)
		return err;
	r->lsn = endian_get_u64(h);
	r->ts_ms = (int64_t)endian_get_u64(h + 8);
	if (append && (r->lsn == 0 || (i > 0 && r->lsn <= prev_lsn)))
		return cur_fail(c, LZ_EPARSE, i, "lsn", start, "%llu is not above the previous LSN %llu (APPEND records are in LSN order, from 1)",
				(unsigned long long)r->lsn, (unsigned long long)prev_lsn);
	if (!record_type_known(h[16]))
		return cur_fail(c, LZ_EUNSUPPORTED, i, "type", start + 16, "unknown journal record type %u",
				(unsigned)h[16]);
	r->type = (enum journal_type)h[16];
	len = endian_get_u32(h + 17);
	if (len > IPC_MAX_PAYLOAD)
		return cur_fail(c, LZ_EPARSE, i, "len", start + 17, "%lu exceeds the cap of %u bytes", (unsigned long)len,
				IPC_MAX_PAYLOAD);
	r->len = len;
	return cur_take(c, i, "payload", len, &r->payload);
}

static lz_err decode_records(struct cur *c, struct ipc_msg *m)
{
	size_t count_off = c->off;
	uint32_t count;
	size_t left;
	lz_err err = cur_u32(c, "count", &count);

	if (err != LZ_OK)
		return err;
	left = c->len - c->off;
	if (count > IPC_MAX_RECORDS)
		return cur_fail(c, LZ_EPARSE, NO_RECORD, "count", count_off, "%lu exceeds the cap of %u records",
				(unsigned long)count, IPC_MAX_RECORDS);
	if (count > left / IPC_RECORD_OVERHEAD)
		return cur_fail(c, LZ_EPARSE, NO_RECORD, "count", count_off,
				"%lu records need at least %zu bytes, %zu left", (unsigned long)count,
				(size_t)count * IPC_RECORD_OVERHEAD, left);
	if (count == 0)
		return LZ_OK;
	m->u.records.recs = calloc(count, sizeof *m->u.records.recs);
	if (m->u.records.recs == NULL)
		return LZ_ENOMEM;
	m->u.records.n = count;
	for (size_t i = 0; i < count; i++) {
		err = decode_record(c, i, m->type == IPC_APPEND, i > 0 ? m->u.records.recs[i - 1].lsn : 0,
				    &m->u.records.recs[i]);
		if (err != LZ_OK)
			return err;
	}
	return LZ_OK;
}

static lz_err decode_error(struct cur *c, struct ipc_msg *m)
{
	size_t code_off = c->off;
	lz_err err = cur_u16(c, "code", &m->u.error.code);

	if (err != LZ_OK)
		return err;
	if (m->u.error.code == LZ_OK)
		return cur_fail(c, LZ_EPARSE, NO_RECORD, "code", code_off, "0 (success) in an ERROR message");
	return cur_text(c, "text length", "text", &m->u.error.text, &m->u.error.text_len);
}

lz_err ipc_decode(const uint8_t *buf, size_t len, struct ipc_msg *out, char *detail, size_t detail_cap)
{
	struct cur c = { .buf = buf, .len = len, .what = "message", .detail = detail, .detail_cap = detail_cap };
	uint8_t version;
	uint8_t type;
	lz_err err;

	memset(out, 0, sizeof *out);
	if (detail != NULL && detail_cap > 0)
		detail[0] = '\0';
	if (len > IPC_MAX_MESSAGE)
		return cur_fail(&c, LZ_EPARSE, NO_RECORD, "message", 0, "%zu bytes exceed the cap of %u", len,
				IPC_MAX_MESSAGE);
	err = cur_u8(&c, "version", &version);
	if (err != LZ_OK)
		return err;
	if (version != IPC_FORMAT_VERSION)
		return cur_fail(&c, LZ_EUNSUPPORTED, NO_RECORD, "version", 0, "%u, this build speaks version %u",
				(unsigned)version, IPC_FORMAT_VERSION);
	err = cur_u8(&c, "type", &type);
	if (err != LZ_OK)
		return err;
	c.what = ipc_type_name((enum ipc_type)type);
	out->type = (enum ipc_type)type;
	switch (out->type) {
	case IPC_HELLO:
		err = decode_hello(&c, out);
		break;
	case IPC_WELCOME:
		err = decode_welcome(&c, out);
		break;
	case IPC_STATE:
	case IPC_APPEND:
		err = decode_records(&c, out);
		break;
	case IPC_STATE_END:
		err = cur_u64(&c, "last_lsn", &out->u.state_end.last_lsn);
		break;
	case IPC_ACK:
		err = cur_u64(&c, "durable_lsn", &out->u.ack.durable_lsn);
		break;
	case IPC_ERROR:
		err = decode_error(&c, out);
		break;
	default:
		err = cur_fail(&c, LZ_EUNSUPPORTED, NO_RECORD, "type", 1, "unknown message type %u", (unsigned)type);
		break;
	}
	if (err == LZ_OK && c.off != len)
		err = cur_fail(&c, LZ_EPARSE, NO_RECORD, "end", c.off, "%zu trailing bytes", len - c.off);
	if (err != LZ_OK)
		ipc_msg_release(out);
	return err;
}

void ipc_msg_release(struct ipc_msg *m)
{
	if (m->type == IPC_STATE || m->type == IPC_APPEND)
		free(m->u.records.recs);
	memset(m, 0, sizeof *m);
}
