/*
 * fold — journal records → backend operations (see fold.h and the record meanings in
 * proto/journal.h).
 */
#include "persistd/fold.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/duration.h"
#include "common/map.h"

struct cached_entity {
	struct jrec_load_entity e; /* owned */
	bool dirty;
};

struct fold {
	const struct store_ops *ops;
	store *s;
	uint64_t base_lsn;  /* the store's last_applied_lsn when the fold began */
	uint64_t last_lsn;  /* highest LSN folded or skipped */
	struct map cache;   /* lower-cased path -> struct cached_entity */
};

/* Lower-cased copy of `path` into `key` (cap bytes); false when it does not fit. */
static bool path_key(const char *path, char *key, size_t cap)
{
	size_t i;

	for (i = 0; path[i] != '\0'; i++) {
		if (i + 1 >= cap)
			return false;
		key[i] = (char)tolower((unsigned char)path[i]);
	}
	key[i] = '\0';
	return true;
}

lz_err fold_begin(const struct store_ops *ops, store *s, fold **out, struct store_detail *detail)
{
	struct fold *f = calloc(1, sizeof(*f));
	lz_err err;

	if (f == NULL)
		return LZ_ENOMEM;
	f->ops = ops;
	f->s = s;
	map_init(&f->cache);
	err = ops->last_applied_lsn(s, &f->base_lsn, detail);
	if (err == LZ_OK)
		err = ops->begin(s, detail);
	if (err != LZ_OK) {
		map_release(&f->cache);
		free(f);
		return err;
	}
	f->last_lsn = f->base_lsn;
	*out = f;
	return LZ_OK;
}

uint64_t fold_last_lsn(const fold *f)
{
	return f->last_lsn;
}

/* The cached entity at `path`, reading it from the store on first use; NULL + LZ_EINVAL in
 * *err when it does not exist. */
static struct cached_entity *entity_get(fold *f, const char *path, lz_err *err, struct store_detail *detail)
{
	char key[1024];
	struct cached_entity *ce;

	*err = LZ_OK;
	if (!path_key(path, key, sizeof(key))) {
		store_detail_set(detail, "entity path too long: '%.64s...'", path);
		*err = LZ_EINVAL;
		return NULL;
	}
	ce = map_get(&f->cache, key);
	if (ce != NULL)
		return ce;
	ce = calloc(1, sizeof(*ce));
	if (ce == NULL) {
		*err = LZ_ENOMEM;
		return NULL;
	}
	*err = f->ops->get_entity(f->s, path, &ce->e, detail);
	if (*err == LZ_OK)
		*err = map_put(&f->cache, key, ce, NULL);
	if (*err != LZ_OK) {
		if (*err == LZ_ENOTFOUND) {
			store_detail_set(detail, "no entity '%s' in the store", path);
			*err = LZ_EINVAL;
		}
		journal_load_entity_release(&ce->e);
		free(ce);
		return NULL;
	}
	return ce;
}

/* Puts a new entity into the cache (taking over `e`), replacing any cached one. */
static lz_err entity_add(fold *f, struct jrec_load_entity *e)
{
	char key[1024];
	struct cached_entity *ce;
	void *old = NULL;
	lz_err err;

	if (!path_key(e->path, key, sizeof(key)))
		return LZ_EINVAL;
	ce = calloc(1, sizeof(*ce));
	if (ce == NULL)
		return LZ_ENOMEM;
	ce->e = *e;
	ce->dirty = true;
	memset(e, 0, sizeof(*e));
	err = map_put(&f->cache, key, ce, &old);
	if (err != LZ_OK) {
		journal_load_entity_release(&ce->e);
		free(ce);
		return err;
	}
	if (old != NULL) {
		journal_load_entity_release(&((struct cached_entity *)old)->e);
		free(old);
	}
	return LZ_OK;
}

static lz_err entity_touch(fold *f, const char *path, int64_t ts, struct store_detail *detail)
{
	lz_err err;
	struct cached_entity *ce = entity_get(f, path, &err, detail);

	if (ce != NULL) {
		ce->e.accessed_at = ts;
		ce->dirty = true;
	}
	return err;
}

/* Removes the entity from the store now (its messages go with it) and from the cache. */
static lz_err entity_remove(fold *f, const char *path, struct store_detail *detail)
{
	char key[1024];
	struct cached_entity *ce;
	lz_err err;

	if (!path_key(path, key, sizeof(key)))
		return LZ_EINVAL;
	/* An entity created in this fold exists only in the cache, while its messages are already
	 * in the store: write it first, so that deleting it takes its messages too. */
	ce = map_get(&f->cache, key);
	if (ce != NULL && ce->dirty) {
		err = f->ops->put_entity(f->s, &ce->e, detail);
		if (err != LZ_OK)
			return err;
	}
	err = f->ops->delete_entity(f->s, path, detail);
	ce = map_remove(&f->cache, key);
	if (ce != NULL) {
		journal_load_entity_release(&ce->e);
		free(ce);
	}
	return err;
}

struct cache_prefix {
	const char *prefix;
	struct store_paths *list;
};

static void cache_collect(void *arg, const char *key, void *value)
{
	struct cache_prefix *cp = arg;
	struct cached_entity *ce = value;

	if (strncmp(key, cp->prefix, strlen(cp->prefix)) == 0 && cp->list->err == LZ_OK)
		cp->list->err = store_paths_add(cp->list, ce->e.path);
}

static lz_err fold_entity_delete(fold *f, const char *path, struct store_detail *detail)
{
	struct store_paths subs = { 0 };
	char prefix[1100], key[1024];
	struct cache_prefix cp = { prefix, &subs };
	lz_err err;

	if (!path_key(path, key, sizeof(key)))
		return LZ_EINVAL;
	snprintf(prefix, sizeof(prefix), "%s/subscriptions/", key);
	/* Subscriptions stored, and subscriptions created in this fold and not flushed yet. */
	err = f->ops->list_entities(f->s, prefix, store_paths_add, &subs, detail);
	if (err == LZ_OK) {
		map_foreach(&f->cache, cache_collect, &cp);
		err = subs.err;
	}
	for (size_t i = 0; i < subs.n && err == LZ_OK; i++) {
		err = entity_remove(f, subs.v[i], detail);
		if (err == LZ_ENOTFOUND)
			err = LZ_OK; /* listed twice: stored and cached */
	}
	store_paths_release(&subs);
	if (err == LZ_OK)
		err = entity_remove(f, path, detail);
	return err;
}

static lz_err fold_entity_put(fold *f, struct jrec_entity_put *p, int64_t ts, struct store_detail *detail)
{
	struct jrec_load_entity e;
	struct cached_entity *ce;
	const char *split;
	lz_err err;

	if (p->is_update) {
		ce = entity_get(f, p->path, &err, detail);
		if (ce == NULL)
			return err;
		entity_desc_release(&ce->e.desc);
		ce->e.desc = p->desc;
		memset(&p->desc, 0, sizeof(p->desc));
		ce->e.updated_at = ts;
		ce->dirty = true;
		return LZ_OK;
	}
	memset(&e, 0, sizeof(e));
	e.path = p->path;
	p->path = NULL;
	e.desc = p->desc;
	memset(&p->desc, 0, sizeof(p->desc));
	e.created_at = p->created_at;
	e.updated_at = ts;
	if (p->has_rule) {
		e.rules = malloc(sizeof(*e.rules));
		if (e.rules == NULL) {
			journal_load_entity_release(&e);
			return LZ_ENOMEM;
		}
		e.rules[0] = p->rule;
		e.nrules = 1;
		memset(&p->rule, 0, sizeof(p->rule));
		p->has_rule = false;
	}
	split = NULL;
	for (const char *q = e.path; (q = strcasestr(q, "/subscriptions/")) != NULL; q++)
		split = q;
	if (split != NULL) {
		char topic[1024];
		size_t len = (size_t)(split - e.path);

		if (len >= sizeof(topic)) {
			journal_load_entity_release(&e);
			return LZ_EINVAL;
		}
		memcpy(topic, e.path, len);
		topic[len] = '\0';
		err = entity_touch(f, topic, ts, detail);
		if (err != LZ_OK) {
			journal_load_entity_release(&e);
			return err;
		}
	}
	err = entity_add(f, &e);
	if (err != LZ_OK)
		journal_load_entity_release(&e);
	return err;
}

static lz_err fold_rule_put(fold *f, struct jrec_rule_put *rp, int64_t ts, struct store_detail *detail)
{
	lz_err err;
	struct cached_entity *ce = entity_get(f, rp->sub_path, &err, detail);
	struct rule_desc *rules;
	size_t i;

	if (ce == NULL)
		return err;
	for (i = 0; i < ce->e.nrules; i++) {
		if (strcasecmp(ce->e.rules[i].name, rp->rule.name) == 0)
			break;
	}
	if (i == ce->e.nrules) {
		rules = realloc(ce->e.rules, (ce->e.nrules + 1) * sizeof(*rules));
		if (rules == NULL)
			return LZ_ENOMEM;
		ce->e.rules = rules;
		ce->e.nrules++;
	} else {
		rule_desc_release(&ce->e.rules[i]);
	}
	ce->e.rules[i] = rp->rule;
	memset(&rp->rule, 0, sizeof(rp->rule));
	ce->e.accessed_at = ts;
	ce->dirty = true;
	return LZ_OK;
}

static lz_err fold_rule_delete(fold *f, const struct jrec_rule_delete *rd, struct store_detail *detail)
{
	lz_err err;
	struct cached_entity *ce = entity_get(f, rd->sub_path, &err, detail);

	if (ce == NULL)
		return err;
	for (size_t i = 0; i < ce->e.nrules; i++) {
		if (strcasecmp(ce->e.rules[i].name, rd->name) == 0) {
			rule_desc_release(&ce->e.rules[i]);
			memmove(&ce->e.rules[i], &ce->e.rules[i + 1], (ce->e.nrules - i - 1) * sizeof(ce->e.rules[0]));
			ce->e.nrules--;
			ce->dirty = true;
			return LZ_OK;
		}
	}
	store_detail_set(detail, "no rule '%s' on '%s'", rd->name, rd->sub_path);
	return LZ_EINVAL;
}

static lz_err fold_counters(fold *f, const struct journal_counter *cs, size_t n, struct store_detail *detail)
{
	for (size_t i = 0; i < n; i++) {
		lz_err err;
		struct cached_entity *ce = entity_get(f, cs[i].path, &err, detail);

		if (ce == NULL)
			return err;
		if (cs[i].seq > ce->e.last_seq) {
			ce->e.last_seq = cs[i].seq;
			ce->dirty = true;
		}
	}
	return LZ_OK;
}

static int64_t sat_add(int64_t a, int64_t b)
{
	if (b == DURATION_INFINITE || a > INT64_MAX - b)
		return INT64_MAX;
	return a + b;
}

/* Records (id, ts) in the duplicate-detection history, dropping entries out of the window. */
static lz_err dup_add(struct jrec_load_entity *e, const char *id, int64_t ts)
{
	size_t out = 0;
	struct journal_dup *v;
	char *copy = strdup(id);

	if (copy == NULL)
		return LZ_ENOMEM;
	for (size_t i = 0; i < e->ndups; i++) {
		if (strcmp(e->dups[i].id, id) == 0 || sat_add(e->dups[i].ts_ms, e->desc.dup_window_ms) <= ts)
			free(e->dups[i].id);
		else
			e->dups[out++] = e->dups[i];
	}
	e->ndups = out;
	v = realloc(e->dups, (e->ndups + 1) * sizeof(*v));
	if (v == NULL) {
		free(copy);
		return LZ_ENOMEM;
	}
	e->dups = v;
	e->dups[e->ndups].id = copy;
	e->dups[e->ndups].ts_ms = ts;
	e->ndups++;
	return LZ_OK;
}

/* Stores one copy: content (props, user + the place's dead-letter properties, body) at place. */
static lz_err put_copy(fold *f, const struct journal_place *p, bool deferred, const struct journal_msg *content,
		       struct store_detail *detail)
{
	struct jrec_load_message m;
	struct proplist user;
	lz_err err;

	memset(&m, 0, sizeof(m));
	m.place = *p;
	m.place.dl_reason = NULL;
	m.place.dl_description = NULL;
	m.deferred = deferred;
	m.msg = *content;
	/* Without dead-letter properties to add, the user properties are stored as they are
	 * (put_message borrows them): no copy per message. */
	if (p->dl_reason == NULL && p->dl_description == NULL)
		return f->ops->put_message(f->s, &m, detail);
	err = proplist_copy(&user, &content->user);
	if (err != LZ_OK)
		return err;
	if (p->dl_reason != NULL) {
		struct value v = { .type = VALUE_STRING };

		v.u.s = p->dl_reason;
		err = proplist_set(&user, "DeadLetterReason", &v);
	}
	if (err == LZ_OK && p->dl_description != NULL) {
		struct value v = { .type = VALUE_STRING };

		v.u.s = p->dl_description;
		err = proplist_set(&user, "DeadLetterErrorDescription", &v);
	}
	m.msg.user = user;
	if (err == LZ_OK)
		err = f->ops->put_message(f->s, &m, detail);
	proplist_release(&user);
	return err;
}

static lz_err fold_enqueue(fold *f, const struct jrec_enqueue *q, int64_t ts, struct store_detail *detail)
{
	lz_err err = fold_counters(f, q->counters, q->ncounters, detail);
	struct cached_entity *target;

	for (size_t i = 0; i < q->nplaces && err == LZ_OK; i++)
		err = put_copy(f, &q->places[i], false, &q->msg, detail);
	if (err != LZ_OK)
		return err;
	target = entity_get(f, q->target, &err, detail);
	if (target == NULL)
		return err;
	target->e.accessed_at = ts;
	target->dirty = true;
	if (target->e.desc.requires_duplicate_detection && q->msg.props.message_id != NULL)
		err = dup_add(&target->e, q->msg.props.message_id, ts);
	return err;
}

static lz_err fold_move(fold *f, const struct jrec_move *mv, struct store_detail *detail)
{
	struct jrec_load_message src;
	lz_err err;

	err = f->ops->get_message(f->s, mv->path, mv->where, mv->seq, &src, detail);
	if (err == LZ_ENOTFOUND) {
		store_detail_set(detail, "no message %llu in '%s' (%d) to move", (unsigned long long)mv->seq, mv->path,
			   (int)mv->where);
		return LZ_EINVAL;
	}
	if (err != LZ_OK)
		return err;
	err = fold_counters(f, mv->counters, mv->ncounters, detail);
	for (size_t i = 0; i < mv->nplaces && err == LZ_OK; i++)
		err = put_copy(f, &mv->places[i], false, &src.msg, detail);
	if (err == LZ_OK)
		err = f->ops->delete_message(f->s, mv->path, mv->where, mv->seq, detail);
	journal_load_message_release(&src);
	return err;
}

static lz_err fold_msg_ref(fold *f, enum journal_type type, const struct jrec_msg_ref *r, int64_t ts,
			   struct store_detail *detail)
{
	struct jrec_load_message m;
	lz_err err;

	if (type == JREC_MSG_REMOVE) {
		err = f->ops->delete_message(f->s, r->path, r->where, r->seq, detail);
		if (err == LZ_OK && (r->reason == JREMOVE_COMPLETE || r->reason == JREMOVE_RECEIVE))
			err = entity_touch(f, r->path, ts, detail);
		return err;
	}
	err = f->ops->get_message(f->s, r->path, r->where, r->seq, &m, detail);
	if (err == LZ_ENOTFOUND) {
		store_detail_set(detail, "no message %llu in '%s' (%d)", (unsigned long long)r->seq, r->path, (int)r->where);
		return LZ_EINVAL;
	}
	if (err != LZ_OK)
		return err;
	if (type == JREC_MSG_DELIVER)
		m.place.delivery_count++;
	else
		m.deferred = true;
	err = f->ops->put_message(f->s, &m, detail);
	journal_load_message_release(&m);
	if (err == LZ_OK && type == JREC_MSG_DELIVER)
		err = entity_touch(f, r->path, ts, detail);
	return err;
}

lz_err fold_record(fold *f, const struct journal_rec *rec, struct store_detail *detail)
{
	struct jrec r;
	char why[256];
	lz_err err;

	if (rec->lsn <= f->base_lsn) {
		/* Already in the store: a WAL segment outlived the fold that covered it. */
		if (rec->lsn > f->last_lsn)
			f->last_lsn = rec->lsn;
		return LZ_OK;
	}
	if (rec->lsn != f->last_lsn + 1) {
		store_detail_set(detail, "record lsn %llu does not follow lsn %llu", (unsigned long long)rec->lsn,
			   (unsigned long long)f->last_lsn);
		return LZ_EINVAL;
	}
	err = journal_decode(rec->type, rec->payload, rec->len, &r, why, sizeof(why));
	if (err != LZ_OK) {
		store_detail_set(detail, "record lsn %llu does not decode: %s", (unsigned long long)rec->lsn, why);
		journal_rec_release(&r);
		return LZ_EPARSE;
	}
	switch (r.type) {
	case JREC_ENTITY_PUT:
		err = fold_entity_put(f, &r.u.entity_put, rec->ts_ms, detail);
		break;
	case JREC_ENTITY_DELETE:
		err = fold_entity_delete(f, r.u.path.path, detail);
		break;
	case JREC_ENTITY_TOUCH:
		err = entity_touch(f, r.u.path.path, rec->ts_ms, detail);
		break;
	case JREC_RULE_PUT:
		err = fold_rule_put(f, &r.u.rule_put, rec->ts_ms, detail);
		break;
	case JREC_RULE_DELETE:
		err = fold_rule_delete(f, &r.u.rule_delete, detail);
		break;
	case JREC_MSG_ENQUEUE:
		err = fold_enqueue(f, &r.u.enqueue, rec->ts_ms, detail);
		break;
	case JREC_MSG_DELIVER:
	case JREC_MSG_REMOVE:
	case JREC_MSG_DEFER:
		err = fold_msg_ref(f, r.type, &r.u.msg_ref, rec->ts_ms, detail);
		break;
	case JREC_MSG_MOVE:
		err = fold_move(f, &r.u.move, detail);
		break;
	default:
		store_detail_set(detail, "record lsn %llu: %s does not belong in the journal", (unsigned long long)rec->lsn,
			   journal_type_name(r.type));
		err = LZ_EINVAL;
		break;
	}
	journal_rec_release(&r);
	if (err == LZ_OK)
		f->last_lsn = rec->lsn;
	return err;
}

struct flush_ctx {
	fold *f;
	struct store_detail *detail;
	lz_err err;
};

static void flush_one(void *arg, const char *key, void *value)
{
	struct flush_ctx *fc = arg;
	struct cached_entity *ce = value;

	(void)key;
	if (fc->err == LZ_OK && ce->dirty)
		fc->err = fc->f->ops->put_entity(fc->f->s, &ce->e, fc->detail);
}

static void free_one(void *arg, const char *key, void *value)
{
	struct cached_entity *ce = value;

	(void)arg;
	(void)key;
	journal_load_entity_release(&ce->e);
	free(ce);
}

static void fold_free(fold *f)
{
	map_foreach(&f->cache, free_one, NULL);
	map_release(&f->cache);
	free(f);
}

lz_err fold_commit(fold *f, struct store_detail *detail)
{
	struct flush_ctx fc = { f, detail, LZ_OK };

	map_foreach(&f->cache, flush_one, &fc);
	if (fc.err == LZ_OK)
		fc.err = f->ops->commit(f->s, f->last_lsn, detail);
	if (fc.err != LZ_OK)
		f->ops->rollback(f->s);
	fold_free(f);
	return fc.err;
}

void fold_abort(fold *f)
{
	if (f == NULL)
		return;
	f->ops->rollback(f->s);
	fold_free(f);
}
