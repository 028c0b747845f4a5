/*
 * foldcheck — the check that persistd's fold and the broker's core agree on what every journal
 * record means, for any backend: a workload's journal (support/workload.h) is folded into an
 * open store in several transactions, some starting a little before the last commit (those
 * records must be skipped), the store is optionally reopened, then loaded back as a state
 * transfer into a fresh core, which must hold exactly the live core's state. Failures fail the
 * running check test.
 */
#ifndef LZ_TESTS_FOLDCHECK_H
#define LZ_TESTS_FOLDCHECK_H

#include <stdint.h>

#include "persistd/store.h"
#include "workload.h"

/* `*s` is an open, empty store of `ops`; `reopen` (may be NULL) closes and reopens it in place
 * between the fold and the load (arg is passed through). */
void foldcheck_run(const struct store_ops *ops, store **s, const struct workload *w, uint64_t seed,
		   void (*reopen)(void *arg, store **s), void *arg);

#endif
