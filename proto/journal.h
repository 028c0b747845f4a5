/*
 * journal — the records that describe every change to the broker's durable state.
 *
 * A record is (LSN, type, timestamp, payload). The payload is one msgpack array whose layout per
 * type is documented byte by byte in proto/journal.c; JOURNAL_FORMAT_VERSION names that layout.
 * Types are never renumbered; new ones are appended.
 */
#ifndef LZ_PROTO_JOURNAL_H
#define LZ_PROTO_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/strbuf.h"
#include "common/value.h"
#include "proto/model.h"

#define JOURNAL_FORMAT_VERSION 2

enum journal_type {
	JREC_ENTITY_PUT = 1,    /* create or replace a queue, topic or subscription */
	JREC_ENTITY_DELETE = 2, /* delete an entity and everything under it */
	JREC_RULE_PUT = 3,      /* create or replace a subscription rule */
	JREC_RULE_DELETE = 4,   /* delete a rule */
	JREC_MSG_ENQUEUE = 5,   /* a sent message and where it landed */
	JREC_MSG_DELIVER = 6,   /* delivery count + 1 (a lock was taken) */
	JREC_MSG_REMOVE = 7,    /* completed, received-and-deleted, expired, cancelled */
	JREC_MSG_MOVE = 8,      /* dead-lettered, forwarded, activated: leaves one place, lands in others */
	JREC_MSG_DEFER = 9,     /* deferred by its lock holder */
	JREC_ENTITY_TOUCH = 10, /* accessed (idle timer reset) without another change */
	JREC_LOAD_ENTITY = 11,  /* state transfer: one entity with everything but its messages */
	JREC_LOAD_MESSAGE = 12, /* state transfer: one stored message */
};

/*
 * What each record does, for every reader that folds records into state (the broker's core and
 * persistd's fold must agree; the end-to-end restart tests compare their results):
 *   ENTITY_PUT     create: a new entity with desc, created_at, updated_at = record time,
 *                  accessed_at = 0, last_seq = 0 and, for a subscription, its first rule; the
 *                  topic's accessed_at = record time. update: desc replaced, updated_at = time.
 *   ENTITY_DELETE  the entity, its messages and (topic) its subscriptions disappear.
 *   ENTITY_TOUCH   accessed_at = record time.
 *   RULE_PUT       rule inserted or replaced; the subscription's accessed_at = record time.
 *   RULE_DELETE    rule removed.
 *   MSG_ENQUEUE    every counter raises its entity's last_seq to at least its seq; one message
 *                  per place (content = msg, metadata = the place, DeadLetterReason /
 *                  DeadLetterErrorDescription user properties from dl_reason / dl_description);
 *                  the target's accessed_at = record time, and its duplicate-detection history
 *                  gets (MessageId, record time) when the target requires duplicate detection.
 *   MSG_DELIVER    delivery_count + 1; the entity's accessed_at = record time.
 *   MSG_REMOVE     the message disappears; COMPLETE and RECEIVE also set accessed_at.
 *   MSG_DEFER      the message becomes deferred.
 *   MSG_MOVE       counters as for ENQUEUE; one message per place whose content is the source
 *                  message's (props, user properties plus the place's dead-letter properties,
 *                  body); then the source disappears.
 *   LOAD_ENTITY / LOAD_MESSAGE  only in a state transfer, before any other record: the entity
 *                  or message exactly as stored.
 */

struct journal_rec {
	uint64_t lsn;
	enum journal_type type;
	int64_t ts_ms;
	const uint8_t *payload; /* msgpack; borrowed */
	size_t len;
};

/* "ENTITY_PUT", ...; "?" for an unknown type. */
const char *journal_type_name(enum journal_type t);

/* Where a message sits inside an entity. */
enum journal_where {
	JWHERE_MAIN = 0,      /* the queue/subscription itself (active or deferred) */
	JWHERE_DLQ = 1,       /* its $DeadLetterQueue */
	JWHERE_SCHEDULED = 2, /* a queue's or topic's scheduled store (provisional sequence number) */
};

enum journal_remove_reason {
	JREMOVE_COMPLETE = 0,
	JREMOVE_RECEIVE = 1,  /* receive-and-delete */
	JREMOVE_EXPIRE = 2,   /* TTL passed, entity does not dead-letter on expiry */
	JREMOVE_CANCEL = 3,   /* scheduled message cancelled */
};

/* A sequence number assigned by an entity: replay sets that entity's counter past it. */
struct journal_counter {
	char *path;
	uint64_t seq;
};

/* One copy of a message landing somewhere, with every per-copy field already decided, so that
 * a reader stores it as it is and never derives anything. */
struct journal_place {
	char *path;
	enum journal_where where;
	uint64_t seq;
	uint64_t enqueued_seq;   /* original seq of a forwarded message, 0 otherwise */
	int64_t enqueued_ms;     /* when the copy arrived there */
	int64_t ttl_ms;          /* effective time to live */
	int64_t expires_ms;      /* INT64_MAX: never (dead-letter queue, scheduled store) */
	int64_t scheduled_ms;    /* JWHERE_SCHEDULED: activation instant; 0 otherwise */
	uint32_t delivery_count;
	char *dl_reason;         /* set when the copy lands dead-lettered (NULL otherwise) */
	char *dl_description;
	char *dl_source;         /* DeadLetterSource (NULL: none) */
};

/* The content of a message. */
struct journal_msg {
	struct msg_props props;
	struct proplist user;
	uint8_t *body;
	size_t body_len;
};

/* One duplicate-detection history entry. */
struct journal_dup {
	char *id;
	int64_t ts_ms;
};

/* Decoded payloads; every pointer is owned by the struct (journal_*_release frees). */
struct jrec_entity_put {
	char *path;
	struct entity_desc desc;
	bool is_update;
	int64_t created_at;   /* creation: the new entity's time; update: unchanged original */
	bool has_rule;        /* subscription creation: its first rule ($Default or the given one) */
	struct rule_desc rule;
};

struct jrec_path {          /* ENTITY_DELETE, ENTITY_TOUCH */
	char *path;
};

struct jrec_rule_put {
	char *sub_path;
	struct rule_desc rule;
	bool is_update;
};

struct jrec_rule_delete {
	char *sub_path;
	char *name;
};

struct jrec_enqueue {
	char *target;         /* the entity the client sent to (duplicate detection, idle timer) */
	struct journal_msg msg;
	struct journal_counter *counters;
	size_t ncounters;
	struct journal_place *places;
	size_t nplaces;
};

struct jrec_msg_ref {       /* MSG_DELIVER, MSG_REMOVE, MSG_DEFER */
	char *path;
	enum journal_where where;
	uint64_t seq;
	enum journal_remove_reason reason; /* MSG_REMOVE only */
};

struct jrec_move {          /* the source message leaves, copies land in `places` */
	char *path;
	enum journal_where where;
	uint64_t seq;
	struct journal_counter *counters;
	size_t ncounters;
	struct journal_place *places;
	size_t nplaces;
};

/* An entity as stored, without its messages (state transfer). */
struct jrec_load_entity {
	char *path;
	struct entity_desc desc;
	int64_t created_at, updated_at, accessed_at;
	uint64_t last_seq;
	struct rule_desc *rules;
	size_t nrules;
	struct journal_dup *dups;
	size_t ndups;
};

/* A message as stored (state transfer). place.dl_reason and place.dl_description are NULL: the
 * dead-letter properties are already among msg.user; place.dl_source is the DeadLetterSource. */
struct jrec_load_message {
	struct journal_place place;
	bool deferred;
	struct journal_msg msg;
};

/* One decoded record of any type. */
struct jrec {
	enum journal_type type;
	union {
		struct jrec_entity_put entity_put;
		struct jrec_path path;            /* ENTITY_DELETE, ENTITY_TOUCH */
		struct jrec_rule_put rule_put;
		struct jrec_rule_delete rule_delete;
		struct jrec_enqueue enqueue;
		struct jrec_msg_ref msg_ref;      /* MSG_DELIVER, MSG_REMOVE, MSG_DEFER */
		struct jrec_move move;
		struct jrec_load_entity load_entity;
		struct jrec_load_message load_message;
	} u;
};

/*
 * Encodes `r` as a payload into `out` (reset first). Strings that are NULL encode as nil.
 * LZ_EINVAL for an unknown type, a NULL where the format needs a string, or an enum out of range;
 * LZ_ETOOBIG for a string, body or list over the caps in proto/journal.c; LZ_ENOMEM. Nothing
 * journal_decode would refuse is ever written: on failure `out` is left empty.
 */
lz_err journal_encode(const struct jrec *r, struct strbuf *out);

/*
 * Decodes a payload of `type` into `out` (zeroed first; release with journal_rec_release even on
 * failure). Never trusts lengths in the input: LZ_EPARSE for anything malformed, truncated,
 * of the wrong msgpack type or with trailing bytes; LZ_EUNSUPPORTED for an unknown type; LZ_ENOMEM.
 * `detail` (may be NULL, ≥ 128 bytes) names the field that failed.
 */
lz_err journal_decode(enum journal_type type, const uint8_t *payload, size_t len, struct jrec *out,
		      char *detail, size_t detail_cap);

void journal_rec_release(struct jrec *r);

/* Release a LOAD_ENTITY / LOAD_MESSAGE payload held outside a struct jrec (a backend's get_*
 * result) and zero it; NULL is a no-op. */
void journal_load_entity_release(struct jrec_load_entity *e);
void journal_load_message_release(struct jrec_load_message *m);

#endif
