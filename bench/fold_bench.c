/*
 * fold_bench — what one persistd fold of N journal records costs in the sqlite backend, over an
 * empty store and over a store that already holds a large state.
 *
 * usage: fold_bench [--state N] [--batch N] [--reps N] [--body-size BYTES] [--dir DIR]
 *   --state N        messages in the big store before the timed folds (default 1000000)
 *   --batch N        records per timed fold (default 10000); the big store is built with folds
 *                    of this size too (not timed)
 *   --reps N         timed folds per case; the median is reported (default 5)
 *   --body-size B    message body bytes (default 1024)
 *   --dir DIR        existing directory for the database files (default: a new temp dir under
 *                    $TMPDIR or /tmp, removed at the end); the files made here are removed
 *   --max-ms MS      target for one fold of --batch records over the empty store (default 50)
 *   --max-ratio R    target for big / empty (default 2.0)
 *
 * The records are real: the broker's core (broker/core.h) runs with a journal sink that keeps
 * every record, a queue `bench` is created (MaxSizeInMegabytes 5120) and each message is one
 * core_send() of a 1 KiB body, so each record is one MSG_ENQUEUE exactly as the HTTP front end
 * produces it (generated MessageId, one place in the queue). After each batch the core's queue is
 * drained with receive-and-delete so that the core stays small; those records are not folded,
 * and the MSG_ENQUEUE records kept are renumbered so that they continue the store's LSN (the fold
 * insists on consecutive LSNs). Sequence numbers keep growing, so every fold inserts new rows.
 *
 * One timed fold = fold_begin + fold_record × batch + fold_commit (sqlite: one transaction,
 * synchronous=FULL), the same calls persistd's server makes. "empty": each repetition uses a
 * fresh database holding only the queue. "big": the store is filled to --state messages first
 * (folds of --batch records, not timed), then each repetition folds another batch on top.
 *
 * Output: progress on stderr, then one result line on stdout:
 *   fold_empty_ms=… fold_big_ms=… ratio=… state=… batch=… reps=… …
 * followed by two verdict lines. Exit status: 0 when both targets pass, 1 when one fails, 2 on a
 * usage or setup error.
 */
#include <errno.h>
#include <stdarg.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/core.h"
#include "broker/entity.h"
#include "common/clock.h"
#include "persistd/fold.h"
#include "persistd/store.h"

#define MAX_REPS 101

struct rec {
	enum journal_type type;
	int64_t ts_ms;
	uint8_t *payload;
	size_t len;
};

struct rec_log {
	struct rec *v;
	size_t n, cap;
	bool collect; /* false: records are dropped (the drain after each batch) */
	bool oom;
};

struct gen {
	lz_clock *clock;
	core *c;
	struct rec_log log;
	struct msg_body *body;
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static char tmp_dir[4096];    /* removed at exit when made here */
static char work_dir[4096];   /* where the database files go */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	if (remove(path) != 0)
		fprintf(stderr, "fold_bench: cannot remove %s: %s\n", path, strerror(errno));
	return 0;
}

static void remove_tmp_dir(void)
{
	if (tmp_dir[0] != '\0') {
		nftw(tmp_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		tmp_dir[0] = '\0';
	}
}

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("fold_bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	remove_tmp_dir();
	exit(2);
}

/* ---- records from the broker's core ------------------------------------------------------ */

static lz_err sink(void *arg, const struct journal_rec *jr)
{
	struct rec_log *l = arg;
	struct rec *r;

	if (!l->collect)
		return LZ_OK;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 1024;
		struct rec *v = realloc(l->v, cap * sizeof(*v));

		if (v == NULL) {
			l->oom = true;
			return LZ_ENOMEM;
		}
		l->v = v;
		l->cap = cap;
	}
	r = &l->v[l->n];
	r->payload = malloc(jr->len ? jr->len : 1);
	if (r->payload == NULL) {
		l->oom = true;
		return LZ_ENOMEM;
	}
	memcpy(r->payload, jr->payload, jr->len);
	r->type = jr->type;
	r->ts_ms = jr->ts_ms;
	r->len = jr->len;
	l->n++;
	return LZ_OK;
}

static void log_clear(struct rec_log *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].payload);
	l->n = 0;
}

static void gen_init(struct gen *g, size_t body_size)
{
	struct core_config cfg;
	struct entity_desc d;
	struct lz_detail detail = { "" };
	uint8_t *bytes;
	lz_err err;

	memset(g, 0, sizeof(*g));
	if (clock_new(false, 0, &g->clock) != LZ_OK)
		die("clock_new failed");
	memset(&cfg, 0, sizeof(cfg));
	cfg.clock = g->clock;
	cfg.max_message_bytes = body_size + 65536;
	cfg.journal = sink;
	cfg.journal_arg = &g->log;
	if (core_new(&cfg, &g->c) != LZ_OK)
		die("core_new failed");

	bytes = malloc(body_size ? body_size : 1);
	if (bytes == NULL)
		die("out of memory");
	for (size_t i = 0; i < body_size; i++)
		bytes[i] = (uint8_t)('a' + (i * 7 + i / 26) % 26);
	g->body = msg_body_new(bytes, body_size);
	free(bytes);
	if (g->body == NULL)
		die("out of memory");

	/* The queue, as lzload's target: 5 GB so that the quota never refuses. Its ENTITY_PUT
	 * record stays at v[0] of the log. */
	g->log.collect = true;
	entity_desc_defaults(&d, ENTITY_QUEUE);
	d.max_size_mb = 5120;
	d.max_delivery_count = 100;
	err = core_entity_put(g->c, "bench", &d, false, NULL, NULL, &detail);
	entity_desc_release(&d);
	g->log.collect = false;
	if (err != LZ_OK || g->log.n != 1 || g->log.v[0].type != JREC_ENTITY_PUT)
		die("cannot create queue bench: %s %s", err_name(err), detail.text);
}

/* Leaves exactly `n` MSG_ENQUEUE records in g->log.v[1..n], then empties the core's queue. */
static void gen_batch(struct gen *g, size_t n)
{
	struct lz_detail detail = { "" };
	struct msg_in m;

	/* Keep the ENTITY_PUT record at v[0]. */
	for (size_t i = 1; i < g->log.n; i++)
		free(g->log.v[i].payload);
	g->log.n = 1;

	memset(&m, 0, sizeof(m));
	proplist_init(&m.user);
	m.props.label = (char *)"b";
	m.body = g->body;
	g->log.collect = true;
	for (size_t i = 0; i < n; i++) {
		lz_err err = core_send(g->c, "bench", &m, 1, NULL, &detail);

		if (err != LZ_OK)
			die("core_send: %s %s%s", err_name(err), detail.text, g->log.oom ? " (out of memory)" : "");
	}
	g->log.collect = false;
	if (g->log.n != n + 1)
		die("expected %zu records, the core emitted %zu", n, g->log.n - 1);
	for (size_t i = 1; i <= n; i++) {
		if (g->log.v[i].type != JREC_MSG_ENQUEUE)
			die("record %zu is %s, not MSG_ENQUEUE", i, journal_type_name(g->log.v[i].type));
	}

	/* Drain: receive-and-delete everything (records dropped by the sink). */
	for (size_t i = 0; i < n + 1; i++) {
		struct msg_out out;
		uint64_t waiter = 0;
		bool got = false;
		lz_err err = core_receive(g->c, "bench", SUBQ_MAIN, RECV_RECEIVE_DELETE, 0, NULL, NULL, &out, &got,
					  &waiter, &detail);

		if (err != LZ_OK)
			die("core_receive: %s %s", err_name(err), detail.text);
		if (!got)
			break;
		msg_out_release(&out);
	}
}

static void gen_free(struct gen *g)
{
	log_clear(&g->log);
	free(g->log.v);
	msg_body_unref(g->body);
	core_free(g->c);
	clock_free(g->clock);
}

/* ---- the store and the fold -------------------------------------------------------------- */

struct bstore {
	const struct store_ops *ops;
	store *s;
	char path[4200];
	uint64_t lsn; /* the store's last_applied_lsn */
};

static void bstore_open(struct bstore *b, const char *name)
{
	struct store_detail sd = { "" };
	struct store_config cfg = { .location = b->path };

	b->ops = store_ops_find("sqlite");
	if (b->ops == NULL)
		die("no sqlite backend");
	snprintf(b->path, sizeof(b->path), "%s/%s", work_dir, name);
	if (b->ops->open(&cfg, &b->s, &sd) != LZ_OK)
		die("open %s: %s", b->path, sd.text);
	if (b->ops->last_applied_lsn(b->s, &b->lsn, &sd) != LZ_OK)
		die("last_applied_lsn %s: %s", b->path, sd.text);
	if (b->lsn != 0)
		die("%s is not a new database (last_applied_lsn %" PRIu64 ")", b->path, b->lsn);
}

/* Closes the store and removes its files (the database and SQLite's -wal / -shm / -journal). */
static void bstore_close_remove(struct bstore *b)
{
	static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
	char p[4300];

	b->ops->close(b->s);
	b->s = NULL;
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", b->path, suffixes[i]);
		if (unlink(p) != 0 && errno != ENOENT)
			fprintf(stderr, "fold_bench: cannot remove %s: %s\n", p, strerror(errno));
	}
}

/* Folds records v[from .. from+n) in one transaction, renumbered to continue the store's LSN.
 * Returns the elapsed time in microseconds (begin → commit returned); *commit_us (may be NULL)
 * receives the part spent in fold_commit. */
static int64_t fold_recs(struct bstore *b, const struct rec_log *l, size_t from, size_t n, int64_t *commit_us)
{
	struct store_detail sd = { "" };
	int64_t t0 = clock_monotonic_us(), tc;
	fold *f;
	lz_err err;

	err = fold_begin(b->ops, b->s, &f, &sd);
	if (err != LZ_OK)
		die("fold_begin: %s %s", err_name(err), sd.text);
	for (size_t i = 0; i < n; i++) {
		const struct rec *r = &l->v[from + i];
		struct journal_rec jr = { b->lsn + 1 + i, r->type, r->ts_ms, r->payload, r->len };

		err = fold_record(f, &jr, &sd);
		if (err != LZ_OK) {
			fold_abort(f);
			die("fold_record lsn %" PRIu64 " (%s): %s %s", jr.lsn, journal_type_name(r->type), err_name(err),
			    sd.text);
		}
	}
	tc = clock_monotonic_us();
	err = fold_commit(f, &sd);
	if (err != LZ_OK)
		die("fold_commit: %s %s", err_name(err), sd.text);
	b->lsn += n;
	if (commit_us != NULL)
		*commit_us = clock_monotonic_us() - tc;
	return clock_monotonic_us() - t0;
}

static uint64_t bstore_messages(struct bstore *b, uint64_t *size_bytes)
{
	struct store_stats st;
	struct store_detail sd = { "" };

	if (b->ops->stats(b->s, &st, &sd) != LZ_OK)
		die("stats %s: %s", b->path, sd.text);
	*size_bytes = st.size_bytes;
	return st.messages;
}

/* ---- main ------------------------------------------------------------------------------------ */

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static double median_ms(int64_t *us, size_t n)
{
	qsort(us, n, sizeof(*us), cmp_i64);
	return n % 2 ? (double)us[n / 2] / 1000.0 : (double)(us[n / 2 - 1] + us[n / 2]) / 2000.0;
}

static unsigned long long parse_num(const char *opt, const char *s, unsigned long long min, unsigned long long max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < min || v > max)
		die("%s: '%s' is not a number in %llu..%llu", opt, s, min, max);
	return v;
}

static void usage(FILE *out)
{
	fputs("usage: fold_bench [--state N] [--batch N] [--reps N] [--body-size BYTES] [--dir DIR]\n"
	      "                  [--max-ms MS] [--max-ratio R]\n",
	      out);
}

int main(int argc, char **argv)
{
	size_t state = 1000000, batch = 10000, reps = 5, body_size = 1024;
	double max_ms = 50.0, max_ratio = 2.0;
	const char *dir = NULL;
	int64_t empty_us[MAX_REPS], big_us[MAX_REPS], empty_commit_us[MAX_REPS], big_commit_us[MAX_REPS], build_t0, build_us = 0, gen_us = 0;
	uint64_t big_messages, empty_bytes = 0, big_bytes = 0;
	double empty_ms, big_ms, ratio;
	bool ok_ms, ok_ratio;
	struct gen g;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		}
		if (v == NULL) {
			usage(stderr);
			return 2;
		}
		if (strcmp(a, "--state") == 0)
			state = parse_num(a, v, 0, 100000000);
		else if (strcmp(a, "--batch") == 0)
			batch = parse_num(a, v, 1, 10000000);
		else if (strcmp(a, "--reps") == 0)
			reps = parse_num(a, v, 1, MAX_REPS);
		else if (strcmp(a, "--body-size") == 0)
			body_size = parse_num(a, v, 0, 4 * 1024 * 1024);
		else if (strcmp(a, "--dir") == 0)
			dir = v;
		else if (strcmp(a, "--max-ms") == 0 || strcmp(a, "--max-ratio") == 0) {
			char *end;
			double d = strtod(v, &end);

			if (end == v || *end != '\0' || !(d > 0))
				die("%s: '%s' is not a positive number", a, v);
			*(strcmp(a, "--max-ms") == 0 ? &max_ms : &max_ratio) = d;
		} else {
			usage(stderr);
			return 2;
		}
		i++;
	}

	if (dir != NULL) {
		if (snprintf(work_dir, sizeof(work_dir), "%s", dir) >= (int)sizeof(work_dir))
			die("--dir: path too long");
	} else {
		const char *base = getenv("TMPDIR");

		snprintf(tmp_dir, sizeof(tmp_dir), "%s/lzfold.XXXXXX", base != NULL && *base != '\0' ? base : "/tmp");
		if (mkdtemp(tmp_dir) == NULL) {
			tmp_dir[0] = '\0';
			die("mkdtemp: %s", strerror(errno));
		}
		snprintf(work_dir, sizeof(work_dir), "%s", tmp_dir);
	}

	gen_init(&g, body_size);

	/* Empty store: a fresh database per repetition, holding only the queue. */
	for (size_t r = 0; r < reps; r++) {
		struct bstore b;

		bstore_open(&b, "fold-empty.db");
		fold_recs(&b, &g.log, 0, 1, NULL);
		gen_batch(&g, batch);
		empty_us[r] = fold_recs(&b, &g.log, 1, batch, &empty_commit_us[r]);
		bstore_messages(&b, &empty_bytes);
		bstore_close_remove(&b);
		fprintf(stderr, "fold_bench: empty store, fold %zu: %.1f ms (commit %.1f ms)\n", r + 1,
			(double)empty_us[r] / 1000.0, (double)empty_commit_us[r] / 1000.0);
	}

	/* Big store: filled to `state` messages (not timed), then timed folds on top. */
	{
		struct bstore b;
		size_t filled = 0;

		bstore_open(&b, "fold-big.db");
		fold_recs(&b, &g.log, 0, 1, NULL);
		build_t0 = clock_monotonic_us();
		while (filled < state) {
			size_t n = state - filled < batch ? state - filled : batch;
			int64_t t = clock_monotonic_us();

			gen_batch(&g, n);
			gen_us += clock_monotonic_us() - t;
			fold_recs(&b, &g.log, 1, n, NULL);
			filled += n;
			if (filled % (batch * 20) == 0 || filled == state)
				fprintf(stderr, "fold_bench: big store, %zu of %zu messages (%.1f s)\n", filled, state,
					(double)(clock_monotonic_us() - build_t0) / 1e6);
		}
		build_us = clock_monotonic_us() - build_t0;
		big_messages = bstore_messages(&b, &big_bytes);
		if (big_messages != state)
			die("the big store holds %" PRIu64 " messages, not %zu", big_messages, state);
		for (size_t r = 0; r < reps; r++) {
			gen_batch(&g, batch);
			big_us[r] = fold_recs(&b, &g.log, 1, batch, &big_commit_us[r]);
			fprintf(stderr, "fold_bench: store of %zu messages, fold %zu: %.1f ms (commit %.1f ms)\n",
				state + r * batch, r + 1, (double)big_us[r] / 1000.0, (double)big_commit_us[r] / 1000.0);
		}
		bstore_close_remove(&b);
	}
	gen_free(&g);
	remove_tmp_dir();

	{
		int64_t emin, emax, bmin, bmax;

		double empty_commit_ms = median_ms(empty_commit_us, reps), big_commit_ms = median_ms(big_commit_us, reps);

		empty_ms = median_ms(empty_us, reps); /* sorts */
		big_ms = median_ms(big_us, reps);
		emin = empty_us[0];
		emax = empty_us[reps - 1];
		bmin = big_us[0];
		bmax = big_us[reps - 1];
		ratio = empty_ms > 0 ? big_ms / empty_ms : 0;
		ok_ms = empty_ms <= max_ms;
		ok_ratio = ratio <= max_ratio;
		printf("fold_empty_ms=%.1f fold_big_ms=%.1f ratio=%.2f empty_commit_ms=%.1f big_commit_ms=%.1f state=%zu batch=%zu reps=%zu body=%zu "
		       "empty_min_ms=%.1f empty_max_ms=%.1f big_min_ms=%.1f big_max_ms=%.1f build_s=%.1f gen_s=%.1f "
		       "empty_db_bytes=%" PRIu64 " big_db_bytes=%" PRIu64 "\n",
		       empty_ms, big_ms, ratio, empty_commit_ms, big_commit_ms, state, batch, reps, body_size, (double)emin / 1000.0, (double)emax / 1000.0,
		       (double)bmin / 1000.0, (double)bmax / 1000.0, (double)build_us / 1e6, (double)gen_us / 1e6,
		       empty_bytes, big_bytes);
		printf("fold of %zu records, empty store: %.1f ms (target <= %.0f ms): %s\n", batch, empty_ms, max_ms,
		       ok_ms ? "PASS" : "FAIL");
		printf("fold over %zu messages / empty: %.2fx (target <= %.1fx): %s\n", state, ratio, max_ratio,
		       ok_ratio ? "PASS" : "FAIL");
	}
	return ok_ms && ok_ratio ? 0 : 1;
}
