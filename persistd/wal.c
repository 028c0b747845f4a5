/*
 * Segment files, recovery and appends of persistd's WAL. The byte format is proto/wal.c; this
 * file owns the rules between records and files:
 *   - LSNs continue by exactly 1 from record to record and from segment to segment;
 *   - a segment's file name, its header's first_lsn and its first record agree;
 *   - only the last segment may end in a torn record: one that runs past the end of the file or
 *     fails its checks, with no valid record starting anywhere after it (every later byte
 *     offset is tried, so garbage is recognised as well as zeros; a plausible LSN and length
 *     are required before a CRC is computed, which keeps the search linear);
 *   - every new name in the directory (segment, repair copy) and every removed one is followed
 *     by a directory fsync before anything relies on it.
 */
#include "persistd/wal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "common/log.h"
#include "common/strbuf.h"
#include "proto/wal.h"

#define WAL_READ_CHUNK (1024u * 1024u)  /* bytes read at a time while scanning or replaying */
#define WAL_BATCH_KEEP (1024u * 1024u)  /* encode buffers above this are freed after a batch */
#define WAL_NAME_DIGITS 20
#define WAL_NAME_LEN (WAL_NAME_DIGITS + 4) /* "<20 digits>.wal" */
#define WAL_COPY_SUFFIX_MAX 32             /* ".broken-<up to 20 digits>" */

struct wal_segment {
	uint64_t first_lsn;
	uint64_t last_lsn; /* first_lsn - 1 while the segment holds no record */
	uint64_t size;     /* bytes: header + whole records */
	uint32_t salt;
};

struct wal {
	char *dir;
	const struct fsio_ops *io;
	uint64_t segment_max;
	/* Oldest first; the last one is being written. The owning thread changes the list and the
	 * last segment's size and last_lsn only with `mu` held, so that wal_read_range on another
	 * thread can copy them; the owning thread reads them without it. */
	pthread_mutex_t mu;
	struct wal_segment *segs;
	size_t nsegs;
	size_t cap;
	int fd;          /* the last segment, open for writing; -1 while there is none */
	bool failed;     /* a write or sync failed: every later call fails */
	struct strbuf batch;
};

/* A window over one segment file, refilled on demand, so memory stays flat while streaming. */
struct wal_reader {
	const struct fsio_ops *io;
	int fd;
	uint64_t size;  /* bytes of the file that may be read */
	uint8_t *buf;
	size_t cap;
	uint64_t start; /* file offset of buf[0] */
	size_t len;     /* valid bytes in buf */
};

/* What wal_open's scan found. */
struct wal_scan {
	uint64_t expect;  /* LSN the next record must carry; 0 before the first segment */
	uint64_t first;   /* first record LSN seen; 0: none */
	uint64_t records;

	bool torn;              /* the last segment ends in a torn record or torn header */
	uint64_t torn_offset;   /* where the valid part ends; 0: no complete header */
	uint64_t torn_size;     /* the file's size */

	bool damaged;
	size_t damaged_index;       /* into the list of names */
	uint64_t damaged_offset;    /* 0: the whole file is unusable */
	struct wal_segment damaged_seg; /* its valid prefix when damaged_offset > 0 */
	lz_err damage_err;
	char what[WAL_WHAT_MAX];

	/* wal_inspect only (NULL in wal_open): called with every valid record, in LSN order */
	lz_err (*visit)(void *arg, const struct journal_rec *r);
	void *visit_arg;
	bool visit_stopped; /* visit returned an error, and the scan returns it as it is */
};

static void detail_set(char *detail, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void detail_set(char *detail, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (detail == NULL || cap == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(detail, cap, fmt, ap);
	va_end(ap);
}

/* `out` has room for PATH_MAX bytes; wal_open checked that every name fits. */
static void wal_segment_path(const wal *w, uint64_t first_lsn, char *out)
{
	snprintf(out, PATH_MAX, "%s/%0*" PRIu64 ".wal", w->dir, WAL_NAME_DIGITS, first_lsn);
}

/* Where repair keeps the segment's damaged content: `<segment path>.broken-<t>`. */
static void wal_copy_path(const wal *w, uint64_t first_lsn, int64_t t, char *out)
{
	snprintf(out, PATH_MAX, "%s/%0*" PRIu64 ".wal.broken-%" PRId64, w->dir, WAL_NAME_DIGITS,
		 first_lsn, t);
}

/* The wal is unusable from now on (a write or sync failed). */
static lz_err wal_fail(wal *w)
{
	w->failed = true;
	return LZ_ESYS;
}

/* ---- reader ---- */

static void wal_reader_reset(struct wal_reader *r, int fd, uint64_t size)
{
	r->fd = fd;
	r->size = size;
	r->start = 0;
	r->len = 0;
}

/* Makes file bytes [pos, pos + need) available at r->buf + (pos - r->start); pos + need must
 * not pass r->size. LZ_ESHORT if the file is shorter than it was. */
static lz_err wal_reader_ensure(struct wal_reader *r, uint64_t pos, size_t need)
{
	size_t want = need > WAL_READ_CHUNK ? need : WAL_READ_CHUNK;
	lz_err err;

	if (pos >= r->start && pos - r->start <= r->len && need <= r->len - (pos - r->start))
		return LZ_OK;
	if (want > r->size - pos)
		want = (size_t)(r->size - pos);
	if (want > r->cap) {
		uint8_t *p = realloc(r->buf, want);

		if (p == NULL)
			return LZ_ENOMEM;
		r->buf = p;
		r->cap = want;
	}
	r->len = 0;
	err = fsio_pread_all(r->io, r->fd, r->buf, want, (off_t)pos);
	if (err != LZ_OK)
		return err;
	r->start = pos;
	r->len = want;
	return LZ_OK;
}

/* Decodes the record at file offset `pos`, reading as much of the file as the record needs.
 * *st is WAL_SHORT only when the record runs past the end of the file. */
static lz_err wal_reader_record(struct wal_reader *r, uint64_t pos, uint32_t salt,
				enum wal_status *st, struct journal_rec *rec, size_t *size,
				const char **why)
{
	uint64_t left = r->size - pos;
	size_t need = WAL_RECORD_HEAD_SIZE;
	lz_err err;

	for (;;) {
		if (need > left)
			need = (size_t)left;
		err = wal_reader_ensure(r, pos, need);
		if (err != LZ_OK)
			return err;
		*st = wal_record_decode(r->buf, r->len, (size_t)(pos - r->start), salt, rec, size,
					why);
		if (*st != WAL_SHORT || *size > left)
			return LZ_OK;
		need = *size;
	}
}

/* Whether a valid record with a plausible LSN (≥ expect, and no further beyond it than the
 * bytes left could hold) starts anywhere after `off`. The cheap LSN/length test filters
 * garbage before a CRC is computed. */
static lz_err wal_reader_valid_after(struct wal_reader *r, uint64_t off, uint32_t salt,
				     uint64_t expect, bool *found)
{
	uint64_t lsn;
	uint32_t plen;
	lz_err err;

	*found = false;
	for (uint64_t pos = off + 1; r->size - pos >= WAL_RECORD_HEAD_SIZE; pos++) {
		uint64_t left = r->size - pos;
		struct journal_rec rec;
		enum wal_status st;
		size_t size;

		err = wal_reader_ensure(r, pos, WAL_RECORD_HEAD_SIZE);
		if (err != LZ_OK)
			return err;
		if (wal_record_peek(r->buf, r->len, (size_t)(pos - r->start), &plen, &lsn) != WAL_OK)
			continue;
		if (lsn < expect || lsn - expect > left / WAL_RECORD_HEAD_SIZE ||
		    plen > left - WAL_RECORD_HEAD_SIZE)
			continue; /* implausible: not worth a CRC */
		err = wal_reader_record(r, pos, salt, &st, &rec, &size, NULL);
		if (err != LZ_OK)
			return err;
		if (st == WAL_OK) {
			*found = true;
			return LZ_OK;
		}
	}
	return LZ_OK;
}

/* ---- directory ---- */

static int wal_name_filter(const struct dirent *d)
{
	size_t i;

	if (strlen(d->d_name) != WAL_NAME_LEN || strcmp(d->d_name + WAL_NAME_DIGITS, ".wal") != 0)
		return 0;
	for (i = 0; i < WAL_NAME_DIGITS; i++)
		if (d->d_name[i] < '0' || d->d_name[i] > '9')
			return 0;
	/* 20 digits may exceed UINT64_MAX (18446744073709551615): not a name we write. */
	return strncmp(d->d_name, "18446744073709551615", WAL_NAME_DIGITS) <= 0;
}

static int wal_lsn_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The first LSNs named by the segment files in w->dir, ascending. *names is malloc'd. */
static lz_err wal_dir_list(wal *w, uint64_t **names, size_t *n, char *detail, size_t cap)
{
	struct dirent **ents;
	uint64_t *lsns = NULL;
	lz_err err = LZ_OK;
	int count, i;

	count = w->io->scandir(w->dir, &ents, wal_name_filter, NULL);
	if (count < 0) {
		detail_set(detail, cap, "list %s: %s", w->dir, strerror(errno));
		return LZ_ESYS;
	}
	if (count > 0) {
		lsns = malloc((size_t)count * sizeof(*lsns));
		if (lsns == NULL)
			err = LZ_ENOMEM;
	}
	for (i = 0; i < count; i++) {
		if (lsns != NULL)
			lsns[i] = strtoull(ents[i]->d_name, NULL, 10);
		free(ents[i]);
	}
	free(ents);
	if (err != LZ_OK)
		return err;
	if (count > 0)
		qsort(lsns, (size_t)count, sizeof(*lsns), wal_lsn_cmp);
	*names = lsns;
	*n = (size_t)count;
	return LZ_OK;
}

/* Creates w->dir when missing and makes its name durable in the parent. */
static lz_err wal_dir_prepare(wal *w, char *detail, size_t cap)
{
	if (w->io->mkdir(w->dir, 0700) != 0) {
		if (errno == EEXIST)
			return LZ_OK;
		detail_set(detail, cap, "create directory %s: %s", w->dir, strerror(errno));
		return LZ_ESYS;
	}
	if (fsio_fsync_parent(w->io, w->dir) != LZ_OK) {
		detail_set(detail, cap, "fsync the parent of %s: %s", w->dir, strerror(errno));
		return LZ_ESYS;
	}
	return LZ_OK;
}

static lz_err wal_dir_sync(wal *w, char *detail, size_t cap)
{
	if (fsio_fsync_dir(w->io, w->dir) != LZ_OK) {
		detail_set(detail, cap, "fsync directory %s: %s", w->dir, strerror(errno));
		return wal_fail(w);
	}
	return LZ_OK;
}

/* ---- recovery ---- */

static void wal_scan_damage(struct wal_scan *sc, size_t index, uint64_t offset, lz_err err,
			    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void wal_scan_damage(struct wal_scan *sc, size_t index, uint64_t offset, lz_err err,
			    const char *fmt, ...)
{
	va_list ap;

	sc->damaged = true;
	sc->damaged_index = index;
	sc->damaged_offset = offset;
	sc->damage_err = err;
	va_start(ap, fmt);
	vsnprintf(sc->what, sizeof(sc->what), fmt, ap);
	va_end(ap);
}

static lz_err wal_status_err(enum wal_status st)
{
	return st == WAL_BAD_CRC ? LZ_ECRC : LZ_EPARSE;
}

/* Verifies the records of one opened segment from offset WAL_HEADER_SIZE on; `seg` is its
 * header's data and comes back with the valid prefix. Marks damage or a torn tail in `sc`. */
static lz_err wal_records_verify(struct wal_scan *sc, struct wal_reader *rd, size_t index,
				 bool last, struct wal_segment *seg, const char *path, char *detail,
				 size_t cap)
{
	uint64_t off = WAL_HEADER_SIZE;
	lz_err err = LZ_OK;

	while (off < rd->size) {
		struct journal_rec rec;
		enum wal_status st;
		const char *why = "";
		size_t size;
		bool found = false;

		err = wal_reader_record(rd, off, seg->salt, &st, &rec, &size, &why);
		if (err != LZ_OK)
			break;
		if (st == WAL_OK && rec.lsn != sc->expect) {
			wal_scan_damage(sc, index, off, LZ_EPARSE,
					"record LSN %" PRIu64 " where %" PRIu64 " was expected",
					rec.lsn, sc->expect);
			break;
		}
		if (st == WAL_OK) {
			if (sc->first == 0)
				sc->first = rec.lsn;
			seg->last_lsn = rec.lsn;
			sc->expect++;
			sc->records++;
			off += size;
			if (sc->visit != NULL) {
				err = sc->visit(sc->visit_arg, &rec);
				if (err != LZ_OK) {
					sc->visit_stopped = true;
					break;
				}
			}
			continue;
		}
		/* Even a record running past the end is torn only if nothing valid follows its
		 * start: a damaged length word in the middle must not pass for a torn tail. */
		if (last)
			err = wal_reader_valid_after(rd, off, seg->salt, sc->expect, &found);
		if (err != LZ_OK)
			break;
		if (last && !found) {
			sc->torn = true;
			sc->torn_offset = off;
			sc->torn_size = rd->size;
		} else if (!last && st == WAL_SHORT) {
			wal_scan_damage(sc, index, off, LZ_EPARSE, "segment ends inside a record "
					"(only the last segment may)");
		} else {
			wal_scan_damage(sc, index, off, wal_status_err(st), "%s%s", why,
					last ? " with valid records after it" : "");
		}
		break;
	}
	if (err != LZ_OK && !sc->visit_stopped)
		detail_set(detail, cap, "read %s: %s", path,
			   err == LZ_ESYS ? strerror(errno) : err_str(err));
	seg->size = off;
	return err;
}

/* Verifies segment names[index] and, when it is sound (or ends in a torn tail), appends it to
 * w->segs, which has room for every name. */
static lz_err wal_segment_verify(wal *w, struct wal_scan *sc, struct wal_reader *rd,
				 const uint64_t *names, size_t index, bool last, char *detail,
				 size_t cap)
{
	uint8_t hb[WAL_HEADER_SIZE];
	struct wal_segment seg;
	struct wal_header h;
	char path[PATH_MAX];
	const char *why = "segment header is incomplete";
	enum wal_status st = WAL_SHORT;
	struct stat sb;
	uint64_t size;
	lz_err err = LZ_OK;
	int fd;

	wal_segment_path(w, names[index], path);
	fd = w->io->open(path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0) {
		detail_set(detail, cap, "open %s: %s", path, strerror(errno));
		return LZ_ESYS;
	}
	if (w->io->fstat(fd, &sb) != 0) {
		detail_set(detail, cap, "stat %s: %s", path, strerror(errno));
		err = LZ_ESYS;
		goto out_close;
	}
	if (!S_ISREG(sb.st_mode)) {
		wal_scan_damage(sc, index, 0, LZ_EPARSE, "not a regular file");
		goto out_close;
	}
	size = (uint64_t)sb.st_size;
	if (size >= WAL_HEADER_SIZE) {
		err = fsio_pread_all(w->io, fd, hb, sizeof(hb), 0);
		if (err != LZ_OK) {
			detail_set(detail, cap, "read %s: %s", path, strerror(errno));
			goto out_close;
		}
		st = wal_header_decode(hb, sizeof(hb), &h, &why);
	}
	if (st != WAL_OK && last && size <= WAL_HEADER_SIZE) {
		/* A crash while the segment was being created: it cannot hold a record. */
		sc->torn = true;
		sc->torn_offset = 0;
		sc->torn_size = size;
		goto out_close;
	}
	if (st != WAL_OK) {
		wal_scan_damage(sc, index, 0, wal_status_err(st), "%s", why);
		goto out_close;
	}
	if (h.first_lsn != names[index]) {
		wal_scan_damage(sc, index, 0, LZ_EPARSE, "header first LSN %" PRIu64
				" does not match the file name", h.first_lsn);
		goto out_close;
	}
	if (sc->expect != 0 && h.first_lsn != sc->expect) {
		wal_scan_damage(sc, index, 0, LZ_EPARSE, "LSN gap: segment starts at %" PRIu64
				", the previous one ends at %" PRIu64, h.first_lsn, sc->expect - 1);
		goto out_close;
	}
	sc->expect = h.first_lsn;
	seg.first_lsn = h.first_lsn;
	seg.last_lsn = h.first_lsn - 1;
	seg.salt = h.salt;
	wal_reader_reset(rd, fd, size);
	err = wal_records_verify(sc, rd, index, last, &seg, path, detail, cap);
	if (err != LZ_OK)
		goto out_close;
	if (sc->damaged)
		sc->damaged_seg = seg;
	else
		w->segs[w->nsegs++] = seg;
out_close:
	if (w->io->close(fd) != 0 && err == LZ_OK) {
		detail_set(detail, cap, "close %s: %s", path, strerror(errno));
		err = LZ_ESYS;
	}
	return err;
}

/* Opens the last segment for appending. */
static lz_err wal_tail_open(wal *w, char *detail, size_t cap)
{
	char path[PATH_MAX];

	if (w->nsegs == 0)
		return LZ_OK;
	wal_segment_path(w, w->segs[w->nsegs - 1].first_lsn, path);
	w->fd = w->io->open(path, O_RDWR | O_CLOEXEC, 0);
	if (w->fd < 0) {
		detail_set(detail, cap, "open %s: %s", path, strerror(errno));
		return LZ_ESYS;
	}
	return LZ_OK;
}

/* Cuts the last segment (open as w->fd) to `size` and makes the cut durable. */
static lz_err wal_tail_truncate(wal *w, uint64_t size, char *detail, size_t cap)
{
	char path[PATH_MAX];

	wal_segment_path(w, w->segs[w->nsegs - 1].first_lsn, path);
	if (w->io->ftruncate(w->fd, (off_t)size) != 0) {
		detail_set(detail, cap, "truncate %s to %" PRIu64 ": %s", path, size,
			   strerror(errno));
		return wal_fail(w);
	}
	if (w->io->fdatasync(w->fd) != 0) {
		detail_set(detail, cap, "fdatasync %s: %s", path, strerror(errno));
		return wal_fail(w);
	}
	w->segs[w->nsegs - 1].size = size;
	return LZ_OK;
}

/* Removes the torn tail found by the scan: cut the last segment, or delete a last file that
 * never got its header. */
static lz_err wal_tail_cut(wal *w, const struct wal_scan *sc, uint64_t torn_name, char *detail,
			   size_t cap)
{
	char path[PATH_MAX];
	lz_err err;

	wal_segment_path(w, torn_name, path);
	if (sc->torn_offset == 0) {
		if (w->io->unlink(path) != 0) {
			detail_set(detail, cap, "delete %s: %s", path, strerror(errno));
			return LZ_ESYS;
		}
		err = wal_dir_sync(w, detail, cap);
	} else {
		err = wal_tail_truncate(w, sc->torn_offset, detail, cap);
	}
	if (err != LZ_OK)
		return err;
	LZ_LOG(LOG_WARN,
	       "cut a torn record off the end of the wal; if the broker acked a higher lsn, "
	       "that data is lost",
	       "file=%s offset=%" PRIu64 " bytes_cut=%" PRIu64 " last_good_lsn=%" PRIu64, path,
	       sc->torn_offset, sc->torn_size - sc->torn_offset, sc->expect - 1);
	return LZ_OK;
}

/* Copies the file `src` to the new file `dst` and fsyncs the copy. */
static lz_err wal_file_copy(wal *w, const char *src, const char *dst, char *detail, size_t cap)
{
	uint8_t *buf;
	struct stat sb;
	uint64_t off;
	lz_err err = LZ_ESYS;
	int in, out;

	buf = malloc(WAL_READ_CHUNK);
	if (buf == NULL)
		return LZ_ENOMEM;
	in = w->io->open(src, O_RDONLY | O_CLOEXEC, 0);
	if (in < 0) {
		detail_set(detail, cap, "open %s: %s", src, strerror(errno));
		goto out_free_buf;
	}
	if (w->io->fstat(in, &sb) != 0) {
		detail_set(detail, cap, "stat %s: %s", src, strerror(errno));
		goto out_close_in;
	}
	out = w->io->open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0) {
		detail_set(detail, cap, "create %s: %s", dst, strerror(errno));
		goto out_close_in;
	}
	for (off = 0; off < (uint64_t)sb.st_size;) {
		uint64_t left = (uint64_t)sb.st_size - off;
		size_t n = left < WAL_READ_CHUNK ? (size_t)left : WAL_READ_CHUNK;

		err = fsio_pread_all(w->io, in, buf, n, (off_t)off);
		if (err != LZ_OK) {
			detail_set(detail, cap, "read %s: %s", src,
				   err == LZ_ESYS ? strerror(errno) : err_str(err));
			goto out_close_out;
		}
		err = fsio_write_all(w->io, out, buf, n);
		if (err != LZ_OK) {
			detail_set(detail, cap, "write %s: %s", dst, strerror(errno));
			goto out_close_out;
		}
		off += n;
	}
	err = LZ_OK;
	if (w->io->fsync(out) != 0) {
		detail_set(detail, cap, "fsync %s: %s", dst, strerror(errno));
		err = wal_fail(w);
	}
out_close_out:
	if (w->io->close(out) != 0 && err == LZ_OK) {
		detail_set(detail, cap, "close %s: %s", dst, strerror(errno));
		err = LZ_ESYS;
	}
out_close_in:
	if (w->io->close(in) != 0 && err == LZ_OK) {
		detail_set(detail, cap, "close %s: %s", src, strerror(errno));
		err = LZ_ESYS;
	}
out_free_buf:
	free(buf);
	return err;
}

/* opts.repair: keeps the damaged file as a copy and sets later segments aside (renamed to
 * `.broken-<t>`), then fsyncs the directory. The caller truncates the damaged file. */
static lz_err wal_set_aside(wal *w, struct wal_scan *sc, const uint64_t *names, size_t n,
			    struct wal_recovery *rec, char *detail, size_t cap)
{
	char path[PATH_MAX], copy[PATH_MAX];
	int64_t t = (int64_t)time(NULL);
	lz_err err;

	wal_segment_path(w, names[sc->damaged_index], path);
	wal_copy_path(w, names[sc->damaged_index], t, copy);
	if (sc->damaged_offset > 0) {
		err = wal_file_copy(w, path, copy, detail, cap);
		if (err != LZ_OK)
			return err;
		w->segs[w->nsegs++] = sc->damaged_seg;
	} else if (w->io->rename(path, copy) != 0) {
		detail_set(detail, cap, "rename %s to %s: %s", path, copy, strerror(errno));
		return LZ_ESYS;
	}
	for (size_t i = sc->damaged_index + 1; i < n; i++) {
		wal_segment_path(w, names[i], path);
		wal_copy_path(w, names[i], t, copy);
		if (w->io->rename(path, copy) != 0) {
			detail_set(detail, cap, "rename %s to %s: %s", path, copy, strerror(errno));
			return LZ_ESYS;
		}
	}
	rec->repaired = true;
	rec->repair_segment = names[sc->damaged_index];
	rec->repair_offset = sc->damaged_offset;
	rec->repair_later_segments = n - sc->damaged_index - 1;
	rec->repair_time = t;
	snprintf(rec->repair_what, sizeof(rec->repair_what), "%s", sc->what);
	return wal_dir_sync(w, detail, cap);
}

/* The refusal text: "file <path> offset <n>: <what>; records <first>..<last> before it are
 * intact". */
static void wal_damage_detail(const wal *w, const struct wal_scan *sc, uint64_t name, char *detail,
			      size_t cap)
{
	char path[PATH_MAX];

	wal_segment_path(w, name, path);
	if (sc->first == 0)
		detail_set(detail, cap, "file %s offset %" PRIu64 ": %s; no records before it",
			   path, sc->damaged_offset, sc->what);
	else
		detail_set(detail, cap,
			   "file %s offset %" PRIu64 ": %s; records %" PRIu64 "..%" PRIu64
			   " before it are intact",
			   path, sc->damaged_offset, sc->what, sc->first, sc->expect - 1);
}

/* Damage found and opts.repair set: set the damage aside, cut, log. */
static lz_err wal_repair(wal *w, struct wal_scan *sc, const uint64_t *names, size_t n,
			 struct wal_recovery *rec, char *detail, size_t cap)
{
	char path[PATH_MAX];
	lz_err err;

	err = wal_set_aside(w, sc, names, n, rec, detail, cap);
	if (err != LZ_OK)
		return err;
	err = wal_tail_open(w, detail, cap);
	if (err != LZ_OK)
		return err;
	if (sc->damaged_offset > 0) {
		struct stat sb;

		if (w->io->fstat(w->fd, &sb) != 0) {
			detail_set(detail, cap, "stat the damaged segment: %s", strerror(errno));
			return LZ_ESYS;
		}
		err = wal_tail_truncate(w, sc->damaged_offset, detail, cap);
		if (err != LZ_OK)
			return err;
		rec->repair_bytes = (uint64_t)sb.st_size - sc->damaged_offset;
	}
	wal_segment_path(w, names[sc->damaged_index], path);
	LZ_LOG(LOG_WARN, "repaired the wal: cut at the damage, copies kept as .broken files",
	       "file=%s offset=%" PRIu64
	       " what=\"%s\" later_segments=%zu copy_suffix=.broken-%" PRId64
	       " last_good_lsn=%" PRIu64,
	       path, sc->damaged_offset, sc->what, rec->repair_later_segments, rec->repair_time,
	       sc->expect - 1);
	return LZ_OK;
}

lz_err wal_open(const struct wal_opts *opts, wal **out, struct wal_recovery *rec, char *detail,
		size_t detail_cap)
{
	struct wal_recovery scratch;
	struct wal_reader rd = { 0 };
	struct wal_scan sc = { 0 };
	uint64_t *names = NULL;
	size_t n = 0;
	lz_err err;
	wal *w;

	*out = NULL;
	if (rec == NULL)
		rec = &scratch;
	memset(rec, 0, sizeof(*rec));
	if (opts->dir == NULL || opts->dir[0] == '\0' ||
	    strlen(opts->dir) + 1 + WAL_NAME_LEN + WAL_COPY_SUFFIX_MAX >= PATH_MAX ||
	    (opts->segment_max_bytes != 0 &&
	     opts->segment_max_bytes < WAL_HEADER_SIZE + WAL_RECORD_HEAD_SIZE)) {
		detail_set(detail, detail_cap,
			   "wal options: a directory of reasonable length and a "
			   "segment size of at least %d bytes are required",
			   WAL_HEADER_SIZE + WAL_RECORD_HEAD_SIZE);
		return LZ_EINVAL;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return LZ_ENOMEM;
	w->fd = -1;
	pthread_mutex_init(&w->mu, NULL);
	w->io = opts->io != NULL ? opts->io : &fsio_real;
	w->segment_max =
		opts->segment_max_bytes != 0 ? opts->segment_max_bytes : WAL_SEGMENT_MAX_DEFAULT;
	strbuf_init(&w->batch);
	w->dir = strdup(opts->dir);
	if (w->dir == NULL) {
		err = LZ_ENOMEM;
		goto out_close_wal;
	}
	err = wal_dir_prepare(w, detail, detail_cap);
	if (err != LZ_OK)
		goto out_close_wal;
	err = wal_dir_list(w, &names, &n, detail, detail_cap);
	if (err != LZ_OK)
		goto out_close_wal;
	if (n > 0) {
		w->segs = calloc(n, sizeof(*w->segs));
		if (w->segs == NULL) {
			err = LZ_ENOMEM;
			goto out_free_names;
		}
		w->cap = n;
	}
	rd.io = w->io;
	for (size_t i = 0; i < n && !sc.damaged; i++) {
		err = wal_segment_verify(w, &sc, &rd, names, i, i + 1 == n, detail, detail_cap);
		if (err != LZ_OK)
			goto out_free_reader;
	}
	if (sc.damaged && !opts->repair) {
		wal_damage_detail(w, &sc, names[sc.damaged_index], detail, detail_cap);
		err = sc.damage_err;
		goto out_free_reader;
	}
	if (sc.damaged)
		err = wal_repair(w, &sc, names, n, rec, detail, detail_cap);
	else
		err = wal_tail_open(w, detail, detail_cap);
	if (err == LZ_OK && sc.torn) {
		err = wal_tail_cut(w, &sc, names[n - 1], detail, detail_cap);
		rec->torn = true;
		rec->torn_segment = names[n - 1];
		rec->torn_offset = sc.torn_offset;
		rec->torn_bytes = sc.torn_size - sc.torn_offset;
	}
	if (err != LZ_OK)
		goto out_free_reader;
	rec->first_lsn = wal_first_lsn(w);
	rec->last_lsn = wal_last_lsn(w);
	rec->segments = w->nsegs;
	rec->records = sc.records;
	*out = w;
	w = NULL;
out_free_reader:
	free(rd.buf);
out_free_names:
	free(names);
out_close_wal:
	wal_close(w);
	return err;
}

lz_err wal_inspect(const char *dir, lz_err (*fn)(void *arg, const struct journal_rec *r),
		   void *arg, struct wal_inspection *out, char *detail, size_t detail_cap)
{
	struct wal w = { .fd = -1, .io = &fsio_real };
	struct wal_reader rd = { .io = &fsio_real };
	struct wal_scan sc = { .visit = fn, .visit_arg = arg };
	uint64_t *names = NULL;
	size_t n = 0;
	lz_err err;

	memset(out, 0, sizeof(*out));
	if (dir == NULL || dir[0] == '\0' || strlen(dir) + 1 + WAL_NAME_LEN >= PATH_MAX) {
		detail_set(detail, detail_cap, "wal directory name empty or too long");
		return LZ_EINVAL;
	}
	w.dir = strdup(dir);
	if (w.dir == NULL)
		return LZ_ENOMEM;
	err = wal_dir_list(&w, &names, &n, detail, detail_cap);
	if (err != LZ_OK)
		goto out_free_dir;
	if (n > 0) {
		w.segs = calloc(n, sizeof(*w.segs));
		if (w.segs == NULL) {
			err = LZ_ENOMEM;
			goto out_free_names;
		}
	}
	for (size_t i = 0; i < n && !sc.damaged; i++) {
		err = wal_segment_verify(&w, &sc, &rd, names, i, i + 1 == n, detail, detail_cap);
		if (err != LZ_OK)
			goto out_free_segs;
	}
	out->segments = n;
	out->records = sc.records;
	out->first_lsn = sc.first;
	out->last_lsn = sc.first != 0 ? sc.expect - 1 : 0;
	for (size_t i = 0; i < w.nsegs; i++)
		out->bytes += w.segs[i].size;
	if (sc.damaged) {
		out->damaged = true;
		out->damage_err = sc.damage_err;
		out->damaged_segment = names[sc.damaged_index];
		out->damaged_offset = sc.damaged_offset;
		out->later_segments = n - sc.damaged_index - 1;
		snprintf(out->what, sizeof(out->what), "%s", sc.what);
	} else if (sc.torn) {
		out->torn = true;
		out->torn_segment = names[n - 1];
		out->torn_offset = sc.torn_offset;
		out->torn_bytes = sc.torn_size - sc.torn_offset;
	}
	if (sc.damaged && sc.damaged_offset > 0)
		out->bytes += sc.damaged_seg.size;
out_free_segs:
	free(rd.buf);
	free(w.segs);
out_free_names:
	free(names);
out_free_dir:
	free(w.dir);
	return err;
}

/* ---- appending ---- */

/* Creates the segment that starts at `first_lsn`: header written and fdatasynced, directory
 * fsynced; it becomes the segment being written. */
static lz_err wal_segment_create(wal *w, uint64_t first_lsn, char *detail, size_t cap)
{
	char path[PATH_MAX];
	uint32_t salt;
	lz_err err;
	int fd;

	if (w->nsegs == w->cap) {
		size_t ncap = w->cap ? w->cap * 2 : 8;
		struct wal_segment *p;

		pthread_mutex_lock(&w->mu);
		p = realloc(w->segs, ncap * sizeof(*p));
		if (p != NULL) {
			w->segs = p;
			w->cap = ncap;
		}
		pthread_mutex_unlock(&w->mu);
		if (p == NULL)
			return LZ_ENOMEM;
	}
	if (getrandom(&salt, sizeof(salt), 0) != (ssize_t)sizeof(salt)) {
		detail_set(detail, cap, "getrandom for a segment salt: %s", strerror(errno));
		return LZ_ESYS;
	}
	strbuf_reset(&w->batch);
	err = wal_header_encode(&w->batch, salt, first_lsn);
	if (err != LZ_OK)
		return err;
	wal_segment_path(w, first_lsn, path);
	fd = w->io->open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		detail_set(detail, cap, "create %s: %s", path, strerror(errno));
		return wal_fail(w);
	}
	if (fsio_pwrite_all(w->io, fd, w->batch.data, w->batch.len, 0) != LZ_OK) {
		detail_set(detail, cap, "write %s: %s", path, strerror(errno));
		err = wal_fail(w);
		goto out_close_fd;
	}
	if (w->io->fdatasync(fd) != 0) {
		detail_set(detail, cap, "fdatasync %s: %s", path, strerror(errno));
		err = wal_fail(w);
		goto out_close_fd;
	}
	err = wal_dir_sync(w, detail, cap);
	if (err != LZ_OK)
		goto out_close_fd;
	/* The old segment was fdatasynced by its last append: a close error loses nothing. */
	if (w->fd >= 0 && w->io->close(w->fd) != 0)
		LZ_LOG(LOG_WARN, "closing a finished wal segment failed", "dir=%s error=\"%s\"",
		       w->dir, strerror(errno));
	w->fd = fd;
	pthread_mutex_lock(&w->mu);
	w->segs[w->nsegs++] = (struct wal_segment){
		.first_lsn = first_lsn,
		.last_lsn = first_lsn - 1,
		.size = WAL_HEADER_SIZE,
		.salt = salt,
	};
	pthread_mutex_unlock(&w->mu);
	return LZ_OK;
out_close_fd:
	if (w->io->close(fd) != 0)
		LZ_LOG(LOG_WARN, "closing a failed wal segment failed", "file=%s error=\"%s\"",
		       path, strerror(errno));
	return err;
}

/* Checks LSN continuity, types and lengths of a batch; *bytes gets its encoded size. */
static lz_err wal_batch_check(const wal *w, const struct journal_rec *recs, size_t n,
			      uint64_t *bytes, char *detail, size_t cap)
{
	uint64_t next = w->nsegs > 0 ? wal_last_lsn(w) + 1 : recs[0].lsn;
	uint64_t total = 0;

	for (size_t i = 0; i < n; i++) {
		if (recs[i].lsn != next || recs[i].lsn == 0) {
			detail_set(detail, cap,
				   "record %zu of the batch has LSN %" PRIu64 ", expected %" PRIu64,
				   i, recs[i].lsn, next == 0 ? 1 : next);
			return LZ_EINVAL;
		}
		if ((unsigned)recs[i].type > 255) {
			detail_set(detail, cap,
				   "record LSN %" PRIu64 " has type %d, outside 0..255",
				   recs[i].lsn, (int)recs[i].type);
			return LZ_EINVAL;
		}
		if (recs[i].len > WAL_PAYLOAD_MAX) {
			detail_set(detail, cap,
				   "record LSN %" PRIu64 " has a %zu-byte payload, over the "
				   "%u-byte cap",
				   recs[i].lsn, recs[i].len, WAL_PAYLOAD_MAX);
			return LZ_ETOOBIG;
		}
		total += WAL_RECORD_HEAD_SIZE + recs[i].len;
		next++;
	}
	*bytes = total;
	return LZ_OK;
}

lz_err wal_append(wal *w, const struct journal_rec *recs, size_t n, char *detail, size_t detail_cap)
{
	struct wal_segment *seg;
	char path[PATH_MAX];
	uint64_t bytes;
	lz_err err;

	if (w->failed) {
		detail_set(detail, detail_cap, "wal %s is unusable after an earlier write or sync "
			   "failure", w->dir);
		return LZ_ESYS;
	}
	if (n == 0)
		return LZ_OK;
	err = wal_batch_check(w, recs, n, &bytes, detail, detail_cap);
	if (err != LZ_OK)
		return err;
	seg = w->nsegs > 0 ? &w->segs[w->nsegs - 1] : NULL;
	if (seg == NULL ||
	    (seg->last_lsn >= seg->first_lsn && seg->size + bytes > w->segment_max)) {
		err = wal_segment_create(w, recs[0].lsn, detail, detail_cap);
		if (err != LZ_OK)
			return err;
		seg = &w->segs[w->nsegs - 1];
	}
	strbuf_reset(&w->batch);
	for (size_t i = 0; i < n; i++) {
		err = wal_record_encode(&w->batch, seg->salt, &recs[i]);
		if (err != LZ_OK)
			goto out_trim_batch;
	}
	wal_segment_path(w, seg->first_lsn, path);
	if (fsio_pwrite_all(w->io, w->fd, w->batch.data, w->batch.len, (off_t)seg->size) != LZ_OK) {
		detail_set(detail, detail_cap, "write %s at offset %" PRIu64 ": %s", path,
			   seg->size, strerror(errno));
		err = wal_fail(w);
		goto out_trim_batch;
	}
	if (w->io->fdatasync(w->fd) != 0) {
		detail_set(detail, detail_cap, "fdatasync %s: %s", path, strerror(errno));
		err = wal_fail(w);
		goto out_trim_batch;
	}
	pthread_mutex_lock(&w->mu);
	seg->size += w->batch.len;
	seg->last_lsn = recs[n - 1].lsn;
	pthread_mutex_unlock(&w->mu);
out_trim_batch:
	if (w->batch.cap > WAL_BATCH_KEEP)
		strbuf_release(&w->batch);
	return err;
}

/* ---- reading back, dropping ---- */

/* Streams the records of segment `seg` (open as fd) with lsn > after_lsn into fn. */
static lz_err wal_segment_replay(const struct wal_segment *seg, struct wal_reader *rd,
				 const char *path, uint64_t after_lsn,
				 lz_err (*fn)(void *arg, const struct journal_rec *r), void *arg,
				 char *detail, size_t cap)
{
	uint64_t expect = seg->first_lsn;

	for (uint64_t off = WAL_HEADER_SIZE; off < seg->size;) {
		struct journal_rec rec;
		enum wal_status st;
		const char *why = "";
		size_t size;
		lz_err err;

		err = wal_reader_record(rd, off, seg->salt, &st, &rec, &size, &why);
		if (err != LZ_OK) {
			detail_set(detail, cap, "read %s: %s", path,
				   err == LZ_ESYS ? strerror(errno) : err_str(err));
			return err;
		}
		if (st != WAL_OK || rec.lsn != expect) {
			detail_set(detail, cap,
				   "file %s offset %" PRIu64 ": %s (changed since the wal "
				   "was opened)",
				   path, off, st != WAL_OK ? why : "unexpected LSN");
			return st == WAL_OK ? LZ_EPARSE : wal_status_err(st);
		}
		if (rec.lsn > after_lsn) {
			err = fn(arg, &rec);
			if (err != LZ_OK)
				return err;
		}
		expect++;
		off += size;
	}
	return LZ_OK;
}

lz_err wal_read_from(wal *w, uint64_t after_lsn,
		     lz_err (*fn)(void *arg, const struct journal_rec *r), void *arg, char *detail,
		     size_t detail_cap)
{
	struct wal_reader rd = { .io = w->io };
	lz_err err = LZ_OK;

	if (w->failed) {
		detail_set(detail, detail_cap, "wal %s is unusable after an earlier write or sync "
			   "failure", w->dir);
		return LZ_ESYS;
	}
	for (size_t i = 0; i < w->nsegs && err == LZ_OK; i++) {
		const struct wal_segment *seg = &w->segs[i];
		bool tail = i + 1 == w->nsegs;
		char path[PATH_MAX];
		int fd = w->fd;

		if (seg->last_lsn < seg->first_lsn || seg->last_lsn <= after_lsn)
			continue;
		wal_segment_path(w, seg->first_lsn, path);
		if (!tail) {
			fd = w->io->open(path, O_RDONLY | O_CLOEXEC, 0);
			if (fd < 0) {
				detail_set(detail, detail_cap, "open %s: %s", path,
					   strerror(errno));
				err = LZ_ESYS;
				break;
			}
		}
		wal_reader_reset(&rd, fd, seg->size);
		err = wal_segment_replay(seg, &rd, path, after_lsn, fn, arg, detail, detail_cap);
		if (!tail && w->io->close(fd) != 0 && err == LZ_OK) {
			detail_set(detail, detail_cap, "close %s: %s", path, strerror(errno));
			err = LZ_ESYS;
		}
	}
	free(rd.buf);
	return err;
}

struct range_walk {
	uint64_t through;
	lz_err (*fn)(void *arg, const struct journal_rec *r);
	void *arg;
};

static lz_err range_visit(void *arg, const struct journal_rec *r)
{
	struct range_walk *rw = arg;

	return r->lsn <= rw->through ? rw->fn(rw->arg, r) : LZ_OK;
}

lz_err wal_read_range(wal *w, uint64_t after_lsn, uint64_t through_lsn,
		      lz_err (*fn)(void *arg, const struct journal_rec *r), void *arg, char *detail,
		      size_t detail_cap)
{
	struct wal_reader rd = { .io = w->io };
	struct range_walk rw = { through_lsn, fn, arg };
	struct wal_segment *copy;
	size_t n = 0;
	lz_err err = LZ_OK;

	/* The segments holding (after_lsn, through_lsn], as they are now: every byte up to a copied
	 * size was written and fdatasynced, so it can be read while appends go on past it. */
	pthread_mutex_lock(&w->mu);
	copy = malloc((w->nsegs ? w->nsegs : 1) * sizeof(*copy));
	for (size_t i = 0; copy != NULL && i < w->nsegs; i++) {
		const struct wal_segment *seg = &w->segs[i];

		if (seg->last_lsn >= seg->first_lsn && seg->last_lsn > after_lsn && seg->first_lsn <= through_lsn)
			copy[n++] = *seg;
	}
	pthread_mutex_unlock(&w->mu);
	if (copy == NULL)
		return LZ_ENOMEM;
	for (size_t i = 0; i < n && err == LZ_OK; i++) {
		char path[PATH_MAX];
		int fd;

		wal_segment_path(w, copy[i].first_lsn, path);
		fd = w->io->open(path, O_RDONLY | O_CLOEXEC, 0);
		if (fd < 0) {
			detail_set(detail, detail_cap, "open %s: %s", path, strerror(errno));
			err = LZ_ESYS;
			break;
		}
		wal_reader_reset(&rd, fd, copy[i].size);
		err = wal_segment_replay(&copy[i], &rd, path, after_lsn, range_visit, &rw, detail, detail_cap);
		if (w->io->close(fd) != 0 && err == LZ_OK) {
			detail_set(detail, detail_cap, "close %s: %s", path, strerror(errno));
			err = LZ_ESYS;
		}
	}
	free(rd.buf);
	free(copy);
	return err;
}

lz_err wal_drop_through(wal *w, uint64_t lsn, char *detail, size_t detail_cap)
{
	lz_err err = LZ_OK, sync_err;
	size_t dropped = 0;

	if (w->failed) {
		detail_set(detail, detail_cap, "wal %s is unusable after an earlier write or sync "
			   "failure", w->dir);
		return LZ_ESYS;
	}
	while (dropped + 1 < w->nsegs && w->segs[dropped].last_lsn <= lsn) {
		char path[PATH_MAX];

		wal_segment_path(w, w->segs[dropped].first_lsn, path);
		if (w->io->unlink(path) != 0) {
			detail_set(detail, detail_cap, "delete %s: %s", path, strerror(errno));
			err = LZ_ESYS;
			break;
		}
		dropped++;
	}
	if (dropped == 0)
		return err;
	pthread_mutex_lock(&w->mu);
	memmove(w->segs, w->segs + dropped, (w->nsegs - dropped) * sizeof(*w->segs));
	w->nsegs -= dropped;
	pthread_mutex_unlock(&w->mu);
	sync_err = wal_dir_sync(w, err == LZ_OK ? detail : NULL, detail_cap);
	return err != LZ_OK ? err : sync_err;
}

/* ---- queries ---- */

uint64_t wal_last_lsn(const wal *w)
{
	return w->nsegs > 0 ? w->segs[w->nsegs - 1].last_lsn : 0;
}

uint64_t wal_first_lsn(const wal *w)
{
	for (size_t i = 0; i < w->nsegs; i++)
		if (w->segs[i].last_lsn >= w->segs[i].first_lsn)
			return w->segs[i].first_lsn;
	return 0;
}

uint64_t wal_size_bytes(const wal *w)
{
	uint64_t total = 0;

	for (size_t i = 0; i < w->nsegs; i++)
		total += w->segs[i].size;
	return total;
}

size_t wal_segment_count(const wal *w)
{
	return w->nsegs;
}

void wal_close(wal *w)
{
	if (w == NULL)
		return;
	/* Every append was fdatasynced before it returned: a close error loses nothing. */
	if (w->fd >= 0 && w->io->close(w->fd) != 0)
		LZ_LOG(LOG_WARN, "closing the wal segment being written failed",
		       "dir=%s error=\"%s\"", w->dir, strerror(errno));
	strbuf_release(&w->batch);
	pthread_mutex_destroy(&w->mu);
	free(w->segs);
	free(w->dir);
	free(w);
}
