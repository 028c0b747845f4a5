/*
 * wal (format) — the byte layout of persistd's write-ahead log segments, without any I/O.
 *
 * A segment file is a 32-byte header followed by records; the layout, byte order and validity
 * rules are documented byte by byte at the top of proto/wal.c (format version 1).
 *
 * Encoders append to a strbuf. Decoders never trust a length before checking it against the
 * buffer and the format's caps, never allocate, and return one of enum wal_status; decoded
 * record fields are borrowed from the input buffer (valid while it is).
 *
 * Thread rules: none (pure functions).
 */
#ifndef LZ_PROTO_WAL_H
#define LZ_PROTO_WAL_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/strbuf.h"
#include "proto/journal.h"

#define WAL_FORMAT_VERSION 1
#define WAL_HEADER_SIZE 32
#define WAL_RECORD_HEAD_SIZE 25 /* fixed part of a record, before the payload */
/* Bigger payloads are refused by the encoder and by the decoder, before anything is allocated. */
#define WAL_PAYLOAD_MAX (32u * 1024u * 1024u)

enum wal_status {
	WAL_OK,      /* decoded */
	WAL_SHORT,   /* the buffer ends before the item does: a torn write, or read more */
	WAL_BAD_CRC, /* complete, but the checksum does not match */
	WAL_BAD,     /* impossible: bad magic, unknown version, length over the cap, LSN 0, ... */
};

struct wal_header {
	uint32_t version;
	uint32_t salt;      /* random per segment; part of every record's CRC */
	uint64_t first_lsn; /* LSN of the segment's first record (≥ 1) */
};

/* "OK", "SHORT", "BAD_CRC", "BAD". */
const char *wal_status_name(enum wal_status s);

/* Appends the 32-byte header for (salt, first_lsn) at the current format version.
 * LZ_EINVAL for first_lsn 0; LZ_ENOMEM. */
lz_err wal_header_encode(struct strbuf *out, uint32_t salt, uint64_t first_lsn);

/*
 * Decodes the header at the start of `buf`. SHORT when len < WAL_HEADER_SIZE; BAD for a wrong
 * magic, a version other than WAL_FORMAT_VERSION, a non-zero reserved word or first_lsn 0;
 * BAD_CRC when the header checksum fails. *why (OUT, may be NULL) gets a static description of
 * any failure.
 */
enum wal_status wal_header_decode(const uint8_t *buf, size_t len, struct wal_header *out,
				  const char **why);

/* Appends one record of a segment whose salt is `salt`. LZ_EINVAL for LSN 0 or a type outside
 * 0..255; LZ_ETOOBIG for a payload over WAL_PAYLOAD_MAX; LZ_ENOMEM. On failure `out` is left as
 * it was. */
lz_err wal_record_encode(struct strbuf *out, uint32_t salt, const struct journal_rec *r);

/*
 * Decodes the record that starts at buf[off] (off ≤ len) of a segment whose salt is `salt`.
 * *size (OUT) is the record's full encoded size: on OK the bytes it occupies; on SHORT the bytes
 * needed from `off` to decode it (WAL_RECORD_HEAD_SIZE while its length is unknown). BAD for a
 * payload length over WAL_PAYLOAD_MAX (checked before anything else is trusted) or LSN 0;
 * BAD_CRC when the checksum fails. On OK `out` holds the fields, payload borrowed from `buf`.
 * *why (OUT, may be NULL) as for wal_header_decode.
 */
enum wal_status wal_record_decode(const uint8_t *buf, size_t len, size_t off, uint32_t salt,
				  struct journal_rec *out, size_t *size, const char **why);

/*
 * Reads the unchecked payload length and LSN of the record that would start at buf[off]; SHORT
 * when fewer than WAL_RECORD_HEAD_SIZE bytes remain. Used to look cheaply for candidate records
 * in damaged data before paying for a checksum.
 */
enum wal_status wal_record_peek(const uint8_t *buf, size_t len, size_t off, uint32_t *payload_len,
				uint64_t *lsn);

#endif
