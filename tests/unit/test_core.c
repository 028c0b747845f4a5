/*
 * Message lifecycle semantics of the core, driven directly (no HTTP) with a manual clock.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/core.h"
#include "broker/entity.h"
#include "common/duration.h"

static lz_clock *clk;
static core *c;

static void setup(void)
{
	struct core_config cfg = { 0 };

	ck_assert_int_eq(clock_new(true, 1700000000000LL, &clk), LZ_OK);
	cfg.clock = clk;
	cfg.max_message_bytes = 4096;
	ck_assert_int_eq(core_new(&cfg, &c), LZ_OK);
}

static void teardown(void)
{
	core_free(c);
	clock_free(clk);
}

static void advance(int64_t ms)
{
	ck_assert_int_eq(clock_advance(clk, ms), LZ_OK);
	core_tick(c);
}

/* Creates an entity of `kind` at `path` with defaults, then applies `tweak` if given. */
static lz_err make(const char *path, enum entity_kind kind, void (*tweak)(struct entity_desc *))
{
	struct entity_desc d;
	struct lz_detail det;
	lz_err err;

	entity_desc_defaults(&d, kind);
	if (tweak != NULL)
		tweak(&d);
	err = core_entity_put(c, path, &d, false, NULL, NULL, &det);
	entity_desc_release(&d);
	return err;
}

static lz_err send_full(const char *path, const char *body, const char *id, const char *label, int64_t ttl_ms,
			uint64_t *seq)
{
	struct msg_in m;
	uint64_t s = 0;
	lz_err err;

	memset(&m, 0, sizeof(m));
	m.body = msg_body_new(body, strlen(body));
	m.props.message_id = id != NULL ? strdup(id) : NULL;
	m.props.label = label != NULL ? strdup(label) : NULL;
	if (ttl_ms > 0) {
		m.props.has_ttl = true;
		m.props.ttl_ms = ttl_ms;
	}
	err = core_send(c, path, &m, 1, &s, NULL);
	if (seq != NULL)
		*seq = s;
	msg_body_unref(m.body);
	msg_props_release(&m.props);
	return err;
}

static uint64_t send_body(const char *path, const char *body)
{
	uint64_t seq;

	ck_assert_int_eq(send_full(path, body, NULL, NULL, 0, &seq), LZ_OK);
	return seq;
}

/* Receives one message; returns false when none. */
static bool recv_one(const char *path, enum subqueue sq, enum recv_mode mode, struct msg_out *out)
{
	bool got = false;
	uint64_t wid;

	ck_assert_int_eq(core_receive(c, path, sq, mode, 0, NULL, NULL, out, &got, &wid, NULL), LZ_OK);
	ck_assert_uint_eq(wid, 0);
	return got;
}

static void expect_body(const struct msg_out *m, const char *body)
{
	ck_assert_uint_eq(m->body->len, strlen(body));
	ck_assert(memcmp(m->body->bytes, body, strlen(body)) == 0);
}

static const char *user_str(const struct msg_out *m, const char *name)
{
	const struct value *v = proplist_get(&m->user, name);

	return v != NULL && v->type == VALUE_STRING ? v->u.s : NULL;
}

static lz_err settle(const char *path, enum subqueue sq, const struct msg_out *m, enum settle_op op)
{
	return core_settle(c, path, sq, NULL, m->lock_token, op, NULL, NULL, NULL, NULL);
}

static void lock_5s(struct entity_desc *d) { d->lock_duration_ms = 5000; }
static void maxdc_2(struct entity_desc *d) { d->max_delivery_count = 2; }
static void ttl_10s_dl(struct entity_desc *d) { d->default_ttl_ms = 10000; d->dead_lettering_on_expiration = true; }
static void ttl_10s(struct entity_desc *d) { d->default_ttl_ms = 10000; }
static void dupdet(struct entity_desc *d) { d->requires_duplicate_detection = true; d->dup_window_ms = 60000; }
static void fwd_q2(struct entity_desc *d) { d->forward_to = strdup("q2"); }
static void fwd_a(struct entity_desc *d) { d->forward_to = strdup("a"); }
static void fwd_dlq_q2(struct entity_desc *d) { d->forward_dlq_to = strdup("q2"); d->max_delivery_count = 1; }
static void idle_5m(struct entity_desc *d) { d->auto_delete_on_idle_ms = 300000; }
static void send_disabled(struct entity_desc *d) { d->status = STATUS_SEND_DISABLED; }
static void recv_disabled(struct entity_desc *d) { d->status = STATUS_RECEIVE_DISABLED; }

START_TEST(abandoned_message_keeps_its_place)
{
	struct msg_out a, b, x;

	ck_assert_int_eq(make("q", ENTITY_QUEUE, NULL), LZ_OK);
	ck_assert_uint_eq(send_body("q", "one"), 1);
	ck_assert_uint_eq(send_body("q", "two"), 2);
	ck_assert_uint_eq(send_body("q", "three"), 3);
	ck_assert(recv_one("q", SUBQ_MAIN, RECV_PEEK_LOCK, &a));
	ck_assert(recv_one("q", SUBQ_MAIN, RECV_PEEK_LOCK, &b));
	ck_assert_uint_eq(a.seq, 1);
	ck_assert_uint_eq(b.seq, 2);
	ck_assert_uint_eq(a.delivery_count, 1);
	ck_assert_int_eq(settle("q", SUBQ_MAIN, &a, SETTLE_ABANDON), LZ_OK);
	ck_assert(recv_one("q", SUBQ_MAIN, RECV_PEEK_LOCK, &x));
	ck_assert_uint_eq(x.seq, 1);
	ck_assert_uint_eq(x.delivery_count, 2);
	expect_body(&x, "one");
	ck_assert_int_eq(settle("q", SUBQ_MAIN, &x, SETTLE_COMPLETE), LZ_OK);
	/* The old token died with the abandon; a completed message's token is gone too. */
	ck_assert_int_eq(settle("q", SUBQ_MAIN, &a, SETTLE_COMPLETE), LZ_ELOCKLOST);
	ck_assert_int_eq(settle("q", SUBQ_MAIN, &x, SETTLE_COMPLETE), LZ_ELOCKLOST);
	msg_out_release(&a);
	msg_out_release(&b);
	msg_out_release(&x);
}
END_TEST

START_TEST(lock_expiry_redelivers_in_order)
{
	struct msg_out a, x;
	int64_t until = 0;

	ck_assert_int_eq(make("q", ENTITY_QUEUE, lock_5s), LZ_OK);
	send_body("q", "one");
	send_body("q", "two");
	ck_assert(recv_one("q", SUBQ_MAIN, RECV_PEEK_LOCK, &a));
	ck_assert_int_eq(a.locked_until_ms, clock_now(clk) + 5000);
	advance(4000);
	ck_assert_int_eq(core_settle(c, "q", SUBQ_MAIN, "1", a.lock_token, SETTLE_RENEW, NULL, NULL, &until, NULL),
			 LZ_OK);
	ck_assert_int_eq(until, clock_now(clk) + 5000);
	advance(4000);
	ck_assert_int_eq(core_settle(c, "q", SUBQ_MAIN, "1", a.lock_token, SETTLE_RENEW, NULL, NULL, NULL, NULL), LZ_OK);
	advance(5000);
	ck_assert_int_eq(settle("q", SUBQ_MAIN, &a, SETTLE_COMPLETE), LZ_ELOCKLOST);
	ck_assert(recv_one("q", SUBQ_MAIN, RECV_PEEK_LOCK, &x));
	ck_assert_uint_eq(x.seq, 1);
	ck_assert_uint_eq(x.delivery_count, 2);
	/* The lock URI may name the message by sequence number or MessageId; a wrong one fails. */
	ck_assert_int_eq(core_settle(c, "q", SUBQ_MAIN, "2", x.lock_token, SETTLE_COMPLETE, NULL, NULL, NULL, NULL),
			 LZ_ELOCKLOST);
	ck_assert_int_eq(core_settle(c, "q", SUBQ_MAIN, x.props.message_id, x.lock_token, SETTLE_COMPLETE, NULL, NULL,
				     NULL, NULL), LZ_OK);
	msg_out_release(&a);
	msg_out_release(&x);
}
END_TEST

START_TEST(max_delivery_count_dead_letters)
{
	struct msg_out m, d;
	struct entity_info info;

	ck_assert_int_eq(make("q", ENTITY_QUEUE, maxdc_2), LZ_OK);
	send_body("q", "poison");
	for (int i = 1; i <= 2; i++) {
		ck_assert(recv_one("q", SUBQ_MAIN, RECV_PEEK_LOCK, &m));
		ck_assert_uint_eq(m.delivery_count, (unsigned)i);
		ck_assert_int_eq(settle("q", SUBQ_MAIN, &m, SETTLE_ABANDON), LZ_OK);
		msg_out_release(&m);
	}
	ck_assert(!recv_one("q", SUBQ_MAIN, RECV_PEEK_LOCK, &m));
	ck_assert_int_eq(core_entity_get(c, "q", &info, NULL), LZ_OK);
	ck_assert_uint_eq(info.deadletter_count, 1);
	ck_assert_uint_eq(info.active_count, 0);
	entity_info_release(&info);
	ck_assert(recv_one("q", SUBQ_DLQ, RECV_RECEIVE_DELETE, &d));
	ck_assert_str_eq(user_str(&d, "DeadLetterReason"), "MaxDeliveryCountExceeded");
	ck_assert(d.dead_lettered);
	ck_assert_uint_eq(d.seq, 1);
	expect_body(&d, "poison");
	msg_out_release(&d);
}
END_TEST

START_TEST(ttl_expiry_drops_or_dead_letters)
{
	struct msg_out m, *peeked = NULL;
	size_t npeeked = 0;
	uint64_t seq;

	ck_assert_int_eq(make("drop", ENTITY_QUEUE, ttl_10s), LZ_OK);
	ck_assert_int_eq(make("keep", ENTITY_QUEUE, ttl_10s_dl), LZ_OK);
	/* A message TTL above the entity default is capped to it. */
	ck_assert_int_eq(send_full("drop", "x", NULL, NULL, 60000, &seq), LZ_OK);
	ck_assert_int_eq(send_full("keep", "y", NULL, NULL, 3000, &seq), LZ_OK);
	advance(2999);
	/* Browsing still shows it just before it expires. */
	ck_assert_int_eq(core_peek(c, "keep", SUBQ_MAIN, 0, 10, &peeked, &npeeked, NULL), LZ_OK);
	ck_assert_uint_eq(npeeked, 1);
	ck_assert_int_eq(peeked[0].expires_ms, clock_now(clk) + 1);
	msg_out_array_free(peeked, npeeked);
	advance(1);
	ck_assert(!recv_one("keep", SUBQ_MAIN, RECV_PEEK_LOCK, &m));
	ck_assert(recv_one("keep", SUBQ_DLQ, RECV_PEEK_LOCK, &m));
	ck_assert_str_eq(user_str(&m, "DeadLetterReason"), "TTLExpiredException");
	ck_assert_int_eq(m.ttl_ms, 3000);
	msg_out_release(&m);
	advance(6999);
	ck_assert(recv_one("drop", SUBQ_MAIN, RECV_PEEK_LOCK, &m));
	ck_assert_int_eq(m.ttl_ms, 10000);
	ck_assert_int_eq(settle("drop", SUBQ_MAIN, &m, SETTLE_ABANDON), LZ_OK);
	msg_out_release(&m);
	advance(1);
	ck_assert(!recv_one("drop", SUBQ_MAIN, RECV_PEEK_LOCK, &m));
	ck_assert(!recv_one("drop", SUBQ_DLQ, RECV_PEEK_LOCK, &m));
}
END_TEST

START_TEST(scheduled_messages_activate_on_time)
{
	struct msg_in in;
	struct msg_out m;
	uint64_t seq = 0;
	struct entity_info info;

	ck_assert_int_eq(make("q", ENTITY_QUEUE, NULL), LZ_OK);
	memset(&in, 0, sizeof(in));
	in.body = msg_body_new("later", 5);
	ck_assert_int_eq(core_schedule(c, "q", &in, 1, clock_now(clk) + 60000, &seq, NULL), LZ_OK);
	ck_assert_uint_eq(seq, 1);
	ck_assert_int_eq(core_schedule(c, "q", &in, 1, clock_now(clk) + 30000, &seq, NULL), LZ_OK);
	ck_assert_uint_eq(seq, 2);
	ck_assert_int_eq(core_cancel_scheduled(c, "q", 2, NULL), LZ_OK);
	ck_assert_int_eq(core_cancel_scheduled(c, "q", 2, NULL), LZ_ENOTFOUND);
	ck_assert_int_eq(core_entity_get(c, "q", &info, NULL), LZ_OK);
	ck_assert_uint_eq(info.scheduled_count, 1);
	entity_info_release(&info);
	advance(59999);
	ck_assert(!recv_one("q", SUBQ_MAIN, RECV_PEEK_LOCK, &m));
	advance(1);
	ck_assert(recv_one("q", SUBQ_MAIN, RECV_RECEIVE_DELETE, &m));
	ck_assert_uint_eq(m.seq, 3); /* activation assigns a new sequence number */
	ck_assert_int_eq(m.enqueued_ms, clock_now(clk));
	expect_body(&m, "later");
	msg_out_release(&m);
	msg_body_unref(in.body);
}
END_TEST

START_TEST(duplicate_detection_window)
{
	uint64_t seq;
	struct msg_out m;

	ck_assert_int_eq(make("q", ENTITY_QUEUE, dupdet), LZ_OK);
	ck_assert_int_eq(send_full("q", "a", "order-1", NULL, 0, &seq), LZ_OK);
	ck_assert_uint_eq(seq, 1);
	advance(59000);
	ck_assert_int_eq(send_full("q", "b", "order-1", NULL, 0, &seq), LZ_OK);
	ck_assert_uint_eq(seq, 0);
	advance(1000);
	ck_assert_int_eq(send_full("q", "c", "order-1", NULL, 0, &seq), LZ_OK);
	ck_assert_uint_eq(seq, 2);
	ck_assert(recv_one("q", SUBQ_MAIN, RECV_RECEIVE_DELETE, &m));
	expect_body(&m, "a");
	msg_out_release(&m);
	ck_assert(recv_one("q", SUBQ_MAIN, RECV_RECEIVE_DELETE, &m));
	expect_body(&m, "c");
	msg_out_release(&m);
	ck_assert(!recv_one("q", SUBQ_MAIN, RECV_RECEIVE_DELETE, &m));
}
END_TEST

START_TEST(forwarding_and_loops)
{
	struct msg_out m;
	struct lz_detail det;
	struct entity_desc d;

	ck_assert_int_eq(make("q2", ENTITY_QUEUE, NULL), LZ_OK);
	ck_assert_int_eq(make("q1", ENTITY_QUEUE, fwd_q2), LZ_OK);
	send_body("q2", "direct");
	ck_assert_uint_eq(send_body("q1", "via q1"), 1);
	ck_assert(recv_one("q2", SUBQ_MAIN, RECV_RECEIVE_DELETE, &m));
	ck_assert_uint_eq(m.enqueued_seq, 0);
	msg_out_release(&m);
	ck_assert(recv_one("q2", SUBQ_MAIN, RECV_RECEIVE_DELETE, &m));
	ck_assert_uint_eq(m.seq, 2);
	ck_assert_uint_eq(m.enqueued_seq, 1);
	expect_body(&m, "via q1");
	msg_out_release(&m);
	ck_assert(!recv_one("q1", SUBQ_MAIN, RECV_RECEIVE_DELETE, &m));

	/* A forward to a missing entity, or to itself, is refused at creation. */
	entity_desc_defaults(&d, ENTITY_QUEUE);
	d.forward_to = strdup("nowhere");
	ck_assert_int_eq(core_entity_put(c, "q3", &d, false, NULL, NULL, &det), LZ_EINVAL);
	ck_assert_ptr_nonnull(strstr(det.text, "ForwardTo"));
	free(d.forward_to);
	d.forward_to = strdup("Q3");
	ck_assert_int_eq(make("q3", ENTITY_QUEUE, NULL), LZ_OK);
	ck_assert_int_eq(core_entity_put(c, "q3", &d, true, NULL, NULL, &det), LZ_EINVAL);
	entity_desc_release(&d);

	/* a -> b -> a loops until the hop limit, then dead-letters. */
	ck_assert_int_eq(make("a", ENTITY_QUEUE, NULL), LZ_OK);
	ck_assert_int_eq(make("b", ENTITY_QUEUE, fwd_a), LZ_OK);
	entity_desc_defaults(&d, ENTITY_QUEUE);
	d.forward_to = strdup("b");
	ck_assert_int_eq(core_entity_put(c, "a", &d, true, NULL, NULL, &det), LZ_OK);
	entity_desc_release(&d);
	send_body("a", "looping");
	ck_assert(recv_one("a", SUBQ_DLQ, RECV_RECEIVE_DELETE, &m));
	ck_assert_str_eq(user_str(&m, "DeadLetterReason"), "MaxTransferHopCountExceeded");
	msg_out_release(&m);
}
END_TEST

START_TEST(dead_letter_forwarding)
{
	struct msg_out m;

	ck_assert_int_eq(make("q2", ENTITY_QUEUE, NULL), LZ_OK);
	ck_assert_int_eq(make("q1", ENTITY_QUEUE, fwd_dlq_q2), LZ_OK);
	send_body("q1", "fails");
	ck_assert(recv_one("q1", SUBQ_MAIN, RECV_PEEK_LOCK, &m));
	ck_assert_int_eq(settle("q1", SUBQ_MAIN, &m, SETTLE_ABANDON), LZ_OK);
	msg_out_release(&m);
	ck_assert(!recv_one("q1", SUBQ_DLQ, RECV_PEEK_LOCK, &m));
	ck_assert(recv_one("q2", SUBQ_MAIN, RECV_PEEK_LOCK, &m));
	ck_assert_str_eq(m.dead_letter_source, "q1");
	ck_assert_str_eq(user_str(&m, "DeadLetterReason"), "MaxDeliveryCountExceeded");
	ck_assert_uint_eq(m.delivery_count, 1);
	msg_out_release(&m);
}
END_TEST

START_TEST(explicit_dead_letter_and_defer)
{
	struct msg_out m, *out = NULL;
	size_t n = 0;
	uint64_t seq;

	ck_assert_int_eq(make("q", ENTITY_QUEUE, NULL), LZ_OK);
	send_body("q", "bad");
	seq = send_body("q", "later");
	ck_assert(recv_one("q", SUBQ_MAIN, RECV_PEEK_LOCK, &m));
	ck_assert_int_eq(core_settle(c, "q", SUBQ_MAIN, NULL, m.lock_token, SETTLE_DEADLETTER, "BadOrder", "no sku", NULL,
				     NULL), LZ_OK);
	msg_out_release(&m);
	ck_assert(recv_one("q", SUBQ_MAIN, RECV_PEEK_LOCK, &m));
	ck_assert_uint_eq(m.seq, seq);
	ck_assert_int_eq(settle("q", SUBQ_MAIN, &m, SETTLE_DEFER), LZ_OK);
	msg_out_release(&m);
	ck_assert(!recv_one("q", SUBQ_MAIN, RECV_PEEK_LOCK, &m));
	ck_assert_int_eq(core_receive_deferred(c, "q", SUBQ_MAIN, &(uint64_t){ 99 }, 1, RECV_PEEK_LOCK, &out, &n, NULL),
			 LZ_ENOTFOUND);
	ck_assert_int_eq(core_receive_deferred(c, "q", SUBQ_MAIN, &seq, 1, RECV_PEEK_LOCK, &out, &n, NULL), LZ_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(out[0].state, MSG_DEFERRED);
	/* Abandoning a deferred message leaves it deferred. */
	ck_assert_int_eq(settle("q", SUBQ_MAIN, &out[0], SETTLE_ABANDON), LZ_OK);
	msg_out_array_free(out, n);
	ck_assert_int_eq(core_receive_deferred(c, "q", SUBQ_MAIN, &seq, 1, RECV_RECEIVE_DELETE, &out, &n, NULL), LZ_OK);
	ck_assert_uint_eq(n, 1);
	expect_body(&out[0], "later");
	msg_out_array_free(out, n);
	ck_assert(recv_one("q", SUBQ_DLQ, RECV_PEEK_LOCK, &m));
	ck_assert_str_eq(user_str(&m, "DeadLetterReason"), "BadOrder");
	ck_assert_str_eq(user_str(&m, "DeadLetterErrorDescription"), "no sku");
	ck_assert_int_eq(core_settle(c, "q", SUBQ_DLQ, NULL, m.lock_token, SETTLE_DEADLETTER, NULL, NULL, NULL, NULL),
			 LZ_ESTATE);
	msg_out_release(&m);
}
END_TEST

START_TEST(topic_fan_out_and_filters)
{
	struct rule_desc r;
	struct msg_out m;
	uint64_t seq;

	ck_assert_int_eq(make("t", ENTITY_TOPIC, NULL), LZ_OK);
	ck_assert_int_eq(make("t/subscriptions/all", ENTITY_SUBSCRIPTION, NULL), LZ_OK);
	ck_assert_int_eq(make("t/subscriptions/red", ENTITY_SUBSCRIPTION, NULL), LZ_OK);
	ck_assert_int_eq(make("t/subscriptions/none", ENTITY_SUBSCRIPTION, NULL), LZ_OK);
	ck_assert_int_eq(make("t/subscriptions/x", ENTITY_QUEUE, NULL), LZ_EINVAL);
	memset(&r, 0, sizeof(r));
	r.name = strdup("$Default");
	ck_assert_int_eq(core_rule_delete(c, "t/subscriptions/red", "$Default", NULL), LZ_OK);
	ck_assert_int_eq(core_rule_delete(c, "t/subscriptions/none", "$default", NULL), LZ_OK);
	r.filter_type = FILTER_FALSE;
	ck_assert_int_eq(core_rule_put(c, "t/subscriptions/none", &r, false, NULL, NULL), LZ_OK);
	ck_assert_int_eq(core_rule_put(c, "t/subscriptions/none", &r, false, NULL, NULL), LZ_EEXIST);
	free(r.name);
	r.name = strdup("isRed");
	r.filter_type = FILTER_CORRELATION;
	r.corr.label = strdup("red");
	ck_assert_int_eq(core_rule_put(c, "t/subscriptions/red", &r, false, NULL, NULL), LZ_OK);
	rule_desc_release(&r);

	ck_assert_int_eq(send_full("t", "r", NULL, "red", 0, &seq), LZ_OK);
	ck_assert_uint_eq(seq, 1);
	ck_assert_int_eq(send_full("t", "b", NULL, "blue", 0, &seq), LZ_OK);
	ck_assert_uint_eq(seq, 2);
	ck_assert(recv_one("t/subscriptions/all", SUBQ_MAIN, RECV_RECEIVE_DELETE, &m));
	ck_assert_uint_eq(m.seq, 1);
	msg_out_release(&m);
	ck_assert(recv_one("t/subscriptions/all", SUBQ_MAIN, RECV_RECEIVE_DELETE, &m));
	ck_assert_uint_eq(m.seq, 2);
	msg_out_release(&m);
	ck_assert(recv_one("T/Subscriptions/RED", SUBQ_MAIN, RECV_RECEIVE_DELETE, &m));
	expect_body(&m, "r");
	msg_out_release(&m);
	ck_assert(!recv_one("t/subscriptions/red", SUBQ_MAIN, RECV_RECEIVE_DELETE, &m));
	ck_assert(!recv_one("t/subscriptions/none", SUBQ_MAIN, RECV_RECEIVE_DELETE, &m));
	ck_assert_int_eq(core_receive(c, "t", SUBQ_MAIN, RECV_PEEK_LOCK, 0, NULL, NULL, &m, &(bool){ false },
				      &(uint64_t){ 0 }, NULL), LZ_EINVAL);
	/* Deleting the topic removes its subscriptions. */
	ck_assert_int_eq(core_entity_delete(c, "t", NULL), LZ_OK);
	ck_assert_int_eq(core_entity_get(c, "t/subscriptions/all", &(struct entity_info){ 0 }, NULL), LZ_ENOTFOUND);
}
END_TEST

START_TEST(status_and_limits)
{
	struct msg_in in;
	struct msg_out m;
	char big[5000];
	struct lz_detail det;

	ck_assert_int_eq(make("ns", ENTITY_QUEUE, send_disabled), LZ_OK);
	ck_assert_int_eq(make("nr", ENTITY_QUEUE, recv_disabled), LZ_OK);
	ck_assert_int_eq(send_full("ns", "x", NULL, NULL, 0, NULL), LZ_EDISABLED);
	ck_assert_int_eq(send_full("nr", "x", NULL, NULL, 0, NULL), LZ_OK);
	ck_assert_int_eq(core_receive(c, "nr", SUBQ_MAIN, RECV_PEEK_LOCK, 0, NULL, NULL, &m, &(bool){ false },
				      &(uint64_t){ 0 }, NULL), LZ_EDISABLED);
	ck_assert_int_eq(send_full("missing", "x", NULL, NULL, 0, NULL), LZ_ENOTFOUND);
	memset(big, 'x', sizeof(big));
	memset(&in, 0, sizeof(in));
	in.body = msg_body_new(big, sizeof(big));
	ck_assert_int_eq(core_send(c, "nr", &in, 1, NULL, &det), LZ_ETOOBIG);
	ck_assert_ptr_nonnull(strstr(det.text, "4096"));
	msg_body_unref(in.body);
}
END_TEST

START_TEST(idle_entities_are_deleted)
{
	struct msg_out m;
	struct entity_info info;

	ck_assert_int_eq(make("q", ENTITY_QUEUE, idle_5m), LZ_OK);
	advance(200000);
	send_body("q", "keeps it alive");
	advance(200000);
	ck_assert(recv_one("q", SUBQ_MAIN, RECV_PEEK_LOCK, &m));
	msg_out_release(&m);
	ck_assert_int_eq(core_next_deadline(c) <= clock_now(clk) + 300000, 1);
	advance(299999);
	ck_assert_int_eq(core_entity_get(c, "q", &info, NULL), LZ_OK);
	entity_info_release(&info);
	advance(1);
	ck_assert_int_eq(core_entity_get(c, "q", &info, NULL), LZ_ENOTFOUND);
}
END_TEST

struct waited {
	int calls;
	lz_err err;
	struct msg_out msg;
	bool has_msg;
};

static void on_wait(void *arg, lz_err err, struct msg_out *msg)
{
	struct waited *w = arg;

	w->calls++;
	w->err = err;
	if (msg != NULL) {
		w->msg = *msg;
		w->has_msg = true;
	}
}

START_TEST(parked_receives)
{
	struct waited w1 = { 0 }, w2 = { 0 }, w3 = { 0 };
	struct msg_out m;
	bool got;
	uint64_t id1, id2, id3;

	ck_assert_int_eq(make("q", ENTITY_QUEUE, NULL), LZ_OK);
	ck_assert_int_eq(core_receive(c, "q", SUBQ_MAIN, RECV_PEEK_LOCK, 30000, on_wait, &w1, &m, &got, &id1, NULL), LZ_OK);
	ck_assert(!got);
	ck_assert_uint_ne(id1, 0);
	ck_assert_int_eq(core_receive(c, "q", SUBQ_MAIN, RECV_RECEIVE_DELETE, 10000, on_wait, &w2, &m, &got, &id2, NULL),
			 LZ_OK);
	ck_assert_int_eq(core_receive(c, "q", SUBQ_MAIN, RECV_PEEK_LOCK, 50000, on_wait, &w3, &m, &got, &id3, NULL), LZ_OK);
	ck_assert_int_eq(core_next_deadline(c), clock_now(clk) + 10000);
	send_body("q", "first");
	ck_assert_int_eq(w1.calls, 1);
	ck_assert(w1.has_msg);
	expect_body(&w1.msg, "first");
	ck_assert_str_ne(w1.msg.lock_token, "");
	ck_assert_int_eq(w2.calls, 0);
	ck_assert(core_waiter_cancel(c, id3));
	ck_assert(!core_waiter_cancel(c, id3));
	ck_assert(!core_waiter_cancel(c, id1));
	advance(10000);
	ck_assert_int_eq(w2.calls, 1);
	ck_assert(!w2.has_msg);
	ck_assert_int_eq(w2.err, LZ_OK);
	send_body("q", "second");
	ck_assert_int_eq(w3.calls, 0);
	msg_out_release(&w1.msg);

	/* Disabling receive answers parked receives at once. */
	{
		struct waited w4 = { 0 };
		struct entity_desc d;
		uint64_t id4;
		struct msg_out drained;

		ck_assert(recv_one("q", SUBQ_MAIN, RECV_RECEIVE_DELETE, &drained));
		msg_out_release(&drained);
		ck_assert_int_eq(core_receive(c, "q", SUBQ_MAIN, RECV_PEEK_LOCK, 50000, on_wait, &w4, &m, &got, &id4, NULL),
				 LZ_OK);
		ck_assert(!got);
		entity_desc_defaults(&d, ENTITY_QUEUE);
		d.status = STATUS_RECEIVE_DISABLED;
		ck_assert_int_eq(core_entity_put(c, "q", &d, true, NULL, NULL, NULL), LZ_OK);
		ck_assert_int_eq(w4.calls, 1);
		ck_assert_int_eq(w4.err, LZ_EDISABLED);
		ck_assert(!w4.has_msg);
		entity_desc_release(&d);
	}
}
END_TEST

START_TEST(peek_browses_in_order)
{
	struct msg_out *out = NULL, m;
	size_t n = 0;
	struct msg_in in;
	uint64_t seq;

	ck_assert_int_eq(make("q", ENTITY_QUEUE, NULL), LZ_OK);
	for (int i = 0; i < 5; i++)
		send_body("q", "m");
	memset(&in, 0, sizeof(in));
	in.body = msg_body_new("s", 1);
	ck_assert_int_eq(core_schedule(c, "q", &in, 1, clock_now(clk) + 1000, &seq, NULL), LZ_OK);
	msg_body_unref(in.body);
	ck_assert(recv_one("q", SUBQ_MAIN, RECV_PEEK_LOCK, &m));
	ck_assert_int_eq(core_peek(c, "q", SUBQ_MAIN, 0, 100, &out, &n, NULL), LZ_OK);
	ck_assert_uint_eq(n, 6);
	for (size_t i = 0; i < n; i++) {
		ck_assert_uint_eq(out[i].seq, i + 1);
		ck_assert_str_eq(out[i].lock_token, "");
	}
	ck_assert_int_eq(out[5].state, MSG_SCHEDULED);
	msg_out_array_free(out, n);
	ck_assert_int_eq(core_peek(c, "q", SUBQ_MAIN, 4, 2, &out, &n, NULL), LZ_OK);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(out[0].seq, 4);
	ck_assert_uint_eq(out[1].seq, 5);
	msg_out_array_free(out, n);
	/* Browsing does not lock: the locked message is still locked, the others still available. */
	ck_assert_int_eq(settle("q", SUBQ_MAIN, &m, SETTLE_COMPLETE), LZ_OK);
	msg_out_release(&m);
}
END_TEST

START_TEST(entity_crud_rules)
{
	struct entity_desc d;
	struct entity_info info, *list = NULL;
	size_t n = 0;
	struct lz_detail det;

	entity_desc_defaults(&d, ENTITY_QUEUE);
	ck_assert_int_eq(core_entity_put(c, "Orders", &d, false, NULL, &info, &det), LZ_OK);
	ck_assert_str_eq(info.path, "Orders");
	entity_info_release(&info);
	ck_assert_int_eq(core_entity_put(c, "orders", &d, false, NULL, NULL, &det), LZ_EEXIST);
	ck_assert_int_eq(core_entity_put(c, "nope", &d, true, NULL, NULL, &det), LZ_ENOTFOUND);
	d.requires_session = true;
	ck_assert_int_eq(core_entity_put(c, "orders", &d, true, NULL, NULL, &det), LZ_EIMMUTABLE);
	d.requires_session = false;
	d.lock_duration_ms = 600000;
	ck_assert_int_eq(core_entity_put(c, "orders", &d, true, NULL, NULL, &det), LZ_ERANGE);
	ck_assert_ptr_nonnull(strstr(det.text, "LockDuration"));
	d.lock_duration_ms = 30000;
	ck_assert_int_eq(core_entity_put(c, "ORDERS", &d, true, NULL, &info, &det), LZ_OK);
	ck_assert_int_eq(info.desc.lock_duration_ms, 30000);
	entity_info_release(&info);
	ck_assert_int_eq(core_entity_put(c, "bad name", &d, false, NULL, NULL, &det), LZ_EINVAL);
	ck_assert_int_eq(core_entity_put(c, "b", &d, false, NULL, NULL, &det), LZ_OK);
	ck_assert_int_eq(core_entity_put(c, "a", &d, false, NULL, NULL, &det), LZ_OK);
	ck_assert_int_eq(core_entity_list(c, ENTITY_QUEUE, NULL, 1, 1, &list, &n, NULL), LZ_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(list[0].path, "b");
	entity_info_array_free(list, n);
	ck_assert_int_eq(core_entity_delete(c, "orders", NULL), LZ_OK);
	ck_assert_int_eq(core_entity_delete(c, "orders", &det), LZ_ENOTFOUND);
	entity_desc_release(&d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("core");
	TCase *tc = tcase_create("lifecycle");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, abandoned_message_keeps_its_place);
	tcase_add_test(tc, lock_expiry_redelivers_in_order);
	tcase_add_test(tc, max_delivery_count_dead_letters);
	tcase_add_test(tc, ttl_expiry_drops_or_dead_letters);
	tcase_add_test(tc, scheduled_messages_activate_on_time);
	tcase_add_test(tc, duplicate_detection_window);
	tcase_add_test(tc, forwarding_and_loops);
	tcase_add_test(tc, dead_letter_forwarding);
	tcase_add_test(tc, explicit_dead_letter_and_defer);
	tcase_add_test(tc, topic_fan_out_and_filters);
	tcase_add_test(tc, status_and_limits);
	tcase_add_test(tc, idle_entities_are_deleted);
	tcase_add_test(tc, parked_receives);
	tcase_add_test(tc, peek_browses_in_order);
	tcase_add_test(tc, entity_crud_rules);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
