/*
 * core_internal — the structures behind broker/core.h, shared by the core's .c files only.
 *
 * Layout of the state:
 *   core.entities   map  lower-cased path -> struct entity (queues, topics, subscriptions)
 *   entity.main/dlq mstore of a queue or subscription: messages sorted by sequence number, plus a
 *                   min-heap of the available ones (active, unlocked, not deferred), so that an
 *                   abandoned or lock-expired message goes back to its place, not to the tail
 *   entity.sched    mstore of a queue's or topic's scheduled messages (provisional numbers)
 *   core.*_heap     global timer heaps: scheduled activation, TTL expiry, lock expiry, waiters
 *   core.locks      map lock token -> message (locks are not durable state)
 *
 * Every durable change goes through core_commit(): build a struct jrec, ship it to the journal
 * sink, then apply it with core_apply(). core_replay() only applies. Allocation failure inside
 * the core aborts the process (core_oom): a half-applied record would break replay equality.
 */
#ifndef LZ_BROKER_CORE_INTERNAL_H
#define LZ_BROKER_CORE_INTERNAL_H

#include <pthread.h>

#include "broker/core.h"
#include "common/heap.h"
#include "common/map.h"
#include "common/strbuf.h"
#include "proto/journal.h"

struct entity;

struct lock_info {
	char token[37];
	int64_t until_ms;
	size_t heap_idx;
};

struct message {
	uint64_t seq;
	uint64_t enqueued_seq;
	int64_t enqueued_ms;
	int64_t expires_ms;   /* INT64_MAX: never */
	int64_t ttl_ms;
	int64_t scheduled_ms; /* 0: not scheduled */
	uint32_t delivery_count;
	uint8_t state;        /* enum msg_state */
	uint8_t where;        /* enum journal_where */
	size_t avail_idx;     /* position in owner's avail heap or HEAP_NONE */
	size_t exp_idx;       /* position in core.exp_heap or HEAP_NONE */
	size_t sched_idx;     /* position in core.sched_heap or HEAP_NONE */
	struct lock_info *lock;
	struct entity *owner;
	const char *dl_source; /* points into `strings` */
	size_t size;          /* bytes accounted against the entity */
	struct msg_props props; /* strings point into `strings` */
	struct proplist user;
	struct msg_body *body;
	char strings[];       /* props' strings and dl_source, packed: one allocation per message */
};

struct mslot {
	uint64_t seq;
	struct message *m;    /* NULL: removed (the seq stays so binary search still works) */
};

struct mstore {
	struct mslot *v;
	size_t head, tail, cap; /* live slots are v[head..tail) */
	size_t live;
	struct heap avail;
	uint64_t deferred, locked;
};

struct core_waiter {
	uint64_t id;
	struct entity *entity;
	enum subqueue sq;
	enum recv_mode mode;
	int64_t deadline_ms;
	core_wait_fn cb;
	void *arg;
	size_t heap_idx;
	struct core_waiter *prev, *next;
};

struct dup_entry {
	int64_t ts_ms;
	char id[];
};

struct entity {
	char *path;            /* display form */
	char *key;             /* lower-cased path */
	struct entity_desc desc;
	int64_t created_at, updated_at, accessed_at;
	uint64_t last_seq;     /* queue/topic: last sequence number assigned */
	uint64_t bytes;        /* all messages stored under this entity */
	struct mstore main, dlq, sched;
	struct entity *topic;  /* subscription: its topic */
	struct entity **subs;  /* topic: subscriptions, sorted by key */
	size_t nsubs;
	struct rule_desc *rules; /* subscription: sorted by lower-cased name */
	size_t nrules;
	struct map dup;        /* message id -> struct dup_entry (duplicate detection) */
	struct dup_entry **dup_fifo; /* insertion order, for pruning */
	size_t dup_head, dup_tail, dup_cap;
	struct core_waiter *waiters[2], *waiters_tail[2]; /* per subqueue */
	bool wake_pending;
};

struct core {
	pthread_mutex_t mu;
	struct core_config cfg;
	struct map entities;
	size_t n_top;          /* queues + topics */
	struct map locks;
	struct heap lock_heap, sched_heap, exp_heap, wait_heap;
	struct entity **wake;  /* entities whose waiters may now be served */
	size_t nwake, capwake;
	uint64_t lsn;
	uint64_t next_waiter_id;
	bool applied_records;   /* a non-LOAD record was applied: no more state transfer */
	/* The body of the message being sent, so that applying its record shares it, not copies it. */
	struct msg_body *live_body;
	struct strbuf enc;
};

/* core_store.c */
void core_oom(void) __attribute__((noreturn));
void *core_xcalloc(size_t n, size_t size);
char *core_xstrdup(const char *s);
char *core_key(const char *path);              /* lower-cased copy */
/* Doubles the capacity of the array at *(void **)pv (at least 16 elements of `elem` bytes). */
void core_array_grow(void *pv, size_t *cap, size_t elem);
/* a + b, saturating at INT64_MAX (which also stands for "never"). */
int64_t core_sat_add(int64_t a, int64_t b);
/* The TTL a message with `p` gets in entity `e`: the smallest of its own TTL, e's default and,
 * for a subscription, its topic's default. */
int64_t core_effective_ttl(const struct entity *e, const struct msg_props *p);
/* Bytes a message counts against its entity: body, system property strings, user properties. */
size_t core_message_size(const struct msg_props *p, const struct proplist *user, size_t body_len);
void mstore_init(struct mstore *s);
void mstore_release(struct mstore *s);        /* does not free messages */
void mstore_insert(struct mstore *s, struct message *m);
struct message *mstore_find(const struct mstore *s, uint64_t seq);
void mstore_remove(struct mstore *s, struct message *m);
/* Index of the first live slot with seq >= from, or tail. */
size_t mstore_lower_bound(const struct mstore *s, uint64_t from);
/* A message whose props and dl_source are copies of `p` / `dl_source`, packed with it. */
struct message *message_new(const struct msg_props *p, const char *dl_source);
void message_free(struct message *m);
bool core_less_avail(const void *a, const void *b);
void core_set_avail_idx(void *e, size_t idx);
bool core_less_exp(const void *a, const void *b);
void core_set_exp_idx(void *e, size_t idx);
bool core_less_sched(const void *a, const void *b);
void core_set_sched_idx(void *e, size_t idx);
bool core_less_lock(const void *a, const void *b);
void core_set_lock_idx(void *e, size_t idx);
bool core_less_waiter(const void *a, const void *b);
void core_set_waiter_idx(void *e, size_t idx);

/* core_apply.c */
struct entity *core_entity_find(const struct core *c, const char *path);
struct mstore *entity_store(struct entity *e, enum journal_where where);
/* Applies a record; LZ_EINVAL with detail when it refers to state that does not exist. */
lz_err core_apply(struct core *c, const struct jrec *r, int64_t ts_ms, struct lz_detail *detail);
/* LSN of the calling thread's last commit (core_thread_lsn). */
extern _Thread_local uint64_t core_thread_last_lsn;
/* Ships and applies `r` at the clock's current time. */
lz_err core_commit(struct core *c, const struct jrec *r, struct lz_detail *detail);
void core_message_unlock(struct core *c, struct message *m); /* drops a lock, no other change */
void core_mark_wake(struct core *c, struct entity *e);
void core_entities_destroy_all(struct core *c);
bool core_dup_seen(struct entity *e, const char *id, int64_t now_ms);

/* core_dump.c: declared in core.h */

#endif
