/*
 * store — the table of backends (see store.h).
 */
#include "persistd/store.h"

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
