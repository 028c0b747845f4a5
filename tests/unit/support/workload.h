/*
 * workload — a deterministic randomized broker workload for tests: entity changes, sends and
 * batches, receives in both modes, every settlement, deferral, schedules and cancels, browses and
 * clock jumps, run against a core whose journal sink keeps every record.
 *
 * Calling sequence: workload_run() creates a manual clock and a core, runs `steps` random
 * operations from `seed`, and leaves the core, its clock and the journal log in *w; the caller
 * frees them with workload_free(). journal_log_sink / journal_log_free can also collect other
 * record streams (core_export).
 */
#ifndef LZ_TESTS_WORKLOAD_H
#define LZ_TESTS_WORKLOAD_H

#include <stdint.h>

#include "broker/core.h"

struct stored_rec {
	uint64_t lsn;
	enum journal_type type;
	int64_t ts_ms;
	uint8_t *payload;
	size_t len;
};

struct journal_log {
	struct stored_rec *v;
	size_t n, cap;
};

/* A core_journal_fn that appends a copy of each record to the struct journal_log at `arg`. */
lz_err journal_log_sink(void *arg, const struct journal_rec *rec);
void journal_log_free(struct journal_log *l);
/* The record at `i` as a struct journal_rec (payload borrowed from the log). */
struct journal_rec journal_log_rec(const struct journal_log *l, size_t i);

struct workload {
	core *c;
	lz_clock *clock;
	struct journal_log log;
};

void workload_run(struct workload *w, uint64_t seed, unsigned steps);
void workload_free(struct workload *w);

/* Fails the test, showing where the dumps part, unless `got` has the same durable state as
 * `want` (core_dump byte for byte). */
void workload_expect_same_state(core *want, core *got, const char *what, uint64_t seed);

#endif
