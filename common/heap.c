#include "common/heap.h"

#include <stdlib.h>

void heap_init(struct heap *h, bool (*less)(const void *, const void *), void (*set_index)(void *, size_t))
{
	h->v = NULL;
	h->n = 0;
	h->cap = 0;
	h->less = less;
	h->set_index = set_index;
}

void heap_release(struct heap *h)
{
	for (size_t i = 0; i < h->n; i++)
		h->set_index(h->v[i], HEAP_NONE);
	free(h->v);
	h->v = NULL;
	h->n = 0;
	h->cap = 0;
}

static void heap_place(struct heap *h, size_t i, void *e)
{
	h->v[i] = e;
	h->set_index(e, i);
}

static void heap_up(struct heap *h, size_t i)
{
	void *e = h->v[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!h->less(e, h->v[parent]))
			break;
		heap_place(h, i, h->v[parent]);
		i = parent;
	}
	heap_place(h, i, e);
}

static void heap_down(struct heap *h, size_t i)
{
	void *e = h->v[i];

	for (;;) {
		size_t child = 2 * i + 1;

		if (child >= h->n)
			break;
		if (child + 1 < h->n && h->less(h->v[child + 1], h->v[child]))
			child++;
		if (!h->less(h->v[child], e))
			break;
		heap_place(h, i, h->v[child]);
		i = child;
	}
	heap_place(h, i, e);
}

lz_err heap_push(struct heap *h, void *elem)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 16;
		void **v = realloc(h->v, cap * sizeof(*v));

		if (v == NULL)
			return LZ_ENOMEM;
		h->v = v;
		h->cap = cap;
	}
	h->v[h->n++] = elem;
	heap_up(h, h->n - 1);
	return LZ_OK;
}

void *heap_peek(const struct heap *h)
{
	return h->n ? h->v[0] : NULL;
}

void heap_remove(struct heap *h, size_t idx)
{
	void *gone = h->v[idx];

	h->n--;
	if (idx != h->n) {
		h->v[idx] = h->v[h->n];
		h->set_index(h->v[idx], idx);
		heap_fix(h, idx);
	}
	h->set_index(gone, HEAP_NONE);
}

void *heap_pop(struct heap *h)
{
	void *top;

	if (h->n == 0)
		return NULL;
	top = h->v[0];
	heap_remove(h, 0);
	return top;
}

void heap_fix(struct heap *h, size_t idx)
{
	if (idx > 0 && h->less(h->v[idx], h->v[(idx - 1) / 2]))
		heap_up(h, idx);
	else
		heap_down(h, idx);
}
