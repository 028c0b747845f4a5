/*
 * core_store — message storage of the core: the per-entity sorted stores and the heap orders.
 */
#include "broker/core_internal.h"

#include <ctype.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/duration.h"
#include "common/log.h"

void core_oom(void)
{
	LZ_LOG(LOG_ERROR, "out of memory in the broker core, exiting", "%s", "");
	abort();
}

void *core_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (p == NULL)
		core_oom();
	return p;
}

char *core_xstrdup(const char *s)
{
	char *p;

	if (s == NULL)
		return NULL;
	p = strdup(s);
	if (p == NULL)
		core_oom();
	return p;
}

char *core_key(const char *path)
{
	char *k = core_xstrdup(path);

	for (char *p = k; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return k;
}

void core_array_grow(void *pv, size_t *cap, size_t elem)
{
	void **v = pv;
	size_t ncap = *cap ? *cap * 2 : 16;
	void *grown = realloc(*v, ncap * elem);

	if (grown == NULL)
		core_oom();
	*v = grown;
	*cap = ncap;
}

int64_t core_sat_add(int64_t a, int64_t b)
{
	if (b == DURATION_INFINITE || a > INT64_MAX - b)
		return INT64_MAX;
	return a + b;
}

int64_t core_effective_ttl(const struct entity *e, const struct msg_props *p)
{
	int64_t ttl = p->has_ttl ? p->ttl_ms : DURATION_INFINITE;

	if (e->desc.default_ttl_ms < ttl)
		ttl = e->desc.default_ttl_ms;
	if (e->topic != NULL && e->topic->desc.default_ttl_ms < ttl)
		ttl = e->topic->desc.default_ttl_ms;
	return ttl;
}

size_t core_message_size(const struct msg_props *p, const struct proplist *user, size_t body_len)
{
	size_t n = body_len;
	const char *const strs[] = { p->message_id, p->correlation_id, p->session_id, p->reply_to,
				     p->reply_to_session_id, p->to, p->label, p->content_type,
				     p->partition_key, p->via_partition_key };

	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		n += strs[i] != NULL ? strlen(strs[i]) : 0;
	for (size_t i = 0; i < user->n; i++) {
		n += strlen(user->items[i].name);
		n += user->items[i].v.type == VALUE_STRING ? strlen(user->items[i].v.u.s) : 8;
	}
	return n;
}

struct msg_body *msg_body_new(const void *bytes, size_t len)
{
	struct msg_body *b;

	if (len > UINT32_MAX)
		return NULL;
	b = malloc(sizeof(*b) + len);
	if (b == NULL)
		return NULL;
	atomic_init(&b->refs, 1);
	b->len = (uint32_t)len;
	if (len > 0)
		memcpy(b->bytes, bytes, len);
	return b;
}

void msg_body_ref(struct msg_body *b)
{
	atomic_fetch_add(&b->refs, 1);
}

void msg_body_unref(struct msg_body *b)
{
	if (b != NULL && atomic_fetch_sub(&b->refs, 1) == 1)
		free(b);
}

/* Packs `src` (may be NULL) into the arena at *cursor and returns where it went. */
static char *pack_string(char **cursor, const char *src)
{
	char *dst = *cursor;
	size_t len;

	if (src == NULL)
		return NULL;
	len = strlen(src) + 1;
	memcpy(dst, src, len);
	*cursor += len;
	return dst;
}

struct message *message_new(const struct msg_props *p, const char *dl_source)
{
	const char *const strs[] = { p->message_id, p->correlation_id, p->session_id, p->reply_to,
				     p->reply_to_session_id, p->to, p->label, p->content_type,
				     p->partition_key, p->via_partition_key, dl_source };
	size_t total = 0;
	struct message *m;
	char *cursor;

	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		total += strs[i] != NULL ? strlen(strs[i]) + 1 : 0;
	m = core_xcalloc(1, sizeof(*m) + total);
	cursor = m->strings;
	m->props = *p;
	m->props.message_id = pack_string(&cursor, p->message_id);
	m->props.correlation_id = pack_string(&cursor, p->correlation_id);
	m->props.session_id = pack_string(&cursor, p->session_id);
	m->props.reply_to = pack_string(&cursor, p->reply_to);
	m->props.reply_to_session_id = pack_string(&cursor, p->reply_to_session_id);
	m->props.to = pack_string(&cursor, p->to);
	m->props.label = pack_string(&cursor, p->label);
	m->props.content_type = pack_string(&cursor, p->content_type);
	m->props.partition_key = pack_string(&cursor, p->partition_key);
	m->props.via_partition_key = pack_string(&cursor, p->via_partition_key);
	m->dl_source = pack_string(&cursor, dl_source);
	m->avail_idx = HEAP_NONE;
	m->exp_idx = HEAP_NONE;
	m->sched_idx = HEAP_NONE;
	return m;
}

void message_free(struct message *m)
{
	if (m == NULL)
		return;
	proplist_release(&m->user);
	msg_body_unref(m->body);
	free(m->lock);
	free(m);
}

void mstore_init(struct mstore *s)
{
	memset(s, 0, sizeof(*s));
	heap_init(&s->avail, core_less_avail, core_set_avail_idx);
}

void mstore_release(struct mstore *s)
{
	heap_release(&s->avail);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* Moves the live slots to the front, dropping removed ones, when they waste more than half. */
static void mstore_compact(struct mstore *s)
{
	size_t out = 0;

	for (size_t i = s->head; i < s->tail; i++) {
		if (s->v[i].m != NULL)
			s->v[out++] = s->v[i];
	}
	s->head = 0;
	s->tail = out;
}

size_t mstore_lower_bound(const struct mstore *s, uint64_t from)
{
	size_t lo = s->head, hi = s->tail;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->v[mid].seq < from)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void mstore_insert(struct mstore *s, struct message *m)
{
	size_t pos;

	if (s->tail == s->cap) {
		if (s->tail - s->head - s->live > 0 || s->head > 0)
			mstore_compact(s);
		if (s->tail == s->cap)
			core_array_grow(&s->v, &s->cap, sizeof(s->v[0]));
	}
	if (s->tail == s->head || s->v[s->tail - 1].seq < m->seq) {
		pos = s->tail;
	} else {
		pos = mstore_lower_bound(s, m->seq);
		memmove(&s->v[pos + 1], &s->v[pos], (s->tail - pos) * sizeof(s->v[0]));
	}
	s->v[pos].seq = m->seq;
	s->v[pos].m = m;
	s->tail++;
	s->live++;
}

struct message *mstore_find(const struct mstore *s, uint64_t seq)
{
	size_t i = mstore_lower_bound(s, seq);

	if (i < s->tail && s->v[i].seq == seq)
		return s->v[i].m;
	return NULL;
}

void mstore_remove(struct mstore *s, struct message *m)
{
	size_t i = mstore_lower_bound(s, m->seq);

	/* Removed slots keep their seq, so several slots may share it; find the live one. */
	while (i < s->tail && s->v[i].seq == m->seq && s->v[i].m != m)
		i++;
	if (i >= s->tail || s->v[i].m != m)
		return;
	s->v[i].m = NULL;
	s->live--;
	while (s->head < s->tail && s->v[s->head].m == NULL)
		s->head++;
	if (s->head == s->tail) {
		s->head = 0;
		s->tail = 0;
	} else if (s->tail - s->head > 64 && s->live < (s->tail - s->head) / 2) {
		mstore_compact(s);
	}
}

bool core_less_avail(const void *a, const void *b)
{
	return ((const struct message *)a)->seq < ((const struct message *)b)->seq;
}

void core_set_avail_idx(void *e, size_t idx)
{
	((struct message *)e)->avail_idx = idx;
}

bool core_less_exp(const void *a, const void *b)
{
	const struct message *x = a, *y = b;

	if (x->expires_ms != y->expires_ms)
		return x->expires_ms < y->expires_ms;
	return x->seq < y->seq;
}

void core_set_exp_idx(void *e, size_t idx)
{
	((struct message *)e)->exp_idx = idx;
}

bool core_less_sched(const void *a, const void *b)
{
	const struct message *x = a, *y = b;

	if (x->scheduled_ms != y->scheduled_ms)
		return x->scheduled_ms < y->scheduled_ms;
	return x->seq < y->seq;
}

void core_set_sched_idx(void *e, size_t idx)
{
	((struct message *)e)->sched_idx = idx;
}

bool core_less_lock(const void *a, const void *b)
{
	return ((const struct message *)a)->lock->until_ms < ((const struct message *)b)->lock->until_ms;
}

void core_set_lock_idx(void *e, size_t idx)
{
	((struct message *)e)->lock->heap_idx = idx;
}

bool core_less_waiter(const void *a, const void *b)
{
	return ((const struct core_waiter *)a)->deadline_ms < ((const struct core_waiter *)b)->deadline_ms;
}

void core_set_waiter_idx(void *e, size_t idx)
{
	((struct core_waiter *)e)->heap_idx = idx;
}
