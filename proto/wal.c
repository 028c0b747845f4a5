/*
 * WAL segment format, version 1.
 *
 * Every integer is big-endian (common/endian.h); signed integers are two's complement. CRCs are
 * CRC-32C (common/crc32c.h, check value "123456789" → 0xE3069283).
 *
 * Segment file `<first_lsn as 20 decimal digits>.wal`: a header, then zero or more records back
 * to back (no padding, no alignment, no trailer).
 *
 * Segment header, 32 bytes:
 *   offset  size  field
 *        0     8  magic        "LZWAL\r\n\x1a" = 4C 5A 57 41 4C 0D 0A 1A (the CR LF and ^Z
 *                              catch text-mode mangling, as PNG's signature does)
 *        8     4  version      WAL_FORMAT_VERSION (1)
 *       12     4  salt         random per segment; enters every record's CRC, so bytes left over
 *                              from another segment (a reused or pre-written file) never verify
 *       16     8  first_lsn    LSN of the first record in this segment, ≥ 1; equals the number in
 *                              the file name
 *       24     4  header_crc   CRC-32C of bytes 0..23
 *       28     4  reserved     0
 *
 * Record, 25 bytes + payload:
 *   offset  size  field
 *        0     4  payload_len  bytes of payload, ≤ WAL_PAYLOAD_MAX (32 MiB)
 *        4     4  crc          CRC-32C over: salt (4 bytes, big-endian) ‖ bytes 8..24 of this
 *                              record (lsn, ts_ms, type) ‖ payload
 *        8     8  lsn          log sequence number, ≥ 1
 *       16     8  ts_ms        record time, ms since the Unix epoch (signed)
 *       24     1  type         enum journal_type (never renumbered)
 *       25     n  payload      msgpack, layout in proto/journal.c
 *
 * A record is valid when its length is within the cap, all its bytes are present, its CRC
 * matches with the segment's salt, and its LSN is ≥ 1. Whether LSNs follow each other (each
 * record's is the previous + 1, a segment's first is its header's first_lsn, and a segment
 * starts right after the previous one ends) is the reader's rule, checked by persistd's wal.
 *
 * Version history: 1 — this layout.
 */
#include "proto/wal.h"

#include <string.h>

#include "common/crc32c.h"
#include "common/endian.h"

static const uint8_t wal_magic[8] = { 'L', 'Z', 'W', 'A', 'L', '\r', '\n', 0x1a };

/* Offsets inside the header and inside a record. */
enum {
	HDR_VERSION = 8,
	HDR_SALT = 12,
	HDR_FIRST_LSN = 16,
	HDR_CRC = 24,
	HDR_RESERVED = 28,
	REC_LEN = 0,
	REC_CRC = 4,
	REC_LSN = 8,
	REC_TS = 16,
	REC_TYPE = 24,
};

static void why_set(const char **why, const char *text)
{
	if (why != NULL)
		*why = text;
}

const char *wal_status_name(enum wal_status s)
{
	switch (s) {
	case WAL_OK:
		return "OK";
	case WAL_SHORT:
		return "SHORT";
	case WAL_BAD_CRC:
		return "BAD_CRC";
	case WAL_BAD:
		return "BAD";
	}
	return "?";
}

/* magic | version | salt | first_lsn | crc(0..23) | reserved */
lz_err wal_header_encode(struct strbuf *out, uint32_t salt, uint64_t first_lsn)
{
	uint8_t h[WAL_HEADER_SIZE];

	if (first_lsn == 0)
		return LZ_EINVAL;
	memcpy(h, wal_magic, sizeof(wal_magic));
	endian_put_u32(h + HDR_VERSION, WAL_FORMAT_VERSION);
	endian_put_u32(h + HDR_SALT, salt);
	endian_put_u64(h + HDR_FIRST_LSN, first_lsn);
	endian_put_u32(h + HDR_CRC, crc32c_update(0, h, HDR_CRC));
	endian_put_u32(h + HDR_RESERVED, 0);
	return strbuf_add(out, h, sizeof(h));
}

enum wal_status wal_header_decode(const uint8_t *buf, size_t len, struct wal_header *out,
				  const char **why)
{
	if (len < WAL_HEADER_SIZE) {
		why_set(why, "segment header is incomplete");
		return WAL_SHORT;
	}
	if (memcmp(buf, wal_magic, sizeof(wal_magic)) != 0) {
		why_set(why, "not a WAL segment (bad magic)");
		return WAL_BAD;
	}
	if (endian_get_u32(buf + HDR_CRC) != crc32c_update(0, buf, HDR_CRC)) {
		why_set(why, "segment header checksum mismatch");
		return WAL_BAD_CRC;
	}
	out->version = endian_get_u32(buf + HDR_VERSION);
	out->salt = endian_get_u32(buf + HDR_SALT);
	out->first_lsn = endian_get_u64(buf + HDR_FIRST_LSN);
	if (out->version != WAL_FORMAT_VERSION) {
		why_set(why, "unsupported segment format version");
		return WAL_BAD;
	}
	if (endian_get_u32(buf + HDR_RESERVED) != 0) {
		why_set(why, "segment header reserved word is not zero");
		return WAL_BAD;
	}
	if (out->first_lsn == 0) {
		why_set(why, "segment header first LSN is 0");
		return WAL_BAD;
	}
	return WAL_OK;
}

/* CRC-32C over salt ‖ lsn, ts_ms, type (record bytes 8..24) ‖ payload. */
static uint32_t wal_record_crc(uint32_t salt, const uint8_t *head, const uint8_t *payload,
			       size_t len)
{
	uint8_t s[4];
	uint32_t crc;

	endian_put_u32(s, salt);
	crc = crc32c_update(0, s, sizeof(s));
	crc = crc32c_update(crc, head + REC_LSN, WAL_RECORD_HEAD_SIZE - REC_LSN);
	return crc32c_update(crc, payload, len);
}

/* payload_len | crc | lsn | ts_ms | type | payload */
lz_err wal_record_encode(struct strbuf *out, uint32_t salt, const struct journal_rec *r)
{
	uint8_t h[WAL_RECORD_HEAD_SIZE];
	lz_err err;

	if (r->lsn == 0 || (unsigned)r->type > 255)
		return LZ_EINVAL;
	if (r->len > WAL_PAYLOAD_MAX)
		return LZ_ETOOBIG;
	err = strbuf_grow(out, sizeof(h) + r->len);
	if (err != LZ_OK)
		return err;
	endian_put_u32(h + REC_LEN, (uint32_t)r->len);
	endian_put_u64(h + REC_LSN, r->lsn);
	endian_put_u64(h + REC_TS, (uint64_t)r->ts_ms);
	h[REC_TYPE] = (uint8_t)r->type;
	endian_put_u32(h + REC_CRC, wal_record_crc(salt, h, r->payload, r->len));
	/* Both adds fit in the space grown above, so neither can fail. */
	(void)strbuf_add(out, h, sizeof(h));
	(void)strbuf_add(out, r->payload, r->len);
	return LZ_OK;
}

enum wal_status wal_record_peek(const uint8_t *buf, size_t len, size_t off, uint32_t *payload_len,
				uint64_t *lsn)
{
	if (off > len || len - off < WAL_RECORD_HEAD_SIZE)
		return WAL_SHORT;
	*payload_len = endian_get_u32(buf + off + REC_LEN);
	*lsn = endian_get_u64(buf + off + REC_LSN);
	return WAL_OK;
}

enum wal_status wal_record_decode(const uint8_t *buf, size_t len, size_t off, uint32_t salt,
				  struct journal_rec *out, size_t *size, const char **why)
{
	const uint8_t *h;
	uint32_t plen;
	uint64_t lsn;

	*size = WAL_RECORD_HEAD_SIZE;
	if (wal_record_peek(buf, len, off, &plen, &lsn) != WAL_OK) {
		why_set(why, "record header is incomplete");
		return WAL_SHORT;
	}
	h = buf + off;
	if (plen > WAL_PAYLOAD_MAX) {
		why_set(why, "record length is over the 32 MiB cap");
		return WAL_BAD;
	}
	*size = WAL_RECORD_HEAD_SIZE + (size_t)plen;
	if (len - off < *size) {
		why_set(why, "record is incomplete");
		return WAL_SHORT;
	}
	if (endian_get_u32(h + REC_CRC) !=
	    wal_record_crc(salt, h, h + WAL_RECORD_HEAD_SIZE, plen)) {
		why_set(why, "record checksum mismatch");
		return WAL_BAD_CRC;
	}
	if (lsn == 0) {
		why_set(why, "record LSN is 0");
		return WAL_BAD;
	}
	out->lsn = lsn;
	out->ts_ms = (int64_t)endian_get_u64(h + REC_TS);
	out->type = (enum journal_type)h[REC_TYPE];
	out->payload = h + WAL_RECORD_HEAD_SIZE;
	out->len = plen;
	return WAL_OK;
}
