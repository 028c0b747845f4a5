/* Unit tests for proto/ipc: round trips of every message type, the pinned byte form, truncation
 * at every offset, trailing bytes, unknown version / message type / record type, hostile counts
 * and lengths, semantic refusals, encoder refusals that leave the buffer untouched, and a
 * deterministic mutation loop whose every accepted input must re-encode to the same bytes. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/strbuf.h"
#include "proto/ipc.h"
#include "proto/journal.h"

#define ck_assert_err(expr, want)                                                          \
	do {                                                                               \
		lz_err got_ = (expr);                                                      \
		ck_assert_msg(got_ == (want), "%s: got %s, want %s", #expr, err_name(got_), \
			      err_name(want));                                             \
	} while (0)

#define DETAIL_CAP 256
#define MUTATIONS 20000

static const uint8_t store_id[IPC_STORE_ID_LEN] = { 0x10, 0x21, 0x32, 0x43, 0x54, 0x65, 0x76, 0x87,
						    0x98, 0xa9, 0xba, 0xcb, 0xdc, 0xed, 0xfe, 0x0f };
static const uint8_t p1[] = { 0x92, 0x02, 0xa2, 0x71, 0x31 };
static const uint8_t p2[] = { 0x93, 0x02, 0xa1, 0x71 };

static const struct journal_rec sample_recs[] = {
	{ .lsn = 7, .type = JREC_ENTITY_DELETE, .ts_ms = 1700000000123LL, .payload = p1, .len = sizeof p1 },
	{ .lsn = 8, .type = JREC_MSG_DELIVER, .ts_ms = -5, .payload = p2, .len = sizeof p2 },
	{ .lsn = UINT64_MAX, .type = JREC_LOAD_MESSAGE, .ts_ms = INT64_MIN, .payload = NULL, .len = 0 },
};

#define NSAMPLE_RECS (sizeof sample_recs / sizeof sample_recs[0])

/* A small deterministic generator so failures reproduce. */
static uint64_t lcg_next(uint64_t *x)
{
	*x = *x * 6364136223846793005ULL + 1442695040888963407ULL;
	return *x >> 11;
}

/* Re-encodes a decoded message so that a round trip can be compared byte for byte. */
static lz_err encode_msg(const struct ipc_msg *m, struct strbuf *out)
{
	char *text;
	lz_err err;

	switch (m->type) {
	case IPC_HELLO:
		text = strndup(m->u.hello.instance_id, m->u.hello.instance_id_len);
		ck_assert_ptr_nonnull(text);
		err = ipc_encode_hello(out, m->u.hello.broker_acked_lsn, text);
		free(text);
		return err;
	case IPC_WELCOME:
		return ipc_encode_welcome(out, m->u.welcome.store_id, m->u.welcome.base_lsn, m->u.welcome.durable_lsn);
	case IPC_STATE:
	case IPC_APPEND:
		return ipc_encode_records(out, m->type, m->u.records.recs, m->u.records.n);
	case IPC_STATE_END:
		return ipc_encode_state_end(out, m->u.state_end.last_lsn);
	case IPC_ACK:
		return ipc_encode_ack(out, m->u.ack.durable_lsn);
	case IPC_ERROR:
		text = strndup(m->u.error.text, m->u.error.text_len);
		ck_assert_ptr_nonnull(text);
		err = ipc_encode_error(out, (lz_err)m->u.error.code, text);
		free(text);
		return err;
	}
	ck_abort_msg("unexpected type %d", (int)m->type);
	return LZ_EINVAL;
}

/* Every sample message, one per entry, encoded into `bufs` (released by the caller). */
#define NSAMPLES 11

static void samples_build(struct strbuf bufs[NSAMPLES])
{
	for (size_t i = 0; i < NSAMPLES; i++)
		strbuf_init(&bufs[i]);
	ck_assert_err(ipc_encode_hello(&bufs[0], 42, "broker-1@host"), LZ_OK);
	ck_assert_err(ipc_encode_hello(&bufs[1], 0, ""), LZ_OK);
	ck_assert_err(ipc_encode_welcome(&bufs[2], store_id, 5, 9), LZ_OK);
	ck_assert_err(ipc_encode_records(&bufs[3], IPC_STATE, sample_recs, NSAMPLE_RECS), LZ_OK);
	ck_assert_err(ipc_encode_records(&bufs[4], IPC_APPEND, sample_recs, NSAMPLE_RECS), LZ_OK);
	ck_assert_err(ipc_encode_records(&bufs[5], IPC_STATE, NULL, 0), LZ_OK);
	ck_assert_err(ipc_encode_state_end(&bufs[6], 123456789), LZ_OK);
	ck_assert_err(ipc_encode_ack(&bufs[7], 258), LZ_OK);
	ck_assert_err(ipc_encode_error(&bufs[8], LZ_ECRC, "bad CRC in segment 3"), LZ_OK);
	ck_assert_err(ipc_encode_error(&bufs[9], LZ_EBUSY, ""), LZ_OK);
	ck_assert_err(ipc_encode_records(&bufs[10], IPC_APPEND, sample_recs, 1), LZ_OK);
}

static void samples_release(struct strbuf bufs[NSAMPLES])
{
	for (size_t i = 0; i < NSAMPLES; i++)
		strbuf_release(&bufs[i]);
}

static void expect_records(const struct ipc_msg *m, const struct journal_rec *want, size_t n)
{
	ck_assert_uint_eq(m->u.records.n, n);
	for (size_t i = 0; i < n; i++) {
		const struct journal_rec *r = &m->u.records.recs[i];

		ck_assert_uint_eq(r->lsn, want[i].lsn);
		ck_assert_int_eq(r->ts_ms, want[i].ts_ms);
		ck_assert_int_eq(r->type, want[i].type);
		ck_assert_uint_eq(r->len, want[i].len);
		if (want[i].len > 0)
			ck_assert_mem_eq(r->payload, want[i].payload, want[i].len);
	}
}

static void decode_ok(const struct strbuf *b, struct ipc_msg *m)
{
	char detail[DETAIL_CAP];

	ck_assert_msg(ipc_decode((const uint8_t *)b->data, b->len, m, detail, sizeof detail) == LZ_OK, "%s",
		      detail);
}

/* Decodes without a detail buffer and releases at once. */
static lz_err decode_status(const uint8_t *buf, size_t len)
{
	struct ipc_msg m;
	lz_err err = ipc_decode(buf, len, &m, NULL, 0);

	ipc_msg_release(&m);
	return err;
}

static void expect_refused(const uint8_t *buf, size_t len, lz_err want, const char *needle)
{
	struct ipc_msg m;
	char detail[DETAIL_CAP];

	ck_assert_err(ipc_decode(buf, len, &m, detail, sizeof detail), want);
	ck_assert_msg(strstr(detail, needle) != NULL, "'%s' does not contain '%s'", detail, needle);
	ck_assert_int_eq(m.type, 0);
	ck_assert_ptr_null(m.u.records.recs);
}

START_TEST(test_round_trip_every_type)
{
	struct strbuf bufs[NSAMPLES];
	struct ipc_msg m;

	samples_build(bufs);

	decode_ok(&bufs[0], &m);
	ck_assert_int_eq(m.type, IPC_HELLO);
	ck_assert_uint_eq(m.u.hello.broker_acked_lsn, 42);
	ck_assert_uint_eq(m.u.hello.instance_id_len, strlen("broker-1@host"));
	ck_assert_mem_eq(m.u.hello.instance_id, "broker-1@host", m.u.hello.instance_id_len);
	ipc_msg_release(&m);

	decode_ok(&bufs[1], &m);
	ck_assert_uint_eq(m.u.hello.broker_acked_lsn, 0);
	ck_assert_uint_eq(m.u.hello.instance_id_len, 0);
	ipc_msg_release(&m);

	decode_ok(&bufs[2], &m);
	ck_assert_int_eq(m.type, IPC_WELCOME);
	ck_assert_mem_eq(m.u.welcome.store_id, store_id, IPC_STORE_ID_LEN);
	ck_assert_uint_eq(m.u.welcome.base_lsn, 5);
	ck_assert_uint_eq(m.u.welcome.durable_lsn, 9);
	ipc_msg_release(&m);

	decode_ok(&bufs[3], &m);
	ck_assert_int_eq(m.type, IPC_STATE);
	expect_records(&m, sample_recs, NSAMPLE_RECS);
	/* Payloads are borrowed from the buffer. */
	ck_assert_ptr_eq(m.u.records.recs[0].payload, (const uint8_t *)bufs[3].data + 6 + IPC_RECORD_OVERHEAD);
	ipc_msg_release(&m);
	ck_assert_ptr_null(m.u.records.recs);
	ipc_msg_release(&m);

	decode_ok(&bufs[4], &m);
	ck_assert_int_eq(m.type, IPC_APPEND);
	expect_records(&m, sample_recs, NSAMPLE_RECS);
	ipc_msg_release(&m);

	decode_ok(&bufs[5], &m);
	ck_assert_int_eq(m.type, IPC_STATE);
	ck_assert_uint_eq(m.u.records.n, 0);
	ck_assert_ptr_null(m.u.records.recs);
	ipc_msg_release(&m);

	decode_ok(&bufs[6], &m);
	ck_assert_int_eq(m.type, IPC_STATE_END);
	ck_assert_uint_eq(m.u.state_end.last_lsn, 123456789);
	ipc_msg_release(&m);

	decode_ok(&bufs[7], &m);
	ck_assert_int_eq(m.type, IPC_ACK);
	ck_assert_uint_eq(m.u.ack.durable_lsn, 258);
	ipc_msg_release(&m);

	decode_ok(&bufs[8], &m);
	ck_assert_int_eq(m.type, IPC_ERROR);
	ck_assert_uint_eq(m.u.error.code, LZ_ECRC);
	ck_assert_uint_eq(m.u.error.text_len, strlen("bad CRC in segment 3"));
	ck_assert_mem_eq(m.u.error.text, "bad CRC in segment 3", m.u.error.text_len);
	ipc_msg_release(&m);

	/* Every sample re-encodes to the same bytes. */
	for (size_t i = 0; i < NSAMPLES; i++) {
		struct strbuf again = STRBUF_INIT;

		decode_ok(&bufs[i], &m);
		ck_assert_err(encode_msg(&m, &again), LZ_OK);
		ck_assert_uint_eq(again.len, bufs[i].len);
		ck_assert_mem_eq(again.data, bufs[i].data, again.len);
		ipc_msg_release(&m);
		strbuf_release(&again);
	}
	samples_release(bufs);
}
END_TEST

START_TEST(test_pinned_bytes)
{
	static const uint8_t ack[] = { 0x01, 0x06, 0, 0, 0, 0, 0, 0, 0x01, 0x02 };
	static const uint8_t append[] = {
		0x01, 0x05, 0x00, 0x00, 0x00, 0x01,             /* version 1, APPEND, count 1 */
		0, 0, 0, 0, 0, 0, 0, 0x07,                      /* lsn 7 */
		0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x7b,       /* ts_ms 1700000000123 */
		0x02,                                           /* ENTITY_DELETE */
		0, 0, 0, 0x05,                                  /* len 5 */
		0x92, 0x02, 0xa2, 0x71, 0x31,                   /* payload */
	};
	static const uint8_t hello[] = { 0x01, 0x01, 0, 0, 0, 0, 0, 0, 0, 0x2a, 0x00, 0x02, 'b', '1' };
	static const uint8_t error[] = { 0x01, 0x07, 0x00, 0x10, 0x00, 0x02, 'n', 'o' };
	struct strbuf b = STRBUF_INIT;

	ck_assert_err(ipc_encode_ack(&b, 258), LZ_OK);
	ck_assert_uint_eq(b.len, sizeof ack);
	ck_assert_mem_eq(b.data, ack, sizeof ack);
	strbuf_reset(&b);
	ck_assert_err(ipc_encode_records(&b, IPC_APPEND, sample_recs, 1), LZ_OK);
	ck_assert_uint_eq(b.len, sizeof append);
	ck_assert_mem_eq(b.data, append, sizeof append);
	strbuf_reset(&b);
	ck_assert_err(ipc_encode_hello(&b, 42, "b1"), LZ_OK);
	ck_assert_uint_eq(b.len, sizeof hello);
	ck_assert_mem_eq(b.data, hello, sizeof hello);
	strbuf_reset(&b);
	ck_assert_err(ipc_encode_error(&b, LZ_ECRC, "no"), LZ_OK);
	ck_assert_uint_eq(b.len, sizeof error);
	ck_assert_mem_eq(b.data, error, sizeof error);
	strbuf_release(&b);
}
END_TEST

START_TEST(test_encoders_append)
{
	struct strbuf b = STRBUF_INIT;
	struct ipc_msg m;

	ck_assert_err(strbuf_adds(&b, "xy"), LZ_OK);
	ck_assert_err(ipc_encode_ack(&b, 1), LZ_OK);
	ck_assert_err(ipc_encode_hello(&b, 2, "id"), LZ_OK);
	ck_assert_uint_eq(b.len, 2 + 10 + 14);
	ck_assert_mem_eq(b.data, "xy", 2);
	ck_assert_err(ipc_decode((const uint8_t *)b.data + 2, 10, &m, NULL, 0), LZ_OK);
	ck_assert_uint_eq(m.u.ack.durable_lsn, 1);
	ck_assert_err(ipc_decode((const uint8_t *)b.data + 12, 14, &m, NULL, 0), LZ_OK);
	ck_assert_uint_eq(m.u.hello.broker_acked_lsn, 2);
	strbuf_release(&b);
}
END_TEST

START_TEST(test_truncation_at_every_offset)
{
	struct strbuf bufs[NSAMPLES];

	samples_build(bufs);
	for (size_t i = 0; i < NSAMPLES; i++) {
		for (size_t k = 0; k < bufs[i].len; k++) {
			struct ipc_msg m;
			char detail[DETAIL_CAP];
			lz_err err = ipc_decode((const uint8_t *)bufs[i].data, k, &m, detail, sizeof detail);

			ck_assert_msg(err == LZ_EPARSE, "sample %zu cut at %zu: %s", i, k, err_name(err));
			ck_assert_msg(strstr(detail, "offset") != NULL, "sample %zu cut at %zu: '%s'", i, k, detail);
			ck_assert_int_eq(m.type, 0);
		}
	}
	samples_release(bufs);
}
END_TEST

START_TEST(test_trailing_bytes)
{
	struct strbuf bufs[NSAMPLES];

	samples_build(bufs);
	for (size_t i = 0; i < NSAMPLES; i++) {
		ck_assert_err(strbuf_addch(&bufs[i], 0), LZ_OK);
		expect_refused((const uint8_t *)bufs[i].data, bufs[i].len, LZ_EPARSE, "1 trailing bytes");
	}
	samples_release(bufs);
}
END_TEST

START_TEST(test_unknown_version_and_types)
{
	uint8_t ack[] = { 0x01, 0x06, 0, 0, 0, 0, 0, 0, 0x01, 0x02 };
	uint8_t rec[6 + IPC_RECORD_OVERHEAD] = { 0x01, 0x05, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1 };
	static const unsigned versions[] = { 0, 2, 255 };
	static const unsigned types[] = { 0, 8, 255 };
	static const unsigned rec_types[] = { 0, 13, 200, 255 };

	for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
		ack[0] = (uint8_t)versions[i];
		expect_refused(ack, sizeof ack, LZ_EUNSUPPORTED, "version at offset 0");
	}
	ack[0] = 1;
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		ack[1] = (uint8_t)types[i];
		expect_refused(ack, sizeof ack, LZ_EUNSUPPORTED, "unknown message type");
	}
	/* A version this build does not speak is reported before its type or length. */
	expect_refused((const uint8_t[]){ 2 }, 1, LZ_EUNSUPPORTED, "version");
	for (size_t i = 0; i < sizeof rec_types / sizeof rec_types[0]; i++) {
		rec[6 + 16] = (uint8_t)rec_types[i];
		expect_refused(rec, sizeof rec, LZ_EUNSUPPORTED, "record 0 type at offset 22");
	}
	rec[6 + 16] = JREC_ENTITY_TOUCH;
	ck_assert_err(decode_status(rec, sizeof rec), LZ_OK);
	ck_assert_str_eq(ipc_type_name(IPC_STATE_END), "STATE_END");
	ck_assert_str_eq(ipc_type_name((enum ipc_type)0), "?");
	ck_assert_str_eq(ipc_type_name((enum ipc_type)8), "?");
}
END_TEST

/* Records message header: version, type, count. */
static void put_count(uint8_t *p, enum ipc_type type, uint32_t count)
{
	p[0] = 1;
	p[1] = (uint8_t)type;
	p[2] = (uint8_t)(count >> 24);
	p[3] = (uint8_t)(count >> 16);
	p[4] = (uint8_t)(count >> 8);
	p[5] = (uint8_t)count;
}

START_TEST(test_hostile_counts_and_lengths)
{
	uint8_t buf[6 + 2 * IPC_RECORD_OVERHEAD] = { 0 };
	uint8_t *big;

	/* Counts beyond the cap, or beyond what the remaining bytes could hold, are refused before the
	 * record array is allocated (the detail says which check fired). */
	put_count(buf, IPC_STATE, UINT32_MAX);
	expect_refused(buf, 6, LZ_EPARSE, "exceeds the cap of 1048576 records");
	put_count(buf, IPC_APPEND, IPC_MAX_RECORDS + 1);
	expect_refused(buf, sizeof buf, LZ_EPARSE, "count at offset 2: 1048577 exceeds the cap");
	put_count(buf, IPC_STATE, IPC_MAX_RECORDS);
	expect_refused(buf, sizeof buf, LZ_EPARSE, "1048576 records need at least 22020096 bytes, 42 left");
	put_count(buf, IPC_STATE, 3);
	expect_refused(buf, sizeof buf, LZ_EPARSE, "3 records need at least 63 bytes, 42 left");

	/* Two empty-payload records fill the 42 bytes exactly. */
	put_count(buf, IPC_STATE, 2);
	buf[6 + 16] = JREC_ENTITY_PUT;
	buf[6 + IPC_RECORD_OVERHEAD + 16] = JREC_ENTITY_PUT;
	ck_assert_err(decode_status(buf, sizeof buf), LZ_OK);

	/* Payload lengths over the cap, and within it but beyond the message. */
	put_count(buf, IPC_STATE, 1);
	memset(buf + 6 + 17, 0xff, 4);
	expect_refused(buf, 6 + IPC_RECORD_OVERHEAD, LZ_EPARSE, "record 0 len at offset 23: 4294967295 exceeds the cap");
	buf[6 + 17] = 0x01; /* 0x01ffffff: under 32 MiB, far beyond the message */
	expect_refused(buf, 6 + IPC_RECORD_OVERHEAD, LZ_EPARSE, "record 0 payload at offset 27: truncated");

	/* Text lengths beyond the message. */
	expect_refused((const uint8_t[]){ 1, 7, 0, 1, 0xff, 0xff, 'x' }, 7, LZ_EPARSE,
		       "text at offset 6: truncated: needs 65535 bytes, 1 left");
	expect_refused((const uint8_t[]){ 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff }, 12, LZ_EPARSE,
		       "instance_id at offset 12: truncated");

	/* A whole message over IPC_MAX_MESSAGE is refused by its size alone. */
	big = calloc(1, (size_t)IPC_MAX_MESSAGE + 1);
	ck_assert_ptr_nonnull(big);
	put_count(big, IPC_STATE, 0);
	expect_refused(big, (size_t)IPC_MAX_MESSAGE + 1, LZ_EPARSE, "exceed the cap");
	free(big);
}
END_TEST

START_TEST(test_largest_payload)
{
	struct journal_rec r = { .lsn = 1, .type = JREC_MSG_ENQUEUE, .ts_ms = 1, .len = IPC_MAX_PAYLOAD };
	uint8_t *payload = malloc(IPC_MAX_PAYLOAD);
	struct strbuf b = STRBUF_INIT;
	struct ipc_msg m;

	ck_assert_ptr_nonnull(payload);
	memset(payload, 0xa5, IPC_MAX_PAYLOAD);
	r.payload = payload;
	ck_assert_err(ipc_encode_records(&b, IPC_APPEND, &r, 1), LZ_OK);
	ck_assert_uint_eq(b.len, IPC_RECORDS_OVERHEAD + IPC_RECORD_OVERHEAD + IPC_MAX_PAYLOAD);
	decode_ok(&b, &m);
	expect_records(&m, &r, 1);
	ipc_msg_release(&m);
	strbuf_release(&b);
	free(payload);
}
END_TEST

START_TEST(test_semantic_refusals)
{
	uint8_t welcome[34] = { 1, 2 };
	uint8_t append[6 + 2 * IPC_RECORD_OVERHEAD] = { 0 };

	/* WELCOME with durable_lsn below base_lsn. */
	welcome[25] = 9;  /* base_lsn 9 */
	welcome[33] = 8;  /* durable_lsn 8 */
	expect_refused(welcome, sizeof welcome, LZ_EPARSE, "durable_lsn at offset 26: 8 is below base_lsn 9");
	welcome[33] = 9;
	ck_assert_err(decode_status(welcome, sizeof welcome), LZ_OK);

	/* APPEND records must be in LSN order from 1; STATE records need not be. */
	put_count(append, IPC_APPEND, 2);
	append[6 + 16] = JREC_ENTITY_TOUCH;
	append[6 + IPC_RECORD_OVERHEAD + 16] = JREC_ENTITY_TOUCH;
	expect_refused(append, sizeof append, LZ_EPARSE, "record 0 lsn at offset 6: 0 is not above");
	append[6 + 7] = 5;
	append[6 + IPC_RECORD_OVERHEAD + 7] = 5;
	expect_refused(append, sizeof append, LZ_EPARSE, "record 1 lsn at offset 27: 5 is not above the previous LSN 5");
	put_count(append, IPC_STATE, 2);
	ck_assert_err(decode_status(append, sizeof append), LZ_OK);

	/* ERROR code 0, NUL bytes in texts. */
	expect_refused((const uint8_t[]){ 1, 7, 0, 0, 0, 0 }, 6, LZ_EPARSE, "code at offset 2: 0 (success)");
	expect_refused((const uint8_t[]){ 1, 7, 0, 1, 0, 2, 'a', 0 }, 8, LZ_EPARSE, "text at offset 6: contains a NUL");
	expect_refused((const uint8_t[]){ 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0 }, 13, LZ_EPARSE,
		       "instance_id at offset 12: contains a NUL");
	/* An ERROR code newer than this build is kept. */
	{
		struct ipc_msg m;

		ck_assert_err(ipc_decode((const uint8_t[]){ 1, 7, 0xff, 0xff, 0, 0 }, 6, &m, NULL, 0), LZ_OK);
		ck_assert_uint_eq(m.u.error.code, 0xffff);
	}
	/* No detail buffer is fine. */
	ck_assert_err(decode_status((const uint8_t[]){ 1 }, 1), LZ_EPARSE);
}
END_TEST

/* Encoder refusals leave the buffer exactly as it was. */
static void expect_encode_refused(struct strbuf *b, lz_err got, lz_err want)
{
	ck_assert_err(got, want);
	ck_assert_uint_eq(b->len, 3);
	ck_assert_str_eq(strbuf_cstr(b), "abc");
}

START_TEST(test_encoder_refusals)
{
	struct strbuf b = STRBUF_INIT;
	struct journal_rec bad[2] = { sample_recs[0], sample_recs[1] };
	char *long_text = malloc(IPC_MAX_TEXT + 2);

	ck_assert_ptr_nonnull(long_text);
	memset(long_text, 'x', IPC_MAX_TEXT + 1);
	long_text[IPC_MAX_TEXT + 1] = '\0';
	ck_assert_err(strbuf_adds(&b, "abc"), LZ_OK);

	expect_encode_refused(&b, ipc_encode_records(&b, IPC_ACK, sample_recs, 1), LZ_EINVAL);
	expect_encode_refused(&b, ipc_encode_records(&b, IPC_STATE, sample_recs, IPC_MAX_RECORDS + 1), LZ_ETOOBIG);
	bad[1].type = (enum journal_type)99;
	expect_encode_refused(&b, ipc_encode_records(&b, IPC_STATE, bad, 2), LZ_EINVAL);
	bad[1].type = (enum journal_type)0;
	expect_encode_refused(&b, ipc_encode_records(&b, IPC_STATE, bad, 2), LZ_EINVAL);
	bad[1] = sample_recs[1];
	bad[1].lsn = bad[0].lsn;
	expect_encode_refused(&b, ipc_encode_records(&b, IPC_APPEND, bad, 2), LZ_EINVAL);
	ck_assert_err(ipc_encode_records(&b, IPC_STATE, bad, 2), LZ_OK); /* STATE: any order */
	b.len = 3;
	b.data[3] = '\0';
	bad[0].lsn = 0;
	expect_encode_refused(&b, ipc_encode_records(&b, IPC_APPEND, bad, 1), LZ_EINVAL);
	bad[0] = sample_recs[0];
	bad[0].payload = NULL;
	expect_encode_refused(&b, ipc_encode_records(&b, IPC_STATE, bad, 1), LZ_EINVAL);
	/* Sizes are checked before any payload is read, so these lengths are never dereferenced. */
	bad[0] = sample_recs[0];
	bad[0].len = IPC_MAX_PAYLOAD + 1;
	expect_encode_refused(&b, ipc_encode_records(&b, IPC_STATE, bad, 1), LZ_ETOOBIG);
	bad[0].len = IPC_MAX_PAYLOAD;
	bad[1] = bad[0];
	bad[1].lsn = 8;
	expect_encode_refused(&b, ipc_encode_records(&b, IPC_APPEND, bad, 2), LZ_ETOOBIG);

	expect_encode_refused(&b, ipc_encode_welcome(&b, store_id, 10, 9), LZ_EINVAL);
	expect_encode_refused(&b, ipc_encode_error(&b, LZ_OK, "x"), LZ_EINVAL);
	expect_encode_refused(&b, ipc_encode_error(&b, LZ_EBUSY, long_text), LZ_ETOOBIG);
	expect_encode_refused(&b, ipc_encode_hello(&b, 1, long_text), LZ_ETOOBIG);
	long_text[IPC_MAX_TEXT] = '\0';
	ck_assert_err(ipc_encode_hello(&b, 1, long_text), LZ_OK);
	ck_assert_uint_eq(b.len, 3 + 12 + IPC_MAX_TEXT);
	free(long_text);
	strbuf_release(&b);
}
END_TEST

START_TEST(test_mutation_loop)
{
	struct strbuf bufs[NSAMPLES];
	uint64_t seed = 0x1b5a7e11;
	unsigned accepted = 0;

	samples_build(bufs);
	for (unsigned iter = 0; iter < MUTATIONS; iter++) {
		const struct strbuf *src = &bufs[lcg_next(&seed) % NSAMPLES];
		uint8_t *buf = malloc(src->len + 1);
		size_t len = src->len;
		unsigned edits = 1 + (unsigned)(lcg_next(&seed) % 3);
		struct ipc_msg m;
		char detail[DETAIL_CAP];
		lz_err err;

		ck_assert_ptr_nonnull(buf);
		memcpy(buf, src->data, len);
		for (unsigned e = 0; e < edits; e++) {
			size_t at = lcg_next(&seed) % len;

			switch (lcg_next(&seed) % 5) {
			case 0: buf[at] ^= (uint8_t)(1u << (lcg_next(&seed) % 8)); break;
			case 1: buf[at] = (uint8_t)lcg_next(&seed); break;
			case 2: buf[at] = 0xff; break;
			case 3: buf[at] = 0; break;
			default: len = at > 0 ? at : len; break; /* cut */
			}
		}
		err = ipc_decode(buf, len, &m, detail, sizeof detail);
		ck_assert_msg(err == LZ_OK || err == LZ_EPARSE || err == LZ_EUNSUPPORTED, "iteration %u: %s", iter,
			      err_name(err));
		if (err == LZ_OK) {
			struct strbuf again = STRBUF_INIT;

			/* Every field is fixed-width, so an accepted message has exactly one encoding. */
			ck_assert_err(encode_msg(&m, &again), LZ_OK);
			ck_assert_uint_eq(again.len, len);
			ck_assert_mem_eq(again.data, buf, len);
			strbuf_release(&again);
			ipc_msg_release(&m);
			accepted++;
		} else {
			ck_assert_msg(detail[0] != '\0', "iteration %u: no detail", iter);
			ck_assert_int_eq(m.type, 0);
		}
		free(buf);
	}
	/* The loop exercised both outcomes. */
	ck_assert_uint_gt(accepted, MUTATIONS / 20);
	ck_assert_uint_lt(accepted, MUTATIONS);
	samples_release(bufs);
}
END_TEST

static Suite *ipc_suite(void)
{
	Suite *s = suite_create("ipc");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_round_trip_every_type);
	tcase_add_test(tc, test_pinned_bytes);
	tcase_add_test(tc, test_encoders_append);
	tcase_add_test(tc, test_truncation_at_every_offset);
	tcase_add_test(tc, test_trailing_bytes);
	tcase_add_test(tc, test_unknown_version_and_types);
	tcase_add_test(tc, test_hostile_counts_and_lengths);
	tcase_add_test(tc, test_largest_payload);
	tcase_add_test(tc, test_semantic_refusals);
	tcase_add_test(tc, test_encoder_refusals);
	tcase_add_test(tc, test_mutation_loop);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ipc_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
