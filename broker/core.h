/*
 * core — the protocol-agnostic broker: entities, messages, locks, timers and the journal.
 *
 * Every operation a front end offers (HTTP now, AMQP later) is one core call. Nothing about HTTP
 * or AMQP lives here. Every change to durable state is expressed as one journal record
 * (proto/journal.h) that is handed to the journal sink and then applied; replaying the same
 * records into an empty core with core_replay() rebuilds the same state (core_dump()).
 *
 * Paths: a queue or topic is addressed by its name ("orders", "app/orders"); a subscription by
 * "{topic}/subscriptions/{name}". Lookups are case-insensitive; the case of the first creation is
 * kept for display.
 *
 * Threading: a core has one internal mutex; every function may be called from any thread and
 * takes it for the duration of the call. Nothing here blocks on I/O. Callbacks (the journal sink
 * and receive waiters) run with that mutex held: they must not call back into the core and must
 * return quickly (stash the result, wake a connection).
 *
 * Errors: functions return lz_err; when `detail` is not NULL it receives a human-readable reason
 * naming the property or object ("Parameter name: LockDuration ..."). Codes used:
 *   LZ_ENOTFOUND  entity / rule / message does not exist
 *   LZ_EEXIST     create of an existing entity or rule
 *   LZ_EINVAL     invalid name or property value, or an operation that does not fit the entity
 *   LZ_ERANGE     property value out of its range
 *   LZ_EIMMUTABLE update changes a create-only property
 *   LZ_EDISABLED  entity status forbids the operation
 *   LZ_ELOCKLOST  lock token unknown, expired, or not matching the message
 *   LZ_ETOOBIG    message larger than the entity's / broker's maximum
 *   LZ_EQUOTA     entity full (MaxSizeInMegabytes) or too many entities
 *   LZ_ESTATE     message not in a state that allows the operation (e.g. cancel of a non-scheduled)
 */
#ifndef LZ_BROKER_CORE_H
#define LZ_BROKER_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/value.h"
#include "proto/journal.h"
#include "proto/model.h"

typedef struct core core;

struct lz_detail {
	char text[512];
};

/* Sink for journal records; called once per record, in LSN order, under the core mutex.
 * `payload` is borrowed for the duration of the call. A non-OK return makes the operation fail
 * with that code and leaves the state unchanged. */
typedef lz_err (*core_journal_fn)(void *arg, const struct journal_rec *rec);

struct core_config {
	lz_clock *clock;            /* borrowed; must outlive the core */
	size_t max_message_bytes;   /* body + properties; 262144 by default */
	size_t max_entities;        /* queues + topics; 0 = 10000 */
	core_journal_fn journal;    /* NULL: records are not shipped anywhere */
	void *journal_arg;
};

lz_err core_new(const struct core_config *cfg, core **out);
void core_free(core *c);

/* ---- entities -------------------------------------------------------------------------- */

/* A snapshot of one entity, copied out of the core; release with entity_info_release(). */
struct entity_info {
	char *path;                 /* display path: "orders", "t1/subscriptions/s1" */
	char *name;                 /* last segment for subscriptions, the path otherwise */
	struct entity_desc desc;
	int64_t created_at, updated_at, accessed_at; /* accessed_at: 0 if never */
	uint64_t active_count, deadletter_count, scheduled_count, deferred_count;
	uint64_t transfer_count, transfer_deadletter_count;
	uint64_t message_count;     /* all states, including the dead-letter subqueue */
	uint64_t size_bytes;
	uint64_t subscription_count; /* topics */
};
void entity_info_release(struct entity_info *e);
void entity_info_array_free(struct entity_info *arr, size_t n);

/*
 * Creates (`update` false) or fully replaces (`update` true, the If-Match: * form) the entity at
 * `path` with `desc` (desc->kind decides queue/topic/subscription; a subscription path needs
 * kind SUBSCRIPTION). Validates names, ranges and ForwardTo targets. Creating a subscription
 * also creates its `$Default` rule (TRUE filter), or `default_rule` when given.
 * On success `out` (may be NULL) receives the entity as stored.
 */
lz_err core_entity_put(core *c, const char *path, const struct entity_desc *desc, bool update,
		       const struct rule_desc *default_rule, struct entity_info *out,
		       struct lz_detail *detail);
lz_err core_entity_get(core *c, const char *path, struct entity_info *out, struct lz_detail *detail);
/* Deletes the entity and everything under it (a topic's subscriptions, their rules, messages). */
lz_err core_entity_delete(core *c, const char *path, struct lz_detail *detail);
/*
 * Lists entities of `kind` in path order: all queues or all topics (`topic` NULL), or the
 * subscriptions of `topic`. `skip`/`top` page the result (top 0 = no limit). The caller frees the
 * array with entity_info_array_free().
 */
lz_err core_entity_list(core *c, enum entity_kind kind, const char *topic, size_t skip, size_t top,
			struct entity_info **out, size_t *n, struct lz_detail *detail);

/* ---- rules (subscription path + rule name) ---------------------------------------------- */

lz_err core_rule_put(core *c, const char *sub_path, const struct rule_desc *rule, bool update,
		     struct rule_desc *out, struct lz_detail *detail);
lz_err core_rule_get(core *c, const char *sub_path, const char *name, struct rule_desc *out,
		     struct lz_detail *detail);
lz_err core_rule_delete(core *c, const char *sub_path, const char *name, struct lz_detail *detail);
/* Rules in name order; free with rule_desc_array_free(). */
lz_err core_rule_list(core *c, const char *sub_path, size_t skip, size_t top, struct rule_desc **out,
		      size_t *n, struct lz_detail *detail);
void rule_desc_array_free(struct rule_desc *arr, size_t n);

/* ---- messages ------------------------------------------------------------------------------ */

/* Reference-counted immutable message body, shared by the copies of a fanned-out message. */
struct msg_body {
	_Atomic uint32_t refs;
	uint32_t len;
	uint8_t bytes[];
};
/* A new body holding a copy of `len` bytes, refs = 1; NULL when out of memory. */
struct msg_body *msg_body_new(const void *bytes, size_t len);
void msg_body_ref(struct msg_body *b);
void msg_body_unref(struct msg_body *b); /* NULL is a no-op */

/* A message offered for sending; borrowed by the call (the body is referenced, not stolen). */
struct msg_in {
	struct msg_props props;
	struct proplist user;
	struct msg_body *body;
};

enum subqueue { SUBQ_MAIN = 0, SUBQ_DLQ = 1 };
enum msg_state { MSG_ACTIVE = 0, MSG_SCHEDULED = 1, MSG_DEFERRED = 2 };
const char *msg_state_name(enum msg_state s); /* "Active", "Scheduled", "Deferred" */

/* A received or peeked message, copied out of the core; release with msg_out_release(). */
struct msg_out {
	uint64_t seq;
	uint64_t enqueued_seq;      /* original seq of an auto-forwarded message, else 0 */
	int64_t enqueued_ms;
	int64_t expires_ms;         /* INT64_MAX: never */
	int64_t ttl_ms;             /* effective TTL */
	uint32_t delivery_count;
	enum msg_state state;
	bool dead_lettered;
	char lock_token[37];        /* "" unless locked by this call */
	int64_t locked_until_ms;
	char *dead_letter_source;   /* may be NULL */
	struct msg_props props;
	struct proplist user;       /* includes DeadLetterReason / DeadLetterErrorDescription */
	struct msg_body *body;      /* one reference owned by this struct */
};
void msg_out_release(struct msg_out *m);
void msg_out_array_free(struct msg_out *arr, size_t n);

/*
 * Sends `n` messages to the queue or topic at `path` as one unit: all are accepted or none.
 * Messages with props.scheduled_enqueue_ms in the future become scheduled. When `seqs` is not
 * NULL it receives each message's sequence number (0 for a duplicate that was discarded).
 */
lz_err core_send(core *c, const char *path, const struct msg_in *msgs, size_t n, uint64_t *seqs,
		 struct lz_detail *detail);

enum recv_mode { RECV_PEEK_LOCK = 0, RECV_RECEIVE_DELETE = 1 };

/*
 * Called exactly once for a parked receive (unless withdrawn with core_waiter_cancel): with a
 * message, with msg == NULL and LZ_OK when the deadline passed, or with msg == NULL and an error
 * (LZ_ENOTFOUND when the entity was deleted, LZ_EDISABLED when an update disabled receiving). The callee takes over the contents of *msg (copy
 * the struct; release it later with msg_out_release). Runs under the core mutex.
 */
typedef void (*core_wait_fn)(void *arg, lz_err err, struct msg_out *msg);

/*
 * Receives the next available message from `path` (queue or subscription) and subqueue `sq`.
 * If one is available, it is copied to `out`, *got is true and *waiter_id 0. Otherwise, when
 * `wait_ms` > 0 and `cb` is not NULL, the receive is parked until a message arrives or the clock
 * passes now + wait_ms: *got is false, *waiter_id is its handle (never 0, never reused) and `cb`
 * fires later. With wait_ms == 0 nothing is parked (*got false, *waiter_id 0).
 */
lz_err core_receive(core *c, const char *path, enum subqueue sq, enum recv_mode mode, int64_t wait_ms,
		    core_wait_fn cb, void *cb_arg, struct msg_out *out, bool *got, uint64_t *waiter_id,
		    struct lz_detail *detail);
/* Withdraws a parked receive (e.g. the client went away). Returns true if it was still parked:
 * its callback will not run. Returns false if the callback already ran (or the id is unknown). */
bool core_waiter_cancel(core *c, uint64_t waiter_id);

enum settle_op {
	SETTLE_COMPLETE = 0,
	SETTLE_ABANDON = 1,
	SETTLE_RENEW = 2,
	SETTLE_DEADLETTER = 3,
	SETTLE_DEFER = 4,
};

/*
 * Settles the message locked with `lock_token` in `path`/`sq`. `id` is the message's sequence
 * number in decimal or its MessageId (both forms of the REST lock URI); NULL skips that check.
 * DEADLETTER takes an optional `reason` and `description`. RENEW writes the new lock expiry to
 * *locked_until (may be NULL).
 */
lz_err core_settle(core *c, const char *path, enum subqueue sq, const char *id, const char *lock_token,
		   enum settle_op op, const char *reason, const char *description,
		   int64_t *locked_until, struct lz_detail *detail);

/* Browse without locking from sequence number `from_seq` (0 = from the start), at most `max`
 * messages in sequence order, including scheduled (queues only) and deferred ones. */
lz_err core_peek(core *c, const char *path, enum subqueue sq, uint64_t from_seq, size_t max,
		 struct msg_out **out, size_t *n, struct lz_detail *detail);

/* Schedules `n` messages for `at_ms`; seqs[i] receives each one's sequence number. */
lz_err core_schedule(core *c, const char *path, const struct msg_in *msgs, size_t n, int64_t at_ms,
		     uint64_t *seqs, struct lz_detail *detail);
lz_err core_cancel_scheduled(core *c, const char *path, uint64_t seq, struct lz_detail *detail);

/* Receives deferred messages by sequence number (peek-lock or delete). All must exist and be
 * deferred, or nothing happens (LZ_ENOTFOUND naming the first missing one). */
lz_err core_receive_deferred(core *c, const char *path, enum subqueue sq, const uint64_t *seqs, size_t n,
			     enum recv_mode mode, struct msg_out **out, size_t *nout, struct lz_detail *detail);

/* ---- time ---------------------------------------------------------------------------------- */

/* Runs everything due at the clock's current time: scheduled activations, lock expiries, TTL
 * expiry, idle deletion, duplicate-detection pruning and parked-receive deadlines. */
void core_tick(core *c);
/* The earliest instant at which core_tick has work, INT64_MAX if none. */
int64_t core_next_deadline(core *c);
lz_clock *core_clock(core *c);

/* ---- journal, replay and dump ------------------------------------------------------------- */

/* LSN of the last record emitted or replayed (0 before the first). */
uint64_t core_last_lsn(core *c);
/* LSN of the last record committed by the calling thread since core_thread_lsn_reset() (0: none):
 * a front end waits for it to become durable before it answers. */
uint64_t core_thread_lsn(void);
void core_thread_lsn_reset(void);
/* Installs (or, with NULL, removes) the journal sink after a state transfer; see core_config. */
void core_set_journal(core *c, core_journal_fn fn, void *arg);
/* Applies one record from a journal stream (start-up replay) without shipping it again.
 * LZ_EPARSE for a record that does not decode, LZ_EINVAL for one that does not apply. */
lz_err core_replay(core *c, const struct journal_rec *rec, struct lz_detail *detail);
/*
 * State transfer. core_export() calls `fn` once per entity (a LOAD_ENTITY record, topics before
 * their subscriptions) and once per message (LOAD_MESSAGE), all with lsn 0; a non-OK return
 * stops the export with that code. A fresh core takes them with core_replay(), which accepts
 * lsn-0 LOAD records only before it has applied any other record, and core_load_done() then
 * sets the LSN that state corresponds to, so that the journal tail can follow.
 */
lz_err core_export(core *c, core_journal_fn fn, void *arg);
lz_err core_load_done(core *c, uint64_t base_lsn, struct lz_detail *detail);

/* A canonical text rendering of all durable state (entities, rules, counters, messages in every
 * state, duplicate-detection history). Locks are not part of it. The caller frees *out. */
lz_err core_dump(core *c, char **out, size_t *len);

/* ---- metrics ------------------------------------------------------------------------------- */

/* Calls `fn` for every queue and subscription with its counts, under the core mutex. */
typedef void (*core_entity_stats_fn)(void *arg, const char *path, enum entity_kind kind,
				     uint64_t active, uint64_t deadletter, uint64_t scheduled,
				     uint64_t deferred, uint64_t locked);
void core_stats_foreach(core *c, core_entity_stats_fn fn, void *arg);

#endif
