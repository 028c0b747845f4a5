/*
 * workload — see workload.h.
 */
#include "workload.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/entity.h"

lz_err journal_log_sink(void *arg, const struct journal_rec *rec)
{
	struct journal_log *l = arg;
	struct stored_rec *s;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 1024;
		struct stored_rec *v = realloc(l->v, cap * sizeof(*v));

		ck_assert_ptr_nonnull(v);
		l->v = v;
		l->cap = cap;
	}
	s = &l->v[l->n++];
	s->lsn = rec->lsn;
	s->type = rec->type;
	s->ts_ms = rec->ts_ms;
	s->len = rec->len;
	s->payload = malloc(rec->len ? rec->len : 1);
	ck_assert_ptr_nonnull(s->payload);
	memcpy(s->payload, rec->payload, rec->len);
	return LZ_OK;
}

void journal_log_free(struct journal_log *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].payload);
	free(l->v);
}

/* xorshift64*: deterministic per seed. */
static uint64_t rng_state;

static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

static unsigned pick(unsigned n)
{
	return (unsigned)(rnd() % n);
}

#define MAX_LOCKS 64

struct held {
	char path[96];
	enum subqueue sq;
	uint64_t seq;
	char token[37];
};

struct world_state {
	core *c;
	lz_clock *clock;
	struct held locks[MAX_LOCKS];
	size_t nlocks;
	uint64_t deferred[64];
	char deferred_path[64][96];
	size_t ndeferred;
	uint64_t scheduled[64];
	char scheduled_path[64][64];
	size_t nscheduled;
};

static const char *const queue_names[] = { "q0", "q1", "q2", "Q3", "app/q4" };
static const char *const topic_names[] = { "t0", "t1" };
static const char *const sub_names[] = { "s0", "s1", "s2" };

static void random_queue_path(char *out, size_t cap)
{
	snprintf(out, cap, "%s", queue_names[pick(5)]);
}

static void random_receivable(char *out, size_t cap)
{
	if (pick(3) == 0)
		snprintf(out, cap, "%s/subscriptions/%s", topic_names[pick(2)], sub_names[pick(3)]);
	else
		random_queue_path(out, cap);
}

static void random_desc(struct entity_desc *d, enum entity_kind kind)
{
	entity_desc_defaults(d, kind);
	if (kind != ENTITY_TOPIC) {
		d->lock_duration_ms = (int64_t)(5 + pick(60)) * 1000;
		d->max_delivery_count = (int32_t)(1 + pick(4));
		d->dead_lettering_on_expiration = pick(2) == 0;
		if (pick(4) == 0)
			d->forward_to = strdup(queue_names[pick(5)]);
		if (pick(4) == 0)
			d->forward_dlq_to = strdup(queue_names[pick(5)]);
	}
	if (kind != ENTITY_SUBSCRIPTION)
		d->requires_duplicate_detection = pick(3) == 0;
	if (pick(3) == 0)
		d->default_ttl_ms = (int64_t)(10 + pick(300)) * 1000;
	if (pick(6) == 0)
		d->auto_delete_on_idle_ms = (int64_t)(5 + pick(10)) * 60000;
	if (pick(10) == 0)
		d->status = kind == ENTITY_TOPIC ? STATUS_DISABLED : (enum entity_status)pick(4);
	d->dup_window_ms = (int64_t)(20 + pick(100)) * 1000;
	if (pick(5) == 0)
		d->user_metadata = strdup("meta \"quoted\"");
}

static void op_entity(struct world_state *w)
{
	struct entity_desc d;
	struct rule_desc rule;
	char path[96];
	unsigned what = pick(10);

	if (what < 4) {
		random_queue_path(path, sizeof(path));
		random_desc(&d, ENTITY_QUEUE);
		core_entity_put(w->c, path, &d, pick(2) == 0, NULL, NULL, NULL);
		entity_desc_release(&d);
	} else if (what < 5) {
		snprintf(path, sizeof(path), "%s", topic_names[pick(2)]);
		random_desc(&d, ENTITY_TOPIC);
		core_entity_put(w->c, path, &d, pick(2) == 0, NULL, NULL, NULL);
		entity_desc_release(&d);
	} else if (what < 7) {
		snprintf(path, sizeof(path), "%s/subscriptions/%s", topic_names[pick(2)], sub_names[pick(3)]);
		random_desc(&d, ENTITY_SUBSCRIPTION);
		core_entity_put(w->c, path, &d, pick(3) == 0, NULL, NULL, NULL);
		entity_desc_release(&d);
	} else if (what < 9) {
		snprintf(path, sizeof(path), "%s/subscriptions/%s", topic_names[pick(2)], sub_names[pick(3)]);
		memset(&rule, 0, sizeof(rule));
		rule.name = strdup(pick(2) ? "byLabel" : "$Default");
		if (pick(2)) {
			rule.filter_type = FILTER_CORRELATION;
			rule.corr.label = strdup(pick(2) ? "red" : "blue");
		} else {
			rule.filter_type = pick(2) ? FILTER_TRUE : FILTER_FALSE;
		}
		if (pick(3) == 0)
			core_rule_delete(w->c, path, rule.name, NULL);
		else
			core_rule_put(w->c, path, &rule, pick(2) == 0, NULL, NULL);
		rule_desc_release(&rule);
	} else {
		random_receivable(path, sizeof(path));
		if (pick(4) == 0)
			core_entity_delete(w->c, pick(2) ? path : topic_names[pick(2)], NULL);
	}
}

static void op_send(struct world_state *w)
{
	struct msg_in m[3];
	uint64_t seqs[3];
	char body[64], id[16];
	const char *path = pick(3) == 0 ? topic_names[pick(2)] : queue_names[pick(5)];
	size_t n = 1 + pick(3);
	struct value v;

	memset(m, 0, sizeof(m));
	for (size_t i = 0; i < n; i++) {
		int len = snprintf(body, sizeof(body), "body-%llu", (unsigned long long)rnd());

		m[i].body = msg_body_new(body, (size_t)len);
		proplist_init(&m[i].user);
		if (pick(2)) {
			snprintf(id, sizeof(id), "id%u", pick(20));
			m[i].props.message_id = strdup(id);
		}
		if (pick(3) == 0) {
			m[i].props.has_ttl = true;
			m[i].props.ttl_ms = (int64_t)(1 + pick(200)) * 1000;
		}
		if (pick(2))
			m[i].props.label = strdup(pick(2) ? "red" : "blue");
		if (pick(6) == 0)
			m[i].props.scheduled_enqueue_ms = clock_now(w->clock) + (int64_t)pick(120) * 1000;
		v.type = VALUE_LONG;
		v.u.i = (int64_t)pick(1000);
		proplist_set(&m[i].user, "n", &v);
	}
	if (core_send(w->c, path, m, n, seqs, NULL) == LZ_OK) {
		for (size_t i = 0; i < n; i++) {
			if (m[i].props.scheduled_enqueue_ms > clock_now(w->clock) && seqs[i] != 0 && w->nscheduled < 64) {
				w->scheduled[w->nscheduled] = seqs[i];
				snprintf(w->scheduled_path[w->nscheduled], 64, "%s", path);
				w->nscheduled++;
			}
		}
	}
	for (size_t i = 0; i < n; i++) {
		msg_body_unref(m[i].body);
		msg_props_release(&m[i].props);
		proplist_release(&m[i].user);
	}
}

static void op_receive(struct world_state *w)
{
	struct msg_out out;
	bool got = false;
	uint64_t wid;
	char path[96];
	enum subqueue sq = pick(5) == 0 ? SUBQ_DLQ : SUBQ_MAIN;
	enum recv_mode mode = pick(4) == 0 ? RECV_RECEIVE_DELETE : RECV_PEEK_LOCK;

	random_receivable(path, sizeof(path));
	if (core_receive(w->c, path, sq, mode, 0, NULL, NULL, &out, &got, &wid, NULL) != LZ_OK || !got)
		return;
	if (mode == RECV_PEEK_LOCK && w->nlocks < MAX_LOCKS) {
		struct held *h = &w->locks[w->nlocks++];

		snprintf(h->path, sizeof(h->path), "%s", path);
		h->sq = sq;
		h->seq = out.seq;
		memcpy(h->token, out.lock_token, sizeof(h->token));
	}
	msg_out_release(&out);
}

static void op_settle(struct world_state *w)
{
	struct held h;
	size_t i;
	enum settle_op op = (enum settle_op)pick(5);
	char id[24];

	if (w->nlocks == 0)
		return;
	i = pick((unsigned)w->nlocks);
	h = w->locks[i];
	w->locks[i] = w->locks[--w->nlocks];
	snprintf(id, sizeof(id), "%llu", (unsigned long long)h.seq);
	if (core_settle(w->c, h.path, h.sq, id, h.token, op, "Because", "random", NULL, NULL) == LZ_OK &&
	    op == SETTLE_DEFER && w->ndeferred < 64) {
		w->deferred[w->ndeferred] = h.seq;
		memcpy(w->deferred_path[w->ndeferred], h.path, sizeof(h.path));
		w->ndeferred++;
	}
	if (op == SETTLE_RENEW && w->nlocks < MAX_LOCKS)
		w->locks[w->nlocks++] = h;
}

static void op_deferred(struct world_state *w)
{
	struct msg_out *out = NULL;
	size_t n = 0, i;

	if (w->ndeferred == 0)
		return;
	i = pick((unsigned)w->ndeferred);
	if (core_receive_deferred(w->c, w->deferred_path[i], SUBQ_MAIN, &w->deferred[i], 1,
				  pick(2) ? RECV_PEEK_LOCK : RECV_RECEIVE_DELETE, &out, &n, NULL) == LZ_OK &&
	    n == 1 && out[0].lock_token[0] != '\0' && w->nlocks < MAX_LOCKS) {
		struct held *h = &w->locks[w->nlocks++];

		memcpy(h->path, w->deferred_path[i], sizeof(h->path));
		h->sq = SUBQ_MAIN;
		h->seq = out[0].seq;
		memcpy(h->token, out[0].lock_token, sizeof(h->token));
	}
	msg_out_array_free(out, n);
	w->deferred[i] = w->deferred[--w->ndeferred];
	memcpy(w->deferred_path[i], w->deferred_path[w->ndeferred], sizeof(w->deferred_path[i]));
}

static void op_misc(struct world_state *w)
{
	struct msg_out *out = NULL;
	size_t n = 0;
	char path[96];

	switch (pick(3)) {
	case 0:
		random_receivable(path, sizeof(path));
		core_peek(w->c, path, pick(2) ? SUBQ_MAIN : SUBQ_DLQ, pick(5), 1 + pick(5), &out, &n, NULL);
		msg_out_array_free(out, n);
		break;
	case 1:
		if (w->nscheduled > 0) {
			size_t i = pick((unsigned)w->nscheduled);

			core_cancel_scheduled(w->c, w->scheduled_path[i], w->scheduled[i], NULL);
			w->scheduled[i] = w->scheduled[--w->nscheduled];
			memcpy(w->scheduled_path[i], w->scheduled_path[w->nscheduled], 64);
		}
		break;
	default:
		ck_assert_int_eq(clock_advance(w->clock, (int64_t)pick(90) * 1000), LZ_OK);
		core_tick(w->c);
		break;
	}
}

struct journal_rec journal_log_rec(const struct journal_log *l, size_t i)
{
	struct journal_rec rec = { l->v[i].lsn, l->v[i].type, l->v[i].ts_ms, l->v[i].payload, l->v[i].len };

	return rec;
}

void workload_run(struct workload *out, uint64_t seed, unsigned steps)
{
	struct core_config cfg = { 0 };
	struct world_state w;

	memset(out, 0, sizeof(*out));
	memset(&w, 0, sizeof(w));
	rng_state = seed * 0x9E3779B97F4A7C15ULL + 1;
	ck_assert_int_eq(clock_new(true, 1700000000000LL, &w.clock), LZ_OK);
	cfg.clock = w.clock;
	cfg.journal = journal_log_sink;
	cfg.journal_arg = &out->log;
	ck_assert_int_eq(core_new(&cfg, &w.c), LZ_OK);
	for (unsigned i = 0; i < 12; i++)
		op_entity(&w);
	for (unsigned i = 0; i < steps; i++) {
		unsigned r = pick(100);

		if (r < 6)
			op_entity(&w);
		else if (r < 40)
			op_send(&w);
		else if (r < 65)
			op_receive(&w);
		else if (r < 82)
			op_settle(&w);
		else if (r < 86)
			op_deferred(&w);
		else
			op_misc(&w);
	}
	out->c = w.c;
	out->clock = w.clock;
}

void workload_free(struct workload *w)
{
	core_free(w->c);
	clock_free(w->clock);
	journal_log_free(&w->log);
	memset(w, 0, sizeof(*w));
}

void workload_expect_same_state(core *want, core *got, const char *what, uint64_t seed)
{
	char *a, *b;
	size_t la, lb, k = 0;

	ck_assert_int_eq(core_dump(want, &a, &la), LZ_OK);
	ck_assert_int_eq(core_dump(got, &b, &lb), LZ_OK);
	while (k < la && k < lb && a[k] == b[k])
		k++;
	if (k != la || k != lb)
		ck_abort_msg("seed %llu: %s state differs at byte %zu:\nwant: %.300s\ngot:  %.300s", (unsigned long long)seed,
			     what, k, a + (k > 100 ? k - 100 : 0), b + (k > 100 ? k - 100 : 0));
	free(a);
	free(b);
}
