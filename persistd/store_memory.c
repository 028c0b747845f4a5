/*
 * store_memory — the in-memory backend: fastest, nothing on disk, state lives as long as persistd.
 *
 * Every entity and message is kept as its journal_encode form (LOAD_ENTITY / LOAD_MESSAGE
 * payload), so a get returns a deep copy decoded exactly as the other backends decode theirs.
 * Layout: one hash map from lower-cased entity path to a bucket holding that entity (if stored)
 * and a map "<where>:<seq>" → message. Ordered reads (load, list_entities) sort on demand.
 *
 * Transactions: every write inside begin/commit pushes the slot's previous value on an undo log;
 * rollback restores the values in reverse order, commit frees them. A deleted slot keeps its map
 * entry with a NULL value (a tombstone) until the transaction ends, so that rollback only ever
 * overwrites existing entries and cannot fail for lack of memory; commit and rollback then
 * remove the tombstones and empty buckets their undo log names.
 */
#include "persistd/store.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/map.h"

/* Longest "<where>:<seq>" message key, with its NUL. */
#define MEM_MSG_KEY_LEN 32

enum mem_state {
	MEM_ACTIVE,
	MEM_DEFERRED,
	MEM_DEADLETTER,
	MEM_SCHEDULED,
};

struct mem_item {
	char *path;               /* entity: the path as stored */
	enum journal_where where; /* message */
	uint64_t seq;             /* message */
	enum mem_state state;     /* message */
	size_t len;
	uint8_t data[];           /* journal payload */
};

struct mem_bucket {
	struct mem_item *entity; /* NULL: no entity, or a tombstone during a transaction */
	struct map msgs;         /* message key → struct mem_item (NULL: tombstone) */
};

struct mem_undo {
	char *key;               /* bucket key (lower-cased path) */
	bool is_msg;
	enum journal_where where;
	uint64_t seq;
	struct mem_item *old;    /* previous value; NULL: the slot was empty */
};

struct store {
	struct map buckets; /* lower-cased path → struct mem_bucket */
	uint64_t lsn;
	bool in_tx;
	struct mem_undo *undo;
	size_t nundo, capundo;
};

static void mem_msg_key(char out[MEM_MSG_KEY_LEN], enum journal_where where, uint64_t seq)
{
	snprintf(out, MEM_MSG_KEY_LEN, "%d:%" PRIu64, (int)where, seq);
}

static enum mem_state mem_state_of(const struct jrec_load_message *m)
{
	if (m->place.where == JWHERE_DLQ)
		return MEM_DEADLETTER;
	if (m->place.where == JWHERE_SCHEDULED)
		return MEM_SCHEDULED;
	return m->deferred ? MEM_DEFERRED : MEM_ACTIVE;
}

static void mem_item_free(struct mem_item *it)
{
	if (it == NULL)
		return;
	free(it->path);
	free(it);
}

/* Encodes `r` into a new item. */
static lz_err mem_item_new(const struct jrec *r, struct mem_item **out, struct store_detail *detail)
{
	struct strbuf b = STRBUF_INIT;
	struct mem_item *it;
	lz_err err;

	*out = NULL;
	err = journal_encode(r, &b);
	if (err != LZ_OK) {
		store_detail_set(detail, "memory: %s does not encode: %s", journal_type_name(r->type), err_str(err));
		goto out_release_buf;
	}
	it = calloc(1, sizeof(*it) + b.len);
	if (it == NULL) {
		err = LZ_ENOMEM;
		goto out_release_buf;
	}
	it->len = b.len;
	memcpy(it->data, b.data, b.len);
	*out = it;
out_release_buf:
	strbuf_release(&b);
	return err;
}

/* Decodes an item of `type` into OUT `r` (released and zeroed on failure). */
static lz_err mem_item_decode(const struct mem_item *it, enum journal_type type, const char *key,
			      struct jrec *r, struct store_detail *detail)
{
	char why[256];
	lz_err err = journal_decode(type, it->data, it->len, r, why, sizeof(why));

	if (err == LZ_OK)
		return LZ_OK;
	journal_rec_release(r);
	if (err == LZ_EPARSE || err == LZ_EUNSUPPORTED) {
		store_detail_set(detail, "memory: '%s' does not decode: %s", key, why);
		err = LZ_EPARSE;
	}
	return err;
}

static lz_err mem_check_tx(const store *s, struct store_detail *detail)
{
	if (!s->in_tx) {
		store_detail_set(detail, "memory: write outside a transaction");
		return LZ_ESTATE;
	}
	return LZ_OK;
}

/* The value currently in a slot (NULL: empty). */
static struct mem_item *mem_slot_get(const store *s, const char *key, bool is_msg, enum journal_where where,
				     uint64_t seq)
{
	struct mem_bucket *b = map_get(&s->buckets, key);
	char mkey[MEM_MSG_KEY_LEN];

	if (b == NULL)
		return NULL;
	if (!is_msg)
		return b->entity;
	mem_msg_key(mkey, where, seq);
	return map_get(&b->msgs, mkey);
}

/* Stores `item` (NULL: empty) in a slot, creating the bucket and map entry if needed; *old gets
 * the previous value. Never fails when the slot's map entries already exist; on failure the
 * store is unchanged. */
static lz_err mem_slot_set(store *s, const char *key, bool is_msg, enum journal_where where, uint64_t seq,
			   struct mem_item *item, struct mem_item **old)
{
	struct mem_bucket *b = map_get(&s->buckets, key);
	char mkey[MEM_MSG_KEY_LEN];
	bool created = false;
	void *prev = NULL;
	lz_err err;

	*old = NULL;
	if (b == NULL) {
		if (item == NULL)
			return LZ_OK;
		b = calloc(1, sizeof(*b));
		if (b == NULL)
			return LZ_ENOMEM;
		map_init(&b->msgs);
		err = map_put(&s->buckets, key, b, NULL);
		if (err != LZ_OK)
			goto out_free_bucket;
		created = true;
	}
	if (!is_msg) {
		*old = b->entity;
		b->entity = item;
		return LZ_OK;
	}
	mem_msg_key(mkey, where, seq);
	if (item == NULL && map_get(&b->msgs, mkey) == NULL)
		return LZ_OK;
	err = map_put(&b->msgs, mkey, item, &prev);
	if (err != LZ_OK)
		goto out_remove_bucket;
	*old = prev;
	return LZ_OK;

out_remove_bucket:
	if (!created)
		return err;
	map_remove(&s->buckets, key);
out_free_bucket:
	map_release(&b->msgs);
	free(b);
	return err;
}

/* Removes a slot's tombstone, and its bucket when nothing is left in it. */
static void mem_slot_trim(store *s, const struct mem_undo *u)
{
	struct mem_bucket *b = map_get(&s->buckets, u->key);
	char mkey[MEM_MSG_KEY_LEN];

	if (b == NULL)
		return;
	if (u->is_msg) {
		mem_msg_key(mkey, u->where, u->seq);
		if (map_get(&b->msgs, mkey) == NULL)
			map_remove(&b->msgs, mkey);
	}
	if (b->entity == NULL && b->msgs.n == 0) {
		map_remove(&s->buckets, u->key);
		map_release(&b->msgs);
		free(b);
	}
}

static lz_err mem_undo_reserve(store *s, size_t more)
{
	size_t cap = s->capundo ? s->capundo : 16;
	struct mem_undo *u;

	while (cap - s->nundo < more)
		cap *= 2;
	if (cap == s->capundo)
		return LZ_OK;
	u = realloc(s->undo, cap * sizeof(*u));
	if (u == NULL)
		return LZ_ENOMEM;
	s->undo = u;
	s->capundo = cap;
	return LZ_OK;
}

/* Replaces a slot's value with `item` (NULL: delete), logging the old value for rollback; the
 * undo log must have room for one entry. Takes `item` in every case. *existed (may be NULL)
 * tells whether the slot held a value. */
static lz_err mem_write(store *s, const char *key, bool is_msg, enum journal_where where, uint64_t seq,
			struct mem_item *item, bool *existed)
{
	struct mem_undo *u;
	struct mem_item *old;
	char *ukey = strdup(key);
	lz_err err;

	if (ukey == NULL) {
		err = LZ_ENOMEM;
		goto out_free_item;
	}
	err = mem_slot_set(s, key, is_msg, where, seq, item, &old);
	if (err != LZ_OK)
		goto out_free_key;
	u = &s->undo[s->nundo++];
	u->key = ukey;
	u->is_msg = is_msg;
	u->where = where;
	u->seq = seq;
	u->old = old;
	if (existed != NULL)
		*existed = old != NULL;
	return LZ_OK;

out_free_key:
	free(ukey);
out_free_item:
	mem_item_free(item);
	return err;
}

/* Ends the transaction: commit keeps the current values, rollback restores the logged ones. */
static void mem_tx_end(store *s, bool keep)
{
	for (size_t i = s->nundo; i-- > 0;) {
		struct mem_undo *u = &s->undo[i];
		struct mem_item *cur;

		if (keep) {
			mem_item_free(u->old);
		} else {
			/* The slot's entries exist since the write that logged u: this cannot fail. */
			mem_slot_set(s, u->key, u->is_msg, u->where, u->seq, u->old, &cur);
			mem_item_free(cur);
		}
	}
	for (size_t i = 0; i < s->nundo; i++) {
		mem_slot_trim(s, &s->undo[i]);
		free(s->undo[i].key);
	}
	s->nundo = 0;
	s->in_tx = false;
}

static void mem_msg_free(void *arg, const char *key, void *value)
{
	(void)arg;
	(void)key;
	mem_item_free(value);
}

static void mem_bucket_free(void *arg, const char *key, void *value)
{
	struct mem_bucket *b = value;

	(void)arg;
	(void)key;
	map_foreach(&b->msgs, mem_msg_free, NULL);
	map_release(&b->msgs);
	mem_item_free(b->entity);
	free(b);
}

/* Frees every bucket (outside a transaction only). */
static void mem_clear(store *s)
{
	map_foreach(&s->buckets, mem_bucket_free, NULL);
	map_release(&s->buckets);
}

static lz_err mem_open(const struct store_config *cfg, store **out, struct store_detail *detail)
{
	store *s = calloc(1, sizeof(*s));

	(void)cfg;
	(void)detail;
	*out = NULL;
	if (s == NULL)
		return LZ_ENOMEM;
	map_init(&s->buckets);
	*out = s;
	return LZ_OK;
}

static void mem_close(store *s)
{
	if (s == NULL)
		return;
	if (s->in_tx)
		mem_tx_end(s, false);
	mem_clear(s);
	free(s->undo);
	free(s);
}

static lz_err mem_begin(store *s, struct store_detail *detail)
{
	if (s->in_tx) {
		store_detail_set(detail, "memory: a transaction is already open");
		return LZ_ESTATE;
	}
	s->in_tx = true;
	return LZ_OK;
}

static lz_err mem_commit(store *s, uint64_t lsn, struct store_detail *detail)
{
	lz_err err = mem_check_tx(s, detail);

	if (err != LZ_OK)
		return err;
	mem_tx_end(s, true);
	s->lsn = lsn;
	return LZ_OK;
}

static void mem_rollback(store *s)
{
	if (s->in_tx)
		mem_tx_end(s, false);
}

static lz_err mem_put_entity(store *s, const struct jrec_load_entity *e, struct store_detail *detail)
{
	struct jrec r = { .type = JREC_LOAD_ENTITY };
	struct mem_item *it;
	char *key;
	lz_err err;

	err = mem_check_tx(s, detail);
	if (err == LZ_OK)
		err = store_check_path("memory", e->path, detail);
	if (err != LZ_OK)
		return err;
	r.u.load_entity = *e;
	err = mem_item_new(&r, &it, detail);
	if (err != LZ_OK)
		return err;
	it->path = strdup(e->path);
	key = store_key_new(e->path);
	if (it->path == NULL || key == NULL) {
		err = LZ_ENOMEM;
		goto out_free_item;
	}
	err = mem_undo_reserve(s, 1);
	if (err != LZ_OK)
		goto out_free_item;
	err = mem_write(s, key, false, JWHERE_MAIN, 0, it, NULL);
	free(key);
	return err;

out_free_item:
	free(key);
	mem_item_free(it);
	return err;
}

static lz_err mem_get_entity(store *s, const char *path, struct jrec_load_entity *out, struct store_detail *detail)
{
	struct jrec r;
	struct mem_item *it;
	char *key;
	lz_err err;

	memset(out, 0, sizeof(*out));
	err = store_check_path("memory", path, detail);
	if (err != LZ_OK)
		return err;
	key = store_key_new(path);
	if (key == NULL)
		return LZ_ENOMEM;
	it = mem_slot_get(s, key, false, JWHERE_MAIN, 0);
	if (it == NULL) {
		store_detail_set(detail, "memory: no entity '%s'", path);
		err = LZ_ENOTFOUND;
		goto out_free_key;
	}
	err = mem_item_decode(it, JREC_LOAD_ENTITY, key, &r, detail);
	if (err == LZ_OK)
		*out = r.u.load_entity;
out_free_key:
	free(key);
	return err;
}

struct mem_collect {
	struct mem_item **v;
	size_t n, cap;
	lz_err err;
};

static void mem_collect_msg(void *arg, const char *key, void *value)
{
	struct mem_collect *c = arg;

	(void)key;
	if (value == NULL || c->err != LZ_OK)
		return;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct mem_item **v = realloc(c->v, cap * sizeof(*v));

		if (v == NULL) {
			c->err = LZ_ENOMEM;
			return;
		}
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n++] = value;
}

static lz_err mem_delete_entity(store *s, const char *path, struct store_detail *detail)
{
	struct mem_collect c = { 0 };
	struct mem_bucket *b;
	bool existed = false;
	char *key;
	lz_err err;

	err = mem_check_tx(s, detail);
	if (err == LZ_OK)
		err = store_check_path("memory", path, detail);
	if (err != LZ_OK)
		return err;
	key = store_key_new(path);
	if (key == NULL)
		return LZ_ENOMEM;
	b = map_get(&s->buckets, key);
	if (b == NULL)
		goto out_not_found;
	map_foreach(&b->msgs, mem_collect_msg, &c);
	err = c.err;
	if (err == LZ_OK)
		err = mem_undo_reserve(s, c.n + 1);
	/* Messages first: the bucket goes away only when the transaction ends. */
	for (size_t i = 0; i < c.n && err == LZ_OK; i++)
		err = mem_write(s, key, true, c.v[i]->where, c.v[i]->seq, NULL, NULL);
	if (err == LZ_OK && b->entity != NULL)
		err = mem_write(s, key, false, JWHERE_MAIN, 0, NULL, &existed);
	free(c.v);
	if (err != LZ_OK || existed)
		goto out_free_key;
out_not_found:
	store_detail_set(detail, "memory: no entity '%s'", path);
	err = LZ_ENOTFOUND;
out_free_key:
	free(key);
	return err;
}

struct mem_name {
	const char *key;
	const struct mem_item *item;
};

struct mem_names {
	struct mem_name *v;
	size_t n, cap;
	const char *prefix; /* lower-cased; NULL: every entity */
	lz_err err;
};

static void mem_collect_entity(void *arg, const char *key, void *value)
{
	struct mem_names *c = arg;
	const struct mem_bucket *b = value;

	if (b->entity == NULL || c->err != LZ_OK)
		return;
	if (c->prefix != NULL && strncmp(key, c->prefix, strlen(c->prefix)) != 0)
		return;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct mem_name *v = realloc(c->v, cap * sizeof(*v));

		if (v == NULL) {
			c->err = LZ_ENOMEM;
			return;
		}
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n].key = key;
	c->v[c->n].item = b->entity;
	c->n++;
}

static int mem_name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct mem_name *)a)->key, ((const struct mem_name *)b)->key);
}

/* The stored entities (whose key starts with `prefix`, if not NULL) sorted by key. */
static lz_err mem_entities_sorted(const store *s, const char *prefix, struct mem_names *out)
{
	memset(out, 0, sizeof(*out));
	out->prefix = prefix;
	map_foreach(&s->buckets, mem_collect_entity, out);
	if (out->err != LZ_OK) {
		free(out->v);
		return out->err;
	}
	if (out->n > 0)
		qsort(out->v, out->n, sizeof(out->v[0]), mem_name_cmp);
	return LZ_OK;
}

static lz_err mem_list_entities(store *s, const char *prefix, lz_err (*fn)(void *arg, const char *path), void *arg,
				struct store_detail *detail)
{
	struct mem_names names;
	char *key = store_key_new(prefix != NULL ? prefix : "");
	lz_err err;

	(void)detail;
	if (key == NULL)
		return LZ_ENOMEM;
	err = mem_entities_sorted(s, key, &names);
	if (err != LZ_OK)
		goto out_free_key;
	for (size_t i = 0; i < names.n && err == LZ_OK; i++)
		err = fn(arg, names.v[i].item->path);
	free(names.v);
out_free_key:
	free(key);
	return err;
}

static lz_err mem_put_message(store *s, const struct jrec_load_message *m, struct store_detail *detail)
{
	struct jrec r = { .type = JREC_LOAD_MESSAGE };
	struct mem_item *it;
	char *key;
	lz_err err;

	err = mem_check_tx(s, detail);
	if (err == LZ_OK)
		err = store_check_path("memory", m->place.path, detail);
	if (err != LZ_OK)
		return err;
	r.u.load_message = *m;
	err = mem_item_new(&r, &it, detail);
	if (err != LZ_OK)
		return err;
	it->where = m->place.where;
	it->seq = m->place.seq;
	it->state = mem_state_of(m);
	key = store_key_new(m->place.path);
	if (key == NULL) {
		mem_item_free(it);
		return LZ_ENOMEM;
	}
	err = mem_undo_reserve(s, 1);
	if (err == LZ_OK)
		err = mem_write(s, key, true, it->where, it->seq, it, NULL);
	else
		mem_item_free(it);
	free(key);
	return err;
}

static lz_err mem_get_message(store *s, const char *path, enum journal_where where, uint64_t seq,
			      struct jrec_load_message *out, struct store_detail *detail)
{
	struct mem_item *it;
	struct jrec r;
	char *key;
	lz_err err;

	memset(out, 0, sizeof(*out));
	err = store_check_path("memory", path, detail);
	if (err != LZ_OK)
		return err;
	key = store_key_new(path);
	if (key == NULL)
		return LZ_ENOMEM;
	it = mem_slot_get(s, key, true, where, seq);
	if (it == NULL) {
		store_detail_set(detail, "memory: no message %" PRIu64 " (where %d) in '%s'", seq, (int)where, path);
		err = LZ_ENOTFOUND;
		goto out_free_key;
	}
	err = mem_item_decode(it, JREC_LOAD_MESSAGE, key, &r, detail);
	if (err == LZ_OK)
		*out = r.u.load_message;
out_free_key:
	free(key);
	return err;
}

static lz_err mem_delete_message(store *s, const char *path, enum journal_where where, uint64_t seq,
				 struct store_detail *detail)
{
	bool existed = false;
	char *key;
	lz_err err;

	err = mem_check_tx(s, detail);
	if (err == LZ_OK)
		err = store_check_path("memory", path, detail);
	if (err != LZ_OK)
		return err;
	key = store_key_new(path);
	if (key == NULL)
		return LZ_ENOMEM;
	if (mem_slot_get(s, key, true, where, seq) != NULL) {
		err = mem_undo_reserve(s, 1);
		if (err == LZ_OK)
			err = mem_write(s, key, true, where, seq, NULL, &existed);
	}
	if (err == LZ_OK && !existed) {
		store_detail_set(detail, "memory: no message %" PRIu64 " (where %d) in '%s'", seq, (int)where, path);
		err = LZ_ENOTFOUND;
	}
	free(key);
	return err;
}

static lz_err mem_last_applied_lsn(store *s, uint64_t *lsn, struct store_detail *detail)
{
	(void)detail;
	*lsn = s->lsn;
	return LZ_OK;
}

static int mem_msg_cmp(const void *a, const void *b)
{
	const struct mem_item *x = *(const struct mem_item *const *)a;
	const struct mem_item *y = *(const struct mem_item *const *)b;

	if (x->where != y->where)
		return x->where < y->where ? -1 : 1;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return 0;
}

/* Visits the messages of one bucket in (where, seq) order. */
static lz_err mem_load_bucket(const struct mem_bucket *b, const char *key, const struct store_visitor *v,
			      struct store_detail *detail)
{
	struct mem_collect c = { 0 };
	lz_err err;

	map_foreach(&b->msgs, mem_collect_msg, &c);
	err = c.err;
	if (err == LZ_OK && c.n > 0)
		qsort(c.v, c.n, sizeof(c.v[0]), mem_msg_cmp);
	for (size_t i = 0; i < c.n && err == LZ_OK; i++) {
		struct jrec r;

		err = mem_item_decode(c.v[i], JREC_LOAD_MESSAGE, key, &r, detail);
		if (err != LZ_OK)
			break;
		err = v->message(v->arg, &r.u.load_message);
		journal_rec_release(&r);
	}
	free(c.v);
	return err;
}

struct mem_keys {
	const char **v;
	size_t n, cap;
	lz_err err;
};

static void mem_collect_key(void *arg, const char *key, void *value)
{
	struct mem_keys *c = arg;

	(void)value;
	if (c->err != LZ_OK)
		return;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		const char **v = realloc(c->v, cap * sizeof(*v));

		if (v == NULL) {
			c->err = LZ_ENOMEM;
			return;
		}
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n++] = key;
}

static int mem_key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static lz_err mem_load(store *s, const struct store_visitor *v, struct store_detail *detail)
{
	struct mem_keys keys = { 0 };
	struct mem_names names;
	lz_err err;

	err = mem_entities_sorted(s, NULL, &names);
	if (err != LZ_OK)
		return err;
	for (size_t i = 0; i < names.n && err == LZ_OK; i++) {
		struct jrec r;

		err = mem_item_decode(names.v[i].item, JREC_LOAD_ENTITY, names.v[i].key, &r, detail);
		if (err != LZ_OK)
			break;
		err = v->entity(v->arg, &r.u.load_entity);
		journal_rec_release(&r);
	}
	free(names.v);
	if (err != LZ_OK)
		return err;
	map_foreach(&s->buckets, mem_collect_key, &keys);
	err = keys.err;
	if (err == LZ_OK && keys.n > 0)
		qsort(keys.v, keys.n, sizeof(keys.v[0]), mem_key_cmp);
	for (size_t i = 0; i < keys.n && err == LZ_OK; i++)
		err = mem_load_bucket(map_get(&s->buckets, keys.v[i]), keys.v[i], v, detail);
	free(keys.v);
	return err;
}

static void mem_count_msg(void *arg, const char *key, void *value)
{
	struct store_stats *st = arg;
	const struct mem_item *it = value;

	(void)key;
	if (it == NULL)
		return;
	st->messages++;
	switch (it->state) {
	case MEM_ACTIVE:
		st->messages_active++;
		break;
	case MEM_DEFERRED:
		st->messages_deferred++;
		break;
	case MEM_DEADLETTER:
		st->messages_deadletter++;
		break;
	case MEM_SCHEDULED:
		st->messages_scheduled++;
		break;
	}
}

static void mem_count_bucket(void *arg, const char *key, void *value)
{
	struct store_stats *st = arg;
	const struct mem_bucket *b = value;

	(void)key;
	if (b->entity != NULL)
		st->entities++;
	map_foreach(&b->msgs, mem_count_msg, st);
}

static lz_err mem_stats(store *s, struct store_stats *out, struct store_detail *detail)
{
	(void)detail;
	memset(out, 0, sizeof(*out));
	map_foreach(&s->buckets, mem_count_bucket, out);
	out->last_applied_lsn = s->lsn;
	return LZ_OK;
}

static lz_err mem_compact(store *s, struct store_detail *detail)
{
	if (s->in_tx) {
		store_detail_set(detail, "memory: compact inside a transaction");
		return LZ_ESTATE;
	}
	return LZ_OK;
}

static lz_err mem_purge(store *s, struct store_detail *detail)
{
	if (s->in_tx) {
		store_detail_set(detail, "memory: purge inside a transaction");
		return LZ_ESTATE;
	}
	mem_clear(s);
	s->lsn = 0;
	return LZ_OK;
}

const struct store_ops store_memory_ops = {
	.name = "memory",
	.open = mem_open,
	.close = mem_close,
	.begin = mem_begin,
	.commit = mem_commit,
	.rollback = mem_rollback,
	.put_entity = mem_put_entity,
	.get_entity = mem_get_entity,
	.delete_entity = mem_delete_entity,
	.list_entities = mem_list_entities,
	.put_message = mem_put_message,
	.get_message = mem_get_message,
	.delete_message = mem_delete_message,
	.last_applied_lsn = mem_last_applied_lsn,
	.load = mem_load,
	.stats = mem_stats,
	.compact = mem_compact,
	.purge = mem_purge,
};
