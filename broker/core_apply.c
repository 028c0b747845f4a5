/*
 * core_apply — applies journal records to the core's state. This is the only code that changes
 * durable state: the live path (core_commit) and start-up replay (core_replay) both come here, so
 * replaying a record stream rebuilds exactly the state that produced it.
 */
#include "broker/core_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/duration.h"
#include "common/log.h"

#define SUBS_SEGMENT "/subscriptions/"

struct entity *core_entity_find(const struct core *c, const char *path)
{
	char key[1024];
	size_t i;

	if (path == NULL)
		return NULL;
	for (i = 0; path[i] != '\0'; i++) {
		if (i + 1 >= sizeof(key))
			return NULL;
		key[i] = (char)tolower((unsigned char)path[i]);
	}
	key[i] = '\0';
	return map_get(&c->entities, key);
}

struct mstore *entity_store(struct entity *e, enum journal_where where)
{
	switch (where) {
	case JWHERE_MAIN: return &e->main;
	case JWHERE_DLQ: return &e->dlq;
	case JWHERE_SCHEDULED: return &e->sched;
	}
	return NULL;
}

void core_mark_wake(struct core *c, struct entity *e)
{
	if (e->wake_pending || (e->waiters[0] == NULL && e->waiters[1] == NULL))
		return;
	if (c->nwake == c->capwake)
		core_array_grow(&c->wake, &c->capwake, sizeof(c->wake[0]));
	c->wake[c->nwake++] = e;
	e->wake_pending = true;
}

static void message_make_available(struct core *c, struct message *m)
{
	if (heap_push(&m->owner->main.avail, m) != LZ_OK)
		core_oom();
	core_mark_wake(c, m->owner);
}

/* Puts a fully built message into its place in entity `e` and the timer heaps. */
static void message_attach(struct core *c, struct entity *e, struct message *m)
{
	struct mstore *s = entity_store(e, (enum journal_where)m->where);

	m->owner = e;
	mstore_insert(s, m);
	e->bytes += m->size;
	switch ((enum journal_where)m->where) {
	case JWHERE_SCHEDULED:
		if (heap_push(&c->sched_heap, m) != LZ_OK)
			core_oom();
		break;
	case JWHERE_MAIN:
		if (m->state == MSG_DEFERRED) {
			s->deferred++;
			break;
		}
		if (m->expires_ms != INT64_MAX && heap_push(&c->exp_heap, m) != LZ_OK)
			core_oom();
		message_make_available(c, m);
		break;
	case JWHERE_DLQ:
		if (heap_push(&s->avail, m) != LZ_OK)
			core_oom();
		core_mark_wake(c, e);
		break;
	}
}

void core_message_unlock(struct core *c, struct message *m)
{
	if (m->lock == NULL)
		return;
	map_remove(&c->locks, m->lock->token);
	if (m->lock->heap_idx != HEAP_NONE)
		heap_remove(&c->lock_heap, m->lock->heap_idx);
	free(m->lock);
	m->lock = NULL;
	entity_store(m->owner, (enum journal_where)m->where)->locked--;
}

/* Takes `m` out of every structure and frees it. */
static void message_destroy(struct core *c, struct message *m)
{
	struct entity *e = m->owner;
	struct mstore *s = entity_store(e, (enum journal_where)m->where);

	core_message_unlock(c, m);
	if (m->avail_idx != HEAP_NONE)
		heap_remove(&s->avail, m->avail_idx);
	if (m->exp_idx != HEAP_NONE)
		heap_remove(&c->exp_heap, m->exp_idx);
	if (m->sched_idx != HEAP_NONE)
		heap_remove(&c->sched_heap, m->sched_idx);
	if (m->state == MSG_DEFERRED && m->where == JWHERE_MAIN)
		s->deferred--;
	mstore_remove(s, m);
	e->bytes -= m->size;
	message_free(m);
}

static void user_set_string(struct proplist *user, const char *name, const char *text)
{
	struct value v = { .type = VALUE_STRING };

	v.u.s = (char *)text;
	if (proplist_set(user, name, &v) != LZ_OK)
		core_oom();
}

/* Builds the copy of a message described by place `p` with content (props, user, body). */
static struct message *message_from_place(const struct journal_place *p, const struct msg_props *props,
					  const struct proplist *user, struct msg_body *body, bool deferred)
{
	struct message *m = message_new(props, p->dl_source);

	m->seq = p->seq;
	m->enqueued_seq = p->enqueued_seq;
	m->enqueued_ms = p->enqueued_ms;
	m->ttl_ms = p->ttl_ms;
	m->expires_ms = p->expires_ms;
	m->scheduled_ms = p->scheduled_ms;
	m->delivery_count = p->delivery_count;
	m->where = (uint8_t)p->where;
	m->state = p->where == JWHERE_SCHEDULED ? MSG_SCHEDULED : deferred ? MSG_DEFERRED : MSG_ACTIVE;
	if (proplist_copy(&m->user, user) != LZ_OK)
		core_oom();
	m->body = body;
	msg_body_ref(body);
	if (p->dl_reason != NULL)
		user_set_string(&m->user, "DeadLetterReason", p->dl_reason);
	if (p->dl_description != NULL)
		user_set_string(&m->user, "DeadLetterErrorDescription", p->dl_description);
	/* 64: the fixed per-message fields Azure also counts against the entity size. */
	m->size = core_message_size(&m->props, &m->user, body->len) + 64;
	return m;
}

static lz_err apply_counters(struct core *c, const struct journal_counter *cs, size_t n, struct lz_detail *detail)
{
	for (size_t i = 0; i < n; i++) {
		struct entity *e = core_entity_find(c, cs[i].path);

		if (e == NULL) {
			snprintf(detail->text, sizeof(detail->text), "counter for unknown entity '%s'", cs[i].path);
			return LZ_EINVAL;
		}
		if (cs[i].seq > e->last_seq)
			e->last_seq = cs[i].seq;
	}
	return LZ_OK;
}

/* Resolves every place before anything changes, so a bad record changes nothing. */
static lz_err resolve_places(struct core *c, const struct journal_place *ps, size_t n, struct entity **out,
			     struct lz_detail *detail)
{
	for (size_t i = 0; i < n; i++) {
		struct entity *e = core_entity_find(c, ps[i].path);

		if (e == NULL) {
			snprintf(detail->text, sizeof(detail->text), "place in unknown entity '%s'", ps[i].path);
			return LZ_EINVAL;
		}
		if (ps[i].where == JWHERE_SCHEDULED ? e->desc.kind == ENTITY_SUBSCRIPTION : e->desc.kind == ENTITY_TOPIC) {
			snprintf(detail->text, sizeof(detail->text), "entity '%s' cannot hold this message", ps[i].path);
			return LZ_EINVAL;
		}
		if (mstore_find(entity_store(e, ps[i].where), ps[i].seq) != NULL) {
			snprintf(detail->text, sizeof(detail->text), "sequence number %llu already used in '%s'",
				 (unsigned long long)ps[i].seq, ps[i].path);
			return LZ_EINVAL;
		}
		out[i] = e;
	}
	return LZ_OK;
}

/* Resolves the places of an ENQUEUE or MOVE into *dest (dest_stack when it holds 8) and
 * applies its counters; nothing changes when a place does not resolve. */
static lz_err resolve_landing(struct core *c, const struct journal_counter *cs, size_t ncs,
			      const struct journal_place *ps, size_t nps, struct entity **dest_stack,
			      struct entity ***dest, struct lz_detail *detail)
{
	lz_err err;

	*dest = nps > 8 ? core_xcalloc(nps, sizeof(**dest)) : dest_stack;
	err = resolve_places(c, ps, nps, *dest, detail);
	if (err == LZ_OK)
		err = apply_counters(c, cs, ncs, detail);
	return err;
}

static void dup_prune(struct entity *e, int64_t now_ms)
{
	while (e->dup_head < e->dup_tail) {
		struct dup_entry *d = e->dup_fifo[e->dup_head];

		if (core_sat_add(d->ts_ms, e->desc.dup_window_ms) > now_ms)
			break;
		if (map_get(&e->dup, d->id) == d)
			map_remove(&e->dup, d->id);
		free(d);
		e->dup_head++;
	}
	if (e->dup_head == e->dup_tail)
		e->dup_head = e->dup_tail = 0;
}

bool core_dup_seen(struct entity *e, const char *id, int64_t now_ms)
{
	struct dup_entry *d;

	dup_prune(e, now_ms);
	d = map_get(&e->dup, id);
	return d != NULL && core_sat_add(d->ts_ms, e->desc.dup_window_ms) > now_ms;
}

static void dup_record(struct entity *e, const char *id, int64_t ts_ms)
{
	size_t len = strlen(id);
	struct dup_entry *d = malloc(sizeof(*d) + len + 1);

	if (d == NULL)
		core_oom();
	d->ts_ms = ts_ms;
	memcpy(d->id, id, len + 1);
	if (e->dup_tail == e->dup_cap) {
		if (e->dup_head > 0) {
			memmove(e->dup_fifo, e->dup_fifo + e->dup_head, (e->dup_tail - e->dup_head) * sizeof(d));
			e->dup_tail -= e->dup_head;
			e->dup_head = 0;
		}
		if (e->dup_tail == e->dup_cap)
			core_array_grow(&e->dup_fifo, &e->dup_cap, sizeof(e->dup_fifo[0]));
	}
	e->dup_fifo[e->dup_tail++] = d;
	if (map_put(&e->dup, id, d, NULL) != LZ_OK)
		core_oom();
}

static lz_err apply_enqueue(struct core *c, const struct jrec_enqueue *r, int64_t ts, struct lz_detail *detail)
{
	struct entity *target = core_entity_find(c, r->target);
	struct entity *dest_stack[8], **dest = dest_stack;
	struct msg_body *body;
	lz_err err;

	if (target == NULL) {
		snprintf(detail->text, sizeof(detail->text), "enqueue to unknown entity '%s'", r->target);
		return LZ_EINVAL;
	}
	err = resolve_landing(c, r->counters, r->ncounters, r->places, r->nplaces, dest_stack, &dest, detail);
	if (err != LZ_OK)
		goto out_free_dest;
	if (c->live_body != NULL && c->live_body->bytes == r->msg.body) {
		body = c->live_body;
		msg_body_ref(body);
	} else {
		body = msg_body_new(r->msg.body, r->msg.body_len);
		if (body == NULL)
			core_oom();
	}
	for (size_t i = 0; i < r->nplaces; i++) {
		message_attach(c, dest[i], message_from_place(&r->places[i], &r->msg.props, &r->msg.user, body, false));
	}
	msg_body_unref(body);
	if (target->desc.requires_duplicate_detection && r->msg.props.message_id != NULL)
		dup_record(target, r->msg.props.message_id, ts);
	target->accessed_at = ts;
out_free_dest:
	if (dest != dest_stack)
		free(dest);
	return err;
}

static struct message *find_message(struct core *c, const char *path, enum journal_where where, uint64_t seq,
				    struct lz_detail *detail)
{
	struct entity *e = core_entity_find(c, path);
	struct mstore *s;
	struct message *m = NULL;

	if (e != NULL && (s = entity_store(e, where)) != NULL)
		m = mstore_find(s, seq);
	if (m == NULL)
		snprintf(detail->text, sizeof(detail->text), "no message %llu in '%s' (%d)", (unsigned long long)seq,
			 path, (int)where);
	return m;
}

static lz_err apply_move(struct core *c, const struct jrec_move *r, struct lz_detail *detail)
{
	struct message *src = find_message(c, r->path, r->where, r->seq, detail);
	struct entity *dest_stack[8], **dest = dest_stack;
	lz_err err;

	if (src == NULL)
		return LZ_EINVAL;
	err = resolve_landing(c, r->counters, r->ncounters, r->places, r->nplaces, dest_stack, &dest, detail);
	if (err != LZ_OK)
		goto out_free_dest;
	for (size_t i = 0; i < r->nplaces; i++)
		message_attach(c, dest[i], message_from_place(&r->places[i], &src->props, &src->user, src->body, false));
	message_destroy(c, src);
out_free_dest:
	if (dest != dest_stack)
		free(dest);
	return err;
}

static lz_err apply_msg_ref(struct core *c, enum journal_type type, const struct jrec_msg_ref *r, int64_t ts,
			    struct lz_detail *detail)
{
	struct message *m = find_message(c, r->path, r->where, r->seq, detail);
	struct entity *e;

	if (m == NULL)
		return LZ_EINVAL;
	e = m->owner;
	switch (type) {
	case JREC_MSG_DELIVER:
		m->delivery_count++;
		e->accessed_at = ts;
		break;
	case JREC_MSG_REMOVE:
		if (r->reason == JREMOVE_COMPLETE || r->reason == JREMOVE_RECEIVE)
			e->accessed_at = ts;
		message_destroy(c, m);
		break;
	case JREC_MSG_DEFER:
		if (r->where != JWHERE_MAIN || m->state == MSG_DEFERRED) {
			snprintf(detail->text, sizeof(detail->text), "message %llu in '%s' cannot be deferred",
				 (unsigned long long)r->seq, r->path);
			return LZ_EINVAL;
		}
		m->state = MSG_DEFERRED;
		e->main.deferred++;
		if (m->avail_idx != HEAP_NONE)
			heap_remove(&e->main.avail, m->avail_idx);
		if (m->exp_idx != HEAP_NONE)
			heap_remove(&c->exp_heap, m->exp_idx);
		break;
	default:
		return LZ_EINVAL;
	}
	return LZ_OK;
}

/* Answers every parked receive of `e` with `err` (entity deleted, or disabled for receiving). */
static void entity_fail_waiters(struct core *c, struct entity *e, lz_err err)
{
	for (int sq = 0; sq < 2; sq++) {
		while (e->waiters[sq] != NULL) {
			struct core_waiter *w = e->waiters[sq];

			e->waiters[sq] = w->next;
			if (w->heap_idx != HEAP_NONE)
				heap_remove(&c->wait_heap, w->heap_idx);
			w->cb(w->arg, err, NULL);
			free(w);
		}
		e->waiters_tail[sq] = NULL;
	}
}

static void mstore_destroy_all(struct core *c, struct mstore *s)
{
	while (s->live > 0)
		message_destroy(c, s->v[s->head].m);
	mstore_release(s);
}

static void entity_destroy(struct core *c, struct entity *e)
{
	entity_fail_waiters(c, e, LZ_ENOTFOUND);
	while (e->nsubs > 0)
		entity_destroy(c, e->subs[e->nsubs - 1]);
	mstore_destroy_all(c, &e->main);
	mstore_destroy_all(c, &e->dlq);
	mstore_destroy_all(c, &e->sched);
	if (e->topic != NULL) {
		struct entity *t = e->topic;

		for (size_t i = 0; i < t->nsubs; i++) {
			if (t->subs[i] == e) {
				memmove(&t->subs[i], &t->subs[i + 1], (t->nsubs - i - 1) * sizeof(e));
				t->nsubs--;
				break;
			}
		}
	} else {
		c->n_top--;
	}
	for (size_t i = 0; i < c->nwake; i++) {
		if (c->wake[i] == e)
			c->wake[i] = NULL;
	}
	map_remove(&c->entities, e->key);
	for (size_t i = 0; i < e->nrules; i++)
		rule_desc_release(&e->rules[i]);
	free(e->rules);
	while (e->dup_head < e->dup_tail)
		free(e->dup_fifo[e->dup_head++]);
	free(e->dup_fifo);
	map_release(&e->dup);
	free(e->subs);
	entity_desc_release(&e->desc);
	free(e->path);
	free(e->key);
	free(e);
}

static void destroy_top_cb(void *arg, const char *key, void *value)
{
	struct entity ***list = arg;
	struct entity *e = value;

	(void)key;
	if (e->topic == NULL)
		*(*list)++ = e;
}

void core_entities_destroy_all(struct core *c)
{
	struct entity **all = core_xcalloc(c->entities.n + 1, sizeof(*all)), **end = all;

	map_foreach(&c->entities, destroy_top_cb, &end);
	for (struct entity **p = all; p < end; p++)
		entity_destroy(c, *p);
	free(all);
}

/* Splits "t/subscriptions/s" at the last subscription segment; NULL for a queue/topic path. */
static const char *subscription_split(const char *path)
{
	const char *hit = NULL;

	for (const char *p = path; (p = strcasestr(p, SUBS_SEGMENT)) != NULL; p++)
		hit = p;
	return hit;
}

static lz_err rule_insert(struct entity *sub, const struct rule_desc *r, bool replace)
{
	size_t i;

	for (i = 0; i < sub->nrules; i++) {
		int cmp = strcasecmp(sub->rules[i].name, r->name);

		if (cmp == 0) {
			if (!replace)
				return LZ_EEXIST;
			rule_desc_release(&sub->rules[i]);
			if (rule_desc_copy(&sub->rules[i], r) != LZ_OK)
				core_oom();
			return LZ_OK;
		}
		if (cmp > 0)
			break;
	}
	if (replace)
		return LZ_ENOTFOUND;
	{
		struct rule_desc *rules = realloc(sub->rules, (sub->nrules + 1) * sizeof(*rules));

		if (rules == NULL)
			core_oom();
		sub->rules = rules;
	}
	memmove(&sub->rules[i + 1], &sub->rules[i], (sub->nrules - i) * sizeof(sub->rules[0]));
	if (rule_desc_copy(&sub->rules[i], r) != LZ_OK)
		core_oom();
	sub->nrules++;
	return LZ_OK;
}

/* `loading`: a state transfer, where creating a subscription is not activity on its topic. */
static lz_err apply_entity_put(struct core *c, const struct jrec_entity_put *r, int64_t ts, bool loading,
			       struct lz_detail *detail)
{
	struct entity *e = core_entity_find(c, r->path), *topic = NULL;
	const char *split;

	if (r->is_update) {
		if (e == NULL || e->desc.kind != r->desc.kind) {
			snprintf(detail->text, sizeof(detail->text), "update of unknown entity '%s'", r->path);
			return LZ_EINVAL;
		}
		entity_desc_release(&e->desc);
		if (entity_desc_copy(&e->desc, &r->desc) != LZ_OK)
			core_oom();
		e->updated_at = ts;
		if (e->desc.status == STATUS_DISABLED || e->desc.status == STATUS_RECEIVE_DISABLED)
			entity_fail_waiters(c, e, LZ_EDISABLED);
		core_mark_wake(c, e);
		return LZ_OK;
	}
	if (e != NULL) {
		snprintf(detail->text, sizeof(detail->text), "entity '%s' already exists", r->path);
		return LZ_EINVAL;
	}
	split = subscription_split(r->path);
	if ((split != NULL) != (r->desc.kind == ENTITY_SUBSCRIPTION)) {
		snprintf(detail->text, sizeof(detail->text), "path '%s' does not fit its kind", r->path);
		return LZ_EINVAL;
	}
	if (split != NULL) {
		char *tpath = core_xstrdup(r->path);

		tpath[split - r->path] = '\0';
		topic = core_entity_find(c, tpath);
		free(tpath);
		if (topic == NULL || topic->desc.kind != ENTITY_TOPIC) {
			snprintf(detail->text, sizeof(detail->text), "subscription '%s' has no topic", r->path);
			return LZ_EINVAL;
		}
	}
	e = core_xcalloc(1, sizeof(*e));
	e->path = core_xstrdup(r->path);
	e->key = core_key(r->path);
	if (entity_desc_copy(&e->desc, &r->desc) != LZ_OK)
		core_oom();
	e->created_at = r->created_at;
	e->updated_at = ts;
	mstore_init(&e->main);
	mstore_init(&e->dlq);
	mstore_init(&e->sched);
	map_init(&e->dup);
	if (map_put(&c->entities, e->key, e, NULL) != LZ_OK)
		core_oom();
	if (topic != NULL) {
		size_t i = 0;
		struct entity **subs = realloc(topic->subs, (topic->nsubs + 1) * sizeof(*subs));

		if (subs == NULL)
			core_oom();
		topic->subs = subs;
		while (i < topic->nsubs && strcmp(topic->subs[i]->key, e->key) < 0)
			i++;
		memmove(&subs[i + 1], &subs[i], (topic->nsubs - i) * sizeof(*subs));
		subs[i] = e;
		topic->nsubs++;
		e->topic = topic;
		if (!loading)
			topic->accessed_at = ts;
	} else {
		c->n_top++;
	}
	if (r->has_rule && rule_insert(e, &r->rule, false) != LZ_OK)
		core_oom();
	return LZ_OK;
}

static lz_err apply_load_entity(struct core *c, const struct jrec_load_entity *r, struct lz_detail *detail)
{
	struct jrec_entity_put put;
	struct entity *e;
	lz_err err;

	memset(&put, 0, sizeof(put));
	put.path = r->path;
	put.desc = r->desc;
	put.created_at = r->created_at;
	err = apply_entity_put(c, &put, r->updated_at, true, detail);
	if (err != LZ_OK)
		return err;
	e = core_entity_find(c, r->path);
	e->accessed_at = r->accessed_at;
	e->last_seq = r->last_seq;
	for (size_t i = 0; i < r->nrules; i++) {
		if (rule_insert(e, &r->rules[i], false) != LZ_OK) {
			snprintf(detail->text, sizeof(detail->text), "duplicate rule '%s' in '%s'", r->rules[i].name, r->path);
			return LZ_EINVAL;
		}
	}
	for (size_t i = 0; i < r->ndups; i++)
		dup_record(e, r->dups[i].id, r->dups[i].ts_ms);
	return LZ_OK;
}

static lz_err apply_load_message(struct core *c, const struct jrec_load_message *r, struct lz_detail *detail)
{
	struct entity *dest;
	struct msg_body *body;
	lz_err err;

	err = resolve_places(c, &r->place, 1, &dest, detail);
	if (err != LZ_OK)
		return err;
	if (r->deferred && r->place.where != JWHERE_MAIN) {
		snprintf(detail->text, sizeof(detail->text), "deferred message %llu of '%s' outside the main queue",
			 (unsigned long long)r->place.seq, r->place.path);
		return LZ_EINVAL;
	}
	body = msg_body_new(r->msg.body, r->msg.body_len);
	if (body == NULL)
		core_oom();
	message_attach(c, dest, message_from_place(&r->place, &r->msg.props, &r->msg.user, body, r->deferred));
	msg_body_unref(body);
	return LZ_OK;
}

static struct entity *find_subscription(struct core *c, const char *path, struct lz_detail *detail)
{
	struct entity *e = core_entity_find(c, path);

	if (e == NULL || e->desc.kind != ENTITY_SUBSCRIPTION) {
		snprintf(detail->text, sizeof(detail->text), "unknown subscription '%s'", path);
		return NULL;
	}
	return e;
}

lz_err core_apply(struct core *c, const struct jrec *r, int64_t ts, struct lz_detail *detail)
{
	struct entity *e;
	lz_err err;

	switch (r->type) {
	case JREC_ENTITY_PUT:
		return apply_entity_put(c, &r->u.entity_put, ts, false, detail);
	case JREC_ENTITY_DELETE:
		e = core_entity_find(c, r->u.path.path);
		if (e == NULL) {
			snprintf(detail->text, sizeof(detail->text), "delete of unknown entity '%s'", r->u.path.path);
			return LZ_EINVAL;
		}
		entity_destroy(c, e);
		return LZ_OK;
	case JREC_ENTITY_TOUCH:
		e = core_entity_find(c, r->u.path.path);
		if (e == NULL) {
			snprintf(detail->text, sizeof(detail->text), "touch of unknown entity '%s'", r->u.path.path);
			return LZ_EINVAL;
		}
		e->accessed_at = ts;
		return LZ_OK;
	case JREC_RULE_PUT:
		e = find_subscription(c, r->u.rule_put.sub_path, detail);
		if (e == NULL)
			return LZ_EINVAL;
		err = rule_insert(e, &r->u.rule_put.rule, r->u.rule_put.is_update);
		if (err != LZ_OK) {
			snprintf(detail->text, sizeof(detail->text), "rule '%s' of '%s': %s", r->u.rule_put.rule.name,
				 r->u.rule_put.sub_path, err_str(err));
			return LZ_EINVAL;
		}
		e->accessed_at = ts;
		return LZ_OK;
	case JREC_RULE_DELETE:
		e = find_subscription(c, r->u.rule_delete.sub_path, detail);
		if (e == NULL)
			return LZ_EINVAL;
		for (size_t i = 0; i < e->nrules; i++) {
			if (strcasecmp(e->rules[i].name, r->u.rule_delete.name) == 0) {
				rule_desc_release(&e->rules[i]);
				memmove(&e->rules[i], &e->rules[i + 1], (e->nrules - i - 1) * sizeof(e->rules[0]));
				e->nrules--;
				return LZ_OK;
			}
		}
		snprintf(detail->text, sizeof(detail->text), "unknown rule '%s'", r->u.rule_delete.name);
		return LZ_EINVAL;
	case JREC_MSG_ENQUEUE:
		return apply_enqueue(c, &r->u.enqueue, ts, detail);
	case JREC_MSG_DELIVER:
	case JREC_MSG_REMOVE:
	case JREC_MSG_DEFER:
		return apply_msg_ref(c, r->type, &r->u.msg_ref, ts, detail);
	case JREC_MSG_MOVE:
		return apply_move(c, &r->u.move, detail);
	case JREC_LOAD_ENTITY:
		return apply_load_entity(c, &r->u.load_entity, detail);
	case JREC_LOAD_MESSAGE:
		return apply_load_message(c, &r->u.load_message, detail);
	}
	snprintf(detail->text, sizeof(detail->text), "unknown record type %d", (int)r->type);
	return LZ_EINVAL;
}

_Thread_local uint64_t core_thread_last_lsn;

lz_err core_commit(struct core *c, const struct jrec *r, struct lz_detail *detail)
{
	int64_t ts = clock_now(c->cfg.clock);
	struct lz_detail local;
	lz_err err;

	if (c->cfg.journal != NULL) {
		struct journal_rec rec;

		strbuf_reset(&c->enc);
		err = journal_encode(r, &c->enc);
		if (err != LZ_OK)
			return err;
		rec.lsn = c->lsn + 1;
		rec.type = r->type;
		rec.ts_ms = ts;
		rec.payload = (const uint8_t *)c->enc.data;
		rec.len = c->enc.len;
		err = c->cfg.journal(c->cfg.journal_arg, &rec);
		if (err != LZ_OK) {
			if (detail != NULL)
				snprintf(detail->text, sizeof(detail->text), "the journal refused the change: %s",
					 err_str(err));
			return err;
		}
	}
	c->lsn++;
	c->applied_records = true;
	core_thread_last_lsn = c->lsn;
	local.text[0] = '\0';
	err = core_apply(c, r, ts, &local);
	if (err != LZ_OK) {
		/* The record was built from this very state: failing to apply it is a core bug. */
		LZ_LOG(LOG_ERROR, "journal record does not apply to the state that produced it", "lsn=%llu type=%s why=\"%s\"",
		       (unsigned long long)c->lsn, journal_type_name(r->type), local.text);
		abort();
	}
	return LZ_OK;
}
