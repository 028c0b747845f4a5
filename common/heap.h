/*
 * heap — an intrusive binary min-heap of pointers.
 *
 * Each element records its own position through the `set_index` callback so that it can be
 * removed or re-keyed in O(log n); HEAP_NONE marks an element that is in no heap. The heap does
 * not own its elements. Order: `less(a, b)` true when a must come out before b.
 * Thread rules: none; the owner serialises access.
 */
#ifndef LZ_COMMON_HEAP_H
#define LZ_COMMON_HEAP_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

#define HEAP_NONE ((size_t)-1)

struct heap {
	void **v;
	size_t n, cap;
	bool (*less)(const void *a, const void *b);
	void (*set_index)(void *elem, size_t idx);
};

void heap_init(struct heap *h, bool (*less)(const void *, const void *), void (*set_index)(void *, size_t));
void heap_release(struct heap *h);
lz_err heap_push(struct heap *h, void *elem);
void *heap_peek(const struct heap *h);    /* NULL when empty */
void *heap_pop(struct heap *h);           /* NULL when empty */
void heap_remove(struct heap *h, size_t idx);
void heap_fix(struct heap *h, size_t idx); /* after the element's key changed */

#endif
