/*
 * map — a string-keyed hash map (separate chaining, FNV-1a, grows at load 1).
 *
 * Keys are copied into the map; values are borrowed pointers the map never frees. Keys compare
 * byte-for-byte: callers that want case-insensitive lookups fold the key first.
 * Iteration order is unspecified; map_foreach must not modify the map.
 * Thread rules: none; the owner serialises access.
 */
#ifndef LZ_COMMON_MAP_H
#define LZ_COMMON_MAP_H

#include <stddef.h>

#include "common/err.h"

struct map_entry;

struct map {
	struct map_entry **buckets;
	size_t nbuckets;
	size_t n;
};

void map_init(struct map *m);
void map_release(struct map *m);
/* Inserts or replaces; *old (may be NULL) receives the replaced value or NULL. */
lz_err map_put(struct map *m, const char *key, void *value, void **old);
void *map_get(const struct map *m, const char *key);
/* Removes `key`; returns its value or NULL. */
void *map_remove(struct map *m, const char *key);
void map_foreach(const struct map *m, void (*fn)(void *arg, const char *key, void *value), void *arg);

#endif
