/*
 * store — the table of backends (see store.h).
 */
#include "persistd/store.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct store_ops *const store_all[] = {
	&store_sqlite_ops,
	&store_json_ops,
	&store_memory_ops,
	&store_redis_ops,
};

const struct store_ops *store_ops_find(const char *name)
{
	if (name == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(store_all) / sizeof(store_all[0]); i++) {
		if (strcmp(store_all[i]->name, name) == 0)
			return store_all[i];
	}
	return NULL;
}

void store_detail_set(struct store_detail *d, const char *fmt, ...)
{
	va_list ap;

	if (d == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(d->text, sizeof(d->text), fmt, ap);
	va_end(ap);
}

char *store_key_new(const char *path)
{
	size_t n = strlen(path);
	char *key = malloc(n + 1);

	if (key == NULL)
		return NULL;
	for (size_t i = 0; i <= n; i++)
		key[i] = (path[i] >= 'A' && path[i] <= 'Z') ? (char)(path[i] - 'A' + 'a') : path[i];
	return key;
}

lz_err store_check_path(const char *backend, const char *path, struct store_detail *d)
{
	if (path == NULL || path[0] == '\0') {
		store_detail_set(d, "%s: empty entity path", backend);
		return LZ_EINVAL;
	}
	return LZ_OK;
}

lz_err store_check_tx(const char *backend, bool in_tx, bool want, const char *what, struct store_detail *d)
{
	if (in_tx != want) {
		store_detail_set(d, "%s: %s %s a transaction", backend, what, want ? "outside" : "inside");
		return LZ_ESTATE;
	}
	return LZ_OK;
}

lz_err store_paths_add(void *arg, const char *path)
{
	struct store_paths *l = arg;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		char **v = realloc(l->v, cap * sizeof(*v));

		if (v == NULL)
			return LZ_ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n] = strdup(path);
	if (l->v[l->n] == NULL)
		return LZ_ENOMEM;
	l->n++;
	return LZ_OK;
}

void store_paths_release(struct store_paths *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i]);
	free(p->v);
	*p = (struct store_paths){ 0 };
}

struct copy_ctx {
	const struct store_ops *ops;
	store *to;
	struct store_detail *detail;
};

static lz_err copy_entity(void *arg, const struct jrec_load_entity *e)
{
	struct copy_ctx *cc = arg;

	return cc->ops->put_entity(cc->to, e, cc->detail);
}

static lz_err copy_message(void *arg, const struct jrec_load_message *m)
{
	struct copy_ctx *cc = arg;

	return cc->ops->put_message(cc->to, m, cc->detail);
}

lz_err store_copy(const struct store_ops *from_ops, store *from, const struct store_ops *to_ops, store *to,
		  struct store_detail *detail)
{
	struct copy_ctx cc = { to_ops, to, detail };
	struct store_visitor v = { copy_entity, copy_message, &cc };
	struct store_stats st;
	uint64_t lsn = 0;
	lz_err err;

	err = to_ops->stats(to, &st, detail);
	if (err != LZ_OK)
		return err;
	if (st.entities != 0 || st.messages != 0 || st.last_applied_lsn != 0) {
		snprintf(detail->text, sizeof(detail->text),
			 "the target %s store is not empty (%llu entities, %llu messages, lsn %llu); purge it first",
			 to_ops->name, (unsigned long long)st.entities, (unsigned long long)st.messages,
			 (unsigned long long)st.last_applied_lsn);
		return LZ_EEXIST;
	}
	err = from_ops->last_applied_lsn(from, &lsn, detail);
	if (err == LZ_OK)
		err = to_ops->begin(to, detail);
	if (err != LZ_OK)
		return err;
	err = from_ops->load(from, &v, detail);
	if (err == LZ_OK)
		return to_ops->commit(to, lsn, detail);
	to_ops->rollback(to);
	return err;
}
