/*
 * store_redis — the Redis backend: the whole state as keys under one prefix of one Redis
 * database, written through hiredis. One persistd per (server, db, prefix): nothing locks it.
 *
 * CONNECTION. store_config.location is redis://[[user]:password@]host[:port][/db] (default
 * redis://127.0.0.1:6379/0; user and password may be %XX-escaped; a user needs the password
 * too: ACL AUTH user password, else AUTH password); store_config.key_prefix prefixes every key
 * (default "localzure:"). Open connects (5 s timeout; every later command times out after 60 s),
 * authenticates, SELECTs db. Messages name the URL with the password replaced by "***".
 *
 * DURABILITY. persistd deletes WAL segments once the fold that holds them is committed, so a
 * commit may return only after Redis made the fold durable. Redis writes a MULTI/EXEC block to
 * its append-only file as one unit, and with `appendfsync always` it fdatasyncs the AOF in
 * beforeSleep before it sends any reply of that event-loop pass (an fsync error makes it exit):
 * EXEC's reply therefore means "on disk". Open checks this with CONFIG GET and refuses
 * (LZ_EINVAL, the message says what to set) unless
 *   appendonly yes                  the AOF exists at all (RDB snapshots lose minutes)
 *   appendfsync always              fsync before the reply (everysec loses ~1-2 s, no: ~30 s)
 *   no-appendfsync-on-rewrite no    "yes" skips the fsync while an AOF rewrite runs
 *   maxmemory-policy noeviction or volatile-*   allkeys-* would evict our keys (we set no TTL,
 *                                   so volatile-* never picks them: writes fail with OOM instead)
 * A server that refuses CONFIG GET (renamed, or denied by ACL) is refused too: the settings
 * cannot be verified. These are server settings: the check is repeated at every open only.
 *
 * KEY LAYOUT, FORMAT VERSION 1 (RD_FORMAT). P is the prefix; an entity key is the entity path
 * lower-cased (ASCII folding), e.g. "orders" or "t/subscriptions/s"; a message member is
 * "<where>:<seq>" with where one ASCII digit (enum journal_where: 0 main, 1 dead-letter queue,
 * 2 scheduled store) and seq 20 decimal digits, zero-padded, so that byte order of members is
 * (where, seq) order (scores are doubles: exact only to 2^53, sequence numbers go to 2^63).
 *   P meta               hash  format            "1" (decimal)
 *                              store_id          32 hex digits, set when the store is created
 *                              last_applied_lsn  decimal uint64, the LSN of the last commit
 *                              active deferred deadletter scheduled
 *                                                decimal message counts by state (stats)
 *                              purging           present only while a purge runs (see purge)
 *   P entities           zset  every score 0, members the entity keys: ZRANGEBYLEX lists them
 *                              in byte order, a topic before its subscriptions ("t" < "t/...")
 *   P e:<entity key>     string  the journal_encode payload of a LOAD_ENTITY record
 *                              (proto/journal.c), path as given included
 *   P msgents            zset  every score 0, members the entity keys that have messages (may
 *                              keep a member whose messages were all deleted one by one)
 *   P i:<entity key>     zset  every score 0, members the message members of that entity
 *   P m:<entity key>:<member>   string  byte 0: the state as an ASCII digit ('0' active, '1'
 *                              deferred, '2' dead-lettered, '3' scheduled; from where and the
 *                              deferred flag), bytes 1..: journal_encode payload of LOAD_MESSAGE
 * Entity paths hold no ':' in practice; even if one did, keys stay unambiguous: a message key
 * ends in ":<digit>:<20 digits>". Open refuses a format newer than RD_FORMAT (LZ_EUNSUPPORTED)
 * and keys under P without P meta (LZ_EPARSE); an empty prefix gets P meta created.
 *
 * TRANSACTIONS. MULTI cannot return reads, and the contract wants reads inside a transaction to
 * see its writes: writes are buffered client-side, one entry per Redis key holding the last
 * write to it (put with its value, or delete), in a hash map. Reads look there first. commit
 * first asks Redis what each buffered key holds now (GETRANGE key 0 0 / EXISTS, pipelined),
 * which gives the counter changes, then sends MULTI, every write (SET/DEL plus the index
 * ZADD/ZREM), HINCRBY of the counters, HSET of last_applied_lsn and EXEC in one pipeline, and
 * checks every reply. Nothing is applied unless EXEC runs (a command refused while queued, e.g.
 * OOM, makes EXEC discard everything); once it runs, Redis applies all of it (it has no
 * rollback; a command can fail at run time only on a key of the wrong type, which only someone
 * else writing under P can cause). rollback drops the buffer; so does close. delete_message and
 * delete_entity ask Redis at once whether the key exists (ENOTFOUND). delete_entity also
 * buffers a delete for each message of the entity, those in Redis (ZRANGEBYLEX on P i:<entity
 * key>, paged) and those put in the transaction, so memory is bounded by the transaction's
 * writes plus the messages of the entities it deletes, never by the store.
 *
 * READS. load and list_entities walk the sorted sets in pages (ZRANGEBYLEX with an exclusive
 * start after the last member, then one MGET for the page's values: 256 entities, 64 messages
 * per page), merged with the sorted buffered writes inside a transaction; memory is one page.
 * stats reads the counters, ZCARD P entities, and size_bytes = used_memory of INFO memory (the
 * whole server's memory, not only P's keys: MEMORY USAGE would cost one command per key).
 *
 * compact: BGREWRITEAOF (rewrites the server's whole AOF in the background, which gives back
 * the disk space of deleted keys; "already in progress" counts as success). Redis frees the
 * memory of deleted keys itself. purge: sets purging in P meta, deletes every key that matches
 * P* (SCAN + UNLINK, never KEYS) but P meta, then replaces P meta by a fresh one (lsn 0, same
 * store_id) in one MULTI/EXEC. A purge that was interrupted is finished by the next open.
 *
 * Errors: a connection or I/O failure, an AUTH failure or a command Redis refuses gives LZ_ESYS
 * with detail "redis: <command>: <what happened> (<url>)" and marks the connection broken:
 * every later call fails the same way (persistd treats LZ_ESYS as fatal and restarts). A value
 * that does not decode gives LZ_EPARSE naming its key. Writes outside a transaction, and
 * compact and purge inside one, give LZ_ESTATE.
 */
#include "persistd/store.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "common/log.h"
#include "common/map.h"
#include "common/strbuf.h"
#include "common/uuid.h"

#define RD_FORMAT 1
#define RD_DEFAULT_URL "redis://127.0.0.1:6379/0"
#define RD_DEFAULT_PREFIX "localzure:"
#define RD_CONNECT_TIMEOUT_S 5
#define RD_COMMAND_TIMEOUT_S 60
/* Page sizes of the sorted-set walks (strings: they go into commands as they are). */
#define RD_PAGE_ENTITIES "256"
#define RD_PAGE_MESSAGES "64"
#define RD_PAGE_SCAN "1000"
/* Commands (or value bytes) appended to a pipeline before its replies are read: keeps both
 * hiredis's output buffer and the server's reply buffer small during a large commit. */
#define RD_PIPE_BATCH 512
#define RD_PIPE_BYTES (4u * 1024 * 1024)
/* "<where>:<20 digits>" and its NUL. */
#define RD_MEMBER_LEN 23

/* What Redis holds for a buffered key before the commit (struct rd_op.old). */
#define RD_UNPROBED (-2)
#define RD_ABSENT (-1)

enum rd_state {
	RD_ACTIVE = 0,
	RD_DEFERRED = 1,
	RD_DEADLETTER = 2,
	RD_SCHEDULED = 3,
	RD__NSTATES
};

/* The counter fields of P meta, by enum rd_state. */
static const char *const rd_counter[RD__NSTATES] = { "active", "deferred", "deadletter", "scheduled" };

/* One buffered write: the last put or delete of one Redis key in the open transaction. */
struct rd_op {
	bool is_msg;
	bool del;                   /* delete; else put val */
	int old;                    /* RD_UNPROBED, RD_ABSENT, or what Redis holds: a message's enum
				     * rd_state, 0 for an entity */
	char member[RD_MEMBER_LEN]; /* messages: "<where>:<seq>" */
	uint8_t *val;               /* put: the Redis value */
	size_t len;
	const char *ent;            /* the entity key, in buf */
	const char *key;            /* the Redis key, in buf */
	char buf[];
};

struct rd_url {
	char *host;
	int port;
	char *user;     /* NULL: none */
	char *password; /* NULL: no AUTH */
	long db;
	char shown[600]; /* the URL for messages, password replaced by "***" */
};

struct store {
	redisContext *c;
	char *shown;      /* the URL for messages (no password) */
	char *prefix;
	char *k_meta, *k_entities, *k_msgents;
	bool in_tx;
	bool broken;      /* an I/O error left the connection unusable */
	uint64_t lsn;     /* last committed */
	struct map ops;   /* Redis key → struct rd_op: the open transaction's writes */
	struct map wiped; /* entity key → the store: deleted in this transaction, no message put since */
	struct strbuf key;  /* scratch: one Redis key */
	struct strbuf blob; /* scratch: one encoded record */
};

static void rd_member(char out[RD_MEMBER_LEN], enum journal_where where, uint64_t seq)
{
	snprintf(out, RD_MEMBER_LEN, "%d:%020" PRIu64, (int)where, seq);
}

static lz_err rd_check_where(enum journal_where where, struct store_detail *detail)
{
	if (where != JWHERE_MAIN && where != JWHERE_DLQ && where != JWHERE_SCHEDULED) {
		store_detail_set(detail, "redis: message place %d is not main, dead-letter or scheduled", (int)where);
		return LZ_EINVAL;
	}
	return LZ_OK;
}

static enum rd_state rd_state_of(const struct jrec_load_message *m)
{
	if (m->place.where == JWHERE_DLQ)
		return RD_DEADLETTER;
	if (m->place.where == JWHERE_SCHEDULED)
		return RD_SCHEDULED;
	return m->deferred ? RD_DEFERRED : RD_ACTIVE;
}

/* Parses `len` bytes of decimal digits (no sign, no spaces) into *out. */
static bool rd_parse_u64(const char *str, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 20)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (str[i] < '0' || str[i] > '9' || v > (UINT64_MAX - (uint64_t)(str[i] - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(str[i] - '0');
	}
	*out = v;
	return true;
}

/* ------------------------------------------------------------------------------------------ */
/* Commands                                                                                   */
/* ------------------------------------------------------------------------------------------ */

/* The command name of a hiredis format ("GET %b" → "GET"), for messages. */
static void rd_what(const char *fmt, char out[32])
{
	size_t n = strcspn(fmt, " ");

	if (n > 31)
		n = 31;
	memcpy(out, fmt, n);
	out[n] = '\0';
}

/* The connection failed (hiredis set c->err): LZ_ESYS, and the handle is unusable from now on. */
static lz_err rd_io_fail(store *s, const char *what, struct store_detail *detail)
{
	store_detail_set(detail, "redis: %s: %s (%s); check that redis-server runs there and is reachable", what,
		   s->c->errstr[0] != '\0' ? s->c->errstr : "connection error", s->shown);
	s->broken = true;
	return LZ_ESYS;
}

/* Redis answered an error reply. */
static lz_err rd_reply_fail(const store *s, const char *what, const redisReply *r, struct store_detail *detail)
{
	if (strncmp(r->str, "NOAUTH", 6) == 0)
		store_detail_set(detail,
			   "redis: %s: %s (%s); the server wants a password: give it in redis_url as "
			   "redis://:PASSWORD@host:port/db",
			   what, r->str, s->shown);
	else
		store_detail_set(detail, "redis: %s: %s (%s)", what, r->str, s->shown);
	return LZ_ESYS;
}

static lz_err rd_broken(const store *s, struct store_detail *detail)
{
	store_detail_set(detail, "redis: the connection to %s failed earlier; restart persistd", s->shown);
	return LZ_ESYS;
}

/* Checks a reply: NULL (connection failed) and error replies give LZ_ESYS; frees it on failure. */
static lz_err rd_reply_check(store *s, const char *what, redisReply *r, struct store_detail *detail)
{
	lz_err err;

	if (r == NULL)
		return rd_io_fail(s, what, detail);
	if (r->type != REDIS_REPLY_ERROR)
		return LZ_OK;
	err = rd_reply_fail(s, what, r, detail);
	freeReplyObject(r);
	return err;
}

/* Runs one command (hiredis format: %s a C string, %b pointer + size_t length). OUT *out (may
 * be NULL: the reply is dropped) gets the reply, which the caller frees with freeReplyObject. */
static lz_err rd_cmd(store *s, redisReply **out, struct store_detail *detail, const char *fmt, ...)
{
	char what[32];
	redisReply *r;
	va_list ap;
	lz_err err;

	if (out != NULL)
		*out = NULL;
	if (s->broken)
		return rd_broken(s, detail);
	rd_what(fmt, what);
	va_start(ap, fmt);
	r = redisvCommand(s->c, fmt, ap);
	va_end(ap);
	err = rd_reply_check(s, what, r, detail);
	if (err != LZ_OK)
		return err;
	if (out != NULL)
		*out = r;
	else
		freeReplyObject(r);
	return LZ_OK;
}

/* rd_cmd with an argument vector (commands with a variable number of keys). */
static lz_err rd_cmd_argv(store *s, redisReply **out, struct store_detail *detail, int argc, const char **argv,
			  const size_t *lens)
{
	redisReply *r;
	lz_err err;

	*out = NULL;
	if (s->broken)
		return rd_broken(s, detail);
	r = redisCommandArgv(s->c, argc, argv, lens);
	err = rd_reply_check(s, argv[0], r, detail);
	if (err == LZ_OK)
		*out = r;
	return err;
}

/* A reply of an unexpected shape (a server that is not Redis, or keys of another type). */
static lz_err rd_shape_fail(const store *s, const char *what, const char *key, struct store_detail *detail)
{
	store_detail_set(detail, "redis: unexpected reply to %s for '%s' (%s)", what, key, s->shown);
	return LZ_ESYS;
}

/*
 * A pipeline: commands appended without waiting, replies read in batches. Every reply is read
 * even after a failure, so that the connection stays in step; `err` keeps the first failure.
 */
struct rd_pipe {
	store *s;
	struct store_detail *detail;
	size_t pending;     /* appended, reply not read */
	size_t bytes;       /* value bytes appended since the last drain */
	lz_err err;
	redisReply *last;   /* rd_pipe_drain(keep_last): the last reply */
};

static void rd_pipe_drain(struct rd_pipe *p, bool keep_last)
{
	store *s = p->s;

	for (; p->pending > 0; p->pending--) {
		redisReply *r = NULL;

		if (s->broken)
			break;
		if (redisGetReply(s->c, (void **)&r) != REDIS_OK || r == NULL) {
			lz_err err = rd_io_fail(s, "pipeline", p->detail);

			if (p->err == LZ_OK)
				p->err = err;
			break;
		}
		if (r->type == REDIS_REPLY_ERROR && p->err == LZ_OK)
			p->err = rd_reply_fail(s, "pipeline", r, p->detail);
		if (keep_last && p->pending == 1)
			p->last = r;
		else
			freeReplyObject(r);
	}
	p->pending = 0;
	p->bytes = 0;
}

/* Appends one command; `bytes` is the size of its value arguments (for batching). */
static void rd_pipe_add(struct rd_pipe *p, size_t bytes, const char *fmt, ...)
{
	va_list ap;
	int rc;

	if (p->s->broken)
		return;
	va_start(ap, fmt);
	rc = redisvAppendCommand(p->s->c, fmt, ap);
	va_end(ap);
	if (rc != REDIS_OK) {
		if (p->err == LZ_OK)
			p->err = LZ_ENOMEM;
		return;
	}
	p->pending++;
	p->bytes += bytes;
	if (p->pending >= RD_PIPE_BATCH || p->bytes >= RD_PIPE_BYTES)
		rd_pipe_drain(p, false);
}

/* ------------------------------------------------------------------------------------------ */
/* Keys and values                                                                            */
/* ------------------------------------------------------------------------------------------ */

/* Builds a key into `out`: the prefix, then `fmt`. */
static lz_err rd_keyf(const store *s, struct strbuf *out, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static lz_err rd_keyf(const store *s, struct strbuf *out, const char *fmt, ...)
{
	va_list ap;
	lz_err err;
	char *tail = NULL;
	int n;

	strbuf_reset(out);
	va_start(ap, fmt);
	n = vasprintf(&tail, fmt, ap);
	va_end(ap);
	if (n < 0)
		return LZ_ENOMEM;
	err = strbuf_adds(out, s->prefix);
	if (err == LZ_OK)
		err = strbuf_add(out, tail, (size_t)n);
	free(tail);
	return err;
}

/* Decodes a stored value of `type` into OUT `r` (released on failure); `key` names it. */
static lz_err rd_decode(const store *s, enum journal_type type, const uint8_t *data, size_t len, const char *key,
			struct jrec *r, struct store_detail *detail)
{
	char why[256];
	lz_err err = journal_decode(type, data, len, r, why, sizeof(why));

	if (err == LZ_OK)
		return LZ_OK;
	journal_rec_release(r);
	if (err == LZ_EPARSE || err == LZ_EUNSUPPORTED) {
		store_detail_set(detail, "redis: '%s' does not decode: %s (%s)", key, why, s->shown);
		err = LZ_EPARSE;
	}
	return err;
}

/* Decodes a message value (state byte + payload). */
static lz_err rd_decode_message(const store *s, const uint8_t *val, size_t len, const char *key, struct jrec *r,
				struct store_detail *detail)
{
	memset(r, 0, sizeof(*r));
	if (len == 0 || val[0] < '0' || val[0] >= '0' + RD__NSTATES) {
		store_detail_set(detail, "redis: '%s' does not start with a state digit (%s)", key, s->shown);
		return LZ_EPARSE;
	}
	return rd_decode(s, JREC_LOAD_MESSAGE, val + 1, len - 1, key, r, detail);
}

/* ------------------------------------------------------------------------------------------ */
/* The transaction buffer                                                                     */
/* ------------------------------------------------------------------------------------------ */

static void rd_op_free(struct rd_op *op)
{
	if (op == NULL)
		return;
	free(op->val);
	free(op);
}

static void rd_op_free_cb(void *arg, const char *key, void *value)
{
	(void)arg;
	(void)key;
	rd_op_free(value);
}

/* Drops every buffered write and ends the transaction. */
static void rd_tx_end(store *s)
{
	map_foreach(&s->ops, rd_op_free_cb, NULL);
	map_release(&s->ops);
	map_init(&s->ops);
	map_release(&s->wiped);
	map_init(&s->wiped);
	s->in_tx = false;
}

/* The buffered write of `key`, created (an unprobed delete) if there is none; *created (may be
 * NULL) tells which. */
static lz_err rd_op_get(store *s, const char *key, bool is_msg, const char *ent, const char *member,
			struct rd_op **out, bool *created)
{
	struct rd_op *op = map_get(&s->ops, key);
	size_t klen, elen;
	lz_err err;

	if (created != NULL)
		*created = op == NULL;
	if (op != NULL) {
		*out = op;
		return LZ_OK;
	}
	klen = strlen(key);
	elen = strlen(ent);
	op = calloc(1, sizeof(*op) + klen + 1 + elen + 1);
	if (op == NULL)
		return LZ_ENOMEM;
	memcpy(op->buf, key, klen + 1);
	memcpy(op->buf + klen + 1, ent, elen + 1);
	op->key = op->buf;
	op->ent = op->buf + klen + 1;
	op->is_msg = is_msg;
	op->del = true;
	op->old = RD_UNPROBED;
	if (member != NULL)
		memcpy(op->member, member, RD_MEMBER_LEN);
	err = map_put(&s->ops, key, op, NULL);
	if (err != LZ_OK) {
		free(op);
		return err;
	}
	*out = op;
	return LZ_OK;
}

/* Buffers a put of `key`: `prefix_byte` (-1: none) then `len` bytes of data. */
static lz_err rd_op_put(store *s, const char *key, bool is_msg, const char *ent, const char *member,
			int prefix_byte, const void *data, size_t len)
{
	size_t n = len + (prefix_byte >= 0);
	uint8_t *val = malloc(n > 0 ? n : 1);
	struct rd_op *op;
	lz_err err;

	if (val == NULL)
		return LZ_ENOMEM;
	if (prefix_byte >= 0)
		val[0] = (uint8_t)prefix_byte;
	if (len > 0)
		memcpy(val + (prefix_byte >= 0), data, len);
	err = rd_op_get(s, key, is_msg, ent, member, &op, NULL);
	if (err != LZ_OK) {
		free(val);
		return err;
	}
	free(op->val);
	op->val = val;
	op->len = n;
	op->del = false;
	return LZ_OK;
}

/* Turns a buffered write into a delete. */
static void rd_op_delete(struct rd_op *op)
{
	free(op->val);
	op->val = NULL;
	op->len = 0;
	op->del = true;
}

/* What a GETRANGE key 0 0 / EXISTS reply says about the key: RD_ABSENT or the state (0 for an
 * entity). */
static lz_err rd_probe_reply(const store *s, const struct rd_op *op, const redisReply *r, int *old,
			     struct store_detail *detail)
{
	if (!op->is_msg) {
		if (r->type != REDIS_REPLY_INTEGER)
			return rd_shape_fail(s, "EXISTS", op->key, detail);
		*old = r->integer > 0 ? 0 : RD_ABSENT;
		return LZ_OK;
	}
	if (r->type != REDIS_REPLY_STRING)
		return rd_shape_fail(s, "GETRANGE", op->key, detail);
	if (r->len == 0) {
		*old = RD_ABSENT;
		return LZ_OK;
	}
	if (r->str[0] < '0' || r->str[0] >= '0' + RD__NSTATES) {
		store_detail_set(detail, "redis: '%s' does not start with a state digit (%s)", op->key, s->shown);
		return LZ_EPARSE;
	}
	*old = r->str[0] - '0';
	return LZ_OK;
}

static int rd_probe_append(store *s, const struct rd_op *op)
{
	if (op->is_msg)
		return redisAppendCommand(s->c, "GETRANGE %s 0 0", op->key);
	return redisAppendCommand(s->c, "EXISTS %s", op->key);
}

/* Asks Redis what it holds for one key now (op->old). */
static lz_err rd_probe_one(store *s, struct rd_op *op, struct store_detail *detail)
{
	redisReply *r;
	lz_err err;

	if (op->old != RD_UNPROBED)
		return LZ_OK;
	if (op->is_msg)
		err = rd_cmd(s, &r, detail, "GETRANGE %s 0 0", op->key);
	else
		err = rd_cmd(s, &r, detail, "EXISTS %s", op->key);
	if (err != LZ_OK)
		return err;
	err = rd_probe_reply(s, op, r, &op->old, detail);
	freeReplyObject(r);
	return err;
}

struct rd_oplist {
	struct rd_op **v;
	size_t n, cap;
	lz_err err;
	/* Filters: only unprobed ops; only entities whose key starts with `prefix`; only the
	 * messages of entity `ent`; only messages. */
	bool unprobed, entities, messages;
	const char *prefix, *ent;
};

static void rd_oplist_collect(void *arg, const char *key, void *value)
{
	struct rd_oplist *l = arg;
	struct rd_op *op = value;

	(void)key;
	if (l->err != LZ_OK || (l->unprobed && op->old != RD_UNPROBED) || (l->entities && op->is_msg) ||
	    (l->messages && !op->is_msg))
		return;
	if (l->prefix != NULL && strncmp(op->ent, l->prefix, strlen(l->prefix)) != 0)
		return;
	if (l->ent != NULL && strcmp(op->ent, l->ent) != 0)
		return;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct rd_op **v = realloc(l->v, cap * sizeof(*v));

		if (v == NULL) {
			l->err = LZ_ENOMEM;
			return;
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = op;
}

/* Probes every unprobed buffered write, pipelined in batches. */
static lz_err rd_probe_all(store *s, struct store_detail *detail)
{
	struct rd_oplist l = { .unprobed = true };
	lz_err err = LZ_OK;

	map_foreach(&s->ops, rd_oplist_collect, &l);
	if (l.err != LZ_OK) {
		free(l.v);
		return l.err;
	}
	for (size_t from = 0; from < l.n && err == LZ_OK; from += RD_PIPE_BATCH) {
		size_t to = from + RD_PIPE_BATCH < l.n ? from + RD_PIPE_BATCH : l.n;
		size_t appended = from;

		if (s->broken) {
			err = rd_broken(s, detail);
			break;
		}
		while (appended < to && rd_probe_append(s, l.v[appended]) == REDIS_OK)
			appended++;
		if (appended < to)
			err = LZ_ENOMEM;
		/* Every appended command's reply is read, even after a failure: the connection stays
		 * in step. */
		for (size_t i = from; i < appended; i++) {
			redisReply *r = NULL;
			lz_err e;

			if (redisGetReply(s->c, (void **)&r) != REDIS_OK || r == NULL) {
				err = rd_io_fail(s, "probe", detail);
				break;
			}
			e = r->type == REDIS_REPLY_ERROR ? rd_reply_fail(s, "probe", r, detail)
							 : rd_probe_reply(s, l.v[i], r, &l.v[i]->old, detail);
			if (err == LZ_OK)
				err = e;
			freeReplyObject(r);
		}
	}
	free(l.v);
	return err;
}

/* ------------------------------------------------------------------------------------------ */
/* Sorted-set walks merged with the buffer                                                    */
/* ------------------------------------------------------------------------------------------ */

/* One item of a walk: a name (entity key or message member) and its value (NULL: names only). */
struct rd_item {
	const char *name;
	const uint8_t *val;
	size_t len;
	bool del; /* buffered delete: hides the Redis member of that name */
};

static int rd_item_cmp(const void *a, const void *b)
{
	return strcmp(((const struct rd_item *)a)->name, ((const struct rd_item *)b)->name);
}

/*
 * Walks a sorted set of members with score 0 in byte order, a page at a time, together with
 * sorted buffered items: a buffered item replaces (or, if del, hides) the member of its name.
 * Items from Redis stay valid until the next rd_walk_next.
 */
struct rd_walk {
	store *s;
	const char *zkey;    /* the sorted set */
	const char *vprefix; /* value key = vprefix + name; NULL: names only */
	const char *filter;  /* only names that start with it */
	size_t filter_len;
	const char *page;
	redisReply *names, *vals;
	size_t i;
	bool started, done;   /* a page was fetched; no more pages */
	struct strbuf last;   /* the last name fetched */
	struct strbuf tmp;
	struct rd_item *buf;
	size_t nbuf, j;
};

static void rd_walk_release(struct rd_walk *w)
{
	if (w->names != NULL)
		freeReplyObject(w->names);
	if (w->vals != NULL)
		freeReplyObject(w->vals);
	strbuf_release(&w->last);
	strbuf_release(&w->tmp);
	free(w->buf);
}

static lz_err rd_walk_fetch(struct rd_walk *w, struct store_detail *detail)
{
	store *s = w->s;
	const char **argv = NULL;
	size_t *lens = NULL;
	size_t n;
	lz_err err;

	if (w->names != NULL)
		freeReplyObject(w->names);
	if (w->vals != NULL)
		freeReplyObject(w->vals);
	w->names = w->vals = NULL;
	w->i = 0;
	strbuf_reset(&w->tmp);
	err = strbuf_addch(&w->tmp, w->started ? '(' : '[');
	if (err == LZ_OK)
		err = w->started ? strbuf_add(&w->tmp, w->last.data, w->last.len)
				 : strbuf_add(&w->tmp, w->filter, w->filter_len);
	if (err != LZ_OK)
		return err;
	if (!w->started && w->filter_len == 0)
		err = rd_cmd(s, &w->names, detail, "ZRANGEBYLEX %s - + LIMIT 0 %s", w->zkey, w->page);
	else
		err = rd_cmd(s, &w->names, detail, "ZRANGEBYLEX %s %b + LIMIT 0 %s", w->zkey, w->tmp.data, w->tmp.len,
			     w->page);
	if (err != LZ_OK)
		return err;
	w->started = true;
	if (w->names->type != REDIS_REPLY_ARRAY)
		return rd_shape_fail(s, "ZRANGEBYLEX", w->zkey, detail);
	n = w->names->elements;
	for (size_t k = 0; k < n; k++) {
		if (w->names->element[k]->type != REDIS_REPLY_STRING)
			return rd_shape_fail(s, "ZRANGEBYLEX", w->zkey, detail);
	}
	if (n < strtoul(w->page, NULL, 10))
		w->done = true;
	if (n == 0)
		return LZ_OK;
	strbuf_reset(&w->last);
	err = strbuf_add(&w->last, w->names->element[n - 1]->str, w->names->element[n - 1]->len);
	if (err != LZ_OK || w->vprefix == NULL)
		return err;
	/* One MGET for the page's values. The key strings live in tmp, separated by NULs. */
	argv = calloc(n + 1, sizeof(*argv));
	lens = calloc(n + 1, sizeof(*lens));
	if (argv == NULL || lens == NULL) {
		err = LZ_ENOMEM;
		goto out_free;
	}
	strbuf_reset(&w->tmp);
	for (size_t k = 0; k < n && err == LZ_OK; k++) {
		err = strbuf_adds(&w->tmp, w->vprefix);
		if (err == LZ_OK)
			err = strbuf_add(&w->tmp, w->names->element[k]->str, w->names->element[k]->len + 1);
	}
	if (err != LZ_OK)
		goto out_free;
	argv[0] = "MGET";
	lens[0] = 4;
	for (size_t k = 0, off = 0; k < n; k++) {
		argv[k + 1] = w->tmp.data + off;
		lens[k + 1] = strlen(argv[k + 1]);
		off += lens[k + 1] + 1;
	}
	err = rd_cmd_argv(s, &w->vals, detail, (int)(n + 1), argv, lens);
	if (err == LZ_OK && (w->vals->type != REDIS_REPLY_ARRAY || w->vals->elements != n))
		err = rd_shape_fail(s, "MGET", w->zkey, detail);
out_free:
	free(argv);
	free(lens);
	return err;
}

/* OUT *item: the next item, name NULL at the end. */
static lz_err rd_walk_next(struct rd_walk *w, struct rd_item *item, struct store_detail *detail)
{
	for (;;) {
		const struct rd_item *b = w->j < w->nbuf ? &w->buf[w->j] : NULL;
		const redisReply *r = NULL;
		int cmp;
		lz_err err;

		if ((w->names == NULL || w->i == w->names->elements) && !w->done) {
			err = rd_walk_fetch(w, detail);
			if (err != LZ_OK)
				return err;
			continue;
		}
		if (w->names != NULL && w->i < w->names->elements) {
			r = w->names->element[w->i];
			if (strncmp(r->str, w->filter, w->filter_len) != 0) {
				/* Past the names that start with the filter. */
				w->done = true;
				w->i = w->names->elements;
				r = NULL;
			}
		}
		if (r == NULL && b == NULL) {
			item->name = NULL;
			return LZ_OK;
		}
		cmp = r == NULL ? 1 : b == NULL ? -1 : strcmp(r->str, b->name);
		if (cmp < 0) {
			item->name = r->str;
			item->val = NULL;
			item->len = 0;
			item->del = false;
			if (w->vals != NULL) {
				const redisReply *v = w->vals->element[w->i];

				if (v->type != REDIS_REPLY_STRING) {
					store_detail_set(detail, "redis: '%s' lists '%s' but its value is missing (%s)", w->zkey,
						   r->str, w->s->shown);
					return LZ_EPARSE;
				}
				item->val = (const uint8_t *)v->str;
				item->len = v->len;
			}
			w->i++;
			return LZ_OK;
		}
		if (cmp == 0)
			w->i++;
		w->j++;
		if (!b->del) {
			*item = *b;
			return LZ_OK;
		}
	}
}

/* Starts a walk over `zkey` (values under `vprefix`, names starting with `filter`; both may be
 * NULL) merged with the buffered ops of `ops` (may be NULL; its array is freed here), which are
 * named by their entity key (by_ent) or their member. */
static lz_err rd_walk_init(struct rd_walk *w, store *s, const char *zkey, const char *vprefix, const char *filter,
			   const char *page, struct rd_oplist *ops, bool by_ent)
{
	memset(w, 0, sizeof(*w));
	w->s = s;
	w->zkey = zkey;
	w->vprefix = vprefix;
	w->filter = filter != NULL ? filter : "";
	w->filter_len = strlen(w->filter);
	w->page = page;
	strbuf_init(&w->last);
	strbuf_init(&w->tmp);
	if (ops == NULL || ops->n == 0) {
		if (ops != NULL)
			free(ops->v);
		return LZ_OK;
	}
	w->buf = calloc(ops->n, sizeof(*w->buf));
	if (w->buf == NULL) {
		free(ops->v);
		return LZ_ENOMEM;
	}
	for (size_t k = 0; k < ops->n; k++) {
		const struct rd_op *op = ops->v[k];
		struct rd_item *it = &w->buf[w->nbuf++];

		it->name = by_ent ? op->ent : op->member;
		/* A message op walked by entity stands for "this entity has buffered messages": a
		 * name only (deduplicated below) that never hides a Redis member. */
		if (by_ent && op->is_msg)
			continue;
		it->val = op->val;
		it->len = op->len;
		it->del = op->del;
	}
	free(ops->v);
	qsort(w->buf, w->nbuf, sizeof(w->buf[0]), rd_item_cmp);
	if (by_ent && w->nbuf > 0) {
		size_t n = 1;

		for (size_t k = 1; k < w->nbuf; k++) {
			if (strcmp(w->buf[k].name, w->buf[n - 1].name) != 0)
				w->buf[n++] = w->buf[k];
		}
		w->nbuf = n;
	}
	return LZ_OK;
}

/* The buffered ops selected by `l`'s filters (none outside a transaction). */
static lz_err rd_oplist_get(store *s, struct rd_oplist *l)
{
	if (s->ops.n > 0)
		map_foreach(&s->ops, rd_oplist_collect, l);
	if (l->err != LZ_OK) {
		free(l->v);
		l->v = NULL;
		l->n = 0;
	}
	return l->err;
}

/* ------------------------------------------------------------------------------------------ */
/* Open and close                                                                             */
/* ------------------------------------------------------------------------------------------ */

static int rd_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes %XX escapes of [s, s+n) into a new string. */
static char *rd_unescape_new(const char *s, size_t n)
{
	char *out = malloc(n + 1);
	size_t o = 0;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		int hi = i + 2 < n ? rd_hex(s[i + 1]) : -1, lo = i + 2 < n ? rd_hex(s[i + 2]) : -1;

		if (s[i] == '%' && hi >= 0 && lo >= 0) {
			out[o++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	return out;
}

static void rd_url_release(struct rd_url *u)
{
	free(u->host);
	free(u->user);
	free(u->password);
	memset(u, 0, sizeof(*u));
}

/* Parses redis://[[user]:password@]host[:port][/db]. */
static lz_err rd_url_parse(const char *url, struct rd_url *u, struct store_detail *detail)
{
	const char *auth, *at, *host, *end, *colon, *slash;
	char *num_end;

	memset(u, 0, sizeof(*u));
	u->port = 6379;
	if (strncmp(url, "redis://", 8) != 0) {
		store_detail_set(detail, "redis: redis_url must look like redis://[:password@]host[:port][/db]");
		return LZ_EINVAL;
	}
	auth = url + 8;
	at = strrchr(auth, '@');
	host = at != NULL ? at + 1 : auth;
	if (at != NULL) {
		const char *sep = memchr(auth, ':', (size_t)(at - auth));

		if (sep == NULL) {
			store_detail_set(detail, "redis: redis_url has a user but no password: write redis://[user]:password@host");
			return LZ_EINVAL;
		}
		u->password = rd_unescape_new(sep + 1, (size_t)(at - sep - 1));
		if (sep > auth)
			u->user = rd_unescape_new(auth, (size_t)(sep - auth));
		if (u->password == NULL || (sep > auth && u->user == NULL))
			goto out_nomem;
	}
	slash = strchr(host, '/');
	end = slash != NULL ? slash : host + strlen(host);
	colon = memchr(host, ':', (size_t)(end - host));
	if ((colon != NULL ? colon : end) == host) {
		store_detail_set(detail, "redis: redis_url names no host");
		goto out_invalid;
	}
	u->host = strndup(host, (size_t)((colon != NULL ? colon : end) - host));
	if (u->host == NULL)
		goto out_nomem;
	if (colon != NULL) {
		long port = strtol(colon + 1, &num_end, 10);

		if (num_end != end || num_end == colon + 1 || port < 1 || port > 65535) {
			store_detail_set(detail, "redis: the port of redis_url must be 1..65535");
			goto out_invalid;
		}
		u->port = (int)port;
	}
	if (slash != NULL && slash[1] != '\0') {
		u->db = strtol(slash + 1, &num_end, 10);
		if (*num_end != '\0' || num_end == slash + 1 || u->db < 0 || u->db > 1000000) {
			store_detail_set(detail, "redis: the database number of redis_url must be a number (0..15 by default)");
			goto out_invalid;
		}
	}
	snprintf(u->shown, sizeof(u->shown), "redis://%s%s%s:%d/%ld", u->user != NULL ? u->user : "",
		 u->password != NULL ? ":***@" : "", u->host, u->port, u->db);
	return LZ_OK;

out_nomem:
	rd_url_release(u);
	return LZ_ENOMEM;
out_invalid:
	rd_url_release(u);
	return LZ_EINVAL;
}

static void rd_close(store *s)
{
	if (s == NULL)
		return;
	if (s->in_tx)
		rd_tx_end(s);
	map_release(&s->ops);
	map_release(&s->wiped);
	if (s->c != NULL)
		redisFree(s->c);
	strbuf_release(&s->key);
	strbuf_release(&s->blob);
	free(s->shown);
	free(s->prefix);
	free(s->k_meta);
	free(s->k_entities);
	free(s->k_msgents);
	free(s);
}

/* Connects, authenticates and selects the database. */
static lz_err rd_connect(store *s, const struct rd_url *u, struct store_detail *detail)
{
	struct timeval connect_tv = { RD_CONNECT_TIMEOUT_S, 0 }, cmd_tv = { RD_COMMAND_TIMEOUT_S, 0 };
	redisReply *r;
	lz_err err;

	s->c = redisConnectWithTimeout(u->host, u->port, connect_tv);
	if (s->c == NULL)
		return LZ_ENOMEM;
	if (s->c->err != 0) {
		store_detail_set(detail,
			   "redis: cannot connect to %s: %s; check that redis-server runs there and that redis_url "
			   "is right",
			   s->shown, s->c->errstr);
		s->broken = true;
		return LZ_ESYS;
	}
	if (redisSetTimeout(s->c, cmd_tv) != REDIS_OK)
		return rd_io_fail(s, "setting the command timeout", detail);
	if (u->password != NULL) {
		if (u->user != NULL)
			r = redisCommand(s->c, "AUTH %s %s", u->user, u->password);
		else
			r = redisCommand(s->c, "AUTH %s", u->password);
		if (r == NULL)
			return rd_io_fail(s, "AUTH", detail);
		if (r->type == REDIS_REPLY_ERROR) {
			store_detail_set(detail, "redis: authentication to %s failed: %s; check the user and password in redis_url",
				   s->shown, r->str);
			freeReplyObject(r);
			return LZ_ESYS;
		}
		freeReplyObject(r);
	}
	if (u->db != 0) {
		err = rd_cmd(s, NULL, detail, "SELECT %ld", u->db);
		if (err != LZ_OK)
			return err;
	}
	return LZ_OK;
}

/* CONFIG GET `name` into `out`. A server that refuses CONFIG GET gives LZ_EINVAL. */
static lz_err rd_config_get(store *s, const char *name, char *out, size_t cap, struct store_detail *detail)
{
	redisReply *r;

	if (s->broken)
		return rd_broken(s, detail);
	r = redisCommand(s->c, "CONFIG GET %s", name);
	if (r == NULL)
		return rd_io_fail(s, "CONFIG GET", detail);
	if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOAUTH", 6) == 0) {
		lz_err err = rd_reply_fail(s, "CONFIG GET", r, detail);

		freeReplyObject(r);
		return err;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[1]->type != REDIS_REPLY_STRING) {
		store_detail_set(detail,
			   "redis: %s does not answer CONFIG GET %s (%s): persistd deletes its WAL only once Redis "
			   "has fsynced a fold, and checks appendonly yes / appendfsync always with CONFIG GET when "
			   "it opens the store; allow CONFIG GET for this connection (rename-command, ACL "
			   "+config|get) or use another server",
			   s->shown, name, r->type == REDIS_REPLY_ERROR ? r->str : "no such setting");
		freeReplyObject(r);
		return LZ_EINVAL;
	}
	snprintf(out, cap, "%s", r->element[1]->str);
	freeReplyObject(r);
	return LZ_OK;
}

/* Refuses a server that would answer EXEC before the AOF is fsynced, or could evict our keys. */
static lz_err rd_check_durability(store *s, struct store_detail *detail)
{
	char aof[32], fsync_policy[32], no_fsync_rewrite[32], evict[64];
	lz_err err;

	err = rd_config_get(s, "appendonly", aof, sizeof(aof), detail);
	if (err == LZ_OK)
		err = rd_config_get(s, "appendfsync", fsync_policy, sizeof(fsync_policy), detail);
	if (err == LZ_OK)
		err = rd_config_get(s, "no-appendfsync-on-rewrite", no_fsync_rewrite, sizeof(no_fsync_rewrite), detail);
	if (err == LZ_OK)
		err = rd_config_get(s, "maxmemory-policy", evict, sizeof(evict), detail);
	if (err != LZ_OK)
		return err;
	if (strcmp(aof, "yes") != 0 || strcmp(fsync_policy, "always") != 0 || strcmp(no_fsync_rewrite, "no") != 0) {
		store_detail_set(detail,
			   "redis: %s has appendonly %s, appendfsync %s, no-appendfsync-on-rewrite %s: persistd "
			   "deletes its WAL once a fold is committed, so Redis must have fsynced the fold to its "
			   "append-only file before it answers EXEC; set appendonly yes, appendfsync always and "
			   "no-appendfsync-on-rewrite no (in redis.conf, or CONFIG SET then CONFIG REWRITE)",
			   s->shown, aof, fsync_policy, no_fsync_rewrite);
		return LZ_EINVAL;
	}
	if (strcmp(evict, "noeviction") != 0 && strncmp(evict, "volatile-", 9) != 0) {
		store_detail_set(detail,
			   "redis: %s has maxmemory-policy %s, which evicts keys without a TTL (LocalZure's) when "
			   "memory runs out: messages would vanish; set maxmemory-policy noeviction",
			   s->shown, evict);
		return LZ_EINVAL;
	}
	return LZ_OK;
}

/* The `*` SCAN pattern of every key under the prefix (glob characters escaped). */
static lz_err rd_pattern(const store *s, struct strbuf *out)
{
	lz_err err = LZ_OK;

	strbuf_reset(out);
	for (const char *p = s->prefix; *p != '\0' && err == LZ_OK; p++) {
		if (strchr("*?[]\\", *p) != NULL)
			err = strbuf_addch(out, '\\');
		if (err == LZ_OK)
			err = strbuf_addch(out, *p);
	}
	if (err == LZ_OK)
		err = strbuf_addch(out, '*');
	return err;
}

/* Writes a fresh P meta (lsn 0) in one MULTI/EXEC, replacing any. */
static lz_err rd_meta_reset(store *s, const char *store_id, struct store_detail *detail)
{
	struct rd_pipe p = { .s = s, .detail = detail };
	char id[33];
	lz_err err;

	if (store_id == NULL) {
		uuid_generate_hex32(id);
		store_id = id;
	}
	rd_pipe_add(&p, 0, "MULTI");
	rd_pipe_add(&p, 0, "DEL %s", s->k_meta);
	rd_pipe_add(&p, 0, "HSET %s format %d store_id %s last_applied_lsn 0 active 0 deferred 0 deadletter 0 scheduled 0",
		    s->k_meta, RD_FORMAT, store_id);
	rd_pipe_add(&p, 0, "EXEC");
	rd_pipe_drain(&p, true);
	err = p.err;
	if (err == LZ_OK && (p.last == NULL || p.last->type != REDIS_REPLY_ARRAY))
		err = rd_shape_fail(s, "EXEC", s->k_meta, detail);
	if (p.last != NULL)
		freeReplyObject(p.last);
	if (err == LZ_OK)
		s->lsn = 0;
	return err;
}

/* The purge proper (see the top of the file): also finishes an interrupted one at open. */
static lz_err rd_purge_run(store *s, struct store_detail *detail)
{
	struct strbuf pattern = STRBUF_INIT;
	char cursor[32] = "0", store_id[33] = "";
	const char **argv = NULL;
	size_t *lens = NULL;
	redisReply *r;
	lz_err err;

	err = rd_cmd(s, &r, detail, "HGET %s store_id", s->k_meta);
	if (err != LZ_OK)
		return err;
	if (r->type == REDIS_REPLY_STRING && r->len == 32)
		memcpy(store_id, r->str, 33);
	freeReplyObject(r);
	err = rd_cmd(s, NULL, detail, "HSET %s purging 1", s->k_meta);
	if (err == LZ_OK)
		err = rd_pattern(s, &pattern);
	while (err == LZ_OK) {
		redisReply *keys;
		size_t n = 0;

		err = rd_cmd(s, &r, detail, "SCAN %s MATCH %s COUNT " RD_PAGE_SCAN, cursor, pattern.data);
		if (err != LZ_OK)
			break;
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING ||
		    r->element[0]->len >= sizeof(cursor) || r->element[1]->type != REDIS_REPLY_ARRAY) {
			err = rd_shape_fail(s, "SCAN", pattern.data, detail);
			freeReplyObject(r);
			break;
		}
		keys = r->element[1];
		free(argv);
		free(lens);
		argv = calloc(keys->elements + 1, sizeof(*argv));
		lens = calloc(keys->elements + 1, sizeof(*lens));
		if (argv == NULL || lens == NULL) {
			err = LZ_ENOMEM;
			freeReplyObject(r);
			break;
		}
		argv[n] = "UNLINK";
		lens[n++] = 6;
		for (size_t k = 0; k < keys->elements; k++) {
			if (keys->element[k]->type != REDIS_REPLY_STRING || strcmp(keys->element[k]->str, s->k_meta) == 0)
				continue;
			argv[n] = keys->element[k]->str;
			lens[n++] = keys->element[k]->len;
		}
		if (n > 1) {
			redisReply *u;

			err = rd_cmd_argv(s, &u, detail, (int)n, argv, lens);
			if (err == LZ_OK)
				freeReplyObject(u);
		}
		memcpy(cursor, r->element[0]->str, r->element[0]->len + 1);
		freeReplyObject(r);
		if (strcmp(cursor, "0") == 0)
			break;
	}
	free(argv);
	free(lens);
	strbuf_release(&pattern);
	if (err == LZ_OK)
		err = rd_meta_reset(s, store_id[0] != '\0' ? store_id : NULL, detail);
	return err;
}

/* Reads P meta (creating it for an empty prefix), checks the format, finishes a purge. */
static lz_err rd_meta_load(store *s, struct store_detail *detail)
{
	redisReply *r, *f, *lsn;
	uint64_t format;
	lz_err err;

	err = rd_cmd(s, &r, detail, "HMGET %s format last_applied_lsn purging", s->k_meta);
	if (err != LZ_OK)
		return err;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 3) {
		err = rd_shape_fail(s, "HMGET", s->k_meta, detail);
		goto out_free;
	}
	f = r->element[0];
	lsn = r->element[1];
	if (f->type == REDIS_REPLY_NIL) {
		redisReply *n;

		err = rd_cmd(s, &n, detail, "EXISTS %s %s", s->k_entities, s->k_msgents);
		if (err != LZ_OK)
			goto out_free;
		if (n->type != REDIS_REPLY_INTEGER || n->integer != 0) {
			store_detail_set(detail,
				   "redis: %s holds keys under '%s' but no %s: not a LocalZure store, or a damaged "
				   "one; choose another redis_prefix, or delete those keys",
				   s->shown, s->prefix, s->k_meta);
			err = LZ_EPARSE;
		}
		freeReplyObject(n);
		if (err == LZ_OK)
			err = rd_meta_reset(s, NULL, detail);
		goto out_free;
	}
	if (f->type != REDIS_REPLY_STRING || !rd_parse_u64(f->str, f->len, &format) || format == 0) {
		store_detail_set(detail, "redis: %s: format is not a version number (%s)", s->k_meta, s->shown);
		err = LZ_EPARSE;
		goto out_free;
	}
	if (format > RD_FORMAT) {
		store_detail_set(detail,
			   "redis: %s says format %" PRIu64 ", newer than this persistd knows (1..%d) (%s); run "
			   "the localzure-persistd that wrote it, or a newer one",
			   s->k_meta, format, RD_FORMAT, s->shown);
		err = LZ_EUNSUPPORTED;
		goto out_free;
	}
	if (r->element[2]->type != REDIS_REPLY_NIL) {
		LZ_LOG(LOG_WARN, "an interrupted redis purge is finished now", "url=\"%s\" prefix=\"%s\"", s->shown,
		       s->prefix);
		err = rd_purge_run(s, detail);
		goto out_free;
	}
	if (lsn->type != REDIS_REPLY_STRING || !rd_parse_u64(lsn->str, lsn->len, &s->lsn)) {
		store_detail_set(detail, "redis: %s: last_applied_lsn is missing or not a number (%s)", s->k_meta, s->shown);
		err = LZ_EPARSE;
	}
out_free:
	freeReplyObject(r);
	return err;
}

static lz_err rd_open(const struct store_config *cfg, store **out, struct store_detail *detail)
{
	const char *prefix = cfg->key_prefix != NULL ? cfg->key_prefix : RD_DEFAULT_PREFIX;
	struct rd_url u;
	store *s;
	lz_err err;

	*out = NULL;
	err = rd_url_parse(cfg->location != NULL && cfg->location[0] != '\0' ? cfg->location : RD_DEFAULT_URL, &u,
			   detail);
	if (err != LZ_OK)
		return err;
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		err = LZ_ENOMEM;
		goto out_release_url;
	}
	map_init(&s->ops);
	map_init(&s->wiped);
	strbuf_init(&s->key);
	strbuf_init(&s->blob);
	s->shown = strdup(u.shown);
	s->prefix = strdup(prefix);
	if (s->shown == NULL || s->prefix == NULL || asprintf(&s->k_meta, "%smeta", prefix) < 0 ||
	    asprintf(&s->k_entities, "%sentities", prefix) < 0 || asprintf(&s->k_msgents, "%smsgents", prefix) < 0) {
		err = LZ_ENOMEM;
		goto out_close;
	}
	err = rd_connect(s, &u, detail);
	if (err == LZ_OK)
		err = rd_check_durability(s, detail);
	if (err == LZ_OK)
		err = rd_meta_load(s, detail);
	if (err != LZ_OK)
		goto out_close;
	*out = s;
	rd_url_release(&u);
	return LZ_OK;

out_close:
	rd_close(s);
out_release_url:
	rd_url_release(&u);
	return err;
}

/* ------------------------------------------------------------------------------------------ */
/* Transactions                                                                               */
/* ------------------------------------------------------------------------------------------ */

static lz_err rd_begin(store *s, struct store_detail *detail)
{
	lz_err err = store_check_tx("redis", s->in_tx, false, "begin", detail);

	if (err == LZ_OK && s->broken)
		err = rd_broken(s, detail);
	if (err == LZ_OK)
		s->in_tx = true;
	return err;
}

struct rd_commit_ctx {
	store *s;
	struct rd_pipe p;
	int64_t delta[RD__NSTATES];
	struct map msgents; /* entity keys already ZADDed to P msgents in this commit */
	size_t queued;      /* commands between MULTI and EXEC */
	lz_err err;
};

/* Queues the commands of one buffered write. */
static void rd_commit_op(void *arg, const char *key, void *value)
{
	struct rd_commit_ctx *cc = arg;
	const struct rd_op *op = value;
	store *s = cc->s;

	(void)key;
	if (cc->err != LZ_OK)
		return;
	if (op->is_msg) {
		if (op->old >= 0)
			cc->delta[op->old]--;
		if (!op->del)
			cc->delta[op->val[0] - '0']++;
	}
	if (op->del && op->old == RD_ABSENT)
		return; /* nothing there: nothing to delete */
	if (op->is_msg)
		cc->err = rd_keyf(s, &s->key, "i:%s", op->ent);
	if (cc->err != LZ_OK)
		return;
	if (op->del) {
		rd_pipe_add(&cc->p, 0, "DEL %s", op->key);
		if (op->is_msg)
			rd_pipe_add(&cc->p, 0, "ZREM %s %s", s->key.data, op->member);
		else
			rd_pipe_add(&cc->p, 0, "ZREM %s %s", s->k_entities, op->ent);
		cc->queued += 2;
		return;
	}
	rd_pipe_add(&cc->p, op->len, "SET %s %b", op->key, op->val, op->len);
	if (!op->is_msg) {
		rd_pipe_add(&cc->p, 0, "ZADD %s 0 %s", s->k_entities, op->ent);
		cc->queued += 2;
		return;
	}
	rd_pipe_add(&cc->p, 0, "ZADD %s 0 %s", s->key.data, op->member);
	cc->queued += 2;
	if (map_get(&cc->msgents, op->ent) == NULL) {
		cc->err = map_put(&cc->msgents, op->ent, s, NULL);
		rd_pipe_add(&cc->p, 0, "ZADD %s 0 %s", s->k_msgents, op->ent);
		cc->queued++;
	}
}

/* Queues ZREM P msgents for an entity deleted in this transaction. */
static void rd_commit_wiped(void *arg, const char *key, void *value)
{
	struct rd_commit_ctx *cc = arg;

	(void)value;
	if (cc->err != LZ_OK)
		return;
	rd_pipe_add(&cc->p, 0, "ZREM %s %s", cc->s->k_msgents, key);
	cc->queued++;
}

static lz_err rd_commit(store *s, uint64_t lsn, struct store_detail *detail)
{
	struct rd_commit_ctx cc = { .s = s, .p = { .s = s, .detail = detail } };
	redisReply *exec;
	bool discard;
	lz_err err = store_check_tx("redis", s->in_tx, true, "commit", detail);

	if (err != LZ_OK)
		return err;
	map_init(&cc.msgents);
	err = rd_probe_all(s, detail);
	if (err != LZ_OK)
		goto out_end;
	rd_pipe_add(&cc.p, 0, "MULTI");
	map_foreach(&s->ops, rd_commit_op, &cc);
	map_foreach(&s->wiped, rd_commit_wiped, &cc);
	for (int i = 0; i < RD__NSTATES; i++) {
		if (cc.delta[i] == 0)
			continue;
		rd_pipe_add(&cc.p, 0, "HINCRBY %s %s %lld", s->k_meta, rd_counter[i], (long long)cc.delta[i]);
		cc.queued++;
	}
	rd_pipe_add(&cc.p, 0, "HSET %s last_applied_lsn %llu", s->k_meta, (unsigned long long)lsn);
	cc.queued++;
	/* A failure seen so far (out of memory, a command refused while queued): DISCARD, nothing is
	 * applied. Otherwise EXEC, which discards everything too if a command whose reply is still
	 * unread was refused. */
	discard = cc.err != LZ_OK || cc.p.err != LZ_OK;
	rd_pipe_add(&cc.p, 0, discard ? "DISCARD" : "EXEC");
	rd_pipe_drain(&cc.p, true);
	exec = discard ? NULL : cc.p.last;
	if (discard && cc.p.last != NULL)
		freeReplyObject(cc.p.last);
	err = cc.err != LZ_OK ? cc.err : cc.p.err;
	if (err == LZ_OK && (exec == NULL || exec->type != REDIS_REPLY_ARRAY || exec->elements != cc.queued))
		err = rd_shape_fail(s, "EXEC", s->k_meta, detail);
	for (size_t i = 0; err == LZ_OK && i < exec->elements; i++) {
		if (exec->element[i]->type == REDIS_REPLY_ERROR) {
			store_detail_set(detail,
				   "redis: EXEC applied the fold only in part: %s (%s); someone else wrote keys under "
				   "'%s': restore the store from the WAL or a copy",
				   exec->element[i]->str, s->shown, s->prefix);
			err = LZ_ESYS;
		}
	}
	if (exec != NULL)
		freeReplyObject(exec);
	if (err == LZ_OK)
		s->lsn = lsn;
out_end:
	map_release(&cc.msgents);
	rd_tx_end(s);
	return err;
}

static void rd_rollback(store *s)
{
	if (s->in_tx)
		rd_tx_end(s);
}

/* ------------------------------------------------------------------------------------------ */
/* Entities                                                                                   */
/* ------------------------------------------------------------------------------------------ */

/* The value of `key`: from the buffer in a transaction, else from Redis. OUT *reply holds it
 * when it came from Redis (the caller frees it); LZ_ENOTFOUND when there is none. */
static lz_err rd_value_get(store *s, const char *key, const uint8_t **val, size_t *len, redisReply **reply,
			   struct store_detail *detail)
{
	const struct rd_op *op = s->in_tx ? map_get(&s->ops, key) : NULL;
	lz_err err;

	*reply = NULL;
	if (op != NULL) {
		if (op->del)
			return LZ_ENOTFOUND;
		*val = op->val;
		*len = op->len;
		return LZ_OK;
	}
	err = rd_cmd(s, reply, detail, "GET %s", key);
	if (err != LZ_OK)
		return err;
	if ((*reply)->type == REDIS_REPLY_NIL) {
		freeReplyObject(*reply);
		*reply = NULL;
		return LZ_ENOTFOUND;
	}
	if ((*reply)->type != REDIS_REPLY_STRING) {
		freeReplyObject(*reply);
		*reply = NULL;
		return rd_shape_fail(s, "GET", key, detail);
	}
	*val = (const uint8_t *)(*reply)->str;
	*len = (*reply)->len;
	return LZ_OK;
}

static lz_err rd_put_entity(store *s, const struct jrec_load_entity *e, struct store_detail *detail)
{
	struct jrec r = { .type = JREC_LOAD_ENTITY };
	char *ent;
	lz_err err;

	err = store_check_tx("redis", s->in_tx, true, "put", detail);
	if (err == LZ_OK)
		err = store_check_path("redis", e->path, detail);
	if (err != LZ_OK)
		return err;
	r.u.load_entity = *e;
	err = journal_encode(&r, &s->blob);
	if (err != LZ_OK) {
		store_detail_set(detail, "redis: entity '%s' does not encode: %s", e->path, err_str(err));
		return err;
	}
	ent = store_key_new(e->path);
	if (ent == NULL)
		return LZ_ENOMEM;
	err = rd_keyf(s, &s->key, "e:%s", ent);
	if (err == LZ_OK)
		err = rd_op_put(s, s->key.data, false, ent, NULL, -1, s->blob.data, s->blob.len);
	free(ent);
	return err;
}

static lz_err rd_get_entity(store *s, const char *path, struct jrec_load_entity *out, struct store_detail *detail)
{
	const uint8_t *val;
	redisReply *reply;
	struct jrec r;
	size_t len;
	char *ent;
	lz_err err;

	memset(out, 0, sizeof(*out));
	err = store_check_path("redis", path, detail);
	if (err != LZ_OK)
		return err;
	ent = store_key_new(path);
	if (ent == NULL)
		return LZ_ENOMEM;
	err = rd_keyf(s, &s->key, "e:%s", ent);
	if (err == LZ_OK)
		err = rd_value_get(s, s->key.data, &val, &len, &reply, detail);
	if (err == LZ_ENOTFOUND)
		store_detail_set(detail, "redis: no entity '%s'", path);
	if (err == LZ_OK) {
		err = rd_decode(s, JREC_LOAD_ENTITY, val, len, s->key.data, &r, detail);
		if (err == LZ_OK)
			*out = r.u.load_entity;
	}
	if (reply != NULL)
		freeReplyObject(reply);
	free(ent);
	return err;
}

/* delete_entity: buffers a delete of every message of `ent`, buffered or in Redis. */
static lz_err rd_delete_messages_of(store *s, const char *ent, struct store_detail *detail)
{
	struct rd_oplist l = { .messages = true, .ent = ent };
	struct strbuf zkey = STRBUF_INIT, mkey = STRBUF_INIT;
	struct rd_walk w;
	struct rd_item it;
	lz_err err;

	err = rd_oplist_get(s, &l);
	if (err != LZ_OK)
		return err;
	for (size_t k = 0; k < l.n; k++)
		rd_op_delete(l.v[k]);
	free(l.v);
	err = rd_keyf(s, &zkey, "i:%s", ent);
	if (err != LZ_OK)
		goto out_release;
	err = rd_walk_init(&w, s, zkey.data, NULL, NULL, RD_PAGE_ENTITIES, NULL, false);
	while (err == LZ_OK) {
		struct rd_op *op;

		err = rd_walk_next(&w, &it, detail);
		if (err != LZ_OK || it.name == NULL)
			break;
		if (strlen(it.name) != RD_MEMBER_LEN - 1) {
			store_detail_set(detail, "redis: '%s' holds the member '%s', not <where>:<seq> (%s)", zkey.data,
				   it.name, s->shown);
			err = LZ_EPARSE;
			break;
		}
		err = rd_keyf(s, &mkey, "m:%s:%s", ent, it.name);
		if (err == LZ_OK)
			err = rd_op_get(s, mkey.data, true, ent, it.name, &op, NULL);
		if (err == LZ_OK)
			rd_op_delete(op);
	}
	rd_walk_release(&w);
	if (err == LZ_OK)
		err = map_put(&s->wiped, ent, s, NULL);
out_release:
	strbuf_release(&zkey);
	strbuf_release(&mkey);
	return err;
}

/* Buffers the delete of `key`; *existed tells whether it held a value before (a key not written
 * in this transaction yet exists if Redis holds it: asked at once). */
static lz_err rd_delete_key(store *s, const char *key, bool is_msg, const char *ent, const char *member,
			    bool *existed, struct store_detail *detail)
{
	struct rd_op *op;
	bool created;
	lz_err err = rd_op_get(s, key, is_msg, ent, member, &op, &created);

	if (err == LZ_OK && created)
		err = rd_probe_one(s, op, detail);
	if (err != LZ_OK)
		return err;
	*existed = created ? op->old != RD_ABSENT : !op->del;
	rd_op_delete(op);
	return LZ_OK;
}

static lz_err rd_delete_entity(store *s, const char *path, struct store_detail *detail)
{
	bool existed;
	char *ent;
	lz_err err;

	err = store_check_tx("redis", s->in_tx, true, "delete", detail);
	if (err == LZ_OK)
		err = store_check_path("redis", path, detail);
	if (err != LZ_OK)
		return err;
	ent = store_key_new(path);
	if (ent == NULL)
		return LZ_ENOMEM;
	err = rd_keyf(s, &s->key, "e:%s", ent);
	if (err == LZ_OK)
		err = rd_delete_key(s, s->key.data, false, ent, NULL, &existed, detail);
	if (err != LZ_OK)
		goto out_free;
	err = rd_delete_messages_of(s, ent, detail);
	if (err == LZ_OK && !existed) {
		store_detail_set(detail, "redis: no entity '%s'", path);
		err = LZ_ENOTFOUND;
	}
out_free:
	free(ent);
	return err;
}

/* Calls fn with every entity whose key starts with `key_prefix` (NULL: all), in key order,
 * the open transaction's writes included. */
static lz_err rd_entities_each(store *s, const char *key_prefix,
			       lz_err (*fn)(void *arg, const struct jrec_load_entity *e), void *arg,
			       struct store_detail *detail)
{
	struct rd_oplist l = { .entities = true, .prefix = key_prefix };
	struct strbuf vprefix = STRBUF_INIT;
	struct rd_walk w;
	struct rd_item it;
	lz_err err;

	err = rd_keyf(s, &vprefix, "e:");
	if (err == LZ_OK)
		err = rd_oplist_get(s, &l);
	if (err != LZ_OK)
		goto out_release;
	err = rd_walk_init(&w, s, s->k_entities, vprefix.data, key_prefix, RD_PAGE_ENTITIES, &l, true);
	while (err == LZ_OK) {
		struct jrec r;

		err = rd_walk_next(&w, &it, detail);
		if (err != LZ_OK || it.name == NULL)
			break;
		err = rd_decode(s, JREC_LOAD_ENTITY, it.val, it.len, it.name, &r, detail);
		if (err != LZ_OK)
			break;
		err = fn(arg, &r.u.load_entity);
		journal_rec_release(&r);
	}
	rd_walk_release(&w);
out_release:
	strbuf_release(&vprefix);
	return err;
}

struct rd_path_fn {
	lz_err (*fn)(void *arg, const char *path);
	void *arg;
};

static lz_err rd_path_visit(void *arg, const struct jrec_load_entity *e)
{
	const struct rd_path_fn *pf = arg;

	return pf->fn(pf->arg, e->path);
}

static lz_err rd_list_entities(store *s, const char *prefix, lz_err (*fn)(void *arg, const char *path), void *arg,
			       struct store_detail *detail)
{
	struct rd_path_fn pf = { fn, arg };
	char *key = store_key_new(prefix != NULL ? prefix : "");
	lz_err err;

	if (key == NULL)
		return LZ_ENOMEM;
	err = rd_entities_each(s, key, rd_path_visit, &pf, detail);
	free(key);
	return err;
}

/* ------------------------------------------------------------------------------------------ */
/* Messages                                                                                   */
/* ------------------------------------------------------------------------------------------ */

static lz_err rd_put_message(store *s, const struct jrec_load_message *m, struct store_detail *detail)
{
	struct jrec r = { .type = JREC_LOAD_MESSAGE };
	char member[RD_MEMBER_LEN];
	char *ent;
	lz_err err;

	err = store_check_tx("redis", s->in_tx, true, "put", detail);
	if (err == LZ_OK)
		err = store_check_path("redis", m->place.path, detail);
	if (err == LZ_OK)
		err = rd_check_where(m->place.where, detail);
	if (err != LZ_OK)
		return err;
	r.u.load_message = *m;
	err = journal_encode(&r, &s->blob);
	if (err != LZ_OK) {
		store_detail_set(detail, "redis: message %" PRIu64 " of '%s' does not encode: %s", m->place.seq,
			   m->place.path, err_str(err));
		return err;
	}
	ent = store_key_new(m->place.path);
	if (ent == NULL)
		return LZ_ENOMEM;
	rd_member(member, m->place.where, m->place.seq);
	err = rd_keyf(s, &s->key, "m:%s:%s", ent, member);
	if (err == LZ_OK)
		err = rd_op_put(s, s->key.data, true, ent, member, '0' + (int)rd_state_of(m), s->blob.data,
				s->blob.len);
	if (err == LZ_OK)
		map_remove(&s->wiped, ent);
	free(ent);
	return err;
}

static lz_err rd_get_message(store *s, const char *path, enum journal_where where, uint64_t seq,
			     struct jrec_load_message *out, struct store_detail *detail)
{
	char member[RD_MEMBER_LEN];
	const uint8_t *val;
	redisReply *reply;
	struct jrec r;
	size_t len;
	char *ent;
	lz_err err;

	memset(out, 0, sizeof(*out));
	err = store_check_path("redis", path, detail);
	if (err == LZ_OK)
		err = rd_check_where(where, detail);
	if (err != LZ_OK)
		return err;
	ent = store_key_new(path);
	if (ent == NULL)
		return LZ_ENOMEM;
	rd_member(member, where, seq);
	err = rd_keyf(s, &s->key, "m:%s:%s", ent, member);
	if (err == LZ_OK)
		err = rd_value_get(s, s->key.data, &val, &len, &reply, detail);
	if (err == LZ_ENOTFOUND)
		store_detail_set(detail, "redis: no message %" PRIu64 " (where %d) in '%s'", seq, (int)where, path);
	if (err == LZ_OK) {
		err = rd_decode_message(s, val, len, s->key.data, &r, detail);
		if (err == LZ_OK)
			*out = r.u.load_message;
	}
	if (reply != NULL)
		freeReplyObject(reply);
	free(ent);
	return err;
}

static lz_err rd_delete_message(store *s, const char *path, enum journal_where where, uint64_t seq,
				struct store_detail *detail)
{
	char member[RD_MEMBER_LEN];
	bool existed;
	char *ent;
	lz_err err;

	err = store_check_tx("redis", s->in_tx, true, "delete", detail);
	if (err == LZ_OK)
		err = store_check_path("redis", path, detail);
	if (err == LZ_OK)
		err = rd_check_where(where, detail);
	if (err != LZ_OK)
		return err;
	ent = store_key_new(path);
	if (ent == NULL)
		return LZ_ENOMEM;
	rd_member(member, where, seq);
	err = rd_keyf(s, &s->key, "m:%s:%s", ent, member);
	if (err == LZ_OK)
		err = rd_delete_key(s, s->key.data, true, ent, member, &existed, detail);
	if (err == LZ_OK && !existed) {
		store_detail_set(detail, "redis: no message %" PRIu64 " (where %d) in '%s'", seq, (int)where, path);
		err = LZ_ENOTFOUND;
	}
	free(ent);
	return err;
}

static lz_err rd_last_applied_lsn(store *s, uint64_t *lsn, struct store_detail *detail)
{
	(void)detail;
	*lsn = s->lsn;
	return LZ_OK;
}

/* Visits the messages of one entity in (where, seq) order. */
static lz_err rd_load_entity_messages(store *s, const char *ent, const struct store_visitor *v,
				      struct store_detail *detail)
{
	struct rd_oplist l = { .messages = true, .ent = ent };
	struct strbuf zkey = STRBUF_INIT, vprefix = STRBUF_INIT;
	struct rd_walk w;
	struct rd_item it;
	lz_err err;

	err = rd_keyf(s, &zkey, "i:%s", ent);
	if (err == LZ_OK)
		err = rd_keyf(s, &vprefix, "m:%s:", ent);
	if (err == LZ_OK)
		err = rd_oplist_get(s, &l);
	if (err != LZ_OK)
		goto out_release;
	err = rd_walk_init(&w, s, zkey.data, vprefix.data, NULL, RD_PAGE_MESSAGES, &l, false);
	while (err == LZ_OK) {
		struct jrec r;

		err = rd_walk_next(&w, &it, detail);
		if (err != LZ_OK || it.name == NULL)
			break;
		err = rd_decode_message(s, it.val, it.len, it.name, &r, detail);
		if (err != LZ_OK)
			break;
		err = v->message(v->arg, &r.u.load_message);
		journal_rec_release(&r);
	}
	rd_walk_release(&w);
out_release:
	strbuf_release(&zkey);
	strbuf_release(&vprefix);
	return err;
}

static lz_err rd_load(store *s, const struct store_visitor *v, struct store_detail *detail)
{
	struct rd_oplist msgs = { .messages = true };
	struct rd_walk w;
	struct rd_item it;
	lz_err err;

	err = rd_entities_each(s, NULL, v->entity, v->arg, detail);
	if (err != LZ_OK)
		return err;
	/* Then every entity that has messages, in key order, and its messages. */
	err = rd_oplist_get(s, &msgs);
	if (err != LZ_OK)
		return err;
	err = rd_walk_init(&w, s, s->k_msgents, NULL, NULL, RD_PAGE_ENTITIES, &msgs, true);
	while (err == LZ_OK) {
		err = rd_walk_next(&w, &it, detail);
		if (err != LZ_OK || it.name == NULL)
			break;
		err = rd_load_entity_messages(s, it.name, v, detail);
	}
	rd_walk_release(&w);
	return err;
}

/* ------------------------------------------------------------------------------------------ */
/* Stats, compact, purge                                                                      */
/* ------------------------------------------------------------------------------------------ */

struct rd_delta {
	int64_t entities;
	int64_t msgs[RD__NSTATES];
};

static void rd_delta_op(void *arg, const char *key, void *value)
{
	struct rd_delta *d = arg;
	const struct rd_op *op = value;

	(void)key;
	if (!op->is_msg) {
		d->entities += (op->del ? 0 : 1) - (op->old >= 0 ? 1 : 0);
		return;
	}
	if (op->old >= 0)
		d->msgs[op->old]--;
	if (!op->del)
		d->msgs[op->val[0] - '0']++;
}

/* `used_memory:<n>` of an INFO memory reply. */
static uint64_t rd_used_memory(const redisReply *r)
{
	const char *p = r->type == REDIS_REPLY_STRING ? strstr(r->str, "\nused_memory:") : NULL;
	uint64_t n = 0;

	if (p == NULL && r->type == REDIS_REPLY_STRING && strncmp(r->str, "used_memory:", 12) == 0)
		p = r->str - 1;
	if (p == NULL)
		return 0;
	rd_parse_u64(p + 13, strspn(p + 13, "0123456789"), &n);
	return n;
}

static uint64_t rd_add(uint64_t committed, int64_t delta)
{
	return delta < 0 && (uint64_t)-delta > committed ? 0 : committed + (uint64_t)delta;
}

static lz_err rd_stats(store *s, struct store_stats *out, struct store_detail *detail)
{
	struct rd_delta d = { 0 };
	redisReply *r;
	uint64_t n;
	lz_err err;

	memset(out, 0, sizeof(*out));
	if (s->in_tx) {
		err = rd_probe_all(s, detail);
		if (err != LZ_OK)
			return err;
		map_foreach(&s->ops, rd_delta_op, &d);
	}
	err = rd_cmd(s, &r, detail, "HMGET %s %s %s %s %s", s->k_meta, rd_counter[0], rd_counter[1], rd_counter[2],
		     rd_counter[3]);
	if (err != LZ_OK)
		return err;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != RD__NSTATES) {
		freeReplyObject(r);
		return rd_shape_fail(s, "HMGET", s->k_meta, detail);
	}
	for (int i = 0; i < RD__NSTATES; i++) {
		const redisReply *e = r->element[i];

		n = 0;
		if (e->type == REDIS_REPLY_STRING && !rd_parse_u64(e->str, e->len, &n)) {
			freeReplyObject(r);
			store_detail_set(detail, "redis: %s: %s is not a count (%s)", s->k_meta, rd_counter[i], s->shown);
			return LZ_EPARSE;
		}
		n = rd_add(n, d.msgs[i]);
		out->messages += n;
		if (i == RD_ACTIVE)
			out->messages_active = n;
		else if (i == RD_DEFERRED)
			out->messages_deferred = n;
		else if (i == RD_DEADLETTER)
			out->messages_deadletter = n;
		else
			out->messages_scheduled = n;
	}
	freeReplyObject(r);
	err = rd_cmd(s, &r, detail, "ZCARD %s", s->k_entities);
	if (err != LZ_OK)
		return err;
	out->entities = rd_add(r->type == REDIS_REPLY_INTEGER && r->integer > 0 ? (uint64_t)r->integer : 0, d.entities);
	freeReplyObject(r);
	err = rd_cmd(s, &r, detail, "INFO memory");
	if (err != LZ_OK)
		return err;
	out->size_bytes = rd_used_memory(r);
	freeReplyObject(r);
	out->last_applied_lsn = s->lsn;
	return LZ_OK;
}

static lz_err rd_compact(store *s, struct store_detail *detail)
{
	redisReply *r;
	lz_err err = store_check_tx("redis", s->in_tx, false, "compact", detail);

	if (err != LZ_OK)
		return err;
	if (s->broken)
		return rd_broken(s, detail);
	r = redisCommand(s->c, "BGREWRITEAOF");
	if (r == NULL)
		return rd_io_fail(s, "BGREWRITEAOF", detail);
	if (r->type == REDIS_REPLY_ERROR && strstr(r->str, "already in progress") == NULL)
		err = rd_reply_fail(s, "BGREWRITEAOF", r, detail);
	freeReplyObject(r);
	return err;
}

static lz_err rd_purge(store *s, struct store_detail *detail)
{
	lz_err err = store_check_tx("redis", s->in_tx, false, "purge", detail);

	if (err != LZ_OK)
		return err;
	return rd_purge_run(s, detail);
}

const struct store_ops store_redis_ops = {
	.name = "redis",
	.open = rd_open,
	.close = rd_close,
	.begin = rd_begin,
	.commit = rd_commit,
	.rollback = rd_rollback,
	.put_entity = rd_put_entity,
	.get_entity = rd_get_entity,
	.delete_entity = rd_delete_entity,
	.list_entities = rd_list_entities,
	.put_message = rd_put_message,
	.get_message = rd_get_message,
	.delete_message = rd_delete_message,
	.last_applied_lsn = rd_last_applied_lsn,
	.load = rd_load,
	.stats = rd_stats,
	.compact = rd_compact,
	.purge = rd_purge,
};
