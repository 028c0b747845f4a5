/*
 * store — persistd's storage backends behind one const operations table.
 *
 * A backend holds the broker's durable state in the state-transfer form of proto/journal.h:
 * entities as struct jrec_load_entity (everything but messages) and messages as struct
 * jrec_load_message, keyed by (entity path lower-cased, where, seq), plus last_applied_lsn.
 * The fold (persistd/fold.c) turns journal records into these operations; start-up reads the
 * state back through `load` and streams it to the broker as LOAD_ENTITY / LOAD_MESSAGE records.
 *
 * Calling sequence: open → { begin → (put/delete/get)* → commit(lsn) | rollback }* → close.
 * Reads (get_*, load, stats, last_applied_lsn) are valid inside or outside a transaction and see
 * the transaction's own writes. Exactly one transaction at a time; a store handle belongs to one
 * thread. commit(lsn) makes every write of the transaction and last_applied_lsn = lsn durable
 * atomically (sqlite: one transaction with synchronous=FULL; json: every file replaced with
 * temp + fsync + rename and the directories fsynced, last_applied_lsn written last; redis: the
 * writes buffered client-side, then one MULTI/EXEC on a server with appendfsync always; memory:
 * no durability beyond the process). After commit returns LZ_OK a crash loses nothing of it; after
 * a crash before that, the store shows the previous commit exactly.
 *
 * Ownership: put_* borrow their arguments. get_* fill caller-provided structs the caller
 * releases (journal_load_entity_release / journal_load_message_release). load passes borrowed structs valid for the duration of each callback.
 *
 * Errors: LZ_ENOTFOUND from get_* / delete_* when the key does not exist; LZ_ESYS for an I/O
 * error (detail names the file or the SQLite message) — persistd treats it as fatal; LZ_EPARSE
 * for stored data that does not decode (detail names the file/row).
 */
#ifndef LZ_PERSISTD_STORE_H
#define LZ_PERSISTD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "proto/journal.h"

typedef struct store store;

struct store_detail {
	char text[512];
};

struct store_config {
	const char *location;  /* sqlite: database file; json: directory; redis: redis:// URL;
			        * memory: ignored */
	bool pretty_json;      /* json: indent files for reading by hand */
	const char *key_prefix; /* redis: prefix of every key (NULL: "localzure:") */
};

struct store_stats {
	uint64_t entities;
	uint64_t messages;        /* all messages */
	uint64_t messages_active; /* main queue, not deferred */
	uint64_t messages_deferred;
	uint64_t messages_deadletter;
	uint64_t messages_scheduled;
	uint64_t size_bytes;      /* on disk (0 for memory) */
	uint64_t last_applied_lsn;
};

struct store_visitor {
	/* Entities come first, every topic before its subscriptions, then every message. A non-OK
	 * return stops the load with that code. */
	lz_err (*entity)(void *arg, const struct jrec_load_entity *e);
	lz_err (*message)(void *arg, const struct jrec_load_message *m);
	void *arg;
};

struct store_ops {
	const char *name; /* "sqlite", "json", "memory", "redis" */

	lz_err (*open)(const struct store_config *cfg, store **out, struct store_detail *detail);
	void (*close)(store *s); /* NULL is a no-op; an open transaction is rolled back */

	lz_err (*begin)(store *s, struct store_detail *detail);
	lz_err (*commit)(store *s, uint64_t lsn, struct store_detail *detail);
	void (*rollback)(store *s);

	/* Entities by path (case-insensitive: backends key them lower-cased). put replaces. */
	lz_err (*put_entity)(store *s, const struct jrec_load_entity *e, struct store_detail *detail);
	lz_err (*get_entity)(store *s, const char *path, struct jrec_load_entity *out, struct store_detail *detail);
	/* Deletes the entity and all its messages (not its subscriptions: the fold deletes those). */
	lz_err (*delete_entity)(store *s, const char *path, struct store_detail *detail);
	/* Calls fn with the path of every entity whose lower-cased path starts with the lower-cased
	 * `prefix` (the fold lists "{topic}/subscriptions/"), in key order; fn may not modify the
	 * store; a non-OK return stops the listing with that code. */
	lz_err (*list_entities)(store *s, const char *prefix, lz_err (*fn)(void *arg, const char *path), void *arg,
				struct store_detail *detail);

	/* Messages by (path, where, seq) of m->place; put replaces. */
	lz_err (*put_message)(store *s, const struct jrec_load_message *m, struct store_detail *detail);
	lz_err (*get_message)(store *s, const char *path, enum journal_where where, uint64_t seq,
			      struct jrec_load_message *out, struct store_detail *detail);
	lz_err (*delete_message)(store *s, const char *path, enum journal_where where, uint64_t seq,
				 struct store_detail *detail);

	lz_err (*last_applied_lsn)(store *s, uint64_t *lsn, struct store_detail *detail);
	lz_err (*load)(store *s, const struct store_visitor *v, struct store_detail *detail);
	lz_err (*stats)(store *s, struct store_stats *out, struct store_detail *detail);
	/* sqlite: VACUUM; json: remove orphaned temp files and empty directories. */
	lz_err (*compact)(store *s, struct store_detail *detail);
	/* Deletes all data and sets last_applied_lsn to 0. */
	lz_err (*purge)(store *s, struct store_detail *detail);
};

extern const struct store_ops store_sqlite_ops;
extern const struct store_ops store_json_ops;
extern const struct store_ops store_memory_ops;
/* Redis through hiredis (store_redis.c): needs a server with appendonly yes and appendfsync
 * always, checked at open. */
extern const struct store_ops store_redis_ops;

/* The backend called `name` ("sqlite", "json", "memory", "redis"); NULL for any other name. */
const struct store_ops *store_ops_find(const char *name);

/* ---- helpers the backends share ---- */

/* Formats `d->text` (d may be NULL: nothing happens). */
void store_detail_set(struct store_detail *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* LZ_EINVAL ("<backend>: empty entity path") for a NULL or empty path. */
lz_err store_check_path(const char *backend, const char *path, struct store_detail *d);

/* LZ_ESTATE ("<backend>: <what> outside / inside a transaction") unless in_tx == want. */
lz_err store_check_tx(const char *backend, bool in_tx, bool want, const char *what, struct store_detail *d);

/* Entity paths collected by store_paths_add (a list_entities callback), so that the caller can
 * change the store after the listing. `err` is for callers that add outside list_entities. */
struct store_paths {
	char **v;
	size_t n, cap;
	lz_err err;
};

lz_err store_paths_add(void *arg, const char *path); /* arg: struct store_paths; LZ_ENOMEM */
void store_paths_release(struct store_paths *p);

/* A lower-cased heap copy of `path` (ASCII folding: entity keys are case-insensitive); NULL when
 * out of memory. */
char *store_key_new(const char *path);

/*
 * Copies everything in `from` into `to`, which must be empty (LZ_EEXIST otherwise, nothing
 * written), in one transaction of `to` committed at from's last_applied_lsn. This is the
 * backend-swap path: stop persistd (it folds), copy, start persistd on the new backend.
 */
lz_err store_copy(const struct store_ops *from_ops, store *from, const struct store_ops *to_ops, store *to,
		  struct store_detail *detail);

#endif
