/*
 * ipc — the messages the broker and persistd exchange over their nng pair1 socket.
 *
 * One nng message carries exactly one IPC message: u8 version | u8 type | body, big-endian, laid
 * out byte by byte in proto/ipc.c (IPC_FORMAT_VERSION names that layout). Types are never
 * renumbered; new ones are appended.
 *
 * Conversation (broker → persistd is "B→P"):
 *   B→P HELLO      on every (re)connect: the highest LSN the broker has seen acked
 *   P→B WELCOME    store id, the LSN the state below corresponds to, the durable LSN
 *   P→B STATE*     the stored state plus the WAL tail, in chunks of records
 *   P→B STATE_END  the LSN the state is complete up to; the broker serves clients only after it
 *   B→P APPEND*    batches of new records, in LSN order (unacked ones are resent after reconnect)
 *   P→B ACK*       the highest LSN that is durable
 *   P→B ERROR      persistd refuses the conversation (then closes it)
 *
 * Sizes: a message is at most IPC_MAX_MESSAGE bytes. nng's default receive limit (1 MiB) is
 * smaller: both daemons set NNG_OPT_RECVMAXSZ to IPC_MAX_MESSAGE. A batcher adds
 * IPC_RECORDS_OVERHEAD once and IPC_RECORD_OVERHEAD + payload length per record.
 *
 * Errors: encoders append to the strbuf and return LZ_OK, or leave it exactly as it was and
 * return LZ_ETOOBIG (a field or the message over its cap), LZ_EINVAL (a type that is not a
 * record message, an unknown journal type, a NUL byte in a text) or LZ_ENOMEM. Nothing
 * ipc_decode refuses is ever written. ipc_decode returns LZ_EUNSUPPORTED for a version, message
 * type or journal record type it does not know, LZ_EPARSE for anything else malformed, LZ_ENOMEM.
 *
 * Thread rules: none; every function is pure apart from its arguments.
 */
#ifndef LZ_PROTO_IPC_H
#define LZ_PROTO_IPC_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/strbuf.h"
#include "proto/journal.h"

#define IPC_FORMAT_VERSION 1

#define IPC_STORE_ID_LEN 16
#define IPC_MAX_RECORDS (1u << 20)              /* records in one STATE or APPEND */
#define IPC_MAX_PAYLOAD (32u * 1024u * 1024u)   /* bytes of one record's payload */
#define IPC_MAX_MESSAGE (64u * 1024u * 1024u)   /* bytes of one whole message */
#define IPC_MAX_TEXT 65535u                     /* bytes of an instance id or error text */
#define IPC_RECORDS_OVERHEAD 6u                 /* version, type, count */
#define IPC_RECORD_OVERHEAD 21u                 /* lsn, ts_ms, type, len */

/* On-the-wire message types (the u8 after the version). */
enum ipc_type {
	IPC_HELLO = 1,
	IPC_WELCOME = 2,
	IPC_STATE = 3,
	IPC_STATE_END = 4,
	IPC_APPEND = 5,
	IPC_ACK = 6,
	IPC_ERROR = 7,
};

/* "HELLO", ...; "?" for an unknown type. */
const char *ipc_type_name(enum ipc_type t);

/*
 * A decoded message. Pointers are borrowed from the buffer given to ipc_decode and valid while
 * it is; texts are not NUL-terminated (use "%.*s") but contain no NUL byte. `records.recs` is
 * the one allocation of the decoder (its payloads point into the buffer): ipc_msg_release frees
 * it.
 */
struct ipc_msg {
	enum ipc_type type;
	union {
		struct {
			uint64_t broker_acked_lsn;    /* 0 on a fresh start */
			const char *instance_id;
			size_t instance_id_len;
		} hello;
		struct {
			uint8_t store_id[IPC_STORE_ID_LEN];
			uint64_t base_lsn;            /* the LSN the following STATE corresponds to */
			uint64_t durable_lsn;
		} welcome;
		struct {                              /* STATE, APPEND */
			struct journal_rec *recs;     /* NULL when n == 0 */
			size_t n;
		} records;
		struct {
			uint64_t last_lsn;            /* state + WAL tail replayed up to it */
		} state_end;
		struct {
			uint64_t durable_lsn;
		} ack;
		struct {
			uint16_t code;                /* an lz_err value, never LZ_OK */
			const char *text;
			size_t text_len;
		} error;
	} u;
};

/* Encoders: each appends one whole message to `out` (see Errors above). */
lz_err ipc_encode_hello(struct strbuf *out, uint64_t broker_acked_lsn, const char *instance_id);
lz_err ipc_encode_welcome(struct strbuf *out, const uint8_t store_id[IPC_STORE_ID_LEN], uint64_t base_lsn,
			  uint64_t durable_lsn);
/* `type` is IPC_STATE or IPC_APPEND; `recs` are borrowed. */
lz_err ipc_encode_records(struct strbuf *out, enum ipc_type type, const struct journal_rec *recs, size_t n);
lz_err ipc_encode_state_end(struct strbuf *out, uint64_t last_lsn);
lz_err ipc_encode_ack(struct strbuf *out, uint64_t durable_lsn);
/* `code` is an lz_err other than LZ_OK; `text` at most IPC_MAX_TEXT bytes. */
lz_err ipc_encode_error(struct strbuf *out, lz_err code, const char *text);

/*
 * Decodes the message `buf[0..len)` into OUT `out` (zeroed first; on failure nothing is left to
 * release). Never trusts a length or count in the input: every one is checked against the bytes
 * that remain and against the caps above before anything is allocated; trailing bytes are
 * refused. `detail` (may be NULL, ≥ 128 bytes advised) names the field and its byte offset.
 */
lz_err ipc_decode(const uint8_t *buf, size_t len, struct ipc_msg *out, char *detail, size_t detail_cap);

/* Frees what ipc_decode allocated and zeroes `m`; safe on a zeroed or released message. */
void ipc_msg_release(struct ipc_msg *m);

#endif
