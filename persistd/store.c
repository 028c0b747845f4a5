/*
 * store — the table of backends (see store.h).
 */
#include "persistd/store.h"

#include <stdio.h>

#include <string.h>

static const struct store_ops *const store_all[] = {
	&store_sqlite_ops,
	&store_json_ops,
	&store_memory_ops,
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
