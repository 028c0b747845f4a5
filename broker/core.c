/*
 * core — the public operations of broker/core.h. Each operation validates against the current
 * state, decides what happens (sequence numbers, routing through forwards and subscriptions,
 * dead-lettering), expresses that as journal records and commits them (core_apply.c applies).
 * Locks and parked receives are live-only and handled here.
 */
#include "broker/core_internal.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/entity.h"
#include "common/duration.h"
#include "common/log.h"
#include "common/uuid.h"

/* Azure dead-letters a message whose auto-forward chain grows past four hops. */
#define MAX_TRANSFER_HOPS 4
#define DEFAULT_MAX_ENTITIES 10000

static void detail_set(struct lz_detail *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void detail_set(struct lz_detail *d, const char *fmt, ...)
{
	va_list ap;

	if (d == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(d->text, sizeof(d->text), fmt, ap);
	va_end(ap);
}

/* ---- lifecycle --------------------------------------------------------------------------- */

lz_err core_new(const struct core_config *cfg, core **out)
{
	struct core *c;

	if (cfg == NULL || cfg->clock == NULL)
		return LZ_EINVAL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return LZ_ENOMEM;
	c->cfg = *cfg;
	if (c->cfg.max_message_bytes == 0)
		c->cfg.max_message_bytes = 262144;
	if (c->cfg.max_entities == 0)
		c->cfg.max_entities = DEFAULT_MAX_ENTITIES;
	if (pthread_mutex_init(&c->mu, NULL) != 0) {
		free(c);
		return LZ_ESYS;
	}
	map_init(&c->entities);
	map_init(&c->locks);
	heap_init(&c->lock_heap, core_less_lock, core_set_lock_idx);
	heap_init(&c->sched_heap, core_less_sched, core_set_sched_idx);
	heap_init(&c->exp_heap, core_less_exp, core_set_exp_idx);
	heap_init(&c->wait_heap, core_less_waiter, core_set_waiter_idx);
	strbuf_init(&c->enc);
	*out = c;
	return LZ_OK;
}

void core_free(core *c)
{
	if (c == NULL)
		return;
	core_entities_destroy_all(c);
	heap_release(&c->lock_heap);
	heap_release(&c->sched_heap);
	heap_release(&c->exp_heap);
	heap_release(&c->wait_heap);
	map_release(&c->locks);
	map_release(&c->entities);
	strbuf_release(&c->enc);
	free(c->wake);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

static void core_lock(core *c)
{
	pthread_mutex_lock(&c->mu);
}

static void core_run_wakeups(core *c);

static void core_unlock(core *c)
{
	core_run_wakeups(c);
	pthread_mutex_unlock(&c->mu);
}

lz_clock *core_clock(core *c)
{
	return c->cfg.clock;
}

static int64_t now_ms(const core *c)
{
	return clock_now(c->cfg.clock);
}

/* ---- copies out ---------------------------------------------------------------------------- */

void entity_info_release(struct entity_info *e)
{
	if (e == NULL)
		return;
	free(e->path);
	free(e->name);
	entity_desc_release(&e->desc);
	memset(e, 0, sizeof(*e));
}

void entity_info_array_free(struct entity_info *arr, size_t n)
{
	for (size_t i = 0; i < n; i++)
		entity_info_release(&arr[i]);
	free(arr);
}

void rule_desc_array_free(struct rule_desc *arr, size_t n)
{
	for (size_t i = 0; i < n; i++)
		rule_desc_release(&arr[i]);
	free(arr);
}

void msg_out_release(struct msg_out *m)
{
	if (m == NULL)
		return;
	free(m->dead_letter_source);
	msg_props_release(&m->props);
	proplist_release(&m->user);
	msg_body_unref(m->body);
	memset(m, 0, sizeof(*m));
}

void msg_out_array_free(struct msg_out *arr, size_t n)
{
	for (size_t i = 0; i < n; i++)
		msg_out_release(&arr[i]);
	free(arr);
}

const char *msg_state_name(enum msg_state s)
{
	switch (s) {
	case MSG_ACTIVE: return "Active";
	case MSG_SCHEDULED: return "Scheduled";
	case MSG_DEFERRED: return "Deferred";
	}
	return "Active";
}

static void entity_info_fill(const struct entity *e, struct entity_info *out)
{
	const char *name = e->path;

	memset(out, 0, sizeof(*out));
	if (e->desc.kind == ENTITY_SUBSCRIPTION) {
		const char *slash = strrchr(e->path, '/');

		name = slash != NULL ? slash + 1 : e->path;
	}
	out->path = core_xstrdup(e->path);
	out->name = core_xstrdup(name);
	if (entity_desc_copy(&out->desc, &e->desc) != LZ_OK)
		core_oom();
	out->created_at = e->created_at;
	out->updated_at = e->updated_at;
	out->accessed_at = e->accessed_at;
	out->active_count = e->main.live - e->main.deferred;
	out->deferred_count = e->main.deferred;
	out->deadletter_count = e->dlq.live;
	out->scheduled_count = e->sched.live;
	out->message_count = e->main.live + e->dlq.live + e->sched.live;
	out->size_bytes = e->bytes;
	out->subscription_count = e->nsubs;
	if (e->desc.kind == ENTITY_TOPIC) {
		for (size_t i = 0; i < e->nsubs; i++) {
			out->message_count += e->subs[i]->main.live + e->subs[i]->dlq.live;
			out->size_bytes += e->subs[i]->bytes;
		}
	}
}

static void msg_out_fill(const struct message *m, struct msg_out *out)
{
	memset(out, 0, sizeof(*out));
	out->seq = m->seq;
	out->enqueued_seq = m->enqueued_seq;
	out->enqueued_ms = m->enqueued_ms;
	out->expires_ms = m->where == JWHERE_SCHEDULED ? INT64_MAX : m->expires_ms;
	if (m->where == JWHERE_DLQ)
		out->expires_ms = m->ttl_ms == DURATION_INFINITE || m->enqueued_ms > INT64_MAX - m->ttl_ms
			? INT64_MAX : m->enqueued_ms + m->ttl_ms;
	out->ttl_ms = m->ttl_ms;
	out->delivery_count = m->delivery_count;
	out->state = (enum msg_state)m->state;
	out->dead_lettered = m->where == JWHERE_DLQ;
	if (m->lock != NULL) {
		memcpy(out->lock_token, m->lock->token, sizeof(out->lock_token));
		out->locked_until_ms = m->lock->until_ms;
	}
	out->dead_letter_source = core_xstrdup(m->dl_source);
	if (msg_props_copy(&out->props, &m->props) != LZ_OK || proplist_copy(&out->user, &m->user) != LZ_OK)
		core_oom();
	out->body = m->body;
	msg_body_ref(m->body);
}

/* ---- entity management -------------------------------------------------------------------- */

static lz_err entity_lookup(core *c, const char *path, struct entity **out, struct lz_detail *detail)
{
	*out = core_entity_find(c, path);
	if (*out == NULL) {
		detail_set(detail, "The messaging entity '%s' could not be found.", path != NULL ? path : "");
		return LZ_ENOTFOUND;
	}
	return LZ_OK;
}

/* A ForwardTo target must exist, be a queue or topic, and not be the entity itself. */
static lz_err check_forward(core *c, const char *path, const char *target, const char *prop,
			    struct lz_detail *detail)
{
	struct entity *t;

	if (target == NULL)
		return LZ_OK;
	t = core_entity_find(c, target);
	if (t == NULL || t->desc.kind == ENTITY_SUBSCRIPTION) {
		detail_set(detail, "The %s destination '%s' does not exist or is not a queue or topic. Parameter name: %s",
			   prop, target, prop);
		return LZ_EINVAL;
	}
	if (strcasecmp(t->path, path) == 0) {
		detail_set(detail, "The entity '%s' cannot forward to itself. Parameter name: %s", path, prop);
		return LZ_EINVAL;
	}
	return LZ_OK;
}

static const char *subscription_topic_end(const char *path)
{
	const char *hit = NULL;

	for (const char *p = path; (p = strcasestr(p, "/subscriptions/")) != NULL; p++)
		hit = p;
	return hit;
}

static lz_err validate_put_path(core *c, const char *path, enum entity_kind kind, struct lz_detail *detail)
{
	const char *split = subscription_topic_end(path);
	lz_err err;

	if (kind == ENTITY_SUBSCRIPTION) {
		char topic[1024];
		struct entity *t;
		size_t tlen;

		if (split == NULL) {
			detail_set(detail, "'%s' is not a subscription path.", path);
			return LZ_EINVAL;
		}
		tlen = (size_t)(split - path);
		if (tlen >= sizeof(topic)) {
			detail_set(detail, "The topic path of '%s' is too long.", path);
			return LZ_EINVAL;
		}
		memcpy(topic, path, tlen);
		topic[tlen] = '\0';
		err = entity_subname_validate(split + strlen("/subscriptions/"), false, detail);
		if (err != LZ_OK)
			return err;
		t = core_entity_find(c, topic);
		if (t == NULL || t->desc.kind != ENTITY_TOPIC) {
			detail_set(detail, "The messaging entity '%s' could not be found.", topic);
			return LZ_ENOTFOUND;
		}
		return LZ_OK;
	}
	if (split != NULL) {
		detail_set(detail, "A %s cannot be created under a subscription path ('%s').",
			   kind == ENTITY_QUEUE ? "queue" : "topic", path);
		return LZ_EINVAL;
	}
	return entity_path_validate(path, detail);
}

lz_err core_entity_put(core *c, const char *path, const struct entity_desc *desc, bool update,
		       const struct rule_desc *default_rule, struct entity_info *out, struct lz_detail *detail)
{
	struct jrec r;
	struct jrec_entity_put *p = &r.u.entity_put;
	struct entity *e;
	lz_err err;

	if (path == NULL || desc == NULL)
		return LZ_EINVAL;
	core_lock(c);
	err = validate_put_path(c, path, desc->kind, detail);
	if (err != LZ_OK)
		goto out_unlock;
	err = entity_desc_validate(desc, detail);
	if (err == LZ_OK)
		err = check_forward(c, path, desc->forward_to, "ForwardTo", detail);
	if (err == LZ_OK)
		err = check_forward(c, path, desc->forward_dlq_to, "ForwardDeadLetteredMessagesTo", detail);
	if (err != LZ_OK)
		goto out_unlock;
	e = core_entity_find(c, path);
	memset(&r, 0, sizeof(r));
	r.type = JREC_ENTITY_PUT;
	p->desc = *desc;
	p->is_update = update;
	if (update) {
		if (e == NULL) {
			detail_set(detail, "SubCode=40400. Not Found. The Operation doesn't exist. Entity '%s'.", path);
			err = LZ_ENOTFOUND;
			goto out_unlock;
		}
		if (e->desc.kind != desc->kind) {
			detail_set(detail, "The entity '%s' is a %s, not a %s.", path, entity_kind_name(e->desc.kind),
				   entity_kind_name(desc->kind));
			err = LZ_EINVAL;
			goto out_unlock;
		}
		err = entity_desc_check_update(&e->desc, desc, detail);
		if (err != LZ_OK)
			goto out_unlock;
		p->path = e->path;
		p->created_at = e->created_at;
	} else {
		if (e != NULL) {
			detail_set(detail, "SubCode=40900. Conflict. The messaging entity '%s' already exists.", path);
			err = LZ_EEXIST;
			goto out_unlock;
		}
		if (desc->kind != ENTITY_SUBSCRIPTION && c->n_top >= c->cfg.max_entities) {
			detail_set(detail, "SubCode=40301. The maximum number of queues and topics (%zu) has been reached.",
				   c->cfg.max_entities);
			err = LZ_EQUOTA;
			goto out_unlock;
		}
		p->path = (char *)path;
		p->created_at = now_ms(c);
		if (desc->kind == ENTITY_SUBSCRIPTION) {
			p->has_rule = true;
			if (default_rule != NULL) {
				err = rule_desc_validate(default_rule, detail);
				if (err != LZ_OK)
					goto out_unlock;
				p->rule = *default_rule;
				p->rule.created_at = p->created_at;
			} else {
				err = rule_desc_default(&p->rule, p->created_at);
				if (err != LZ_OK)
					goto out_unlock;
			}
		}
	}
	err = core_commit(c, &r, detail);
	if (!update && p->has_rule && default_rule == NULL)
		rule_desc_release(&p->rule);
	if (err == LZ_OK && out != NULL)
		entity_info_fill(core_entity_find(c, path), out);
out_unlock:
	core_unlock(c);
	return err;
}

lz_err core_entity_get(core *c, const char *path, struct entity_info *out, struct lz_detail *detail)
{
	struct entity *e;
	lz_err err;

	core_lock(c);
	err = entity_lookup(c, path, &e, detail);
	if (err == LZ_OK)
		entity_info_fill(e, out);
	core_unlock(c);
	return err;
}

lz_err core_entity_delete(core *c, const char *path, struct lz_detail *detail)
{
	struct entity *e;
	struct jrec r;
	lz_err err;

	core_lock(c);
	err = entity_lookup(c, path, &e, detail);
	if (err == LZ_OK) {
		memset(&r, 0, sizeof(r));
		r.type = JREC_ENTITY_DELETE;
		r.u.path.path = e->path;
		err = core_commit(c, &r, detail);
	}
	core_unlock(c);
	return err;
}

struct list_ctx {
	enum entity_kind kind;
	struct entity **v;
	size_t n;
};

static void list_collect(void *arg, const char *key, void *value)
{
	struct list_ctx *l = arg;
	struct entity *e = value;

	(void)key;
	if (e->desc.kind == l->kind)
		l->v[l->n++] = e;
}

static int entity_cmp_key(const void *a, const void *b)
{
	return strcmp((*(struct entity *const *)a)->key, (*(struct entity *const *)b)->key);
}

lz_err core_entity_list(core *c, enum entity_kind kind, const char *topic, size_t skip, size_t top,
			struct entity_info **out, size_t *n, struct lz_detail *detail)
{
	struct list_ctx l = { .kind = kind };
	struct entity **src;
	size_t count, first, take;
	lz_err err = LZ_OK;

	*out = NULL;
	*n = 0;
	core_lock(c);
	if (kind == ENTITY_SUBSCRIPTION) {
		struct entity *t = core_entity_find(c, topic);

		if (t == NULL || t->desc.kind != ENTITY_TOPIC) {
			detail_set(detail, "The messaging entity '%s' could not be found.", topic != NULL ? topic : "");
			err = LZ_ENOTFOUND;
			goto out_unlock;
		}
		src = t->subs;
		count = t->nsubs;
	} else {
		l.v = core_xcalloc(c->entities.n + 1, sizeof(*l.v));
		map_foreach(&c->entities, list_collect, &l);
		qsort(l.v, l.n, sizeof(*l.v), entity_cmp_key);
		src = l.v;
		count = l.n;
	}
	first = skip < count ? skip : count;
	take = count - first;
	if (top > 0 && take > top)
		take = top;
	if (take > 0) {
		*out = core_xcalloc(take, sizeof(**out));
		for (size_t i = 0; i < take; i++)
			entity_info_fill(src[first + i], &(*out)[i]);
	}
	*n = take;
	free(l.v);
out_unlock:
	core_unlock(c);
	return err;
}

/* ---- rules ----------------------------------------------------------------------------------- */

static lz_err subscription_lookup(core *c, const char *sub_path, struct entity **out, struct lz_detail *detail)
{
	lz_err err = entity_lookup(c, sub_path, out, detail);

	if (err == LZ_OK && (*out)->desc.kind != ENTITY_SUBSCRIPTION) {
		detail_set(detail, "'%s' is not a subscription.", sub_path);
		err = LZ_ENOTFOUND;
	}
	return err;
}

static struct rule_desc *rule_find(struct entity *sub, const char *name)
{
	for (size_t i = 0; i < sub->nrules; i++) {
		if (strcasecmp(sub->rules[i].name, name) == 0)
			return &sub->rules[i];
	}
	return NULL;
}

lz_err core_rule_put(core *c, const char *sub_path, const struct rule_desc *rule, bool update,
		     struct rule_desc *out, struct lz_detail *detail)
{
	struct entity *sub;
	struct rule_desc *existing;
	struct jrec r;
	lz_err err;

	core_lock(c);
	err = subscription_lookup(c, sub_path, &sub, detail);
	if (err == LZ_OK)
		err = entity_subname_validate(rule->name, true, detail);
	if (err == LZ_OK)
		err = rule_desc_validate(rule, detail);
	if (err != LZ_OK)
		goto out_unlock;
	existing = rule_find(sub, rule->name);
	if (update && existing == NULL) {
		detail_set(detail, "SubCode=40400. Not Found. The rule '%s' of '%s' does not exist.", rule->name, sub_path);
		err = LZ_ENOTFOUND;
		goto out_unlock;
	}
	if (!update && existing != NULL) {
		detail_set(detail, "SubCode=40900. Conflict. The messaging entity '%s|%s' already exists.", sub->path,
			   rule->name);
		err = LZ_EEXIST;
		goto out_unlock;
	}
	memset(&r, 0, sizeof(r));
	r.type = JREC_RULE_PUT;
	r.u.rule_put.sub_path = sub->path;
	r.u.rule_put.rule = *rule;
	r.u.rule_put.rule.created_at = existing != NULL ? existing->created_at : now_ms(c);
	r.u.rule_put.is_update = update;
	err = core_commit(c, &r, detail);
	if (err == LZ_OK && out != NULL && rule_desc_copy(out, rule_find(sub, rule->name)) != LZ_OK)
		core_oom();
out_unlock:
	core_unlock(c);
	return err;
}

lz_err core_rule_get(core *c, const char *sub_path, const char *name, struct rule_desc *out,
		     struct lz_detail *detail)
{
	struct entity *sub;
	struct rule_desc *rd;
	lz_err err;

	core_lock(c);
	err = subscription_lookup(c, sub_path, &sub, detail);
	if (err == LZ_OK) {
		rd = rule_find(sub, name);
		if (rd == NULL) {
			detail_set(detail, "The rule '%s' of '%s' could not be found.", name, sub_path);
			err = LZ_ENOTFOUND;
		} else if (rule_desc_copy(out, rd) != LZ_OK) {
			core_oom();
		}
	}
	core_unlock(c);
	return err;
}

lz_err core_rule_delete(core *c, const char *sub_path, const char *name, struct lz_detail *detail)
{
	struct entity *sub;
	struct rule_desc *rd;
	struct jrec r;
	lz_err err;

	core_lock(c);
	err = subscription_lookup(c, sub_path, &sub, detail);
	if (err != LZ_OK)
		goto out_unlock;
	rd = rule_find(sub, name);
	if (rd == NULL) {
		detail_set(detail, "The rule '%s' of '%s' could not be found.", name, sub_path);
		err = LZ_ENOTFOUND;
		goto out_unlock;
	}
	memset(&r, 0, sizeof(r));
	r.type = JREC_RULE_DELETE;
	r.u.rule_delete.sub_path = sub->path;
	r.u.rule_delete.name = rd->name;
	err = core_commit(c, &r, detail);
out_unlock:
	core_unlock(c);
	return err;
}

lz_err core_rule_list(core *c, const char *sub_path, size_t skip, size_t top, struct rule_desc **out, size_t *n,
		      struct lz_detail *detail)
{
	struct entity *sub;
	size_t first, take;
	lz_err err;

	*out = NULL;
	*n = 0;
	core_lock(c);
	err = subscription_lookup(c, sub_path, &sub, detail);
	if (err != LZ_OK)
		goto out_unlock;
	first = skip < sub->nrules ? skip : sub->nrules;
	take = sub->nrules - first;
	if (top > 0 && take > top)
		take = top;
	if (take > 0) {
		*out = core_xcalloc(take, sizeof(**out));
		for (size_t i = 0; i < take; i++) {
			if (rule_desc_copy(&(*out)[i], &sub->rules[first + i]) != LZ_OK)
				core_oom();
		}
	}
	*n = take;
out_unlock:
	core_unlock(c);
	return err;
}

/* ---- routing ------------------------------------------------------------------------------- */

/* The outcome of routing one message: sequence numbers taken and copies placed. */
struct plan {
	struct journal_counter *counters;
	size_t ncounters, capcounters;
	struct journal_place *places;
	size_t nplaces, capplaces;
	int64_t now;             /* arrival time of every new copy */
};

static void plan_init(core *c, struct plan *p)
{
	memset(p, 0, sizeof(*p));
	p->now = now_ms(c);
}

static void plan_release(struct plan *p)
{
	free(p->counters);
	free(p->places);
	memset(p, 0, sizeof(*p));
}

static uint64_t plan_next_seq(struct plan *p, struct entity *e)
{
	uint64_t last = e->last_seq;

	for (size_t i = 0; i < p->ncounters; i++) {
		if (p->counters[i].path == e->path && p->counters[i].seq > last)
			last = p->counters[i].seq;
	}
	if (p->ncounters == p->capcounters)
		core_array_grow(&p->counters, &p->capcounters, sizeof(p->counters[0]));
	p->counters[p->ncounters].path = e->path;
	p->counters[p->ncounters].seq = last + 1;
	p->ncounters++;
	return last + 1;
}

/* A new copy of a message with `props` arriving now in `e`/`where`: every per-copy field is
 * decided here, so that applying the record derives nothing. */
static struct journal_place *plan_place(struct plan *p, struct entity *e, enum journal_where where, uint64_t seq,
					uint64_t enqueued_seq, const struct msg_props *props)
{
	struct journal_place *pl;

	if (p->nplaces == p->capplaces)
		core_array_grow(&p->places, &p->capplaces, sizeof(p->places[0]));
	pl = &p->places[p->nplaces++];
	memset(pl, 0, sizeof(*pl));
	pl->path = e->path;
	pl->where = where;
	pl->seq = seq;
	pl->enqueued_seq = enqueued_seq;
	pl->enqueued_ms = p->now;
	pl->ttl_ms = core_effective_ttl(e, props);
	/* Dead-lettered and scheduled messages do not expire (an activated one starts its TTL then). */
	pl->expires_ms = where == JWHERE_MAIN ? core_sat_add(p->now, pl->ttl_ms) : INT64_MAX;
	pl->scheduled_ms = where == JWHERE_SCHEDULED ? props->scheduled_enqueue_ms : 0;
	return pl;
}

static bool str_eq_opt(const char *want, const char *have)
{
	return want == NULL || (have != NULL && strcmp(want, have) == 0);
}

static bool correlation_match(const struct correlation_filter *f, const struct msg_props *p,
			      const struct proplist *user)
{
	if (!str_eq_opt(f->correlation_id, p->correlation_id) || !str_eq_opt(f->message_id, p->message_id) ||
	    !str_eq_opt(f->to, p->to) || !str_eq_opt(f->reply_to, p->reply_to) || !str_eq_opt(f->label, p->label) ||
	    !str_eq_opt(f->session_id, p->session_id) ||
	    !str_eq_opt(f->reply_to_session_id, p->reply_to_session_id) ||
	    !str_eq_opt(f->content_type, p->content_type))
		return false;
	for (size_t i = 0; i < f->properties.n; i++) {
		const struct value *have = proplist_get(user, f->properties.items[i].name);

		if (have == NULL || !value_equal(&f->properties.items[i].v, have))
			return false;
	}
	return true;
}

/* SQL filters are stored for a later evaluator; today only the constant forms evaluate. */
static bool sql_constant(const char *expr, bool *value)
{
	char squeezed[16];
	size_t n = 0;

	for (const char *s = expr != NULL ? expr : ""; *s != '\0'; s++) {
		if (isspace((unsigned char)*s))
			continue;
		if (n + 1 >= sizeof(squeezed))
			return false;
		squeezed[n++] = *s;
	}
	squeezed[n] = '\0';
	if (strcmp(squeezed, "1=1") == 0) {
		*value = true;
		return true;
	}
	if (strcmp(squeezed, "1=0") == 0) {
		*value = false;
		return true;
	}
	return false;
}

static bool rules_match(const struct entity *sub, const struct msg_props *p, const struct proplist *user)
{
	for (size_t i = 0; i < sub->nrules; i++) {
		const struct rule_desc *r = &sub->rules[i];
		bool v = false;

		switch (r->filter_type) {
		case FILTER_TRUE:
			return true;
		case FILTER_FALSE:
			break;
		case FILTER_CORRELATION:
			if (correlation_match(&r->corr, p, user))
				return true;
			break;
		case FILTER_SQL:
			if (sql_constant(r->sql_expression, &v) && v)
				return true;
			break;
		}
	}
	return false;
}

static bool can_receive_forward(const struct entity *t)
{
	return t->desc.status == STATUS_ACTIVE || t->desc.status == STATUS_RECEIVE_DISABLED;
}

static void route(core *c, struct plan *p, struct entity *e, const struct msg_props *props,
		  const struct proplist *user, int hops, uint64_t enqueued_seq);

/* `e` (a queue or subscription holding sequence number `seq`) forwards to its ForwardTo. */
static void route_forward(core *c, struct plan *p, struct entity *e, uint64_t seq, const struct msg_props *props,
			  const struct proplist *user, int hops, uint64_t enqueued_seq)
{
	struct entity *t = core_entity_find(c, e->desc.forward_to);
	struct journal_place *pl;

	if (hops >= MAX_TRANSFER_HOPS) {
		pl = plan_place(p, e, JWHERE_DLQ, seq, enqueued_seq, props);
		pl->dl_reason = "MaxTransferHopCountExceeded";
		pl->dl_description = "The message was forwarded more than the maximum number of hops.";
		return;
	}
	if (t == NULL || !can_receive_forward(t)) {
		pl = plan_place(p, e, JWHERE_DLQ, seq, enqueued_seq, props);
		pl->dl_reason = "TransferDestinationUnavailable";
		pl->dl_description = "The ForwardTo destination does not exist or is disabled.";
		return;
	}
	route(c, p, t, props, user, hops + 1, enqueued_seq != 0 ? enqueued_seq : seq);
}

static void route(core *c, struct plan *p, struct entity *e, const struct msg_props *props,
		  const struct proplist *user, int hops, uint64_t enqueued_seq)
{
	uint64_t seq = plan_next_seq(p, e);

	if (e->desc.kind == ENTITY_QUEUE) {
		if (e->desc.forward_to != NULL)
			route_forward(c, p, e, seq, props, user, hops, enqueued_seq);
		else
			plan_place(p, e, JWHERE_MAIN, seq, enqueued_seq, props);
		return;
	}
	for (size_t i = 0; i < e->nsubs; i++) {
		struct entity *sub = e->subs[i];

		if (sub->desc.status == STATUS_DISABLED || !rules_match(sub, props, user))
			continue;
		if (sub->desc.forward_to != NULL)
			route_forward(c, p, sub, seq, props, user, hops, enqueued_seq);
		else
			plan_place(p, sub, JWHERE_MAIN, seq, enqueued_seq, props);
	}
}

/* Where a message dead-lettered in `e` goes: its own DLQ, or ForwardDeadLetteredMessagesTo. */
static void route_deadletter(core *c, struct plan *p, struct entity *e, const struct message *m, const char *reason,
			     const char *description)
{
	struct entity *t = e->desc.forward_dlq_to != NULL ? core_entity_find(c, e->desc.forward_dlq_to) : NULL;
	struct journal_place *pl;

	if (t != NULL && can_receive_forward(t)) {
		size_t first = p->nplaces;

		route(c, p, t, &m->props, &m->user, 1, m->seq);
		for (size_t i = first; i < p->nplaces; i++) {
			p->places[i].dl_reason = (char *)reason;
			p->places[i].dl_description = (char *)description;
			if (p->places[i].dl_source == NULL)
				p->places[i].dl_source = e->path;
		}
		return;
	}
	/* Dead-lettering in place keeps the message's history. */
	pl = plan_place(p, e, JWHERE_DLQ, m->seq, m->enqueued_seq, &m->props);
	pl->enqueued_ms = m->enqueued_ms;
	pl->ttl_ms = m->ttl_ms;
	pl->delivery_count = m->delivery_count;
	pl->dl_reason = (char *)reason;
	pl->dl_description = (char *)description;
}

static lz_err commit_move(core *c, struct message *m, struct plan *p, struct lz_detail *detail)
{
	struct jrec r;
	lz_err err;

	/* Copies elsewhere keep the source's DeadLetterSource unless routing set a new one. */
	for (size_t i = 0; i < p->nplaces; i++) {
		if (p->places[i].dl_source == NULL)
			p->places[i].dl_source = (char *)m->dl_source;
	}
	memset(&r, 0, sizeof(r));
	r.type = JREC_MSG_MOVE;
	r.u.move.path = m->owner->path;
	r.u.move.where = (enum journal_where)m->where;
	r.u.move.seq = m->seq;
	r.u.move.counters = p->counters;
	r.u.move.ncounters = p->ncounters;
	r.u.move.places = p->places;
	r.u.move.nplaces = p->nplaces;
	err = core_commit(c, &r, detail);
	plan_release(p);
	return err;
}

static lz_err dead_letter(core *c, struct message *m, const char *reason, const char *description,
			  struct lz_detail *detail)
{
	struct plan p;

	plan_init(c, &p);
	route_deadletter(c, &p, m->owner, m, reason, description);
	return commit_move(c, m, &p, detail);
}

static lz_err commit_msg_ref(core *c, enum journal_type type, struct message *m, enum journal_remove_reason reason,
			     struct lz_detail *detail)
{
	struct jrec r;

	memset(&r, 0, sizeof(r));
	r.type = type;
	r.u.msg_ref.path = m->owner->path;
	r.u.msg_ref.where = (enum journal_where)m->where;
	r.u.msg_ref.seq = m->seq;
	r.u.msg_ref.reason = reason;
	return core_commit(c, &r, detail);
}

static lz_err expire_message(core *c, struct message *m)
{
	if (m->owner->desc.dead_lettering_on_expiration)
		return dead_letter(c, m, "TTLExpiredException", "The message expired and was dead lettered.", NULL);
	return commit_msg_ref(c, JREC_MSG_REMOVE, m, JREMOVE_EXPIRE, NULL);
}

/* The lock on `m` ended without settlement (abandon, expiry): it goes back to its place, or to
 * the dead-letter queue once MaxDeliveryCount deliveries are used up, or away if it expired. */
static void lock_release_return(core *c, struct message *m)
{
	char desc[128];

	core_message_unlock(c, m);
	if (m->where == JWHERE_DLQ) {
		if (heap_push(&m->owner->dlq.avail, m) != LZ_OK)
			core_oom();
		core_mark_wake(c, m->owner);
		return;
	}
	if (m->state == MSG_DEFERRED)
		return;
	if ((int64_t)m->delivery_count >= m->owner->desc.max_delivery_count) {
		snprintf(desc, sizeof(desc), "Message could not be consumed after %d delivery attempts.",
			 m->owner->desc.max_delivery_count);
		dead_letter(c, m, "MaxDeliveryCountExceeded", desc, NULL);
		return;
	}
	if (m->expires_ms <= now_ms(c)) {
		expire_message(c, m);
		return;
	}
	if (m->expires_ms != INT64_MAX && m->exp_idx == HEAP_NONE && heap_push(&c->exp_heap, m) != LZ_OK)
		core_oom();
	if (heap_push(&m->owner->main.avail, m) != LZ_OK)
		core_oom();
	core_mark_wake(c, m->owner);
}

/* ---- sending ------------------------------------------------------------------------------- */

static uint64_t entity_usage(const struct entity *e)
{
	uint64_t bytes = e->bytes;

	for (size_t i = 0; i < e->nsubs; i++)
		bytes += e->subs[i]->bytes;
	return bytes;
}

static lz_err validate_send(core *c, struct entity *e, const struct msg_in *msgs, size_t n, struct lz_detail *detail)
{
	size_t limit = c->cfg.max_message_bytes, total = 0;

	if (e->desc.kind == ENTITY_SUBSCRIPTION) {
		detail_set(detail, "Cannot send to the subscription '%s'; send to its topic.", e->path);
		return LZ_EINVAL;
	}
	if (e->desc.status == STATUS_DISABLED || e->desc.status == STATUS_SEND_DISABLED) {
		detail_set(detail, "SubCode=40400. The messaging entity '%s' is currently disabled for sending (%s).",
			   e->path, entity_status_name(e->desc.status));
		return LZ_EDISABLED;
	}
	if (e->desc.max_message_size_kb > 0 && (size_t)e->desc.max_message_size_kb * 1024 < limit)
		limit = (size_t)e->desc.max_message_size_kb * 1024;
	for (size_t i = 0; i < n; i++) {
		const struct msg_props *p = &msgs[i].props;
		size_t size = core_message_size(p, &msgs[i].user, msgs[i].body != NULL ? msgs[i].body->len : 0);

		if (msgs[i].body == NULL) {
			detail_set(detail, "Message %zu has no body.", i);
			return LZ_EINVAL;
		}
		total += size;
		if (size > limit || total > limit) {
			detail_set(detail, "The message (%zu bytes%s) exceeds the maximum message size of %zu bytes.",
				   n > 1 ? total : size, n > 1 ? " in the batch" : "", limit);
			return LZ_ETOOBIG;
		}
		if (p->message_id != NULL && (strlen(p->message_id) > 128 || p->message_id[0] == '\0')) {
			detail_set(detail, "MessageId must be 1 to 128 characters. Parameter name: MessageId");
			return LZ_EINVAL;
		}
		if (p->session_id != NULL && strlen(p->session_id) > 128) {
			detail_set(detail, "SessionId must be at most 128 characters. Parameter name: SessionId");
			return LZ_EINVAL;
		}
		if (p->session_id != NULL && p->partition_key != NULL && strcmp(p->session_id, p->partition_key) != 0) {
			detail_set(detail, "PartitionKey must equal SessionId when both are set. Parameter name: PartitionKey");
			return LZ_EINVAL;
		}
		if (p->has_ttl && p->ttl_ms <= 0) {
			detail_set(detail, "TimeToLive must be positive. Parameter name: TimeToLive");
			return LZ_EINVAL;
		}
		if (e->desc.requires_session && p->session_id == NULL) {
			detail_set(detail, "The entity '%s' requires sessions: SessionId must be set.", e->path);
			return LZ_EINVAL;
		}
	}
	if (entity_usage(e) + total > (uint64_t)e->desc.max_size_mb * 1024 * 1024) {
		detail_set(detail, "SubCode=40300. The maximum entity size of %lld MB has been exceeded for '%s'.",
			   (long long)e->desc.max_size_mb, e->path);
		return LZ_EQUOTA;
	}
	return LZ_OK;
}

/* Commits one message sent to `e`; *seq receives its number, 0 for a discarded duplicate. */
static lz_err send_one(core *c, struct entity *e, const struct msg_in *in, int64_t at_ms, uint64_t *seq,
		       struct lz_detail *detail)
{
	struct plan p;
	struct jrec r;
	struct jrec_enqueue *q = &r.u.enqueue;
	char generated_id[33];
	int64_t now;
	lz_err err;

	plan_init(c, &p);
	now = p.now;

	memset(&r, 0, sizeof(r));
	r.type = JREC_MSG_ENQUEUE;
	q->target = e->path;
	q->msg.props = in->props;
	if (q->msg.props.message_id == NULL) {
		uuid_generate_hex32(generated_id);
		q->msg.props.message_id = generated_id;
	}
	if (at_ms != 0)
		q->msg.props.scheduled_enqueue_ms = at_ms;
	if (e->desc.requires_duplicate_detection && core_dup_seen(e, q->msg.props.message_id, now)) {
		*seq = 0;
		return LZ_OK;
	}
	q->msg.user = in->user;
	q->msg.body = in->body->bytes;
	q->msg.body_len = in->body->len;
	if (q->msg.props.scheduled_enqueue_ms > now)
		plan_place(&p, e, JWHERE_SCHEDULED, plan_next_seq(&p, e), 0, &q->msg.props);
	else
		route(c, &p, e, &q->msg.props, &q->msg.user, 0, 0);
	*seq = p.ncounters > 0 ? p.counters[0].seq : 0;
	q->counters = p.counters;
	q->ncounters = p.ncounters;
	q->places = p.places;
	q->nplaces = p.nplaces;
	c->live_body = in->body;
	err = core_commit(c, &r, detail);
	c->live_body = NULL;
	plan_release(&p);
	return err;
}

static lz_err send_all(core *c, const char *path, const struct msg_in *msgs, size_t n, int64_t at_ms,
		       uint64_t *seqs, struct lz_detail *detail)
{
	struct entity *e;
	lz_err err;

	core_lock(c);
	err = entity_lookup(c, path, &e, detail);
	if (err == LZ_OK)
		err = validate_send(c, e, msgs, n, detail);
	for (size_t i = 0; err == LZ_OK && i < n; i++) {
		uint64_t seq;

		err = send_one(c, e, &msgs[i], at_ms, &seq, detail);
		if (seqs != NULL)
			seqs[i] = seq;
	}
	core_unlock(c);
	return err;
}

lz_err core_send(core *c, const char *path, const struct msg_in *msgs, size_t n, uint64_t *seqs,
		 struct lz_detail *detail)
{
	return send_all(c, path, msgs, n, 0, seqs, detail);
}

lz_err core_schedule(core *c, const char *path, const struct msg_in *msgs, size_t n, int64_t at_ms,
		     uint64_t *seqs, struct lz_detail *detail)
{
	if (at_ms <= 0) {
		detail_set(detail, "ScheduledEnqueueTimeUtc must be set. Parameter name: ScheduledEnqueueTimeUtc");
		return LZ_EINVAL;
	}
	return send_all(c, path, msgs, n, at_ms, seqs, detail);
}

lz_err core_cancel_scheduled(core *c, const char *path, uint64_t seq, struct lz_detail *detail)
{
	struct entity *e;
	struct message *m;
	lz_err err;

	core_lock(c);
	err = entity_lookup(c, path, &e, detail);
	if (err != LZ_OK)
		goto out_unlock;
	m = mstore_find(&e->sched, seq);
	if (m == NULL) {
		detail_set(detail, "No scheduled message with sequence number %llu in '%s'.", (unsigned long long)seq,
			   e->path);
		err = LZ_ENOTFOUND;
		goto out_unlock;
	}
	err = commit_msg_ref(c, JREC_MSG_REMOVE, m, JREMOVE_CANCEL, detail);
out_unlock:
	core_unlock(c);
	return err;
}

/* ---- receiving ----------------------------------------------------------------------------- */

static lz_err check_receivable(struct entity *e, struct lz_detail *detail)
{
	if (e->desc.kind == ENTITY_TOPIC) {
		detail_set(detail, "Cannot receive from the topic '%s'; receive from a subscription.", e->path);
		return LZ_EINVAL;
	}
	if (e->desc.status == STATUS_DISABLED || e->desc.status == STATUS_RECEIVE_DISABLED) {
		detail_set(detail, "The messaging entity '%s' is currently disabled for receiving (%s).", e->path,
			   entity_status_name(e->desc.status));
		return LZ_EDISABLED;
	}
	return LZ_OK;
}

static void lock_take(core *c, struct message *m)
{
	struct lock_info *l = core_xcalloc(1, sizeof(*l));

	uuid_generate_str(l->token);
	l->until_ms = now_ms(c) + m->owner->desc.lock_duration_ms;
	l->heap_idx = HEAP_NONE;
	m->lock = l;
	if (map_put(&c->locks, l->token, m, NULL) != LZ_OK || heap_push(&c->lock_heap, m) != LZ_OK)
		core_oom();
	entity_store(m->owner, (enum journal_where)m->where)->locked++;
}

/* Hands `m` (already out of the avail heap) to a receiver in `mode`. */
static lz_err deliver(core *c, struct message *m, enum recv_mode mode, struct msg_out *out, struct lz_detail *detail)
{
	lz_err err;

	if (mode == RECV_PEEK_LOCK) {
		err = commit_msg_ref(c, JREC_MSG_DELIVER, m, JREMOVE_COMPLETE, detail);
		if (err != LZ_OK)
			return err;
		lock_take(c, m);
		msg_out_fill(m, out);
		return LZ_OK;
	}
	msg_out_fill(m, out);
	out->delivery_count++;
	err = commit_msg_ref(c, JREC_MSG_REMOVE, m, JREMOVE_RECEIVE, detail);
	if (err != LZ_OK)
		msg_out_release(out);
	return err;
}

/* Takes the next available message of `s`, expiring dead ones on the way; NULL when none. */
static struct message *take_next(core *c, struct mstore *s, enum subqueue sq)
{
	int64_t now = now_ms(c);
	struct message *m;

	while ((m = heap_peek(&s->avail)) != NULL) {
		if (sq == SUBQ_MAIN && m->expires_ms <= now) {
			heap_pop(&s->avail);
			expire_message(c, m);
			continue;
		}
		heap_pop(&s->avail);
		return m;
	}
	return NULL;
}

static lz_err receive_now(core *c, struct entity *e, enum subqueue sq, enum recv_mode mode, struct msg_out *out,
			  bool *got, struct lz_detail *detail)
{
	struct mstore *s = sq == SUBQ_DLQ ? &e->dlq : &e->main;
	struct message *m = take_next(c, s, sq);
	lz_err err;

	*got = false;
	if (m == NULL)
		return LZ_OK;
	err = deliver(c, m, mode, out, detail);
	if (err != LZ_OK) {
		if (heap_push(&s->avail, m) != LZ_OK)
			core_oom();
		return err;
	}
	*got = true;
	return LZ_OK;
}

lz_err core_receive(core *c, const char *path, enum subqueue sq, enum recv_mode mode, int64_t wait_ms,
		    core_wait_fn cb, void *cb_arg, struct msg_out *out, bool *got, uint64_t *waiter_id,
		    struct lz_detail *detail)
{
	struct entity *e;
	struct core_waiter *w;
	lz_err err;

	*got = false;
	*waiter_id = 0;
	core_lock(c);
	err = entity_lookup(c, path, &e, detail);
	if (err == LZ_OK)
		err = check_receivable(e, detail);
	if (err == LZ_OK)
		err = receive_now(c, e, sq, mode, out, got, detail);
	if (err != LZ_OK || *got || wait_ms <= 0 || cb == NULL)
		goto out_unlock;
	w = core_xcalloc(1, sizeof(*w));
	w->id = ++c->next_waiter_id;
	w->entity = e;
	w->sq = sq;
	w->mode = mode;
	w->deadline_ms = now_ms(c) + wait_ms;
	w->cb = cb;
	w->arg = cb_arg;
	w->prev = e->waiters_tail[sq];
	if (w->prev != NULL)
		w->prev->next = w;
	else
		e->waiters[sq] = w;
	e->waiters_tail[sq] = w;
	if (heap_push(&c->wait_heap, w) != LZ_OK)
		core_oom();
	*waiter_id = w->id;
out_unlock:
	core_unlock(c);
	return err;
}

static void waiter_unlink(core *c, struct core_waiter *w)
{
	struct entity *e = w->entity;

	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		e->waiters[w->sq] = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	else
		e->waiters_tail[w->sq] = w->prev;
	if (w->heap_idx != HEAP_NONE)
		heap_remove(&c->wait_heap, w->heap_idx);
}

bool core_waiter_cancel(core *c, uint64_t waiter_id)
{
	bool found = false;

	core_lock(c);
	for (size_t i = 0; i < c->wait_heap.n; i++) {
		struct core_waiter *w = c->wait_heap.v[i];

		if (w->id == waiter_id) {
			waiter_unlink(c, w);
			free(w);
			found = true;
			break;
		}
	}
	core_unlock(c);
	return found;
}

/* Serves parked receives of entities that got available messages since the last call. */
static void core_run_wakeups(core *c)
{
	for (size_t i = 0; i < c->nwake; i++) {
		struct entity *e = c->wake[i];

		if (e == NULL)
			continue;
		e->wake_pending = false;
		if (check_receivable(e, NULL) != LZ_OK)
			continue;
		for (int sq = 0; sq < 2; sq++) {
			while (e->waiters[sq] != NULL) {
				struct core_waiter *w = e->waiters[sq];
				struct msg_out out;
				bool got = false;

				if (receive_now(c, e, (enum subqueue)sq, w->mode, &out, &got, NULL) != LZ_OK || !got)
					break;
				waiter_unlink(c, w);
				w->cb(w->arg, LZ_OK, &out);
				free(w);
			}
		}
	}
	c->nwake = 0;
}

/* ---- settlement ---------------------------------------------------------------------------- */

static bool id_matches(const struct message *m, const char *id)
{
	char *end;
	unsigned long long seq;

	if (id == NULL)
		return true;
	if (isdigit((unsigned char)id[0])) {
		seq = strtoull(id, &end, 10);
		if (*end == '\0' && seq == m->seq)
			return true;
	}
	return m->props.message_id != NULL && strcmp(m->props.message_id, id) == 0;
}

lz_err core_settle(core *c, const char *path, enum subqueue sq, const char *id, const char *lock_token,
		   enum settle_op op, const char *reason, const char *description, int64_t *locked_until,
		   struct lz_detail *detail)
{
	struct entity *e;
	struct message *m;
	lz_err err;

	core_lock(c);
	err = entity_lookup(c, path, &e, detail);
	if (err != LZ_OK)
		goto out_unlock;
	m = lock_token != NULL ? map_get(&c->locks, lock_token) : NULL;
	if (m == NULL || m->owner != e || m->where != (sq == SUBQ_DLQ ? JWHERE_DLQ : JWHERE_MAIN) || !id_matches(m, id)) {
		detail_set(detail, "The lock supplied is invalid. Either the lock expired, or the message has already been "
			   "removed from the queue. Reference:%s, Entity:%s", lock_token != NULL ? lock_token : "",
			   e->path);
		err = LZ_ELOCKLOST;
		goto out_unlock;
	}
	if (m->lock->until_ms <= now_ms(c)) {
		lock_release_return(c, m);
		detail_set(detail, "The lock supplied has expired. Reference:%s, Entity:%s", lock_token, e->path);
		err = LZ_ELOCKLOST;
		goto out_unlock;
	}
	switch (op) {
	case SETTLE_COMPLETE:
		err = commit_msg_ref(c, JREC_MSG_REMOVE, m, JREMOVE_COMPLETE, detail);
		break;
	case SETTLE_ABANDON:
		lock_release_return(c, m);
		break;
	case SETTLE_RENEW:
		m->lock->until_ms = now_ms(c) + e->desc.lock_duration_ms;
		heap_fix(&c->lock_heap, m->lock->heap_idx);
		if (locked_until != NULL)
			*locked_until = m->lock->until_ms;
		break;
	case SETTLE_DEADLETTER:
		if (m->where == JWHERE_DLQ) {
			detail_set(detail, "A message in a dead-letter queue cannot be dead-lettered again.");
			err = LZ_ESTATE;
			break;
		}
		core_message_unlock(c, m);
		err = dead_letter(c, m, reason, description, detail);
		break;
	case SETTLE_DEFER:
		if (m->where == JWHERE_DLQ || m->state == MSG_DEFERRED) {
			detail_set(detail, "The message cannot be deferred %s.",
				   m->where == JWHERE_DLQ ? "from a dead-letter queue" : "again");
			err = LZ_ESTATE;
			break;
		}
		err = commit_msg_ref(c, JREC_MSG_DEFER, m, JREMOVE_COMPLETE, detail);
		if (err == LZ_OK)
			core_message_unlock(c, m);
		break;
	default:
		err = LZ_EINVAL;
	}
out_unlock:
	core_unlock(c);
	return err;
}

/* ---- browse and deferred ------------------------------------------------------------------- */

static void peek_collect(const struct mstore *s, uint64_t from, size_t max, struct msg_out *out, size_t *n)
{
	for (size_t i = mstore_lower_bound(s, from); i < s->tail && *n < max; i++) {
		if (s->v[i].m != NULL)
			msg_out_fill(s->v[i].m, &out[(*n)++]);
	}
}

lz_err core_peek(core *c, const char *path, enum subqueue sq, uint64_t from_seq, size_t max,
		 struct msg_out **out, size_t *n, struct lz_detail *detail)
{
	struct entity *e;
	struct msg_out *arr = NULL;
	size_t got = 0;
	lz_err err;

	*out = NULL;
	*n = 0;
	if (max == 0)
		return LZ_OK;
	core_lock(c);
	err = entity_lookup(c, path, &e, detail);
	if (err != LZ_OK)
		goto out_unlock;
	if (e->desc.kind == ENTITY_TOPIC && sq == SUBQ_DLQ) {
		detail_set(detail, "A topic has no dead-letter queue.");
		err = LZ_EINVAL;
		goto out_unlock;
	}
	arr = core_xcalloc(max, sizeof(*arr));
	if (sq == SUBQ_DLQ) {
		peek_collect(&e->dlq, from_seq, max, arr, &got);
	} else {
		/* Main messages and (queues, topics) scheduled ones, merged in sequence order. */
		struct msg_out *a = core_xcalloc(max, sizeof(*a)), *b = core_xcalloc(max, sizeof(*b));
		size_t na = 0, nb = 0, ia = 0, ib = 0;

		peek_collect(&e->main, from_seq, max, a, &na);
		peek_collect(&e->sched, from_seq, max, b, &nb);
		while (got < max && (ia < na || ib < nb)) {
			if (ib >= nb || (ia < na && a[ia].seq < b[ib].seq))
				arr[got++] = a[ia++];
			else
				arr[got++] = b[ib++];
		}
		while (ia < na)
			msg_out_release(&a[ia++]);
		while (ib < nb)
			msg_out_release(&b[ib++]);
		free(a);
		free(b);
	}
	for (size_t i = 0; i < got; i++)
		arr[i].lock_token[0] = '\0';
	{
		/* Browsing, even an empty browse, resets the idle timer (AutoDeleteOnIdle): durable.
		 * A browse is a read, so it succeeds even when the journal refuses that reset (persistd
		 * unreachable); the idle timer then simply keeps running. */
		struct jrec r;

		memset(&r, 0, sizeof(r));
		r.type = JREC_ENTITY_TOUCH;
		r.u.path.path = e->path;
		core_commit(c, &r, NULL);
	}
	if (got == 0) {
		msg_out_array_free(arr, got);
		goto out_unlock;
	}
	*out = arr;
	*n = got;
out_unlock:
	core_unlock(c);
	return err;
}

lz_err core_receive_deferred(core *c, const char *path, enum subqueue sq, const uint64_t *seqs, size_t n,
			     enum recv_mode mode, struct msg_out **out, size_t *nout, struct lz_detail *detail)
{
	struct entity *e;
	struct mstore *s;
	struct msg_out *arr = NULL;
	size_t got = 0;
	lz_err err;

	*out = NULL;
	*nout = 0;
	core_lock(c);
	err = entity_lookup(c, path, &e, detail);
	if (err == LZ_OK)
		err = check_receivable(e, detail);
	if (err != LZ_OK)
		goto out_unlock;
	s = sq == SUBQ_DLQ ? &e->dlq : &e->main;
	for (size_t i = 0; i < n; i++) {
		struct message *m = mstore_find(s, seqs[i]);

		if (m == NULL || m->state != MSG_DEFERRED || m->lock != NULL) {
			detail_set(detail, "No deferred, unlocked message with sequence number %llu in '%s'.",
				   (unsigned long long)seqs[i], e->path);
			err = LZ_ENOTFOUND;
			goto out_unlock;
		}
	}
	arr = n > 0 ? core_xcalloc(n, sizeof(*arr)) : NULL;
	for (size_t i = 0; i < n && err == LZ_OK; i++) {
		err = deliver(c, mstore_find(s, seqs[i]), mode, &arr[got], detail);
		if (err == LZ_OK)
			got++;
	}
	if (err != LZ_OK) {
		msg_out_array_free(arr, got);
		arr = NULL;
		got = 0;
	}
	*out = arr;
	*nout = got;
out_unlock:
	core_unlock(c);
	return err;
}

/* ---- time ---------------------------------------------------------------------------------- */

static int64_t idle_deadline(const struct entity *e)
{
	int64_t base = e->accessed_at;

	if (e->desc.auto_delete_on_idle_ms == DURATION_INFINITE)
		return INT64_MAX;
	if (e->updated_at > base)
		base = e->updated_at;
	if (e->created_at > base)
		base = e->created_at;
	if (base > INT64_MAX - e->desc.auto_delete_on_idle_ms)
		return INT64_MAX;
	return base + e->desc.auto_delete_on_idle_ms;
}

struct idle_ctx {
	int64_t now;
	int64_t next;
	struct entity *due;
};

static void idle_scan(void *arg, const char *key, void *value)
{
	struct idle_ctx *ic = arg;
	struct entity *e = value;
	int64_t d = idle_deadline(e);

	(void)key;
	if (d <= ic->now && ic->due == NULL)
		ic->due = e;
	else if (d < ic->next)
		ic->next = d;
}

static lz_err activate_scheduled(core *c, struct message *m)
{
	struct plan p;

	plan_init(c, &p);
	/* The message was accepted when it was scheduled: it activates whatever the status now. */
	route(c, &p, m->owner, &m->props, &m->user, 0, 0);
	return commit_move(c, m, &p, NULL);
}

void core_tick(core *c)
{
	int64_t now;
	struct message *m;
	struct core_waiter *w;

	core_lock(c);
	now = now_ms(c);
	/* A change the journal refuses stays due; the next tick tries again. */
	while ((m = heap_peek(&c->sched_heap)) != NULL && m->scheduled_ms <= now) {
		if (activate_scheduled(c, m) != LZ_OK)
			break;
	}
	while ((m = heap_peek(&c->lock_heap)) != NULL && m->lock->until_ms <= now)
		lock_release_return(c, m);
	while ((m = heap_peek(&c->exp_heap)) != NULL && m->expires_ms <= now) {
		if (m->lock != NULL) {
			/* Locked messages expire when their lock ends (lock_release_return). */
			heap_remove(&c->exp_heap, m->exp_idx);
			continue;
		}
		if (expire_message(c, m) != LZ_OK)
			break;
	}
	for (;;) {
		struct idle_ctx ic = { .now = now, .next = INT64_MAX, .due = NULL };
		struct jrec r;

		map_foreach(&c->entities, idle_scan, &ic);
		if (ic.due == NULL)
			break;
		LZ_LOG(LOG_INFO, "deleting idle entity", "entity=\"%s\"", ic.due->path);
		memset(&r, 0, sizeof(r));
		r.type = JREC_ENTITY_DELETE;
		r.u.path.path = ic.due->path;
		if (core_commit(c, &r, NULL) != LZ_OK)
			break;
	}
	while ((w = heap_peek(&c->wait_heap)) != NULL && w->deadline_ms <= now) {
		waiter_unlink(c, w);
		w->cb(w->arg, LZ_OK, NULL);
		free(w);
	}
	core_unlock(c);
}

int64_t core_next_deadline(core *c)
{
	struct idle_ctx ic = { .now = INT64_MIN, .next = INT64_MAX, .due = NULL };
	struct message *m;
	struct core_waiter *w;

	core_lock(c);
	map_foreach(&c->entities, idle_scan, &ic);
	if ((m = heap_peek(&c->sched_heap)) != NULL && m->scheduled_ms < ic.next)
		ic.next = m->scheduled_ms;
	if ((m = heap_peek(&c->lock_heap)) != NULL && m->lock->until_ms < ic.next)
		ic.next = m->lock->until_ms;
	if ((m = heap_peek(&c->exp_heap)) != NULL && m->expires_ms < ic.next)
		ic.next = m->expires_ms;
	if ((w = heap_peek(&c->wait_heap)) != NULL && w->deadline_ms < ic.next)
		ic.next = w->deadline_ms;
	core_unlock(c);
	return ic.next;
}

/* ---- journal ------------------------------------------------------------------------------- */

uint64_t core_last_lsn(core *c)
{
	uint64_t lsn;

	core_lock(c);
	lsn = c->lsn;
	core_unlock(c);
	return lsn;
}

lz_err core_replay(core *c, const struct journal_rec *rec, struct lz_detail *detail)
{
	struct jrec r;
	struct lz_detail local;
	char why[256];
	lz_err err;

	if (detail == NULL)
		detail = &local;
	err = journal_decode(rec->type, rec->payload, rec->len, &r, why, sizeof(why));
	if (err != LZ_OK) {
		detail_set(detail, "record lsn %llu (%s) does not decode: %s", (unsigned long long)rec->lsn,
			   journal_type_name(rec->type), why);
		journal_rec_release(&r);
		return err == LZ_EUNSUPPORTED ? LZ_EPARSE : err;
	}
	core_lock(c);
	if (rec->type == JREC_LOAD_ENTITY || rec->type == JREC_LOAD_MESSAGE) {
		if (rec->lsn != 0 || c->lsn != 0 || c->applied_records) {
			detail_set(detail, "state-transfer record (lsn %llu) after the journal started at lsn %llu",
				   (unsigned long long)rec->lsn, (unsigned long long)c->lsn);
			err = LZ_EINVAL;
		} else {
			err = core_apply(c, &r, rec->ts_ms, detail);
		}
	} else if (rec->lsn != c->lsn + 1) {
		detail_set(detail, "record lsn %llu does not follow lsn %llu", (unsigned long long)rec->lsn,
			   (unsigned long long)c->lsn);
		err = LZ_EINVAL;
	} else {
		err = core_apply(c, &r, rec->ts_ms, detail);
		if (err == LZ_OK) {
			c->lsn = rec->lsn;
			c->applied_records = true;
		}
	}
	core_unlock(c);
	journal_rec_release(&r);
	return err;
}

uint64_t core_thread_lsn(void)
{
	return core_thread_last_lsn;
}

void core_thread_lsn_reset(void)
{
	core_thread_last_lsn = 0;
}

void core_set_journal(core *c, core_journal_fn fn, void *arg)
{
	core_lock(c);
	c->cfg.journal = fn;
	c->cfg.journal_arg = arg;
	core_unlock(c);
}

lz_err core_load_done(core *c, uint64_t base_lsn, struct lz_detail *detail)
{
	lz_err err = LZ_OK;

	core_lock(c);
	if (c->applied_records || c->lsn != 0) {
		detail_set(detail, "the state transfer must end before lsn %llu", (unsigned long long)c->lsn);
		err = LZ_EINVAL;
	} else {
		c->lsn = base_lsn;
	}
	core_unlock(c);
	return err;
}

/* ---- metrics ------------------------------------------------------------------------------- */

struct stats_ctx {
	core_entity_stats_fn fn;
	void *arg;
};

static void stats_one(void *arg, const char *key, void *value)
{
	struct stats_ctx *sc = arg;
	struct entity *e = value;

	(void)key;
	if (e->desc.kind == ENTITY_TOPIC) {
		sc->fn(sc->arg, e->path, e->desc.kind, 0, 0, e->sched.live, 0, 0);
		return;
	}
	sc->fn(sc->arg, e->path, e->desc.kind, e->main.live - e->main.deferred, e->dlq.live, e->sched.live,
	       e->main.deferred, e->main.locked + e->dlq.locked);
}

void core_stats_foreach(core *c, core_entity_stats_fn fn, void *arg)
{
	struct stats_ctx sc = { fn, arg };

	core_lock(c);
	map_foreach(&c->entities, stats_one, &sc);
	core_unlock(c);
}
