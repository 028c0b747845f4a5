/*
 * core_dump — a canonical text rendering of all durable state, used to prove that replaying the
 * journal rebuilds the state exactly. Entities come in path order, messages in sequence order,
 * duplicate-detection entries in id order; only state that is durable appears (no locks, no
 * parked receives). Every field is printed, so any divergence shows as a differing line.
 */
#include "broker/core_internal.h"

#include <stdlib.h>
#include <string.h>

static void dump_str(struct strbuf *b, const char *key, const char *v)
{
	strbuf_addf(b, " %s=", key);
	if (v == NULL) {
		strbuf_adds(b, "-");
		return;
	}
	strbuf_addch(b, '"');
	for (; *v != '\0'; v++) {
		if (*v == '"' || *v == '\\' || (unsigned char)*v < 0x20)
			strbuf_addf(b, "\\x%02x", (unsigned char)*v);
		else
			strbuf_addch(b, *v);
	}
	strbuf_addch(b, '"');
}

static void dump_value(struct strbuf *b, const struct value *v)
{
	switch (v->type) {
	case VALUE_STRING:
		dump_str(b, "s", v->u.s);
		break;
	case VALUE_DOUBLE:
		strbuf_addf(b, " d=%.17g", v->u.d);
		break;
	case VALUE_BOOL:
		strbuf_addf(b, " b=%d", v->u.b ? 1 : 0);
		break;
	case VALUE_NULL:
		strbuf_adds(b, " null");
		break;
	default:
		strbuf_addf(b, " t%d=%lld", (int)v->type, (long long)v->u.i);
		break;
	}
}

static void dump_props(struct strbuf *b, const char *what, const struct proplist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		strbuf_addf(b, "\n      %s", what);
		dump_str(b, "name", l->items[i].name);
		dump_value(b, &l->items[i].v);
	}
}

static void dump_desc(struct strbuf *b, const struct entity_desc *d)
{
	strbuf_addf(b, "\n  desc kind=%d lock=%lld maxmb=%lld dupreq=%d session=%d ttl=%lld dlexp=%d dlfilter=%d "
		       "dupwin=%lld maxdc=%d batched=%d anon=%d order=%d filterpub=%d status=%d idle=%lld part=%d "
		       "subpart=%d express=%d maxkb=%lld",
		    (int)d->kind, (long long)d->lock_duration_ms, (long long)d->max_size_mb,
		    d->requires_duplicate_detection, d->requires_session, (long long)d->default_ttl_ms,
		    d->dead_lettering_on_expiration, d->dead_lettering_on_filter_exceptions, (long long)d->dup_window_ms,
		    d->max_delivery_count, d->enable_batched_operations, d->is_anonymous_accessible, d->support_ordering,
		    d->filtering_before_publishing, (int)d->status, (long long)d->auto_delete_on_idle_ms,
		    d->enable_partitioning, d->enable_subscription_partitioning, d->enable_express,
		    (long long)d->max_message_size_kb);
	dump_str(b, "fwd", d->forward_to);
	dump_str(b, "fwddlq", d->forward_dlq_to);
	dump_str(b, "meta", d->user_metadata);
}

static void dump_rule(struct strbuf *b, const struct rule_desc *r)
{
	const struct correlation_filter *f = &r->corr;

	strbuf_adds(b, "\n  rule");
	dump_str(b, "name", r->name);
	strbuf_addf(b, " filter=%d compat=%d action=%d acompat=%d created=%lld", (int)r->filter_type,
		    r->sql_compat_level, (int)r->action_type, r->action_compat_level, (long long)r->created_at);
	dump_str(b, "sql", r->sql_expression);
	dump_str(b, "asql", r->action_sql);
	dump_str(b, "cid", f->correlation_id);
	dump_str(b, "mid", f->message_id);
	dump_str(b, "to", f->to);
	dump_str(b, "replyto", f->reply_to);
	dump_str(b, "label", f->label);
	dump_str(b, "sid", f->session_id);
	dump_str(b, "rtsid", f->reply_to_session_id);
	dump_str(b, "ct", f->content_type);
	dump_props(b, "sqlparam", &r->sql_params);
	dump_props(b, "corrprop", &f->properties);
	dump_props(b, "actparam", &r->action_params);
}

static void dump_message(struct strbuf *b, const char *where, const struct message *m)
{
	const struct msg_props *p = &m->props;
	uint64_t h = 1469598103934665603ULL;

	for (uint32_t i = 0; i < m->body->len; i++) {
		h ^= m->body->bytes[i];
		h *= 1099511628211ULL;
	}
	strbuf_addf(b, "\n    msg %s seq=%llu enqseq=%llu enq=%lld exp=%lld ttl=%lld sched=%lld dc=%u state=%d "
		       "bodylen=%u bodyhash=%016llx",
		    where, (unsigned long long)m->seq, (unsigned long long)m->enqueued_seq, (long long)m->enqueued_ms,
		    (long long)m->expires_ms, (long long)m->ttl_ms, (long long)m->scheduled_ms, m->delivery_count,
		    (int)m->state, m->body->len, (unsigned long long)h);
	dump_str(b, "mid", p->message_id);
	dump_str(b, "cid", p->correlation_id);
	dump_str(b, "sid", p->session_id);
	dump_str(b, "replyto", p->reply_to);
	dump_str(b, "rtsid", p->reply_to_session_id);
	dump_str(b, "to", p->to);
	dump_str(b, "label", p->label);
	dump_str(b, "ct", p->content_type);
	dump_str(b, "pk", p->partition_key);
	dump_str(b, "vpk", p->via_partition_key);
	dump_str(b, "dls", m->dl_source);
	strbuf_addf(b, " hasttl=%d pttl=%lld psched=%lld force=%d", p->has_ttl, (long long)p->ttl_ms,
		    (long long)p->scheduled_enqueue_ms, p->force_persistence);
	dump_props(b, "user", &m->user);
}

static void dump_store(struct strbuf *b, const char *where, const struct mstore *s)
{
	for (size_t i = s->head; i < s->tail; i++) {
		if (s->v[i].m != NULL)
			dump_message(b, where, s->v[i].m);
	}
}

static int dup_cmp(const void *a, const void *b)
{
	return strcmp((*(struct dup_entry *const *)a)->id, (*(struct dup_entry *const *)b)->id);
}

static void dump_dup(struct strbuf *b, const struct entity *e, int64_t now)
{
	struct dup_entry **v = core_xcalloc(e->dup_tail - e->dup_head + 1, sizeof(*v));
	size_t n = 0;

	for (size_t i = e->dup_head; i < e->dup_tail; i++) {
		struct dup_entry *d = e->dup_fifo[i];
		int64_t window = e->desc.dup_window_ms;

		/* Only live entries count: pruning happens lazily and is not journaled. */
		if (map_get(&e->dup, d->id) == d && (d->ts_ms > INT64_MAX - window || d->ts_ms + window > now))
			v[n++] = d;
	}
	qsort(v, n, sizeof(*v), dup_cmp);
	for (size_t i = 0; i < n; i++) {
		strbuf_adds(b, "\n  dup");
		dump_str(b, "id", v[i]->id);
		strbuf_addf(b, " ts=%lld", (long long)v[i]->ts_ms);
	}
	free(v);
}

struct dump_ctx {
	struct entity **v;
	size_t n;
};

static void dump_collect(void *arg, const char *key, void *value)
{
	struct dump_ctx *d = arg;

	(void)key;
	d->v[d->n++] = value;
}

static int dump_cmp(const void *a, const void *b)
{
	return strcmp((*(struct entity *const *)a)->key, (*(struct entity *const *)b)->key);
}

lz_err core_dump(core *c, char **out, size_t *len)
{
	struct strbuf b = STRBUF_INIT;
	struct dump_ctx d;
	int64_t now;

	pthread_mutex_lock(&c->mu);
	now = clock_now(c->cfg.clock);
	d.v = core_xcalloc(c->entities.n + 1, sizeof(*d.v));
	d.n = 0;
	map_foreach(&c->entities, dump_collect, &d);
	qsort(d.v, d.n, sizeof(*d.v), dump_cmp);
	strbuf_addf(&b, "lsn=%llu entities=%zu top=%zu", (unsigned long long)c->lsn, d.n, c->n_top);
	for (size_t i = 0; i < d.n; i++) {
		const struct entity *e = d.v[i];

		strbuf_addf(&b, "\nentity key=%s", e->key);
		dump_str(&b, "path", e->path);
		strbuf_addf(&b, " created=%lld updated=%lld accessed=%lld lastseq=%llu bytes=%llu nsubs=%zu",
			    (long long)e->created_at, (long long)e->updated_at, (long long)e->accessed_at,
			    (unsigned long long)e->last_seq, (unsigned long long)e->bytes, e->nsubs);
		dump_desc(&b, &e->desc);
		for (size_t r = 0; r < e->nrules; r++)
			dump_rule(&b, &e->rules[r]);
		dump_dup(&b, e, now);
		dump_store(&b, "main", &e->main);
		dump_store(&b, "dlq", &e->dlq);
		dump_store(&b, "sched", &e->sched);
	}
	strbuf_addch(&b, '\n');
	free(d.v);
	pthread_mutex_unlock(&c->mu);
	if (b.data == NULL)
		return LZ_ENOMEM;
	*out = strbuf_detach(&b, len);
	return LZ_OK;
}
