/*
 * The journal is complete: a long randomized workload (entity changes, sends, receives in both
 * modes, every settlement, expiries, schedules, forwards, deferrals, dead-lettering, idle
 * deletion) runs on a core whose journal sink records every record; replaying that stream into a
 * fresh core must give a byte-identical state dump. Any change to durable state that bypasses
 * the journal shows up as a differing dump. Seeds: LZ_REPLAY_SEEDS (default 40) starting at
 * LZ_REPLAY_SEED0; steps per seed: LZ_REPLAY_STEPS (default 3000).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/core.h"
#include "broker/entity.h"
#include "workload.h"

/* A fresh core (manual clock at `now`, no journal sink) and its clock. */
static core *fresh_core(int64_t now, lz_clock **clk)
{
	struct core_config cfg = { 0 };
	core *c;

	ck_assert_int_eq(clock_new(true, now, clk), LZ_OK);
	cfg.clock = *clk;
	ck_assert_int_eq(core_new(&cfg, &c), LZ_OK);
	return c;
}

/* Applies every record of `log` to `c` with core_replay, failing the test on the first error. */
static void replay_all(core *c, const struct journal_log *log, const char *what, uint64_t seed)
{
	for (size_t i = 0; i < log->n; i++) {
		struct journal_rec rec = journal_log_rec(log, i);
		struct lz_detail d = { "" };
		lz_err err = core_replay(c, &rec, &d);

		ck_assert_msg(err == LZ_OK, "seed %llu: %s of record %zu (lsn %llu, %s) failed: %s (%s)",
			      (unsigned long long)seed, what, i, (unsigned long long)rec.lsn,
			      journal_type_name(rec.type), err_name(err), d.text);
	}
}

static void run_seed(uint64_t seed, unsigned steps)
{
	struct workload w;
	struct journal_log exported = { 0 };
	struct lz_detail d = { "" };
	lz_clock *clk_replayed, *clk_loaded;
	core *replayed, *loaded;

	workload_run(&w, seed, steps);
	ck_assert_uint_gt(w.log.n, steps / 4);

	/* The journal rebuilds the state. */
	replayed = fresh_core(clock_now(w.clock), &clk_replayed);
	replay_all(replayed, &w.log, "replay", seed);
	workload_expect_same_state(w.c, replayed, "replayed", seed);
	ck_assert_uint_eq(core_last_lsn(replayed), core_last_lsn(w.c));

	/* So does the state-transfer form, which then continues at the live core's LSN. */
	ck_assert_int_eq(core_export(w.c, journal_log_sink, &exported), LZ_OK);
	loaded = fresh_core(clock_now(w.clock), &clk_loaded);
	replay_all(loaded, &exported, "load", seed);
	ck_assert_int_eq(core_load_done(loaded, core_last_lsn(w.c), &d), LZ_OK);
	workload_expect_same_state(w.c, loaded, "loaded", seed);

	core_free(loaded);
	clock_free(clk_loaded);
	core_free(replayed);
	clock_free(clk_replayed);
	journal_log_free(&exported);
	workload_free(&w);
}

static unsigned env_unsigned(const char *name, unsigned def)
{
	const char *s = getenv(name);

	return s != NULL && *s != '\0' ? (unsigned)strtoul(s, NULL, 10) : def;
}

START_TEST(test_replay_many_seeds)
{
	unsigned seeds = env_unsigned("LZ_REPLAY_SEEDS", 40);
	unsigned seed0 = env_unsigned("LZ_REPLAY_SEED0", 1);
	unsigned steps = env_unsigned("LZ_REPLAY_STEPS", 3000);

	for (unsigned s = 0; s < seeds; s++)
		run_seed(seed0 + s, steps);
}
END_TEST

/* A record that refers to state that does not exist is refused and changes nothing. */
START_TEST(test_replay_rejects_bad_records)
{
	struct journal_log log = { 0 };
	struct core_config cfg = { 0 };
	struct entity_desc d;
	lz_clock *clock;
	core *c, *fresh;
	struct lz_detail det;
	char *before, *after;
	size_t lb, la;

	ck_assert_int_eq(clock_new(true, 1700000000000LL, &clock), LZ_OK);
	cfg.clock = clock;
	cfg.journal = journal_log_sink;
	cfg.journal_arg = &log;
	ck_assert_int_eq(core_new(&cfg, &c), LZ_OK);
	entity_desc_defaults(&d, ENTITY_QUEUE);
	ck_assert_int_eq(core_entity_put(c, "orders", &d, false, NULL, NULL, NULL), LZ_OK);
	ck_assert_int_eq(core_entity_delete(c, "orders", NULL), LZ_OK);
	ck_assert_uint_eq(log.n, 2);

	cfg.journal = NULL;
	ck_assert_int_eq(core_new(&cfg, &fresh), LZ_OK);
	ck_assert_int_eq(core_dump(fresh, &before, &lb), LZ_OK);
	{
		/* The delete (lsn 2) without the create: out of order and referring to nothing. */
		struct journal_rec rec = { 1, log.v[1].type, log.v[1].ts_ms, log.v[1].payload, log.v[1].len };
		struct journal_rec garbage = { 1, JREC_MSG_ENQUEUE, 0, (const uint8_t *)"\x93\x01\x02", 3 };

		ck_assert_int_eq(core_replay(fresh, &rec, &det), LZ_EINVAL);
		ck_assert_ptr_nonnull(strstr(det.text, "orders"));
		ck_assert_int_eq(core_replay(fresh, &garbage, &det), LZ_EPARSE);
		rec.lsn = 5;
		rec.type = log.v[0].type;
		rec.payload = log.v[0].payload;
		rec.len = log.v[0].len;
		ck_assert_int_eq(core_replay(fresh, &rec, &det), LZ_EINVAL);
		ck_assert_ptr_nonnull(strstr(det.text, "does not follow"));
	}
	ck_assert_int_eq(core_dump(fresh, &after, &la), LZ_OK);
	ck_assert_str_eq(before, after);
	{
		/* State transfer is only for an empty core that has not started its journal. */
		struct journal_log exported = { 0 };
		struct journal_rec rec;

		ck_assert_int_eq(core_entity_put(c, "kept", &d, false, NULL, NULL, NULL), LZ_OK);
		ck_assert_int_eq(core_export(c, journal_log_sink, &exported), LZ_OK);
		ck_assert_uint_eq(exported.n, 1);
		rec = (struct journal_rec){ 0, exported.v[0].type, 0, exported.v[0].payload, exported.v[0].len };
		ck_assert_int_eq(core_replay(c, &rec, &det), LZ_EINVAL);
		ck_assert_ptr_nonnull(strstr(det.text, "state-transfer"));
		ck_assert_int_eq(core_load_done(c, 7, &det), LZ_EINVAL);
		journal_log_free(&exported);
	}
	free(before);
	free(after);
	core_free(fresh);
	core_free(c);
	clock_free(clock);
	entity_desc_release(&d);
	journal_log_free(&log);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("core_replay");
	TCase *tc = tcase_create("replay");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, test_replay_many_seeds);
	tcase_add_test(tc, test_replay_rejects_bad_records);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
