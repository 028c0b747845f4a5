#include "common/map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct map_entry {
	struct map_entry *next;
	uint64_t hash;
	void *value;
	char key[];
};

static uint64_t map_hash(const char *key)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *key != '\0'; key++) {
		h ^= (unsigned char)*key;
		h *= 1099511628211ULL;
	}
	return h;
}

void map_init(struct map *m)
{
	m->buckets = NULL;
	m->nbuckets = 0;
	m->n = 0;
}

void map_release(struct map *m)
{
	for (size_t i = 0; i < m->nbuckets; i++) {
		struct map_entry *e = m->buckets[i];

		while (e != NULL) {
			struct map_entry *next = e->next;

			free(e);
			e = next;
		}
	}
	free(m->buckets);
	map_init(m);
}

static lz_err map_grow(struct map *m)
{
	size_t nb = m->nbuckets ? m->nbuckets * 2 : 16;
	struct map_entry **b = calloc(nb, sizeof(*b));

	if (b == NULL)
		return LZ_ENOMEM;
	for (size_t i = 0; i < m->nbuckets; i++) {
		struct map_entry *e = m->buckets[i];

		while (e != NULL) {
			struct map_entry *next = e->next;
			size_t slot = (size_t)(e->hash & (nb - 1));

			e->next = b[slot];
			b[slot] = e;
			e = next;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->nbuckets = nb;
	return LZ_OK;
}

static struct map_entry **map_find(const struct map *m, const char *key, uint64_t hash)
{
	struct map_entry **pp;

	if (m->nbuckets == 0)
		return NULL;
	pp = &m->buckets[hash & (m->nbuckets - 1)];
	for (; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->hash == hash && strcmp((*pp)->key, key) == 0)
			return pp;
	}
	return pp;
}

lz_err map_put(struct map *m, const char *key, void *value, void **old)
{
	uint64_t hash = map_hash(key);
	struct map_entry **pp = map_find(m, key, hash);
	struct map_entry *e;
	size_t klen;

	if (old != NULL)
		*old = NULL;
	if (pp != NULL && *pp != NULL) {
		if (old != NULL)
			*old = (*pp)->value;
		(*pp)->value = value;
		return LZ_OK;
	}
	if (m->n >= m->nbuckets) {
		lz_err err = map_grow(m);

		if (err != LZ_OK)
			return err;
	}
	klen = strlen(key);
	e = malloc(sizeof(*e) + klen + 1);
	if (e == NULL)
		return LZ_ENOMEM;
	memcpy(e->key, key, klen + 1);
	e->hash = hash;
	e->value = value;
	pp = &m->buckets[hash & (m->nbuckets - 1)];
	e->next = *pp;
	*pp = e;
	m->n++;
	return LZ_OK;
}

void *map_get(const struct map *m, const char *key)
{
	struct map_entry **pp = map_find(m, key, map_hash(key));

	return (pp != NULL && *pp != NULL) ? (*pp)->value : NULL;
}

void *map_remove(struct map *m, const char *key)
{
	struct map_entry **pp = map_find(m, key, map_hash(key));
	struct map_entry *e;
	void *value;

	if (pp == NULL || *pp == NULL)
		return NULL;
	e = *pp;
	value = e->value;
	*pp = e->next;
	free(e);
	m->n--;
	return value;
}

void map_foreach(const struct map *m, void (*fn)(void *arg, const char *key, void *value), void *arg)
{
	for (size_t i = 0; i < m->nbuckets; i++) {
		for (struct map_entry *e = m->buckets[i]; e != NULL; e = e->next)
			fn(arg, e->key, e->value);
	}
}
