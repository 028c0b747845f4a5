/* Unit tests for persistd/wal: append, reopen and read back; segment roll and LSN continuity;
 * wal_drop_through; a log cut at every byte offset of its last segment (recovered, cut logged,
 * a later append survives another reopen); garbage after the last record; a damaged middle
 * record refused with file, offset and LSN range (and repaired with a kept copy); a damaged
 * earlier segment, a short earlier segment and an LSN gap refused; injected fdatasync, fsync,
 * create and write failures (the wal stays unusable); short writes. Each test works in its own
 * mkdtemp directory, removed afterwards. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"
#include "common/fsio.h"
#include "persistd/wal.h"
#include "proto/wal.h"

#define ck_assert_err(expr, want)                                                          \
	do {                                                                               \
		lz_err got_ = (expr);                                                      \
		ck_assert_msg(got_ == (want), "%s: got %s, want %s (%s)", #expr, err_name(got_), \
			      err_name(want), detail);                                     \
	} while (0)

#define DETAIL_CAP 512
#define MAX_RECS 256

static char tmp_root[64];
static char dir[128];
static char detail[DETAIL_CAP];

/* ---- fixtures and helpers ---- */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void dir_setup(void)
{
	strcpy(tmp_root, "/tmp/lz-test-wal-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp_root));
	snprintf(dir, sizeof(dir), "%s/wal", tmp_root); /* wal_open creates it */
	detail[0] = '\0';
}

static void dir_teardown(void)
{
	ck_assert_int_eq(nftw(tmp_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
}

static uint64_t rng_state = 1;

static uint32_t rng_next(void)
{
	rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)(rng_state >> 33);
}

/* Record `lsn`'s payload: "rec-<lsn>" padded with a lsn-dependent number of letters. */
static size_t payload_of(uint64_t lsn, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "rec-%" PRIu64 "-", lsn);
	size_t len = (size_t)n + (size_t)(lsn * 7 % 23);

	ck_assert_uint_lt(len, cap);
	for (size_t i = (size_t)n; i < len; i++)
		buf[i] = (char)('a' + (lsn + i) % 26);
	return len;
}

/* Appends [first, last] as one batch. */
static lz_err append_range(wal *w, uint64_t first, uint64_t last)
{
	static char bufs[MAX_RECS][64];
	struct journal_rec recs[MAX_RECS];
	size_t n = (size_t)(last - first + 1);

	ck_assert_uint_le(n, MAX_RECS);
	for (size_t i = 0; i < n; i++) {
		uint64_t lsn = first + i;

		recs[i] = (struct journal_rec){
			.lsn = lsn,
			.type = (enum journal_type)(1 + lsn % 12),
			.ts_ms = 2000000000000 + (int64_t)lsn,
			.payload = (const uint8_t *)bufs[i],
		};
		recs[i].len = payload_of(lsn, bufs[i], sizeof(bufs[i]));
	}
	return wal_append(w, recs, n, detail, sizeof(detail));
}

static void append_ok(wal *w, uint64_t first, uint64_t last)
{
	ck_assert_err(append_range(w, first, last), LZ_OK);
	ck_assert_uint_eq(wal_last_lsn(w), last);
}

static lz_err open_wal(wal **w, struct wal_recovery *rec, uint64_t seg_max, bool repair,
		       const struct fsio_ops *io)
{
	struct wal_opts o = {
		.dir = dir, .segment_max_bytes = seg_max, .repair = repair, .io = io
	};

	detail[0] = '\0';
	return wal_open(&o, w, rec, detail, sizeof(detail));
}

static wal *open_ok(struct wal_recovery *rec, uint64_t seg_max)
{
	wal *w = NULL;

	ck_assert_err(open_wal(&w, rec, seg_max, false, NULL), LZ_OK);
	ck_assert_ptr_nonnull(w);
	return w;
}

struct collected {
	uint64_t lsns[4 * MAX_RECS];
	size_t n;
	size_t stop_after; /* 0: never stop */
};

/* Checks each record against what append_range wrote for its LSN. */
static lz_err collect(void *arg, const struct journal_rec *r)
{
	struct collected *c = arg;
	char want[64];
	size_t len = payload_of(r->lsn, want, sizeof(want));

	ck_assert_uint_eq(r->len, len);
	ck_assert_mem_eq(r->payload, want, len);
	ck_assert_int_eq(r->type, 1 + r->lsn % 12);
	ck_assert_int_eq(r->ts_ms, 2000000000000 + (int64_t)r->lsn);
	ck_assert_uint_lt(c->n, sizeof(c->lsns) / sizeof(c->lsns[0]));
	c->lsns[c->n++] = r->lsn;
	if (c->stop_after != 0 && c->n == c->stop_after)
		return LZ_EBUSY;
	return LZ_OK;
}

/* Reads every record after `after` and checks they are exactly after+1 .. last. */
static void expect_records(wal *w, uint64_t after, uint64_t last)
{
	struct collected c = { .n = 0 };

	ck_assert_err(wal_read_from(w, after, collect, &c, detail, sizeof(detail)), LZ_OK);
	ck_assert_uint_eq(c.n, last > after ? last - after : 0);
	for (size_t i = 0; i < c.n; i++)
		ck_assert_uint_eq(c.lsns[i], after + 1 + i);
}

static void seg_path(uint64_t first_lsn, char *out, size_t cap)
{
	snprintf(out, cap, "%s/%020" PRIu64 ".wal", dir, first_lsn);
}

static bool exists(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0;
}

static uint64_t file_size(const char *path)
{
	struct stat sb;

	ck_assert_int_eq(stat(path, &sb), 0);
	return (uint64_t)sb.st_size;
}

static uint8_t *file_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;

	ck_assert_ptr_nonnull(f);
	*len = file_size(path);
	buf = malloc(*len + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, *len, f), *len);
	ck_assert_int_eq(fclose(f), 0);
	return buf;
}

static void file_write(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

static void file_append(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "ab");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

static void file_flip(const char *path, uint64_t off)
{
	size_t len;
	uint8_t *buf = file_read(path, &len);

	ck_assert_uint_lt(off, len);
	buf[off] ^= 0x20;
	file_write(path, buf, len);
	free(buf);
}

/* Offsets of the records in a segment file, walking the length words; returns the count. */
static size_t record_offsets(const char *path, uint64_t *offs, size_t cap)
{
	size_t len, n = 0;
	uint8_t *buf = file_read(path, &len);

	for (size_t off = WAL_HEADER_SIZE; off < len && n < cap;) {
		uint32_t plen;
		uint64_t lsn;

		ck_assert_int_eq(wal_record_peek(buf, len, off, &plen, &lsn), WAL_OK);
		offs[n++] = off;
		off += WAL_RECORD_HEAD_SIZE + plen;
	}
	free(buf);
	return n;
}

/* Number of names in `dir` containing `part`. */
static int count_names(const char *part)
{
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, NULL), hits = 0;

	ck_assert_int_ge(n, 0);
	for (int i = 0; i < n; i++) {
		if (strstr(ents[i]->d_name, part) != NULL)
			hits++;
		free(ents[i]);
	}
	free(ents);
	return hits;
}

/* Deletes every file in the directory. */
static void dir_clear(void)
{
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, NULL);

	ck_assert_int_ge(n, 0);
	for (int i = 0; i < n; i++) {
		char path[512];

		if (ents[i]->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
			ck_assert_int_eq(unlink(path), 0);
		}
		free(ents[i]);
	}
	free(ents);
}

/* A snapshot of every file in the directory, to prove a refusal modified nothing. */
struct snapshot {
	char names[16][256];
	uint8_t *data[16];
	size_t len[16];
	int n;
};

static void snapshot_take(struct snapshot *s)
{
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, alphasort);

	ck_assert_int_ge(n, 0);
	s->n = 0;
	for (int i = 0; i < n; i++) {
		char path[512];

		if (ents[i]->d_name[0] != '.') {
			ck_assert_int_lt(s->n, 16);
			snprintf(s->names[s->n], sizeof(s->names[0]), "%s", ents[i]->d_name);
			snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
			s->data[s->n] = file_read(path, &s->len[s->n]);
			s->n++;
		}
		free(ents[i]);
	}
	free(ents);
}

static void snapshot_check_and_free(struct snapshot *before)
{
	struct snapshot after;

	snapshot_take(&after);
	ck_assert_int_eq(after.n, before->n);
	for (int i = 0; i < before->n; i++) {
		ck_assert_str_eq(after.names[i], before->names[i]);
		ck_assert_uint_eq(after.len[i], before->len[i]);
		ck_assert_mem_eq(after.data[i], before->data[i], before->len[i]);
		free(after.data[i]);
		free(before->data[i]);
	}
}

/* stderr captured into a file while a call runs, to check what was logged. */
static int saved_stderr = -1;
static char capture_path[128];

static void capture_begin(void)
{
	int fd;

	snprintf(capture_path, sizeof(capture_path), "%s/stderr.log", tmp_root);
	fd = open(capture_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	saved_stderr = dup(STDERR_FILENO);
	ck_assert_int_ge(saved_stderr, 0);
	ck_assert_int_ge(dup2(fd, STDERR_FILENO), 0);
	ck_assert_int_eq(close(fd), 0);
}

/* Returns the captured text (malloc'd). */
static char *capture_end(void)
{
	size_t len;
	char *text;

	ck_assert_int_ge(dup2(saved_stderr, STDERR_FILENO), 0);
	ck_assert_int_eq(close(saved_stderr), 0);
	text = (char *)file_read(capture_path, &len);
	text[len] = '\0';
	ck_assert_int_eq(unlink(capture_path), 0);
	return text;
}

/* ---- fault injection ---- */

static int fail_fdatasync_at, fdatasync_calls;
static int fail_fsync_at, fsync_calls;
static int fail_open_creat;
static size_t pwrite_limit;     /* > 0: no pwrite writes more than this */
static int pwrite_eintr_every;  /* > 0: every n-th pwrite fails with EINTR first */
static int pwrite_calls;
static long pwrite_budget = -1; /* ≥ 0: bytes pwrite may still write, then ENOSPC */

static int inj_fdatasync(int fd)
{
	if (++fdatasync_calls == fail_fdatasync_at) {
		errno = EIO;
		return -1;
	}
	return fsio_real.fdatasync(fd);
}

static int inj_fsync(int fd)
{
	if (++fsync_calls == fail_fsync_at) {
		errno = EIO;
		return -1;
	}
	return fsio_real.fsync(fd);
}

static int inj_open(const char *path, int flags, mode_t mode)
{
	if ((flags & O_CREAT) && fail_open_creat) {
		errno = EMFILE;
		return -1;
	}
	return fsio_real.open(path, flags, mode);
}

static ssize_t inj_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	ssize_t w;

	pwrite_calls++;
	if (pwrite_eintr_every > 0 && pwrite_calls % pwrite_eintr_every == 0) {
		errno = EINTR;
		return -1;
	}
	if (pwrite_limit > 0 && n > pwrite_limit)
		n = pwrite_limit;
	if (pwrite_budget >= 0) {
		if (pwrite_budget == 0) {
			errno = ENOSPC;
			return -1;
		}
		if ((long)n > pwrite_budget)
			n = (size_t)pwrite_budget;
	}
	w = fsio_real.pwrite(fd, buf, n, off);
	if (w > 0 && pwrite_budget >= 0)
		pwrite_budget -= w;
	return w;
}

static struct fsio_ops inj_io;

static void inj_reset(void)
{
	inj_io = fsio_real;
	inj_io.fdatasync = inj_fdatasync;
	inj_io.fsync = inj_fsync;
	inj_io.open = inj_open;
	inj_io.pwrite = inj_pwrite;
	fail_fdatasync_at = fdatasync_calls = 0;
	fail_fsync_at = fsync_calls = 0;
	fail_open_creat = 0;
	pwrite_limit = 0;
	pwrite_eintr_every = 0;
	pwrite_calls = 0;
	pwrite_budget = -1;
}

/* ---- tests: normal operation ---- */

START_TEST(test_empty_and_options)
{
	struct wal_recovery rec;
	struct wal_opts o = { .dir = NULL };
	struct collected c = { .n = 0 };
	wal *w = (wal *)&o; /* anything non-NULL: a failed open must reset it */

	ck_assert_err(wal_open(&o, &w, &rec, detail, sizeof(detail)), LZ_EINVAL);
	ck_assert_ptr_null(w);
	ck_assert_err(open_wal(&w, &rec, 20, false, NULL), LZ_EINVAL);
	ck_assert(!exists(dir));

	w = open_ok(&rec, 0);
	ck_assert(exists(dir)); /* created */
	ck_assert_uint_eq(rec.segments, 0);
	ck_assert_uint_eq(rec.records, 0);
	ck_assert(!rec.torn && !rec.repaired);
	ck_assert_uint_eq(wal_last_lsn(w), 0);
	ck_assert_uint_eq(wal_first_lsn(w), 0);
	ck_assert_uint_eq(wal_segment_count(w), 0);
	ck_assert_uint_eq(wal_size_bytes(w), 0);
	ck_assert_err(wal_read_from(w, 0, collect, &c, detail, sizeof(detail)), LZ_OK);
	ck_assert_uint_eq(c.n, 0);
	ck_assert_err(wal_drop_through(w, 100, detail, sizeof(detail)), LZ_OK);
	ck_assert_err(wal_append(w, NULL, 0, detail, sizeof(detail)), LZ_OK);
	ck_assert_err(append_range(w, 0, 0), LZ_EINVAL); /* LSN 0 */
	ck_assert_uint_eq(wal_segment_count(w), 0);
	wal_close(w);
	wal_close(NULL);

	/* files that are not segments are left alone */
	{
		char p[256];

		snprintf(p, sizeof(p), "%s/notes.txt", dir);
		file_write(p, "hello", 5);
		snprintf(p, sizeof(p), "%s/00000000000000000001.wal.broken-5", dir);
		file_write(p, "junk", 4);
		snprintf(p, sizeof(p), "%s/99999999999999999999.wal", dir);
		file_write(p, "junk", 4);
	}
	w = open_ok(&rec, 0);
	ck_assert_uint_eq(rec.segments, 0);
	wal_close(w);
}
END_TEST

START_TEST(test_append_reopen_read)
{
	struct wal_recovery rec;
	struct collected c = { .stop_after = 3 };
	char path[256];
	uint64_t size;
	wal *w = open_ok(&rec, 0);

	append_ok(w, 1, 3);
	for (uint64_t lsn = 4; lsn <= 10; lsn++)
		append_ok(w, lsn, lsn);
	ck_assert_uint_eq(wal_first_lsn(w), 1);
	ck_assert_uint_eq(wal_segment_count(w), 1);
	seg_path(1, path, sizeof(path));
	ck_assert_uint_eq(wal_size_bytes(w), file_size(path));
	expect_records(w, 0, 10);
	expect_records(w, 5, 10);
	expect_records(w, 10, 10);
	ck_assert_err(wal_read_from(w, 0, collect, &c, detail, sizeof(detail)), LZ_EBUSY);
	ck_assert_uint_eq(c.n, 3);

	/* refused batches write nothing */
	size = file_size(path);
	ck_assert_err(append_range(w, 12, 12), LZ_EINVAL);
	ck_assert_ptr_nonnull(strstr(detail, "expected 11"));
	ck_assert_err(append_range(w, 10, 11), LZ_EINVAL);
	{
		struct journal_rec bad[2] = {
			{ .lsn = 11,
			  .type = JREC_MSG_ENQUEUE,
			  .payload = (const uint8_t *)"x",
			  .len = 1 },
			{ .lsn = 13,
			  .type = JREC_MSG_ENQUEUE,
			  .payload = (const uint8_t *)"x",
			  .len = 1 },
		};

		ck_assert_err(wal_append(w, bad, 2, detail, sizeof(detail)), LZ_EINVAL);
		bad[1].lsn = 12;
		bad[1].type = (enum journal_type)300;
		ck_assert_err(wal_append(w, bad, 2, detail, sizeof(detail)), LZ_EINVAL);
		bad[1].type = JREC_MSG_ENQUEUE;
		bad[1].len = WAL_PAYLOAD_MAX + 1u; /* refused before the payload is read */
		ck_assert_err(wal_append(w, bad, 2, detail, sizeof(detail)), LZ_ETOOBIG);
	}
	ck_assert_uint_eq(file_size(path), size);
	ck_assert_uint_eq(wal_last_lsn(w), 10);
	wal_close(w);

	w = open_ok(&rec, 0);
	ck_assert_uint_eq(rec.first_lsn, 1);
	ck_assert_uint_eq(rec.last_lsn, 10);
	ck_assert_uint_eq(rec.records, 10);
	ck_assert_uint_eq(rec.segments, 1);
	ck_assert(!rec.torn && !rec.repaired);
	expect_records(w, 0, 10);
	append_ok(w, 11, 12);
	wal_close(w);
	w = open_ok(&rec, 0);
	expect_records(w, 0, 12);
	wal_close(w);
}
END_TEST

START_TEST(test_first_lsn_free_on_empty_wal)
{
	struct wal_recovery rec;
	char path[256];
	wal *w = open_ok(&rec, 0);

	append_ok(w, 1000, 1002);
	seg_path(1000, path, sizeof(path));
	ck_assert(exists(path));
	ck_assert_uint_eq(wal_first_lsn(w), 1000);
	wal_close(w);
	w = open_ok(&rec, 0);
	ck_assert_uint_eq(rec.first_lsn, 1000);
	ck_assert_uint_eq(rec.last_lsn, 1002);
	expect_records(w, 999, 1002);
	wal_close(w);
}
END_TEST

START_TEST(test_segment_roll)
{
	struct wal_recovery rec;
	char path[256];
	uint64_t total = 0, first, lsn = 1;
	wal *w = open_ok(&rec, 200);

	/* batches of 1..3 records of 31..53 bytes: a few records per segment */
	while (lsn <= 60) {
		uint64_t last = lsn + rng_next() % 3;

		append_ok(w, lsn, last);
		lsn = last + 1;
	}
	/* a batch larger than a segment goes into one segment of its own */
	append_ok(w, lsn, lsn + 9);
	ck_assert_uint_gt(wal_segment_count(w), 5);
	seg_path(lsn, path, sizeof(path));
	ck_assert_uint_gt(file_size(path), 200);
	ck_assert_uint_eq(wal_first_lsn(w), 1);
	expect_records(w, 0, lsn + 9);
	expect_records(w, 37, lsn + 9);
	wal_close(w);

	w = open_ok(&rec, 200);
	ck_assert_uint_eq(rec.records, lsn + 9);
	ck_assert_uint_eq(rec.segments, wal_segment_count(w));
	/* every file is named after its first record, and sizes add up */
	first = 1;
	for (size_t i = 0; i < rec.segments; i++) {
		uint64_t offs[64];
		size_t n;

		seg_path(first, path, sizeof(path));
		ck_assert_msg(exists(path), "missing segment %s", path);
		total += file_size(path);
		n = record_offsets(path, offs, 64);
		ck_assert_uint_gt(n, 0);
		if (i + 1 < rec.segments)
			ck_assert_uint_le(file_size(path), 200);
		first += n;
	}
	ck_assert_uint_eq(first, lsn + 10);
	ck_assert_uint_eq(total, wal_size_bytes(w));
	expect_records(w, 0, lsn + 9);
	append_ok(w, lsn + 10, lsn + 10);
	wal_close(w);
}
END_TEST

START_TEST(test_drop_through)
{
	struct wal_recovery rec;
	struct collected c = { .n = 0 };
	char path[256];
	uint64_t segs, first2;
	wal *w = open_ok(&rec, 150);

	for (uint64_t lsn = 1; lsn <= 30; lsn++)
		append_ok(w, lsn, lsn);
	segs = wal_segment_count(w);
	ck_assert_uint_gt(segs, 4);
	ck_assert_err(wal_drop_through(w, 0, detail, sizeof(detail)), LZ_OK);
	ck_assert_uint_eq(wal_segment_count(w), segs);

	/* the first segment holds 1..k: dropping through k-1 keeps it, through k removes it */
	{
		uint64_t offs[16];
		size_t k;

		seg_path(1, path, sizeof(path));
		k = record_offsets(path, offs, 16);
		ck_assert_err(wal_drop_through(w, k - 1, detail, sizeof(detail)), LZ_OK);
		ck_assert(exists(path));
		ck_assert_err(wal_drop_through(w, k, detail, sizeof(detail)), LZ_OK);
		ck_assert(!exists(path));
		ck_assert_uint_eq(wal_segment_count(w), segs - 1);
		ck_assert_uint_eq(wal_first_lsn(w), k + 1);
		first2 = k + 1;
	}
	ck_assert_err(wal_read_from(w, 0, collect, &c, detail, sizeof(detail)), LZ_OK);
	ck_assert_uint_eq(c.lsns[0], first2);
	ck_assert_uint_eq(c.lsns[c.n - 1], 30);

	/* never the segment being written */
	ck_assert_err(wal_drop_through(w, UINT64_MAX, detail, sizeof(detail)), LZ_OK);
	ck_assert_uint_eq(wal_segment_count(w), 1);
	ck_assert_uint_eq(wal_last_lsn(w), 30);
	ck_assert_uint_gt(wal_first_lsn(w), first2);
	append_ok(w, 31, 31);
	wal_close(w);
	w = open_ok(&rec, 150);
	ck_assert_uint_eq(rec.last_lsn, 31);
	expect_records(w, rec.first_lsn - 1, 31);
	wal_close(w);
}
END_TEST

/* ---- tests: torn tails ---- */

/* Builds 1..3 in segment 1 and 4..7 in segment 4 (batches of one record each). */
static void build_two_segments(uint64_t *seg2_size)
{
	struct wal_recovery rec;
	char path[256];
	wal *w = open_ok(&rec, 200);

	for (uint64_t lsn = 1; lsn <= 3; lsn++)
		append_ok(w, lsn, lsn);
	ck_assert_uint_eq(wal_segment_count(w), 1);
	for (uint64_t lsn = 4; lsn <= 7; lsn++)
		append_ok(w, lsn, lsn);
	wal_close(w);
	seg_path(4, path, sizeof(path));
	ck_assert(exists(path));
	ck_assert_uint_eq(record_offsets(path, (uint64_t[8]){ 0 }, 8), 4);
	*seg2_size = file_size(path);
}

START_TEST(test_torn_at_every_offset)
{
	uint64_t offs[8], seg2_size;
	char path[256];
	uint8_t *pristine, *seg1;
	size_t len, len1;

	build_two_segments(&seg2_size);
	seg_path(4, path, sizeof(path));
	ck_assert_uint_eq(record_offsets(path, offs, 8), 4);
	pristine = file_read(path, &len);
	{
		char p1[256];

		seg_path(1, p1, sizeof(p1));
		seg1 = file_read(p1, &len1);
	}
	for (size_t cut = 0; cut < len; cut++) {
		struct wal_recovery rec;
		uint64_t whole = 0, boundary = 0;
		char *log;
		wal *w;

		/* records wholly before the cut survive; the cut lands on the last boundary */
		for (size_t i = 0; i < 4; i++) {
			uint64_t end = i + 1 < 4 ? offs[i + 1] : len;

			if (end <= cut) {
				whole = i + 1;
				boundary = end;
			}
		}
		if (whole == 0) /* below a whole header the file is deleted */
			boundary = cut >= WAL_HEADER_SIZE ? WAL_HEADER_SIZE : 0;
		file_write(path, pristine, cut);
		capture_begin();
		ck_assert_err(open_wal(&w, &rec, 200, false, NULL), LZ_OK);
		log = capture_end();
		ck_assert_uint_eq(rec.last_lsn, whole > 0 ? 3 + whole : 3);
		if (cut >= WAL_HEADER_SIZE && cut == boundary) {
			ck_assert_msg(!rec.torn, "cut %zu: clean boundary reported torn", cut);
		} else {
			ck_assert_msg(rec.torn, "cut %zu: not reported torn", cut);
			ck_assert_uint_eq(rec.torn_segment, 4);
			ck_assert_uint_eq(rec.torn_offset, boundary);
			ck_assert_uint_eq(rec.torn_bytes, cut - boundary);
			ck_assert_ptr_nonnull(strstr(log, "level=warn"));
			ck_assert_ptr_nonnull(strstr(log, "torn"));
			ck_assert_ptr_nonnull(strstr(log, path));
			if (boundary > 0) {
				ck_assert_uint_eq(file_size(path), boundary);
			} else {
				ck_assert(!exists(path)); /* no complete header: deleted */
			}
		}
		free(log);
		expect_records(w, 0, rec.last_lsn);
		/* a later append lands on a clean boundary and survives another reopen */
		append_ok(w, rec.last_lsn + 1, rec.last_lsn + 1);
		wal_close(w);
		ck_assert_err(open_wal(&w, &rec, 200, false, NULL), LZ_OK);
		ck_assert(!rec.torn);
		expect_records(w, 0, whole > 0 ? 4 + whole : 4);
		wal_close(w);
		/* put the directory back as built */
		dir_clear();
		{
			char p1[256];

			seg_path(1, p1, sizeof(p1));
			file_write(p1, seg1, len1);
		}
	}
	free(pristine);
	free(seg1);
}
END_TEST

START_TEST(test_garbage_tail)
{
	static const size_t sizes[] = { 1, 7, 24, 25, 26, 100, 5000, 70000 };
	uint64_t seg2_size;
	char path[256];
	uint8_t *pristine, *junk;
	size_t len;

	build_two_segments(&seg2_size);
	seg_path(4, path, sizeof(path));
	pristine = file_read(path, &len);
	junk = malloc(70000);
	ck_assert_ptr_nonnull(junk);
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		for (int round = 0; round < 3; round++) {
			struct wal_recovery rec;
			wal *w;

			for (size_t i = 0; i < sizes[s]; i++)
				junk[i] = (uint8_t)rng_next();
			if (round == 1 && sizes[s] >= 4) /* a length word pointing past the end */
				memcpy(junk, "\x00\x10\x00\x00", 4);
			if (round == 2 &&
			    sizes[s] >= 16) /* plausible length and next LSN, wrong CRC */
				memcpy(junk,
				       "\x00\x00\x00\x02"
				       "abcd"
				       "\x00\x00\x00\x00\x00\x00\x00\x08",
				       16);
			file_write(path, pristine, len);
			file_append(path, junk, sizes[s]);
			capture_begin();
			ck_assert_err(open_wal(&w, &rec, 200, false, NULL), LZ_OK);
			free(capture_end());
			ck_assert_msg(rec.torn, "garbage of %zu bytes not cut", sizes[s]);
			ck_assert_uint_eq(rec.torn_offset, len);
			ck_assert_uint_eq(rec.torn_bytes, sizes[s]);
			ck_assert_uint_eq(rec.last_lsn, 7);
			ck_assert_uint_eq(file_size(path), len);
			expect_records(w, 0, 7);
			wal_close(w);
		}
	}
	/* the last record's own tail overwritten with garbage (not zeros) */
	{
		uint64_t offs[8];
		struct wal_recovery rec;
		wal *w;

		ck_assert_uint_eq(record_offsets(path, offs, 8), 4);
		file_write(path, pristine, len);
		for (uint64_t off = offs[3] + 10; off < len; off++)
			file_flip(path, off);
		capture_begin();
		ck_assert_err(open_wal(&w, &rec, 200, false, NULL), LZ_OK);
		free(capture_end());
		ck_assert(rec.torn);
		ck_assert_uint_eq(rec.torn_offset, offs[3]);
		ck_assert_uint_eq(rec.last_lsn, 6);
		wal_close(w);
	}
	free(junk);
	free(pristine);
}
END_TEST

/* ---- tests: damage ---- */

/* 1..8, every record in its own batch, one segment (the last). */
static void build_one_segment(uint64_t offs[8])
{
	struct wal_recovery rec;
	char path[256];
	wal *w = open_ok(&rec, 0);

	for (uint64_t lsn = 1; lsn <= 8; lsn++)
		append_ok(w, lsn, lsn);
	wal_close(w);
	seg_path(1, path, sizeof(path));
	ck_assert_uint_eq(record_offsets(path, offs, 8), 8);
}

START_TEST(test_middle_record_refused)
{
	uint64_t offs[8];
	struct snapshot snap;
	struct wal_recovery rec;
	char path[256], want[512];
	wal *w = (wal *)&rec;

	build_one_segment(offs);
	seg_path(1, path, sizeof(path));
	file_flip(path, offs[3] + WAL_RECORD_HEAD_SIZE + 2); /* payload of LSN 4 */
	snapshot_take(&snap);
	ck_assert_err(open_wal(&w, &rec, 0, false, NULL), LZ_ECRC);
	ck_assert_ptr_null(w);
	snprintf(want, sizeof(want),
		 "file %s offset %" PRIu64 ": record checksum mismatch with valid "
		 "records after it; records 1..3 before it are intact",
		 path, offs[3]);
	ck_assert_str_eq(detail, want);
	snapshot_check_and_free(&snap);

	/* the same for a flipped LSN byte, and for the very first record */
	file_flip(path, offs[3] + WAL_RECORD_HEAD_SIZE + 2);
	file_flip(path, offs[0] + 15);
	ck_assert_err(open_wal(&w, &rec, 0, false, NULL), LZ_ECRC);
	ck_assert_ptr_nonnull(strstr(detail, "no records before it"));
	file_flip(path, offs[0] + 15);

	/* a length word damaged to point past the end must not pass for a torn tail */
	{
		size_t len;
		uint8_t *buf = file_read(path, &len);

		buf[offs[5] + 1] = 0x10; /* payload length += 1 MiB */
		file_write(path, buf, len);
		free(buf);
	}
	snapshot_take(&snap);
	ck_assert_err(open_wal(&w, &rec, 0, false, NULL), LZ_EPARSE);
	snprintf(want, sizeof(want), "file %s offset %" PRIu64 ": record is incomplete with valid "
		 "records after it; records 1..5 before it are intact", path, offs[5]);
	ck_assert_str_eq(detail, want);
	snapshot_check_and_free(&snap);
}
END_TEST

START_TEST(test_middle_record_repaired)
{
	uint64_t offs[8];
	struct wal_recovery rec;
	char path[256], copy[300];
	uint8_t *damaged, *kept;
	size_t len, klen;
	char *log;
	wal *w;

	build_one_segment(offs);
	seg_path(1, path, sizeof(path));
	file_flip(path, offs[4] + 20); /* the type/ts bytes of LSN 5 */
	damaged = file_read(path, &len);
	capture_begin();
	ck_assert_err(open_wal(&w, &rec, 0, true, NULL), LZ_OK);
	log = capture_end();
	ck_assert(rec.repaired);
	ck_assert(!rec.torn);
	ck_assert_uint_eq(rec.repair_segment, 1);
	ck_assert_uint_eq(rec.repair_offset, offs[4]);
	ck_assert_uint_eq(rec.repair_bytes, len - offs[4]);
	ck_assert_uint_eq(rec.repair_later_segments, 0);
	ck_assert_str_eq(rec.repair_what, "record checksum mismatch with valid records after it");
	ck_assert_uint_eq(rec.last_lsn, 4);
	ck_assert_ptr_nonnull(strstr(log, "repaired"));
	free(log);
	/* the copy holds the damaged file as it was */
	snprintf(copy, sizeof(copy), "%s.broken-%" PRId64, path, rec.repair_time);
	kept = file_read(copy, &klen);
	ck_assert_uint_eq(klen, len);
	ck_assert_mem_eq(kept, damaged, len);
	ck_assert_uint_eq(file_size(path), offs[4]);
	expect_records(w, 0, 4);
	append_ok(w, 5, 6);
	wal_close(w);
	w = open_ok(&rec, 0);
	ck_assert(!rec.repaired);
	expect_records(w, 0, 6);
	wal_close(w);
	free(kept);
	free(damaged);
}
END_TEST

START_TEST(test_earlier_segment_repaired)
{
	uint64_t seg2_size;
	struct wal_recovery rec;
	char path[256];
	uint64_t offs[8];
	wal *w;

	build_two_segments(&seg2_size);
	seg_path(1, path, sizeof(path));
	ck_assert_uint_eq(record_offsets(path, offs, 8), 3);
	file_flip(path, offs[1] + 30);
	ck_assert_err(open_wal(&w, &rec, 200, false, NULL), LZ_ECRC);
	ck_assert_ptr_nonnull(strstr(detail, "records 1..1 before it are intact"));
	capture_begin();
	ck_assert_err(open_wal(&w, &rec, 200, true, NULL), LZ_OK);
	free(capture_end());
	ck_assert(rec.repaired);
	ck_assert_uint_eq(rec.repair_later_segments, 1);
	ck_assert_uint_eq(rec.last_lsn, 1);
	ck_assert_uint_eq(wal_segment_count(w), 1);
	ck_assert_int_eq(count_names(".broken-"), 2);
	seg_path(4, path, sizeof(path));
	ck_assert(!exists(path));
	append_ok(w, 2, 9);
	wal_close(w);
	w = open_ok(&rec, 200);
	expect_records(w, 0, 9);
	wal_close(w);
}
END_TEST

START_TEST(test_earlier_segment_damaged_header)
{
	uint64_t seg2_size;
	struct snapshot snap;
	struct wal_recovery rec;
	char path[256], want[512];
	wal *w;

	build_two_segments(&seg2_size);
	seg_path(1, path, sizeof(path));
	file_flip(path, 13); /* salt: header CRC fails */
	snapshot_take(&snap);
	ck_assert_err(open_wal(&w, &rec, 200, false, NULL), LZ_ECRC);
	snprintf(want, sizeof(want),
		 "file %s offset 0: segment header checksum mismatch; no records "
		 "before it",
		 path);
	ck_assert_str_eq(detail, want);
	snapshot_check_and_free(&snap);
	file_flip(path, 13);
	file_flip(path, 0); /* magic */
	ck_assert_err(open_wal(&w, &rec, 200, false, NULL), LZ_EPARSE);
	ck_assert_ptr_nonnull(strstr(detail, "bad magic"));
	file_flip(path, 0);

	/* the last segment's header damaged while it holds records: not a torn creation */
	seg_path(4, path, sizeof(path));
	file_flip(path, 20);
	ck_assert_err(open_wal(&w, &rec, 200, false, NULL), LZ_ECRC);
	ck_assert_ptr_nonnull(strstr(detail, "records 1..3 before it are intact"));
	capture_begin();
	ck_assert_err(open_wal(&w, &rec, 200, true, NULL), LZ_OK);
	free(capture_end());
	ck_assert_uint_eq(rec.repair_offset, 0);
	ck_assert(!exists(path));
	ck_assert_int_eq(count_names(".broken-"), 1);
	ck_assert_uint_eq(rec.last_lsn, 3);
	append_ok(w, 4, 4);
	wal_close(w);
}
END_TEST

START_TEST(test_short_earlier_segment)
{
	uint64_t seg2_size, offs[8];
	struct wal_recovery rec;
	char path[256];
	size_t len;
	uint8_t *buf;
	wal *w;

	build_two_segments(&seg2_size);
	seg_path(1, path, sizeof(path));
	ck_assert_uint_eq(record_offsets(path, offs, 8), 3);
	buf = file_read(path, &len);
	file_write(path, buf, len - 3);
	ck_assert_err(open_wal(&w, &rec, 200, false, NULL), LZ_EPARSE);
	ck_assert_ptr_nonnull(strstr(detail, "segment ends inside a record"));
	ck_assert_ptr_nonnull(strstr(detail, "records 1..2 before it"));
	/* a whole record missing from the end of an earlier segment is an LSN gap */
	file_write(path, buf, offs[2]);
	ck_assert_err(open_wal(&w, &rec, 200, false, NULL), LZ_EPARSE);
	ck_assert_ptr_nonnull(
		strstr(detail, "LSN gap: segment starts at 4, the previous one ends at 2"));
	/* an earlier segment shorter than its header */
	file_write(path, buf, 10);
	ck_assert_err(open_wal(&w, &rec, 200, false, NULL), LZ_EPARSE);
	ck_assert_ptr_nonnull(strstr(detail, "segment header is incomplete"));
	free(buf);
}
END_TEST

START_TEST(test_lsn_gap_across_segments)
{
	struct wal_recovery rec;
	struct snapshot snap;
	char path[256], path2[256];
	uint64_t first[8];
	size_t nseg = 0;
	wal *w = open_ok(&rec, 150);

	for (uint64_t lsn = 1; lsn <= 20; lsn++)
		append_ok(w, lsn, lsn);
	wal_close(w);
	w = open_ok(&rec, 150);
	ck_assert_uint_ge(rec.segments, 3);
	/* find the segments' first LSNs */
	for (uint64_t lsn = 1; lsn <= 20 && nseg < 8; lsn++) {
		seg_path(lsn, path, sizeof(path));
		if (exists(path))
			first[nseg++] = lsn;
	}
	wal_close(w);
	seg_path(first[1], path, sizeof(path));
	ck_assert_int_eq(unlink(path), 0);
	snapshot_take(&snap);
	ck_assert_err(open_wal(&w, &rec, 150, false, NULL), LZ_EPARSE);
	ck_assert_ptr_nonnull(strstr(detail, "LSN gap"));
	seg_path(first[2], path2, sizeof(path2));
	ck_assert_ptr_nonnull(strstr(detail, path2));
	ck_assert_ptr_nonnull(strstr(detail, "offset 0"));
	snapshot_check_and_free(&snap);

	/* a file renamed so that its name no longer matches its header */
	ck_assert_int_eq(rename(path2, path), 0);
	ck_assert_err(open_wal(&w, &rec, 150, false, NULL), LZ_EPARSE);
	ck_assert_ptr_nonnull(strstr(detail, "does not match the file name"));
}
END_TEST

START_TEST(test_torn_segment_creation)
{
	uint64_t seg2_size;
	struct wal_recovery rec;
	char path[256];
	uint8_t *buf;
	size_t len;
	wal *w;

	build_two_segments(&seg2_size);
	seg_path(4, path, sizeof(path));
	buf = file_read(path, &len);
	/* a full-size header that never made it to disk intact, with nothing after it */
	file_write(path, buf, WAL_HEADER_SIZE);
	file_flip(path, 17);
	capture_begin();
	ck_assert_err(open_wal(&w, &rec, 200, false, NULL), LZ_OK);
	free(capture_end());
	ck_assert(rec.torn);
	ck_assert_uint_eq(rec.torn_offset, 0);
	ck_assert(!exists(path));
	ck_assert_uint_eq(rec.last_lsn, 3);
	append_ok(w, 4, 4);
	wal_close(w);
	w = open_ok(&rec, 200);
	expect_records(w, 0, 4);
	wal_close(w);

	/* a valid header with no record (a crash before the first batch): an empty last segment */
	file_write(path, buf, WAL_HEADER_SIZE);
	w = open_ok(&rec, 200);
	ck_assert(!rec.torn);
	ck_assert_uint_eq(rec.segments, 2);
	ck_assert_uint_eq(rec.first_lsn, 1);
	ck_assert_uint_eq(rec.last_lsn, 3);
	append_ok(w, 4, 4);
	ck_assert_uint_eq(wal_segment_count(w), 2);
	wal_close(w);
	w = open_ok(&rec, 200);
	expect_records(w, 0, 4);
	wal_close(w);
	free(buf);
}
END_TEST

/* ---- tests: injected failures ---- */

START_TEST(test_fdatasync_failure)
{
	/* fail the k-th fdatasync for every k over a short run: the failing append returns LZ_ESYS,
	 * every later call fails, and what reopens holds every acked batch, in order */
	for (int k = 1; k <= 6; k++) {
		struct wal_recovery rec;
		uint64_t acked = 0, lsn = 1;
		struct collected c = { .n = 0 };
		wal *w;

		dir_setup();
		inj_reset();
		fail_fdatasync_at = k;
		ck_assert_err(open_wal(&w, &rec, 150, false, &inj_io), LZ_OK);
		for (;;) {
			lz_err err = append_range(w, lsn, lsn + 1);

			if (err != LZ_OK) {
				ck_assert_err(err, LZ_ESYS);
				ck_assert_ptr_nonnull(strstr(detail, "fdatasync"));
				ck_assert_ptr_nonnull(strstr(detail, "Input/output error"));
				break;
			}
			acked = lsn + 1;
			lsn += 2;
		}
		ck_assert_int_eq(fdatasync_calls, k);
		/* no retry: the same batch, the next one, reads and drops all fail now */
		ck_assert_err(append_range(w, lsn, lsn + 1), LZ_ESYS);
		ck_assert_ptr_nonnull(strstr(detail, "unusable"));
		ck_assert_err(append_range(w, acked + 1, acked + 1), LZ_ESYS);
		ck_assert_err(wal_read_from(w, 0, collect, &c, detail, sizeof(detail)), LZ_ESYS);
		ck_assert_err(wal_drop_through(w, 1, detail, sizeof(detail)), LZ_ESYS);
		ck_assert_int_eq(fdatasync_calls, k);
		wal_close(w);

		capture_begin();
		ck_assert_err(open_wal(&w, &rec, 150, false, NULL), LZ_OK);
		free(capture_end());
		ck_assert_uint_ge(rec.last_lsn, acked);
		expect_records(w, 0, rec.last_lsn);
		wal_close(w);
		dir_teardown();
	}
}
END_TEST

START_TEST(test_roll_failures)
{
	/* creating the next segment fails: at its open, at its header's fdatasync, at the
	 * directory fsync */
	for (int mode = 0; mode < 3; mode++) {
		struct wal_recovery rec;
		char path[256];
		uint64_t lsn;
		wal *w;

		dir_setup();
		inj_reset();
		ck_assert_err(open_wal(&w, &rec, 120, false, &inj_io), LZ_OK);
		append_ok(w, 1, 2);
		fail_open_creat = mode == 0;
		fail_fdatasync_at = mode == 1 ? fdatasync_calls + 1 : 0;
		fail_fsync_at = mode == 2 ? fsync_calls + 1 : 0;
		/* 1..2 fill the segment (115 of 120 bytes): 3 must roll */
		ck_assert_err(append_range(w, 3, 3), LZ_ESYS);
		ck_assert_ptr_nonnull(strstr(detail,
					     mode == 0		 ? "create"
						     : mode == 1 ? "fdatasync"
								 : "fsync directory"));
		seg_path(3, path, sizeof(path));
		if (mode == 0)
			ck_assert(!exists(path));
		else
			ck_assert_uint_eq(file_size(path), WAL_HEADER_SIZE);
		ck_assert_err(append_range(w, 3, 3), LZ_ESYS);
		lsn = 3;
		wal_close(w);
		capture_begin();
		ck_assert_err(open_wal(&w, &rec, 120, false, NULL), LZ_OK);
		free(capture_end());
		ck_assert_uint_ge(rec.last_lsn, lsn - 1);
		expect_records(w, 0, rec.last_lsn);
		append_ok(w, rec.last_lsn + 1, rec.last_lsn + 1);
		wal_close(w);
		dir_teardown();
	}
}
END_TEST

START_TEST(test_short_writes)
{
	struct wal_recovery rec;
	wal *w;

	inj_reset();
	pwrite_limit = 7;
	pwrite_eintr_every = 5;
	ck_assert_err(open_wal(&w, &rec, 300, false, &inj_io), LZ_OK);
	for (uint64_t lsn = 1; lsn <= 40; lsn += 4)
		append_ok(w, lsn, lsn + 3);
	ck_assert_uint_gt(pwrite_calls, 100);
	ck_assert_int_eq(fdatasync_calls, 10 + (int)wal_segment_count(w));
	wal_close(w);
	w = open_ok(&rec, 300);
	ck_assert(!rec.torn);
	expect_records(w, 0, 40);
	wal_close(w);
}
END_TEST

START_TEST(test_write_failure_midway)
{
	struct wal_recovery rec;
	wal *w;

	inj_reset();
	ck_assert_err(open_wal(&w, &rec, 0, false, &inj_io), LZ_OK);
	append_ok(w, 1, 5);
	pwrite_limit = 10;
	pwrite_budget = 20; /* part of the next batch's first record, then ENOSPC */
	ck_assert_err(append_range(w, 6, 9), LZ_ESYS);
	ck_assert_ptr_nonnull(strstr(detail, "No space left on device"));
	pwrite_budget = -1;
	ck_assert_err(append_range(w, 6, 9), LZ_ESYS);
	wal_close(w);
	/* the half-written batch is a torn tail at the next start */
	capture_begin();
	ck_assert_err(open_wal(&w, &rec, 0, false, NULL), LZ_OK);
	free(capture_end());
	ck_assert(rec.torn);
	ck_assert_uint_eq(rec.last_lsn, 5);
	expect_records(w, 0, 5);
	append_ok(w, 6, 9);
	wal_close(w);
	w = open_ok(&rec, 0);
	expect_records(w, 0, 9);
	wal_close(w);
}
END_TEST

START_TEST(test_torn_cut_fdatasync_failure)
{
	struct wal_recovery rec;
	char path[256];
	wal *w;

	w = open_ok(&rec, 0);
	append_ok(w, 1, 3);
	wal_close(w);
	seg_path(1, path, sizeof(path));
	file_append(path, "torn", 4);
	inj_reset();
	fail_fdatasync_at = 1;
	ck_assert_err(open_wal(&w, &rec, 0, false, &inj_io), LZ_ESYS);
	ck_assert_ptr_null(w);
	ck_assert_ptr_nonnull(strstr(detail, "fdatasync"));
}
END_TEST

static Suite *wal_suite(void)
{
	Suite *s = suite_create("wal");
	TCase *tc = tcase_create("core");
	TCase *fi = tcase_create("faults");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, dir_setup, dir_teardown);
	tcase_add_test(tc, test_empty_and_options);
	tcase_add_test(tc, test_append_reopen_read);
	tcase_add_test(tc, test_first_lsn_free_on_empty_wal);
	tcase_add_test(tc, test_segment_roll);
	tcase_add_test(tc, test_drop_through);
	tcase_add_test(tc, test_torn_at_every_offset);
	tcase_add_test(tc, test_garbage_tail);
	tcase_add_test(tc, test_middle_record_refused);
	tcase_add_test(tc, test_middle_record_repaired);
	tcase_add_test(tc, test_earlier_segment_repaired);
	tcase_add_test(tc, test_earlier_segment_damaged_header);
	tcase_add_test(tc, test_short_earlier_segment);
	tcase_add_test(tc, test_lsn_gap_across_segments);
	tcase_add_test(tc, test_torn_segment_creation);
	suite_add_tcase(s, tc);

	/* these set up their own directories (some several per test) */
	tcase_set_timeout(fi, 60);
	tcase_add_test(fi, test_fdatasync_failure);
	tcase_add_test(fi, test_roll_failures);
	suite_add_tcase(s, fi);
	{
		TCase *fx = tcase_create("faults_fixture");

		tcase_set_timeout(fx, 60);
		tcase_add_checked_fixture(fx, dir_setup, dir_teardown);
		tcase_add_test(fx, test_short_writes);
		tcase_add_test(fx, test_write_failure_midway);
		tcase_add_test(fx, test_torn_cut_fdatasync_failure);
		suite_add_tcase(s, fx);
	}
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(wal_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
