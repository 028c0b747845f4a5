/*
 * core_export — the state-transfer form of the core's durable state: one LOAD_ENTITY record per
 * entity, then one LOAD_MESSAGE record per message, which a fresh core applies through
 * core_replay() to get the same state (core_dump() equal). persistd sends the same records from
 * its backend when a broker starts.
 */
#include "broker/core_internal.h"

#include <stdlib.h>
#include <string.h>

struct export_ctx {
	struct core *c;
	core_journal_fn fn;
	void *arg;
	struct strbuf enc;
	int64_t now;
};

static lz_err export_record(struct export_ctx *x, const struct jrec *r)
{
	struct journal_rec rec;
	lz_err err;

	strbuf_reset(&x->enc);
	err = journal_encode(r, &x->enc);
	if (err != LZ_OK)
		return err;
	rec.lsn = 0;
	rec.type = r->type;
	rec.ts_ms = x->now;
	rec.payload = (const uint8_t *)strbuf_cstr(&x->enc);
	rec.len = x->enc.len;
	return x->fn(x->arg, &rec);
}

static lz_err export_entity(struct export_ctx *x, const struct entity *e)
{
	struct jrec r;
	struct jrec_load_entity *l = &r.u.load_entity;
	struct journal_dup *dups = core_xcalloc(e->dup_tail - e->dup_head + 1, sizeof(*dups));
	lz_err err;

	memset(&r, 0, sizeof(r));
	r.type = JREC_LOAD_ENTITY;
	l->path = e->path;
	l->desc = e->desc;
	l->created_at = e->created_at;
	l->updated_at = e->updated_at;
	l->accessed_at = e->accessed_at;
	l->last_seq = e->last_seq;
	l->rules = e->rules;
	l->nrules = e->nrules;
	for (size_t i = e->dup_head; i < e->dup_tail; i++) {
		struct dup_entry *d = e->dup_fifo[i];

		/* Entries replaced by a later send of the same id are history no more. */
		if (map_get(&e->dup, d->id) == d && core_sat_add(d->ts_ms, e->desc.dup_window_ms) > x->now) {
			dups[l->ndups].id = d->id;
			dups[l->ndups].ts_ms = d->ts_ms;
			l->ndups++;
		}
	}
	l->dups = dups;
	err = export_record(x, &r);
	free(dups);
	return err;
}

static lz_err export_store(struct export_ctx *x, const struct mstore *s)
{
	for (size_t i = s->head; i < s->tail; i++) {
		const struct message *m = s->v[i].m;
		struct jrec r;
		struct jrec_load_message *l = &r.u.load_message;
		lz_err err;

		if (m == NULL)
			continue;
		memset(&r, 0, sizeof(r));
		r.type = JREC_LOAD_MESSAGE;
		l->place.path = m->owner->path;
		l->place.where = (enum journal_where)m->where;
		l->place.seq = m->seq;
		l->place.enqueued_seq = m->enqueued_seq;
		l->place.enqueued_ms = m->enqueued_ms;
		l->place.ttl_ms = m->ttl_ms;
		l->place.expires_ms = m->expires_ms;
		l->place.scheduled_ms = m->scheduled_ms;
		l->place.delivery_count = m->delivery_count;
		l->place.dl_source = (char *)m->dl_source;
		l->deferred = m->state == MSG_DEFERRED;
		l->msg.props = m->props;
		l->msg.user = m->user;
		l->msg.body = (uint8_t *)m->body->bytes;
		l->msg.body_len = m->body->len;
		err = export_record(x, &r);
		if (err != LZ_OK)
			return err;
	}
	return LZ_OK;
}

struct collect_ctx {
	struct entity **v;
	size_t n;
};

static void collect(void *arg, const char *key, void *value)
{
	struct collect_ctx *cc = arg;

	(void)key;
	cc->v[cc->n++] = value;
}

static int cmp_key(const void *a, const void *b)
{
	return strcmp((*(struct entity *const *)a)->key, (*(struct entity *const *)b)->key);
}

lz_err core_export(core *c, core_journal_fn fn, void *arg)
{
	struct export_ctx x = { c, fn, arg, STRBUF_INIT, 0 };
	struct collect_ctx cc = { NULL, 0 };
	lz_err err = LZ_OK;

	pthread_mutex_lock(&c->mu);
	x.now = clock_now(c->cfg.clock);
	cc.v = core_xcalloc(c->entities.n + 1, sizeof(*cc.v));
	map_foreach(&c->entities, collect, &cc);
	/* A topic's key is a prefix of its subscriptions' keys, so it sorts before them. */
	qsort(cc.v, cc.n, sizeof(*cc.v), cmp_key);
	for (size_t i = 0; i < cc.n && err == LZ_OK; i++)
		err = export_entity(&x, cc.v[i]);
	for (size_t i = 0; i < cc.n && err == LZ_OK; i++) {
		err = export_store(&x, &cc.v[i]->main);
		if (err == LZ_OK)
			err = export_store(&x, &cc.v[i]->dlq);
		if (err == LZ_OK)
			err = export_store(&x, &cc.v[i]->sched);
	}
	free(cc.v);
	pthread_mutex_unlock(&c->mu);
	strbuf_release(&x.enc);
	return err;
}
