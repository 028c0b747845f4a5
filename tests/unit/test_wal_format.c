/* Unit tests for proto/wal (the WAL byte format): the pinned byte layout of a header and a
 * record, round trips (extreme fields, empty and maximal payloads, records back to back), every
 * decode outcome (SHORT at every cut, BAD for magic/version/reserved/LSN 0/length over the cap,
 * BAD_CRC for every flipped byte and for the wrong salt), encoder refusals, and the salt
 * changing the CRC. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"
#include "common/err.h"
#include "common/strbuf.h"
#include "proto/wal.h"

#define ck_assert_err(expr, want)                                                          \
	do {                                                                               \
		lz_err got_ = (expr);                                                      \
		ck_assert_msg(got_ == (want), "%s: got %s, want %s", #expr, err_name(got_), \
			      err_name(want));                                             \
	} while (0)

#define ck_assert_st(expr, want)                                                              \
	do {                                                                                  \
		enum wal_status got_ = (expr);                                                \
		ck_assert_msg(got_ == (want), "%s: got %s, want %s", #expr, wal_status_name(got_), \
			      wal_status_name(want));                                         \
	} while (0)

static const uint8_t *u8(const struct strbuf *b)
{
	return (const uint8_t *)b->data;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static struct journal_rec rec_make(uint64_t lsn, int type, int64_t ts, const void *payload,
				   size_t len)
{
	return (struct journal_rec){
		.lsn = lsn, .type = (enum journal_type)type, .ts_ms = ts, .payload = payload, .len = len,
	};
}

START_TEST(test_header_layout)
{
	struct strbuf b = STRBUF_INIT;
	struct wal_header h;
	uint8_t want[WAL_HEADER_SIZE];
	const char *why = NULL;

	ck_assert_err(wal_header_encode(&b, 0xA1B2C3D4u, 0x0102030405060708ull), LZ_OK);
	ck_assert_uint_eq(b.len, WAL_HEADER_SIZE);
	memcpy(want, "LZWAL\r\n\x1a", 8);
	put32(want + 8, 1);
	put32(want + 12, 0xA1B2C3D4u);
	put64(want + 16, 0x0102030405060708ull);
	put32(want + 24, crc32c_update(0, want, 24));
	put32(want + 28, 0);
	ck_assert_mem_eq(b.data, want, sizeof(want));
	ck_assert_st(wal_header_decode(u8(&b), b.len, &h, &why), WAL_OK);
	ck_assert_uint_eq(h.version, WAL_FORMAT_VERSION);
	ck_assert_uint_eq(h.salt, 0xA1B2C3D4u);
	ck_assert_uint_eq(h.first_lsn, 0x0102030405060708ull);
	strbuf_release(&b);
}
END_TEST

START_TEST(test_header_errors)
{
	struct strbuf b = STRBUF_INIT;
	struct wal_header h;
	uint8_t buf[WAL_HEADER_SIZE];
	const char *why;

	ck_assert_err(wal_header_encode(&b, 1, 0), LZ_EINVAL);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_err(wal_header_encode(&b, 7, 9), LZ_OK);
	for (size_t len = 0; len < WAL_HEADER_SIZE; len++) {
		why = NULL;
		ck_assert_st(wal_header_decode(u8(&b), len, &h, &why), WAL_SHORT);
		ck_assert_ptr_nonnull(why);
	}
	/* every byte the CRC covers: magic → BAD, the rest → BAD_CRC; reserved → BAD */
	for (size_t i = 0; i < WAL_HEADER_SIZE; i++) {
		memcpy(buf, b.data, sizeof(buf));
		buf[i] ^= 0x01;
		ck_assert_st(wal_header_decode(buf, sizeof(buf), &h, NULL),
			     i < 8 || i >= 28 ? WAL_BAD : WAL_BAD_CRC);
	}
	/* a well-formed checksum over a wrong version or LSN 0 */
	memcpy(buf, b.data, sizeof(buf));
	put32(buf + 8, 2);
	put32(buf + 24, crc32c_update(0, buf, 24));
	ck_assert_st(wal_header_decode(buf, sizeof(buf), &h, &why), WAL_BAD);
	ck_assert_str_eq(why, "unsupported segment format version");
	memcpy(buf, b.data, sizeof(buf));
	put64(buf + 16, 0);
	put32(buf + 24, crc32c_update(0, buf, 24));
	ck_assert_st(wal_header_decode(buf, sizeof(buf), &h, &why), WAL_BAD);
	ck_assert_str_eq(why, "segment header first LSN is 0");
	strbuf_release(&b);
}
END_TEST

START_TEST(test_record_layout)
{
	struct strbuf b = STRBUF_INIT;
	struct journal_rec r = rec_make(0x1122334455667788ull, 5, -2, "xyz", 3);
	uint8_t want[WAL_RECORD_HEAD_SIZE + 3], salt[4];
	uint32_t crc;

	ck_assert_err(wal_record_encode(&b, 0xDEADBEEFu, &r), LZ_OK);
	ck_assert_uint_eq(b.len, sizeof(want));
	put32(want, 3);
	put64(want + 8, 0x1122334455667788ull);
	put64(want + 16, UINT64_MAX - 1); /* -2, two's complement */
	want[24] = 5;
	memcpy(want + 25, "xyz", 3);
	put32(salt, 0xDEADBEEFu);
	crc = crc32c_update(0, salt, 4);
	crc = crc32c_update(crc, want + 8, 17);
	crc = crc32c_update(crc, "xyz", 3);
	put32(want + 4, crc);
	ck_assert_mem_eq(b.data, want, sizeof(want));
	strbuf_release(&b);
}
END_TEST

START_TEST(test_record_round_trip)
{
	static const uint8_t blob[] = { 0x00, 0xff, 0x80, 0x7f, 0x0a };
	const struct journal_rec in[] = {
		rec_make(1, 1, 0, blob, sizeof(blob)),
		rec_make(2, 0, INT64_MIN, NULL, 0),
		rec_make(3, 255, INT64_MAX, blob, 1),
		rec_make(UINT64_MAX, 12, 1709208000123, blob, sizeof(blob)),
	};
	struct strbuf b = STRBUF_INIT;
	size_t off = 0;

	ck_assert_err(wal_header_encode(&b, 99, 1), LZ_OK);
	off = b.len;
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++)
		ck_assert_err(wal_record_encode(&b, 99, &in[i]), LZ_OK);
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		struct journal_rec out;
		uint32_t plen;
		uint64_t lsn;
		size_t size;

		ck_assert_st(wal_record_peek(u8(&b), b.len, off, &plen, &lsn), WAL_OK);
		ck_assert_uint_eq(plen, in[i].len);
		ck_assert_uint_eq(lsn, in[i].lsn);
		ck_assert_st(wal_record_decode(u8(&b), b.len, off, 99, &out, &size, NULL), WAL_OK);
		ck_assert_uint_eq(size, WAL_RECORD_HEAD_SIZE + in[i].len);
		ck_assert_uint_eq(out.lsn, in[i].lsn);
		ck_assert_int_eq(out.type, in[i].type);
		ck_assert_int_eq(out.ts_ms, in[i].ts_ms);
		ck_assert_uint_eq(out.len, in[i].len);
		ck_assert_ptr_eq(out.payload, u8(&b) + off + WAL_RECORD_HEAD_SIZE); /* borrowed */
		if (in[i].len > 0)
			ck_assert_mem_eq(out.payload, in[i].payload, in[i].len);
		off += size;
	}
	ck_assert_uint_eq(off, b.len);
	strbuf_release(&b);
}
END_TEST

START_TEST(test_record_max_payload)
{
	struct strbuf b = STRBUF_INIT;
	uint8_t *big = calloc(1, WAL_PAYLOAD_MAX + 1u);
	struct journal_rec r = rec_make(5, 2, 3, big, WAL_PAYLOAD_MAX), out;
	size_t size;

	ck_assert_ptr_nonnull(big);
	big[0] = 1;
	big[WAL_PAYLOAD_MAX - 1] = 2;
	ck_assert_err(wal_record_encode(&b, 1, &r), LZ_OK);
	ck_assert_st(wal_record_decode(u8(&b), b.len, 0, 1, &out, &size, NULL), WAL_OK);
	ck_assert_uint_eq(out.len, WAL_PAYLOAD_MAX);
	ck_assert_uint_eq(size, WAL_RECORD_HEAD_SIZE + WAL_PAYLOAD_MAX);
	ck_assert_mem_eq(out.payload, big, WAL_PAYLOAD_MAX);
	strbuf_reset(&b);
	r.len = WAL_PAYLOAD_MAX + 1u;
	ck_assert_err(wal_record_encode(&b, 1, &r), LZ_ETOOBIG);
	ck_assert_uint_eq(b.len, 0);
	free(big);
	strbuf_release(&b);
}
END_TEST

START_TEST(test_record_encode_refusals)
{
	struct strbuf b = STRBUF_INIT;
	struct journal_rec r = rec_make(0, 1, 0, "a", 1);

	ck_assert_err(wal_record_encode(&b, 1, &r), LZ_EINVAL);
	r = rec_make(1, 256, 0, "a", 1);
	ck_assert_err(wal_record_encode(&b, 1, &r), LZ_EINVAL);
	r = rec_make(1, -1, 0, "a", 1);
	ck_assert_err(wal_record_encode(&b, 1, &r), LZ_EINVAL);
	ck_assert_uint_eq(b.len, 0);
	strbuf_release(&b);
}
END_TEST

START_TEST(test_record_short_at_every_cut)
{
	struct strbuf b = STRBUF_INIT;
	struct journal_rec r = rec_make(9, 3, 4, "payload!", 8), out;
	size_t size;

	ck_assert_err(wal_record_encode(&b, 5, &r), LZ_OK);
	for (size_t len = 0; len < b.len; len++) {
		const char *why = NULL;

		ck_assert_st(wal_record_decode(u8(&b), len, 0, 5, &out, &size, &why), WAL_SHORT);
		ck_assert_ptr_nonnull(why);
		ck_assert_uint_eq(size, len < WAL_RECORD_HEAD_SIZE ? WAL_RECORD_HEAD_SIZE : b.len);
	}
	/* an offset at or past the end is SHORT, never a read out of bounds */
	ck_assert_st(wal_record_decode(u8(&b), b.len, b.len, 5, &out, &size, NULL), WAL_SHORT);
	ck_assert_st(wal_record_decode(u8(&b), b.len, b.len + 1, 5, &out, &size, NULL), WAL_SHORT);
	ck_assert_st(wal_record_peek(u8(&b), b.len, b.len - 24, &(uint32_t){ 0 }, &(uint64_t){ 0 }),
		     WAL_SHORT);
	strbuf_release(&b);
}
END_TEST

START_TEST(test_record_bad)
{
	uint8_t buf[WAL_RECORD_HEAD_SIZE + 4] = { 0 };
	struct journal_rec out;
	const char *why = NULL;
	uint32_t crc;
	uint8_t salt[4];
	size_t size;

	/* a length over the cap is refused from the fixed part alone, before anything else */
	put32(buf, WAL_PAYLOAD_MAX + 1u);
	ck_assert_st(wal_record_decode(buf, WAL_RECORD_HEAD_SIZE, 0, 0, &out, &size, &why),
		     WAL_BAD);
	ck_assert_str_eq(why, "record length is over the 32 MiB cap");
	put32(buf, UINT32_MAX);
	ck_assert_st(wal_record_decode(buf, sizeof(buf), 0, 0, &out, &size, NULL), WAL_BAD);
	/* LSN 0 with a valid checksum */
	put32(buf, 4);
	put32(salt, 77);
	crc = crc32c_update(0, salt, 4);
	crc = crc32c_update(crc, buf + 8, 17 + 4);
	put32(buf + 4, crc);
	ck_assert_st(wal_record_decode(buf, sizeof(buf), 0, 77, &out, &size, &why), WAL_BAD);
	ck_assert_str_eq(why, "record LSN is 0");
}
END_TEST

START_TEST(test_record_every_flip)
{
	struct strbuf b = STRBUF_INIT;
	struct journal_rec r = rec_make(1234, 7, 55, "some payload bytes", 18), out;
	size_t size;

	ck_assert_err(wal_record_encode(&b, 0x5A17u, &r), LZ_OK);
	for (size_t i = 0; i < b.len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			enum wal_status st;

			b.data[i] ^= (char)(1 << bit);
			st = wal_record_decode(u8(&b), b.len, 0, 0x5A17u, &out, &size, NULL);
			if (i >= 4)
				ck_assert_st(st, WAL_BAD_CRC);
			else
				ck_assert_msg(st != WAL_OK,
					      "flip of length byte %zu bit %d decoded", i, bit);
			b.data[i] ^= (char)(1 << bit);
		}
	}
	ck_assert_st(wal_record_decode(u8(&b), b.len, 0, 0x5A17u, &out, &size, NULL), WAL_OK);
	strbuf_release(&b);
}
END_TEST

START_TEST(test_salt_changes_crc)
{
	struct strbuf a = STRBUF_INIT, b = STRBUF_INIT;
	struct journal_rec r = rec_make(8, 1, 2, "same", 4), out;
	size_t size;
	const char *why = NULL;

	ck_assert_err(wal_record_encode(&a, 1, &r), LZ_OK);
	ck_assert_err(wal_record_encode(&b, 2, &r), LZ_OK);
	ck_assert_uint_eq(a.len, b.len);
	ck_assert_mem_eq(a.data, b.data, 4);
	ck_assert_mem_ne(a.data + 4, b.data + 4, 4);
	ck_assert_mem_eq(a.data + 8, b.data + 8, a.len - 8);
	/* a record from a segment with another salt never verifies */
	ck_assert_st(wal_record_decode(u8(&a), a.len, 0, 2, &out, &size, &why), WAL_BAD_CRC);
	ck_assert_str_eq(why, "record checksum mismatch");
	strbuf_release(&a);
	strbuf_release(&b);
}
END_TEST

START_TEST(test_status_names)
{
	ck_assert_str_eq(wal_status_name(WAL_OK), "OK");
	ck_assert_str_eq(wal_status_name(WAL_SHORT), "SHORT");
	ck_assert_str_eq(wal_status_name(WAL_BAD_CRC), "BAD_CRC");
	ck_assert_str_eq(wal_status_name(WAL_BAD), "BAD");
	ck_assert_str_eq(wal_status_name((enum wal_status)42), "?");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("wal_format");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_header_layout);
	tcase_add_test(tc, test_header_errors);
	tcase_add_test(tc, test_record_layout);
	tcase_add_test(tc, test_record_round_trip);
	tcase_add_test(tc, test_record_max_payload);
	tcase_add_test(tc, test_record_encode_refusals);
	tcase_add_test(tc, test_record_short_at_every_cut);
	tcase_add_test(tc, test_record_bad);
	tcase_add_test(tc, test_record_every_flip);
	tcase_add_test(tc, test_salt_changes_crc);
	tcase_add_test(tc, test_status_names);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
