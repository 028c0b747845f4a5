/*
 * server — persistd's engine (see server.h): backend + WAL + fold + the broker conversation.
 */
#include "persistd/server.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#include <nng/protocol/reqrep0/rep.h>

#include "common/clock.h"
#include "common/fsio.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "persistd/control.h"
#include "persistd/export.h"
#include "persistd/fold.h"
#include "persistd/store.h"
#include "persistd/wal.h"
#include "proto/ipc.h"
#include "proto/journal.h"

#define SERVER_PATH_MAX 4096
/* <data_dir>/MIGRATED_NAME records the backend a `storage migrate` moved the state to: one line
 * "TYPE:LOCATION\n" (TYPE sqlite, json or redis). While it exists it decides the backend, whatever
 * storage_type says (a warning is logged when they differ), so that a restart never opens the
 * store the state left. */
#define MIGRATED_NAME "storage-migrated"
#define WAL_SEGMENTS_PER_LIMIT 4   /* segment size = wal_max_bytes / 4, so a fold frees most of it */

struct server {
	const struct settings *cfg;
	const struct store_ops *ops;
	store *store;
	wal *wal;                   /* NULL: no WAL (disabled, or in-memory storage) */
	uint64_t applied_lsn;       /* the backend's last_applied_lsn */
	uint64_t durable_lsn;       /* highest LSN durable here: the WAL's last, else applied_lsn */
	uint8_t store_id[IPC_STORE_ID_LEN];
	int lock_fd;
	nng_socket sock;
	bool listening;             /* sock is open */
	/* Pipe id of the broker that said HELLO; 0: none. Written by the server's thread, cleared by
	 * nng's pipe-removal callback when that broker's connection goes away. */
	_Atomic uint32_t peer;
	nng_socket ctl;             /* control socket (rep0) for the localzure command */
	bool ctl_open;
	int64_t next_fold_us;       /* monotonic */
	/* The fold running on its own thread (fold_start): while `running`, the backend belongs to
	 * that thread; fold_reap takes it back. */
	struct bg_fold {
		pthread_t tid;
		bool running;
		atomic_bool done;
		uint64_t from, through, to;
		const char *why;
		int64_t t0;
		lz_err err;
		char detail[1024];
	} bg;
	int64_t last_fold_ms;       /* wall clock of the last fold's end; 0: none since start */
	double last_fold_took_ms;
	uint64_t appends, records, syncs; /* since start: APPEND messages, records made durable, WAL syncs */
	char location[SERVER_PATH_MAX]; /* where the backend lives (file, directory, URL) */
	char shown[SERVER_PATH_MAX];    /* the same for logs and replies: a URL's password masked */
	char migrated_from[SERVER_PATH_MAX + 32]; /* "TYPE:LOCATION" the migration record replaced; "" */
	volatile sig_atomic_t stop;
	struct strbuf out;          /* the message being encoded */
	char wal_dir[SERVER_PATH_MAX];
};

static lz_err fail(char *detail, size_t cap, lz_err err, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Formats `detail` and returns `err`, so that error paths read `err = fail(...); goto out_x;`. */
static lz_err fail(char *detail, size_t cap, lz_err err, const char *fmt, ...)
{
	va_list ap;

	if (detail == NULL || cap == 0)
		return err;
	va_start(ap, fmt);
	vsnprintf(detail, cap, fmt, ap);
	va_end(ap);
	return err;
}

/* "<dir>/<name>" into `out`; LZ_ETOOBIG when it does not fit. */
static lz_err path_join(char *out, size_t cap, const char *dir, const char *name)
{
	int n = snprintf(out, cap, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= cap ? LZ_ETOOBIG : LZ_OK;
}

static const char *storage_name(enum settings_storage t)
{
	switch (t) {
	case SETTINGS_STORAGE_SQLITE:
		return "sqlite";
	case SETTINGS_STORAGE_JSON:
		return "json";
	case SETTINGS_STORAGE_MEMORY:
		return "memory";
	case SETTINGS_STORAGE_REDIS:
		return "redis";
	}
	return "?";
}

static bool storage_is_persistent(const struct server *s)
{
	return s->ops != &store_memory_ops;
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	/* CLOCK_REALTIME always exists: clock_gettime cannot fail with it. */
	(void)clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- data directory, lock, store id ------------------------------------------------------- */

/* Creates data_dir when missing and makes its name durable in the parent directory. */
static lz_err data_dir_make(const char *dir, char *detail, size_t cap)
{
	if (mkdir(dir, 0700) == 0) {
		if (fsio_fsync_parent(&fsio_real, dir) != LZ_OK)
			return fail(detail, cap, LZ_ESYS, "data_dir %s: cannot fsync its parent directory: %s", dir,
				    strerror(errno));
		return LZ_OK;
	}
	if (errno == EEXIST)
		return LZ_OK;
	return fail(detail, cap, LZ_ESYS, "data_dir %s: cannot create it: %s", dir, strerror(errno));
}

/* Takes <data_dir>/persistd.lock; OUT *fd holds the lock until it is closed. */
static lz_err lock_take(const char *dir, int *fd, char *detail, size_t cap)
{
	char path[SERVER_PATH_MAX];
	lz_err err;

	if (path_join(path, sizeof(path), dir, "persistd.lock") != LZ_OK)
		return fail(detail, cap, LZ_ETOOBIG, "data_dir %s: path too long", dir);
	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (*fd < 0)
		return fail(detail, cap, LZ_ESYS, "cannot open %s: %s", path, strerror(errno));
	if (flock(*fd, LOCK_EX | LOCK_NB) == 0)
		return LZ_OK;
	if (errno == EWOULDBLOCK)
		err = fail(detail, cap, LZ_EBUSY, "%s is locked: another persistd uses data_dir %s; stop it first", path,
			   dir);
	else
		err = fail(detail, cap, LZ_ESYS, "cannot lock %s: %s", path, strerror(errno));
	/* Nothing was written through it: a failed close loses nothing. */
	(void)close(*fd);
	*fd = -1;
	return err;
}

static lz_err random_fill(uint8_t *buf, size_t n, char *detail, size_t cap)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = getrandom(buf + got, n - got, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return fail(detail, cap, LZ_ESYS, "getrandom: %s", strerror(errno));
		got += (size_t)r;
	}
	return LZ_OK;
}

/* Writes a new store id to `path` durably: temp file, fsync, rename, directory fsync. */
static lz_err store_id_create(const char *dir, const char *path, const uint8_t *id, char *detail, size_t cap)
{
	char tmp[SERVER_PATH_MAX];
	lz_err err;
	int fd;

	if (path_join(tmp, sizeof(tmp), dir, "store_id.tmp") != LZ_OK)
		return fail(detail, cap, LZ_ETOOBIG, "data_dir %s: path too long", dir);
	fd = fsio_real.open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail(detail, cap, LZ_ESYS, "cannot create %s: %s", tmp, strerror(errno));
	err = fsio_write_all(&fsio_real, fd, id, IPC_STORE_ID_LEN);
	if (err == LZ_OK && fsio_real.fsync(fd) != 0)
		err = LZ_ESYS;
	if (err != LZ_OK) {
		err = fail(detail, cap, LZ_ESYS, "cannot write %s: %s", tmp, strerror(errno));
		/* The temp file is abandoned (and truncated by the next attempt): its close does not matter. */
		(void)fsio_real.close(fd);
		return err;
	}
	if (fsio_real.close(fd) != 0)
		return fail(detail, cap, LZ_ESYS, "cannot close %s: %s", tmp, strerror(errno));
	if (fsio_real.rename(tmp, path) != 0)
		return fail(detail, cap, LZ_ESYS, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
	if (fsio_fsync_dir(&fsio_real, dir) != LZ_OK)
		return fail(detail, cap, LZ_ESYS, "cannot fsync directory %s: %s", dir, strerror(errno));
	return LZ_OK;
}

/* Reads <data_dir>/store_id, creating it on first use. */
static lz_err store_id_load(const char *dir, uint8_t *id, char *detail, size_t cap)
{
	char path[SERVER_PATH_MAX];
	struct stat st;
	lz_err err;
	int fd;

	if (path_join(path, sizeof(path), dir, "store_id") != LZ_OK)
		return fail(detail, cap, LZ_ETOOBIG, "data_dir %s: path too long", dir);
	fd = fsio_real.open(path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0 && errno == ENOENT) {
		err = random_fill(id, IPC_STORE_ID_LEN, detail, cap);
		if (err != LZ_OK)
			return err;
		return store_id_create(dir, path, id, detail, cap);
	}
	if (fd < 0)
		return fail(detail, cap, LZ_ESYS, "cannot open %s: %s", path, strerror(errno));
	if (fsio_real.fstat(fd, &st) != 0)
		err = fail(detail, cap, LZ_ESYS, "cannot stat %s: %s", path, strerror(errno));
	else if (st.st_size != IPC_STORE_ID_LEN)
		err = fail(detail, cap, LZ_EPARSE, "%s holds %lld bytes, not %u; restore it from a backup", path,
			   (long long)st.st_size, IPC_STORE_ID_LEN);
	else if (fsio_pread_all(&fsio_real, fd, id, IPC_STORE_ID_LEN, 0) != LZ_OK)
		err = fail(detail, cap, LZ_ESYS, "cannot read %s: %s", path, strerror(errno));
	else
		err = LZ_OK;
	if (fsio_real.close(fd) != 0 && err == LZ_OK)
		err = fail(detail, cap, LZ_ESYS, "cannot close %s: %s", path, strerror(errno));
	return err;
}

/* ---- fold --------------------------------------------------------------------------------- */

struct fold_walk {
	fold *f;
	struct store_detail sd;
	bool fold_failed; /* the error came from fold_record (sd), not from the WAL */
};

static lz_err fold_walk_one(void *arg, const struct journal_rec *r)
{
	struct fold_walk *fw = arg;
	lz_err err = fold_record(fw->f, r, &fw->sd);

	if (err != LZ_OK)
		fw->fold_failed = true;
	return err;
}

/*
 * Folds the WAL records past applied_lsn into the backend in one transaction, then deletes the
 * segments the backend now holds. Every error is fatal for the caller: the WAL is intact.
 */
/* Folds the WAL records from < lsn <= through into the backend in one transaction; *to gets
 * the last LSN folded. Touches only the backend and the WAL files (wal_read_range), so it may
 * run on the fold thread while the server's thread appends. */
static lz_err fold_apply(const struct server *s, uint64_t from, uint64_t through, uint64_t *to, char *detail,
			 size_t cap)
{
	struct fold_walk fw = { .fold_failed = false };
	char wdetail[512] = "";
	lz_err err;

	err = fold_begin(s->ops, s->store, &fw.f, &fw.sd);
	if (err != LZ_OK)
		return fail(detail, cap, err, "fold: cannot begin a %s transaction: %s", s->ops->name, fw.sd.text);
	err = wal_read_range(s->wal, from, through, fold_walk_one, &fw, wdetail, sizeof(wdetail));
	if (err != LZ_OK) {
		fold_abort(fw.f);
		return fail(detail, cap, err, "fold after lsn %" PRIu64 ": %s", from,
			    fw.fold_failed ? fw.sd.text : wdetail);
	}
	*to = fold_last_lsn(fw.f);
	err = fold_commit(fw.f, &fw.sd);
	if (err != LZ_OK)
		return fail(detail, cap, err, "fold: %s commit through lsn %" PRIu64 " failed: %s", s->ops->name, *to,
			    fw.sd.text);
	return LZ_OK;
}

/* After a fold committed through `to`: the backend's LSN, then the WAL segments it now holds go. */
static lz_err fold_finish(struct server *s, const char *why, uint64_t from, uint64_t to, int64_t t0, char *detail,
			  size_t cap)
{
	char wdetail[512] = "";
	lz_err err;

	s->applied_lsn = to;
	s->last_fold_ms = wall_ms();
	s->last_fold_took_ms = (double)(clock_monotonic_us() - t0) / 1000.0;
	err = wal_drop_through(s->wal, s->applied_lsn, wdetail, sizeof(wdetail));
	if (err != LZ_OK)
		return fail(detail, cap, err, "fold: cannot delete folded wal segments in %s: %s", s->wal_dir, wdetail);
	LZ_LOG(LOG_INFO, "folded the wal into the backend",
	       "why=%s from_lsn=%" PRIu64 " to_lsn=%" PRIu64 " backend=%s wal_bytes=%" PRIu64 " ms=%.1f", why, from,
	       s->applied_lsn, s->ops->name, wal_size_bytes(s->wal), s->last_fold_took_ms);
	return LZ_OK;
}

/* Folds everything the WAL holds past the backend's LSN, on this thread. */
static lz_err server_fold(struct server *s, const char *why, char *detail, size_t cap)
{
	uint64_t from = s->applied_lsn, to = from;
	int64_t t0 = clock_monotonic_us();
	lz_err err = fold_apply(s, from, UINT64_MAX, &to, detail, cap);

	return err != LZ_OK ? err : fold_finish(s, why, from, to, t0, detail, cap);
}

static void *fold_thread_main(void *arg)
{
	struct server *s = arg;
	struct bg_fold *b = &s->bg;

	b->err = fold_apply(s, b->from, b->through, &b->to, b->detail, sizeof(b->detail));
	atomic_store(&b->done, true);
	return NULL;
}

/* Starts folding what is durable now on the fold thread; appends go on meanwhile. */
static lz_err fold_start(struct server *s, const char *why, char *detail, size_t cap)
{
	struct bg_fold *b = &s->bg;
	int rv;

	b->from = b->to = s->applied_lsn;
	b->through = s->durable_lsn;
	b->why = why;
	b->t0 = clock_monotonic_us();
	b->err = LZ_OK;
	b->detail[0] = '\0';
	atomic_store(&b->done, false);
	rv = pthread_create(&b->tid, NULL, fold_thread_main, s);
	if (rv != 0) {
		LZ_LOG(LOG_WARN, "cannot start the fold thread; folding on the server's thread", "error=\"%s\"",
		       strerror(rv));
		return server_fold(s, why, detail, cap);
	}
	b->running = true;
	return LZ_OK;
}

/* Completes the fold thread's fold once it ended (with `wait`, waits for it first): nothing else
 * may touch the backend while it runs. A fold error is fatal, as on this thread. */
static lz_err fold_reap(struct server *s, bool wait, char *detail, size_t cap)
{
	struct bg_fold *b = &s->bg;

	if (!b->running || (!wait && !atomic_load(&b->done)))
		return LZ_OK;
	pthread_join(b->tid, NULL);
	b->running = false;
	if (b->err != LZ_OK)
		return fail(detail, cap, b->err, "%s", b->detail);
	return fold_finish(s, b->why, b->from, b->to, b->t0, detail, cap);
}

static bool fold_pending(const struct server *s)
{
	return s->wal != NULL && wal_last_lsn(s->wal) > s->applied_lsn;
}

/* Starts a fold on the fold thread when the timer expired or the WAL passed wal_max_bytes, and
 * completes the one that ended; one at a time. */
static lz_err fold_if_due(struct server *s, char *detail, size_t cap)
{
	int64_t now = clock_monotonic_us();
	const char *why = NULL;
	lz_err err = fold_reap(s, false, detail, cap);

	if (err != LZ_OK || s->bg.running)
		return err;
	if (now >= s->next_fold_us)
		why = "timer";
	else if (s->wal != NULL && wal_size_bytes(s->wal) > s->cfg->wal_max_bytes)
		why = "size";
	if (why == NULL)
		return LZ_OK;
	if (fold_pending(s))
		err = fold_start(s, why, detail, cap);
	s->next_fold_us = now + (int64_t)s->cfg->snapshot_interval * 1000000;
	return err;
}

/* ---- open --------------------------------------------------------------------------------- */

/* Reads the migration record into type/location; false when there is none. */
static lz_err migrated_read(const char *data_dir, char *type, size_t type_cap, char *location, size_t loc_cap,
			    bool *found, char *detail, size_t cap)
{
	char path[SERVER_PATH_MAX], line[SERVER_PATH_MAX + 32];
	const char *colon;
	size_t n;
	FILE *f;

	*found = false;
	if (path_join(path, sizeof(path), data_dir, MIGRATED_NAME) != LZ_OK)
		return fail(detail, cap, LZ_ETOOBIG, "data_dir %s: path too long", data_dir);
	f = fopen(path, "re");
	if (f == NULL) {
		if (errno == ENOENT)
			return LZ_OK;
		return fail(detail, cap, LZ_ESYS, "cannot open %s: %s", path, strerror(errno));
	}
	if (fgets(line, sizeof(line), f) == NULL) {
		(void)fclose(f);
		return fail(detail, cap, LZ_EPARSE, "%s is empty; it should name the backend (TYPE:LOCATION) a "
				    "storage migrate moved the state to", path);
	}
	(void)fclose(f);
	n = strcspn(line, "\n");
	line[n] = '\0';
	colon = strchr(line, ':');
	if (colon == NULL || colon == line || (size_t)(colon - line) >= type_cap || strlen(colon + 1) >= loc_cap ||
	    colon[1] == '\0')
		return fail(detail, cap, LZ_EPARSE, "%s: '%s' is not TYPE:LOCATION", path, line);
	memcpy(type, line, (size_t)(colon - line));
	type[colon - line] = '\0';
	strcpy(location, colon + 1);
	*found = true;
	return LZ_OK;
}

/* `loc` for logs and replies: "redis://user:secret@h" becomes "redis://user:***@h". */
static void location_mask(const char *loc, char *out, size_t cap)
{
	const char *at = strncmp(loc, "redis://", 8) == 0 ? strrchr(loc, '@') : NULL;
	const char *colon = at != NULL ? memchr(loc + 8, ':', (size_t)(at - (loc + 8))) : NULL;

	if (colon == NULL)
		snprintf(out, cap, "%s", loc);
	else
		snprintf(out, cap, "%.*s:***%s", (int)(colon - loc), loc, at);
}

/* The configured location of a store of `ops` (the in-memory backend has none: data_dir). */
static const char *ops_location(const struct settings *cfg, const struct store_ops *ops)
{
	if (ops == &store_sqlite_ops)
		return cfg->sqlite_path;
	if (ops == &store_json_ops)
		return cfg->json_path;
	if (ops == &store_redis_ops)
		return cfg->redis_url;
	return cfg->data_dir;
}

/* The configured backend's location. */
static const char *config_location(const struct settings *cfg)
{
	return ops_location(cfg, store_ops_find(storage_name(cfg->storage_type)));
}

static lz_err backend_open(struct server *s, char *detail, size_t cap)
{
	const struct settings *cfg = s->cfg;
	struct store_config sc = { cfg->data_dir, cfg->pretty_json, cfg->redis_prefix };
	struct store_detail sd = { "" };
	const char *type = storage_name(cfg->storage_type);
	char mtype[16];
	bool migrated;
	lz_err err;

	snprintf(s->location, sizeof(s->location), "%s", config_location(cfg));
	err = migrated_read(cfg->data_dir, mtype, sizeof(mtype), s->location, sizeof(s->location), &migrated, detail,
			    cap);
	if (err != LZ_OK)
		return err;
	location_mask(s->location, s->shown, sizeof(s->shown));
	if (migrated) {
		if (strcmp(mtype, type) != 0 || strcmp(s->location, config_location(cfg)) != 0) {
			char configured[SERVER_PATH_MAX];

			location_mask(config_location(cfg), configured, sizeof(configured));
			snprintf(s->migrated_from, sizeof(s->migrated_from), "%s:%s", type, configured);
			LZ_LOG(LOG_WARN, "the state was migrated: using the backend the migration record names, not the "
					 "configured one; update storage_type and its path to match",
			       "record=%s/" MIGRATED_NAME " backend=%s location=%s configured=%s", cfg->data_dir, mtype,
			       s->shown, s->migrated_from);
		}
		type = mtype;
	}
	s->ops = store_ops_find(type);
	if (s->ops == NULL)
		return fail(detail, cap, LZ_EINVAL,
			    "LOCALZURE_STORAGE_TYPE (storage_type): backend %s is not built into this persistd; "
			    "use sqlite, json, redis or in-memory",
			    type);
	sc.location = s->location;
	err = s->ops->open(&sc, &s->store, &sd);
	if (err != LZ_OK)
		return fail(detail, cap, err, "cannot open the %s backend at %s: %s", s->ops->name, s->shown, sd.text);
	err = s->ops->last_applied_lsn(s->store, &s->applied_lsn, &sd);
	if (err != LZ_OK)
		return fail(detail, cap, err, "cannot read last_applied_lsn from the %s backend at %s: %s", s->ops->name,
			    s->shown, sd.text);
	return LZ_OK;
}

/*
 * Opens and verifies the WAL and folds its tail into the backend. With wal_enabled false the
 * WAL is opened only when its directory exists (left over from an earlier configuration), to
 * fold what it holds, and is closed again.
 */
/*
 * Fault injection for the durability tests: with LZ_TEST_FAIL_FDATASYNC=N in the environment
 * (deliberately not a LOCALZURE_* setting) the N-th fdatasync of the WAL fails with EIO, as a
 * dying disk would. persistd must then stop acknowledging and exit non-zero.
 */
static struct fsio_ops fault_io;
static unsigned long fault_fdatasync_at, fault_fdatasync_calls;

static int fault_fdatasync(int fd)
{
	if (++fault_fdatasync_calls == fault_fdatasync_at) {
		errno = EIO;
		return -1;
	}
	return fsio_real.fdatasync(fd);
}

static const struct fsio_ops *wal_io(void)
{
	const char *at = getenv("LZ_TEST_FAIL_FDATASYNC");

	if (at == NULL || *at == '\0')
		return NULL;
	fault_fdatasync_at = strtoul(at, NULL, 10);
	fault_io = fsio_real;
	fault_io.fdatasync = fault_fdatasync;
	LZ_LOG(LOG_WARN, "fault injection: a WAL fdatasync will fail", "call=%lu", fault_fdatasync_at);
	return &fault_io;
}

static lz_err wal_recover(struct server *s, bool repair, char *detail, size_t cap)
{
	struct wal_opts wo = { .dir = s->wal_dir, .repair = repair, .io = wal_io() };
	struct wal_recovery rec;
	struct stat st;
	lz_err err;

	if (path_join(s->wal_dir, sizeof(s->wal_dir), s->cfg->data_dir, "wal") != LZ_OK)
		return fail(detail, cap, LZ_ETOOBIG, "data_dir %s: path too long", s->cfg->data_dir);
	if (!s->cfg->wal_enabled) {
		if (stat(s->wal_dir, &st) != 0 && errno == ENOENT)
			return LZ_OK;
	}
	wo.segment_max_bytes = s->cfg->wal_max_bytes / WAL_SEGMENTS_PER_LIMIT;
	if (wo.segment_max_bytes > WAL_SEGMENT_MAX_DEFAULT)
		wo.segment_max_bytes = WAL_SEGMENT_MAX_DEFAULT;
	err = wal_open(&wo, &s->wal, &rec, detail, cap);
	if ((err == LZ_ECRC || err == LZ_EPARSE) && detail != NULL && cap > 0) {
		size_t len = strnlen(detail, cap);

		snprintf(detail + len, cap - len, "; to start anyway with the intact records, run once with --repair "
			 "(it keeps a copy of the damaged files)");
	}
	if (err != LZ_OK)
		return err;
	LZ_LOG(LOG_INFO, "wal verified",
	       "dir=%s segments=%zu records=%" PRIu64 " first_lsn=%" PRIu64 " last_lsn=%" PRIu64
	       " backend_lsn=%" PRIu64 " torn=%d repaired=%d",
	       s->wal_dir, rec.segments, rec.records, rec.first_lsn, rec.last_lsn, s->applied_lsn, (int)rec.torn,
	       (int)rec.repaired);
	if (rec.last_lsn != 0 && rec.last_lsn < s->applied_lsn)
		return fail(detail, cap, LZ_ESTATE,
			    "wal %s ends at lsn %" PRIu64 " but the %s backend holds lsn %" PRIu64
			    ": the wal is older than the backend (its records are all in the backend); move the "
			    "directory aside and start again",
			    s->wal_dir, rec.last_lsn, s->ops->name, s->applied_lsn);
	if (fold_pending(s)) {
		err = server_fold(s, "start", detail, cap);
		if (err != LZ_OK)
			return err;
	}
	if (!s->cfg->wal_enabled) {
		LZ_LOG(LOG_WARN, "wal_enabled is false: the wal was folded into the backend and is no longer written",
		       "dir=%s lsn=%" PRIu64, s->wal_dir, s->applied_lsn);
		wal_close(s->wal);
		s->wal = NULL;
	}
	return LZ_OK;
}

/* Removes a socket file left at an ipc:// URL inside data_dir by a persistd that died. The data
 * directory lock is held, so no live persistd owns it. */
static lz_err ipc_stale_remove(const struct settings *cfg, const char *url, char *detail, size_t cap)
{
	static const char scheme[] = "ipc://";
	size_t dlen = strlen(cfg->data_dir);
	const char *path;
	struct stat st;

	if (strncmp(url, scheme, sizeof(scheme) - 1) != 0)
		return LZ_OK;
	path = url + sizeof(scheme) - 1;
	while (dlen > 1 && cfg->data_dir[dlen - 1] == '/')
		dlen--;
	if (strncmp(path, cfg->data_dir, dlen) != 0 || path[dlen] != '/')
		return LZ_OK;
	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return LZ_OK;
		return fail(detail, cap, LZ_ESYS, "cannot stat %s: %s", path, strerror(errno));
	}
	if (!S_ISSOCK(st.st_mode))
		return LZ_OK;
	if (unlink(path) != 0)
		return fail(detail, cap, LZ_ESYS, "cannot remove the stale socket %s: %s", path, strerror(errno));
	LZ_LOG(LOG_INFO, "removed a stale ipc socket", "path=%s", path);
	return LZ_OK;
}

/* nng's thread: the broker's connection is gone, so nobody holds the state in memory any more. */
static void on_pipe_removed(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct server *s = arg;
	uint32_t id = (uint32_t)nng_pipe_id(p);

	(void)ev;
	atomic_compare_exchange_strong(&s->peer, &id, 0);
}

static lz_err socket_listen(struct server *s, char *detail, size_t cap)
{
	const char *url = s->cfg->persistd_url;
	const char *what;
	lz_err err;
	int rv;

	err = ipc_stale_remove(s->cfg, url, detail, cap);
	if (err != LZ_OK)
		return err;
	rv = nng_pair1_open(&s->sock);
	if (rv != 0)
		return fail(detail, cap, LZ_ESYS, "cannot open an nng pair1 socket: %s", nng_strerror(rv));
	s->listening = true;
	rv = nng_pipe_notify(s->sock, NNG_PIPE_EV_REM_POST, on_pipe_removed, s);
	if (rv != 0)
		return fail(detail, cap, LZ_ESYS, "cannot watch broker connections: %s", nng_strerror(rv));
	what = "NNG_OPT_RECVMAXSZ";
	rv = nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, IPC_MAX_MESSAGE);
	if (rv == 0) {
		what = "NNG_OPT_RECVBUF";
		rv = nng_socket_set_int(s->sock, NNG_OPT_RECVBUF, SERVER_NNG_BUFFERS);
	}
	if (rv == 0) {
		what = "NNG_OPT_SENDBUF";
		rv = nng_socket_set_int(s->sock, NNG_OPT_SENDBUF, SERVER_NNG_BUFFERS);
	}
	if (rv == 0) {
		what = "NNG_OPT_RECVTIMEO";
		rv = nng_socket_set_ms(s->sock, NNG_OPT_RECVTIMEO, SERVER_POLL_MS);
	}
	if (rv == 0) {
		what = "NNG_OPT_SENDTIMEO";
		rv = nng_socket_set_ms(s->sock, NNG_OPT_SENDTIMEO, SERVER_SEND_TIMEOUT_MS);
	}
	if (rv != 0)
		return fail(detail, cap, LZ_ESYS, "cannot set %s: %s", what, nng_strerror(rv));
	rv = nng_listen(s->sock, url, NULL, 0);
	if (rv != 0)
		return fail(detail, cap, LZ_ESYS, "LOCALZURE_PERSISTD_URL (persistd_url): cannot listen on %s: %s", url,
			    nng_strerror(rv));
	return LZ_OK;
}

/* Listens on control_url with an nng rep0 socket (requests of the localzure command). */
static lz_err control_listen(struct server *s, char *detail, size_t cap)
{
	const char *url = s->cfg->control_url;
	lz_err err = ipc_stale_remove(s->cfg, url, detail, cap);
	int rv;

	if (err != LZ_OK)
		return err;
	rv = nng_rep0_open(&s->ctl);
	if (rv != 0)
		return fail(detail, cap, LZ_ESYS, "cannot open an nng rep0 socket: %s", nng_strerror(rv));
	s->ctl_open = true;
	rv = nng_socket_set_size(s->ctl, NNG_OPT_RECVMAXSZ, CONTROL_MAX_REQUEST);
	if (rv == 0)
		rv = nng_socket_set_ms(s->ctl, NNG_OPT_SENDTIMEO, SERVER_SEND_TIMEOUT_MS);
	if (rv != 0)
		return fail(detail, cap, LZ_ESYS, "cannot configure the control socket: %s", nng_strerror(rv));
	rv = nng_listen(s->ctl, url, NULL, 0);
	if (rv != 0)
		return fail(detail, cap, LZ_ESYS, "LOCALZURE_CONTROL_URL (control_url): cannot listen on %s: %s", url,
			    nng_strerror(rv));
	return LZ_OK;
}

/* Answers every control request already waiting (never blocks for a new one). */
static lz_err control_poll(struct server *s, char *detail, size_t cap)
{
	nng_msg *msg;

	while (s->ctl_open && nng_recvmsg(s->ctl, &msg, NNG_FLAG_NONBLOCK) == 0) {
		struct strbuf reply = STRBUF_INIT;
		lz_err err = fold_reap(s, true, detail, cap); /* every request reads the backend */
		int rv;

		if (err == LZ_OK)
			err = control_handle(s, nng_msg_body(msg), nng_msg_len(msg), NULL, &reply, detail, cap);

		nng_msg_free(msg);
		if (err != LZ_OK) {
			strbuf_release(&reply);
			return err; /* fatal: an I/O error of the WAL or the backend */
		}
		rv = nng_send(s->ctl, reply.data, reply.len, 0);
		if (rv != 0)
			LZ_LOG(LOG_WARN, "a control reply could not be sent", "error=\"%s\"", nng_strerror(rv));
		strbuf_release(&reply);
	}
	return LZ_OK;
}

lz_err server_open(const struct settings *cfg, const struct server_opts *opts, struct server **out,
		   char *detail, size_t detail_cap)
{
	struct server *s;
	lz_err err;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return fail(detail, detail_cap, LZ_ENOMEM, "out of memory");
	s->cfg = cfg;
	s->lock_fd = -1;
	strbuf_init(&s->out);
	err = data_dir_make(cfg->data_dir, detail, detail_cap);
	if (err == LZ_OK)
		err = lock_take(cfg->data_dir, &s->lock_fd, detail, detail_cap);
	if (err == LZ_OK)
		err = backend_open(s, detail, detail_cap);
	if (err != LZ_OK)
		goto out_close;
	if (storage_is_persistent(s)) {
		err = store_id_load(cfg->data_dir, s->store_id, detail, detail_cap);
		if (err == LZ_OK)
			err = wal_recover(s, opts->repair, detail, detail_cap);
	} else {
		err = random_fill(s->store_id, sizeof(s->store_id), detail, detail_cap);
		if (cfg->wal_enabled)
			LZ_LOG(LOG_INFO, "in-memory storage keeps no wal: acks mean applied in memory", "%s", "");
	}
	if (err != LZ_OK)
		goto out_close;
	s->durable_lsn = s->applied_lsn; /* wal_recover folded the whole WAL */
	if (!opts->offline) {
		err = socket_listen(s, detail, detail_cap);
		if (err == LZ_OK)
			err = control_listen(s, detail, detail_cap);
		if (err != LZ_OK)
			goto out_close;
	}
	s->next_fold_us = clock_monotonic_us() + (int64_t)cfg->snapshot_interval * 1000000;
	*out = s;
	return LZ_OK;

out_close:
	server_close(s);
	return err;
}

const char *server_url(const struct server *s)
{
	return s->cfg->persistd_url;
}

/* ---- replies ------------------------------------------------------------------------------ */

/* Sends s->out; a reply the broker does not take within SERVER_SEND_TIMEOUT_MS is dropped and
 * the conversation forgotten (the broker HELLOs again and resends what was not acked). */
static bool reply_send(struct server *s, const char *what)
{
	int rv = nng_send(s->sock, s->out.data, s->out.len, 0);

	if (rv == 0)
		return true;
	LZ_LOG(LOG_WARN, "cannot send a reply to the broker; it must say HELLO again", "reply=%s error=\"%s\"", what,
	       nng_strerror(rv));
	s->peer = 0;
	return false;
}

/* ERROR {code, text} to the broker, logged at warn level. */
static void reply_error(struct server *s, lz_err code, const char *text)
{
	LZ_LOG(LOG_WARN, "refused a broker message", "code=%s text=\"%s\"", err_name(code), text);
	strbuf_reset(&s->out);
	if (ipc_encode_error(&s->out, code, text) == LZ_OK)
		reply_send(s, "ERROR");
}

static void reply_ack(struct server *s)
{
	strbuf_reset(&s->out);
	/* An ACK is 10 bytes: encoding fails only without memory, and then the broker resends. */
	if (ipc_encode_ack(&s->out, s->durable_lsn) == LZ_OK)
		reply_send(s, "ACK");
}

/* ---- state transfer ----------------------------------------------------------------------- */

/* A STATE message being filled: payloads are copied into one buffer and the records point into
 * it only when the message is encoded (the buffer moves as it grows). */
struct state_batch {
	struct server *s;
	struct strbuf payloads;
	struct strbuf enc;           /* one journal_encode result */
	struct journal_rec *recs;    /* payload NULL until encoding; offs[i] is where it starts */
	size_t *offs;
	size_t n, cap;
	uint64_t sent;               /* records sent so far */
	bool dropped;                /* a send failed: the transfer was abandoned */
};

static lz_err state_flush(struct state_batch *b)
{
	lz_err err;

	if (b->n == 0)
		return LZ_OK;
	for (size_t i = 0; i < b->n; i++)
		b->recs[i].payload = (const uint8_t *)b->payloads.data + b->offs[i];
	strbuf_reset(&b->s->out);
	err = ipc_encode_records(&b->s->out, IPC_STATE, b->recs, b->n);
	if (err != LZ_OK)
		return err;
	if (!reply_send(b->s, "STATE")) {
		b->dropped = true;
		return LZ_ESTATE;
	}
	b->sent += b->n;
	b->n = 0;
	strbuf_reset(&b->payloads);
	return LZ_OK;
}

static lz_err state_add(struct state_batch *b, uint64_t lsn, int64_t ts_ms, enum journal_type type,
			const void *payload, size_t len)
{
	lz_err err;

	if (b->n == b->cap) {
		size_t cap = b->cap == 0 ? 256 : b->cap * 2;
		struct journal_rec *recs = realloc(b->recs, cap * sizeof(*recs));
		size_t *offs;

		if (recs == NULL)
			return LZ_ENOMEM;
		b->recs = recs;
		offs = realloc(b->offs, cap * sizeof(*offs));
		if (offs == NULL)
			return LZ_ENOMEM;
		b->offs = offs;
		b->cap = cap;
	}
	b->offs[b->n] = b->payloads.len;
	err = strbuf_add(&b->payloads, payload, len);
	if (err != LZ_OK)
		return err;
	b->recs[b->n] = (struct journal_rec){ lsn, type, ts_ms, NULL, len };
	b->n++;
	if (b->n >= SERVER_STATE_RECORDS || b->payloads.len >= SERVER_STATE_BYTES)
		return state_flush(b);
	return LZ_OK;
}

static lz_err state_add_load(struct state_batch *b, const struct jrec *r)
{
	lz_err err = journal_encode(r, &b->enc);

	if (err != LZ_OK)
		return err;
	return state_add(b, 0, 0, r->type, b->enc.data, b->enc.len);
}

static lz_err state_visit_entity(void *arg, const struct jrec_load_entity *e)
{
	struct jrec r = { .type = JREC_LOAD_ENTITY };

	r.u.load_entity = *e;
	return state_add_load(arg, &r);
}

static lz_err state_visit_message(void *arg, const struct jrec_load_message *m)
{
	struct jrec r = { .type = JREC_LOAD_MESSAGE };

	r.u.load_message = *m;
	return state_add_load(arg, &r);
}

static lz_err state_visit_wal(void *arg, const struct journal_rec *r)
{
	return state_add(arg, r->lsn, r->ts_ms, r->type, r->payload, r->len);
}

/*
 * Streams the backend and the WAL tail as STATE messages. LZ_OK also when a send failed (the
 * transfer is then abandoned, b.dropped); any other error is the backend's or the WAL's, fatal.
 */
static lz_err state_stream(struct server *s, uint64_t *sent, char *detail, size_t cap)
{
	struct state_batch b = { .s = s, .payloads = STRBUF_INIT, .enc = STRBUF_INIT };
	struct store_visitor v = { state_visit_entity, state_visit_message, &b };
	struct store_detail sd = { "" };
	char wdetail[512] = "";
	lz_err err;

	err = s->ops->load(s->store, &v, &sd);
	if (err != LZ_OK && !b.dropped) {
		err = fail(detail, cap, err, "state transfer: cannot load the %s backend: %s", s->ops->name,
			   sd.text[0] != '\0' ? sd.text : err_str(err));
		goto out_free;
	}
	if (!b.dropped && s->wal != NULL) {
		err = wal_read_from(s->wal, s->applied_lsn, state_visit_wal, &b, wdetail, sizeof(wdetail));
		if (err != LZ_OK && !b.dropped) {
			err = fail(detail, cap, err, "state transfer: cannot read wal %s after lsn %" PRIu64 ": %s",
				   s->wal_dir, s->applied_lsn, wdetail[0] != '\0' ? wdetail : err_str(err));
			goto out_free;
		}
	}
	err = b.dropped ? LZ_OK : state_flush(&b);
	if (err != LZ_OK && !b.dropped)
		err = fail(detail, cap, err, "state transfer: cannot encode a STATE message");
	else
		err = LZ_OK;
out_free:
	*sent = b.dropped ? 0 : b.sent;
	free(b.recs);
	free(b.offs);
	strbuf_release(&b.enc);
	strbuf_release(&b.payloads);
	return err;
}

/* ---- messages ----------------------------------------------------------------------------- */

static lz_err on_hello(struct server *s, const struct ipc_msg *m, uint32_t pipe, char *detail, size_t cap)
{
	uint64_t acked = m->u.hello.broker_acked_lsn;
	int64_t t0 = clock_monotonic_us();
	uint64_t sent = 0;
	lz_err err = fold_reap(s, true, detail, cap); /* the state transfer reads the backend */

	if (err != LZ_OK)
		return err;
	s->peer = pipe;
	if (acked > s->durable_lsn)
		log_write(LOG_ERROR, "acknowledged data was lost: the broker was acked records this store does not hold; "
				     "expect its next APPEND to be refused and check the disk and the wal",
			  "broker_acked_lsn=%" PRIu64 " durable_lsn=%" PRIu64 " instance=\"%.*s\"", acked, s->durable_lsn,
			  (int)m->u.hello.instance_id_len, m->u.hello.instance_id);
	strbuf_reset(&s->out);
	err = ipc_encode_welcome(&s->out, s->store_id, s->applied_lsn, s->durable_lsn);
	if (err != LZ_OK)
		return fail(detail, cap, err, "cannot encode WELCOME");
	if (!reply_send(s, "WELCOME"))
		return LZ_OK;
	if (acked == 0) {
		err = state_stream(s, &sent, detail, cap);
		if (err != LZ_OK)
			return err;
		if (s->peer == 0)
			return LZ_OK;
	}
	strbuf_reset(&s->out);
	err = ipc_encode_state_end(&s->out, s->durable_lsn);
	if (err != LZ_OK)
		return fail(detail, cap, err, "cannot encode STATE_END");
	if (!reply_send(s, "STATE_END"))
		return LZ_OK;
	LZ_LOG(LOG_INFO, "broker connected",
	       "instance=\"%.*s\" broker_acked_lsn=%" PRIu64 " base_lsn=%" PRIu64 " durable_lsn=%" PRIu64
	       " state_records=%" PRIu64 " ms=%.1f",
	       (int)m->u.hello.instance_id_len, m->u.hello.instance_id, acked, s->applied_lsn, s->durable_lsn, sent,
	       (double)(clock_monotonic_us() - t0) / 1000.0);
	return LZ_OK;
}

/* Checks records that are new here: they continue durable_lsn by 1 each and decode as journal
 * records that belong in a journal. false with `why` filled otherwise. */
static bool append_valid(const struct server *s, const struct journal_rec *recs, size_t n, lz_err *code,
			 char *why, size_t cap)
{
	for (size_t i = 0; i < n; i++) {
		struct jrec r;
		char jwhy[256];
		lz_err err;

		if (recs[i].lsn != s->durable_lsn + 1 + i) {
			*code = LZ_EINVAL;
			snprintf(why, cap, "record lsn %" PRIu64 " does not continue durable lsn %" PRIu64
				 " (expected %" PRIu64 "); resend from lsn %" PRIu64,
				 recs[i].lsn, s->durable_lsn, s->durable_lsn + 1 + i, s->durable_lsn + 1);
			return false;
		}
		if (recs[i].type == JREC_LOAD_ENTITY || recs[i].type == JREC_LOAD_MESSAGE) {
			*code = LZ_EINVAL;
			snprintf(why, cap, "record lsn %" PRIu64 ": %s belongs only in a state transfer", recs[i].lsn,
				 journal_type_name(recs[i].type));
			return false;
		}
		err = journal_decode(recs[i].type, recs[i].payload, recs[i].len, &r, jwhy, sizeof(jwhy));
		journal_rec_release(&r);
		if (err != LZ_OK) {
			*code = err;
			snprintf(why, cap, "record lsn %" PRIu64 " (%s) does not decode: %s", recs[i].lsn,
				 journal_type_name(recs[i].type), jwhy);
			return false;
		}
	}
	return true;
}

/* WAL disabled or in-memory storage: one backend transaction for the batch. A record that does
 * not fit the stored state is refused (nothing was committed); I/O errors are fatal. */
static lz_err append_fold(struct server *s, const struct journal_rec *recs, size_t n, bool *refused,
			  char *detail, size_t cap)
{
	struct store_detail sd = { "" };
	fold *f;
	lz_err err;

	err = fold_begin(s->ops, s->store, &f, &sd);
	if (err != LZ_OK)
		return fail(detail, cap, err, "cannot begin a %s transaction: %s", s->ops->name, sd.text);
	for (size_t i = 0; i < n && err == LZ_OK; i++)
		err = fold_record(f, &recs[i], &sd);
	if (err != LZ_OK) {
		fold_abort(f);
		if (err == LZ_ESYS || err == LZ_ENOMEM)
			return fail(detail, cap, err, "%s backend: %s", s->ops->name, sd.text);
		*refused = true;
		reply_error(s, err, sd.text);
		return LZ_OK;
	}
	err = fold_commit(f, &sd);
	if (err != LZ_OK)
		return fail(detail, cap, err, "%s backend commit through lsn %" PRIu64 " failed: %s", s->ops->name,
			    recs[n - 1].lsn, sd.text);
	s->applied_lsn = recs[n - 1].lsn;
	return LZ_OK;
}

/* Makes `recs` (the records of one or more APPEND messages from `pipe`, in order) durable with
 * one WAL write and one fdatasync, then sends one ACK. */
static lz_err append_records(struct server *s, const struct journal_rec *recs, size_t n, uint32_t pipe,
			     char *detail, size_t cap)
{
	size_t skip = 0;
	char why[512];
	bool refused = false;
	lz_err code = LZ_OK;
	lz_err err;

	if (pipe != s->peer) {
		reply_error(s, LZ_ESTATE, "APPEND before HELLO on this connection; say HELLO first");
		return LZ_OK;
	}
	while (skip < n && recs[skip].lsn <= s->durable_lsn)
		skip++;
	recs += skip;
	n -= skip;
	if (!append_valid(s, recs, n, &code, why, sizeof(why))) {
		reply_error(s, code, why);
		return LZ_OK;
	}
	if (n > 0 && s->wal != NULL) {
		err = wal_append(s->wal, recs, n, detail, cap);
		if (err == LZ_EINVAL || err == LZ_ETOOBIG) {
			reply_error(s, err, detail);
			return LZ_OK;
		}
		if (err != LZ_OK)
			return err;
	} else if (n > 0) {
		err = append_fold(s, recs, n, &refused, detail, cap);
		if (err != LZ_OK || refused)
			return err;
	}
	if (n > 0) {
		s->durable_lsn = recs[n - 1].lsn;
		s->records += n;
		if (s->wal != NULL)
			s->syncs++;
	}
	reply_ack(s);
	return LZ_OK;
}

/* Group commit: up to this many APPEND messages already waiting on the socket share one WAL
 * write, one fdatasync and one ACK. */
#define GROUP_MAX_MSGS 256

/* Takes APPEND messages from `pipe` that are already waiting (never blocks) into msgs[1..) and
 * their decoded forms into ms[1..); stops at the first other message, which is left in *other
 * (NULL if none). Returns how many entries msgs/ms now hold (msgs[0]/ms[0] being the first). */
static size_t group_collect(struct server *s, uint32_t pipe, nng_msg **msgs, struct ipc_msg *ms, nng_msg **other)
{
	size_t k = 1;

	*other = NULL;
	while (k < GROUP_MAX_MSGS) {
		nng_msg *msg;
		char why[64];

		if (nng_recvmsg(s->sock, &msg, NNG_FLAG_NONBLOCK) != 0)
			break;
		if ((uint32_t)nng_pipe_id(nng_msg_get_pipe(msg)) != pipe ||
		    ipc_decode(nng_msg_body(msg), nng_msg_len(msg), &ms[k], why, sizeof(why)) != LZ_OK) {
			*other = msg;
			break;
		}
		if (ms[k].type != IPC_APPEND) {
			ipc_msg_release(&ms[k]);
			*other = msg;
			break;
		}
		msgs[k++] = msg;
	}
	return k;
}

static lz_err on_append(struct server *s, nng_msg *first, struct ipc_msg *m, uint32_t pipe, nng_msg **other,
			char *detail, size_t cap)
{
	nng_msg *msgs[GROUP_MAX_MSGS];
	struct ipc_msg ms[GROUP_MAX_MSGS];
	struct journal_rec *all = NULL;
	size_t k, total = 0, at = 0;
	lz_err err;

	msgs[0] = first;
	ms[0] = *m;
	k = pipe == s->peer ? group_collect(s, pipe, msgs, ms, other) : 1;
	s->appends += k;
	if (k == 1)
		return append_records(s, m->u.records.recs, m->u.records.n, pipe, detail, cap);
	for (size_t i = 0; i < k; i++)
		total += ms[i].u.records.n;
	all = malloc((total ? total : 1) * sizeof(*all));
	if (all == NULL) {
		err = fail(detail, cap, LZ_ENOMEM, "out of memory grouping %zu appends", k);
		goto out_release_group;
	}
	/* A broker resending after a reconnect may repeat records: keep each LSN once, in order. */
	for (size_t i = 0; i < k; i++) {
		for (size_t j = 0; j < ms[i].u.records.n; j++) {
			const struct journal_rec *r = &ms[i].u.records.recs[j];

			if (at == 0 ? r->lsn > s->durable_lsn : r->lsn > all[at - 1].lsn)
				all[at++] = *r;
		}
	}
	err = append_records(s, all, at, pipe, detail, cap);
	free(all);
out_release_group:
	/* ms[0] and msgs[0] belong to the caller. */
	for (size_t i = 1; i < k; i++) {
		ipc_msg_release(&ms[i]);
		nng_msg_free(msgs[i]);
	}
	return err;
}

/* One received message; LZ_OK unless something fatal happened (detail filled). A message taken
 * from the socket but not handled (it ended an APPEND group) is left in *other. */
static lz_err server_handle(struct server *s, nng_msg *msg, nng_msg **other, char *detail, size_t cap)
{
	uint32_t pipe = (uint32_t)nng_pipe_id(nng_msg_get_pipe(msg));
	struct ipc_msg m;
	char why[256];
	lz_err err;

	*other = NULL;
	err = ipc_decode(nng_msg_body(msg), nng_msg_len(msg), &m, why, sizeof(why));
	if (err != LZ_OK) {
		reply_error(s, err, why);
		return LZ_OK;
	}
	switch (m.type) {
	case IPC_HELLO:
		err = on_hello(s, &m, pipe, detail, cap);
		break;
	case IPC_APPEND:
		err = on_append(s, msg, &m, pipe, other, detail, cap);
		break;
	default:
		snprintf(why, sizeof(why), "%s is not a message persistd accepts", ipc_type_name(m.type));
		reply_error(s, LZ_EINVAL, why);
		break;
	}
	ipc_msg_release(&m);
	return err;
}

/* ---- run / stop / close ------------------------------------------------------------------- */

lz_err server_run(struct server *s, char *detail, size_t detail_cap)
{
	struct store_detail sd = { "" };
	lz_err err = LZ_OK;

	nng_msg *next = NULL;

	while (!s->stop && err == LZ_OK) {
		nng_msg *msg = next;
		int rv = 0;

		next = NULL;
		if (msg == NULL)
			rv = nng_recvmsg(s->sock, &msg, 0);
		if (rv == 0) {
			err = server_handle(s, msg, &next, detail, detail_cap);
			nng_msg_free(msg);
		} else if (rv != NNG_ETIMEDOUT) {
			err = fail(detail, detail_cap, LZ_ESYS, "receiving on %s failed: %s", s->cfg->persistd_url,
				   nng_strerror(rv));
		}
		if (err == LZ_OK)
			err = fold_if_due(s, detail, detail_cap);
		if (err == LZ_OK)
			err = control_poll(s, detail, detail_cap);
	}
	if (next != NULL)
		nng_msg_free(next);
	if (err == LZ_OK)
		err = fold_reap(s, true, detail, detail_cap);
	if (err != LZ_OK)
		return err;
	if (fold_pending(s)) {
		err = server_fold(s, "stop", detail, detail_cap);
		if (err != LZ_OK)
			return err;
	}
	if (s->cfg->auto_compact) {
		err = s->ops->compact(s->store, &sd);
		if (err != LZ_OK)
			return fail(detail, detail_cap, err, "compacting the %s backend failed: %s", s->ops->name, sd.text);
		LZ_LOG(LOG_INFO, "compacted the backend", "backend=%s", s->ops->name);
	}
	return LZ_OK;
}

void server_stop(struct server *s)
{
	s->stop = 1;
}

void server_close(struct server *s)
{
	if (s == NULL)
		return;
	if (s->bg.running)
		pthread_join(s->bg.tid, NULL); /* it uses the backend and the WAL closed below */
	if (s->listening)
		nng_close(s->sock);
	if (s->ctl_open)
		nng_close(s->ctl);
	wal_close(s->wal);
	if (s->ops != NULL)
		s->ops->close(s->store);
	if (s->lock_fd >= 0 && close(s->lock_fd) != 0)
		LZ_LOG(LOG_WARN, "closing the data directory lock failed", "data_dir=%s error=\"%s\"", s->cfg->data_dir,
		       strerror(errno));
	strbuf_release(&s->out);
	free(s);
}

/* ---- operator commands (the localzure command, through persistd/control.c) ------------------- */

const struct settings *server_settings(const struct server *s)
{
	return s->cfg;
}

static void refuse(struct server_refusal *r, lz_err code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void refuse(struct server_refusal *r, lz_err code, const char *fmt, ...)
{
	va_list ap;

	r->code = code;
	va_start(ap, fmt);
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
}

/* Folds what the WAL holds past the backend's LSN, so the backend is the whole state. */
static lz_err fold_now(struct server *s, const char *why, char *detail, size_t cap)
{
	return fold_pending(s) ? server_fold(s, why, detail, cap) : LZ_OK;
}

lz_err server_status_get(struct server *s, struct server_status *out, char *detail, size_t cap)
{
	struct store_detail sd = { "" };
	lz_err err;

	memset(out, 0, sizeof(*out));
	err = s->ops->stats(s->store, &out->store, &sd);
	if (err != LZ_OK)
		return fail(detail, cap, err, "%s backend stats: %s", s->ops->name, sd.text);
	out->backend = s->ops->name;
	out->location = storage_is_persistent(s) ? s->shown : "";
	out->migrated_from = s->migrated_from;
	out->wal_enabled = s->wal != NULL;
	if (s->wal != NULL) {
		out->wal_bytes = wal_size_bytes(s->wal);
		out->wal_segments = wal_segment_count(s->wal);
		out->wal_first_lsn = wal_first_lsn(s->wal);
		out->wal_last_lsn = wal_last_lsn(s->wal);
	}
	out->wal_dir = s->wal != NULL ? s->wal_dir : "";
	out->applied_lsn = s->applied_lsn;
	out->durable_lsn = s->durable_lsn;
	out->last_fold_ms = s->last_fold_ms;
	out->last_fold_took_ms = s->last_fold_took_ms;
	out->broker_connected = s->peer != 0;
	out->appends = s->appends;
	out->records = s->records;
	out->syncs = s->syncs;
	return LZ_OK;
}

lz_err server_export(struct server *s, FILE *out, const char *path, const struct export_progress *progress,
		     struct export_counts *counts, struct server_refusal *r, char *detail, size_t cap)
{
	lz_err err = fold_now(s, "export", detail, cap);

	r->code = LZ_OK;
	if (err != LZ_OK)
		return err;
	err = export_write(s->ops, s->store, out, path, progress, counts, r->text, sizeof(r->text));
	if (err != LZ_OK)
		r->code = err;
	return LZ_OK;
}

struct import_ctx {
	struct server *s;
	struct store_detail sd;
	lz_err store_err; /* a failure of the backend (not of the file) */
	char *known;      /* the entity the previous message belonged to (they come grouped) */
};

static lz_err import_entity(void *arg, const struct jrec_load_entity *e, char *detail, size_t cap)
{
	struct import_ctx *ic = arg;
	lz_err err = ic->s->ops->put_entity(ic->s->store, e, &ic->sd);

	if (err != LZ_OK) {
		ic->store_err = err;
		fail(detail, cap, err, "%s backend: entity %s: %s", ic->s->ops->name, e->path, ic->sd.text);
	}
	return err;
}

static lz_err import_message(void *arg, const struct jrec_load_message *m, char *detail, size_t cap)
{
	struct import_ctx *ic = arg;
	struct jrec_load_entity e;
	lz_err err;

	if (ic->known == NULL || strcasecmp(ic->known, m->place.path) != 0) {
		err = ic->s->ops->get_entity(ic->s->store, m->place.path, &e, &ic->sd);
		if (err == LZ_ENOTFOUND)
			return fail(detail, cap, LZ_EPARSE, "message %s/%" PRIu64 " belongs to an entity the file "
					    "does not declare", m->place.path, m->place.seq);
		if (err != LZ_OK) {
			ic->store_err = err;
			return fail(detail, cap, err, "%s backend: entity %s: %s", ic->s->ops->name, m->place.path,
				    ic->sd.text);
		}
		journal_load_entity_release(&e);
		free(ic->known);
		ic->known = strdup(m->place.path);
		if (ic->known == NULL)
			return fail(detail, cap, LZ_ENOMEM, "out of memory");
	}
	err = ic->s->ops->put_message(ic->s->store, m, &ic->sd);
	if (err != LZ_OK) {
		ic->store_err = err;
		fail(detail, cap, err, "%s backend: message %s/%" PRIu64 ": %s", ic->s->ops->name, m->place.path,
		     m->place.seq, ic->sd.text);
	}
	return err;
}

/* Deletes every entity (with its messages) inside the open transaction. */
static lz_err import_clear(struct import_ctx *ic)
{
	struct store_paths l = { 0 };
	/* Listed first: list_entities' callback may not change the store. */
	lz_err err = ic->s->ops->list_entities(ic->s->store, "", store_paths_add, &l, &ic->sd);

	for (size_t i = 0; i < l.n && err == LZ_OK; i++) {
		err = ic->s->ops->delete_entity(ic->s->store, l.v[i], &ic->sd);
		if (err == LZ_ENOTFOUND)
			err = LZ_OK; /* a subscription deleted with its topic by this backend */
	}
	if (err != LZ_OK)
		ic->store_err = err;
	store_paths_release(&l);
	return err;
}

/* A fresh store id: the state is no longer what a running broker may hold, and a broker that
 * reconnects sees the new id in the WELCOME and reloads. */
static lz_err store_id_renew(struct server *s, char *detail, size_t cap)
{
	char path[SERVER_PATH_MAX];
	lz_err err;

	if (!storage_is_persistent(s))
		return random_fill(s->store_id, sizeof(s->store_id), detail, cap);
	if (path_join(path, sizeof(path), s->cfg->data_dir, "store_id") != LZ_OK)
		return fail(detail, cap, LZ_ETOOBIG, "data_dir %s: path too long", s->cfg->data_dir);
	err = random_fill(s->store_id, sizeof(s->store_id), detail, cap);
	if (err == LZ_OK)
		err = store_id_create(s->cfg->data_dir, path, s->store_id, detail, cap);
	return err;
}

lz_err server_import(struct server *s, FILE *in, const char *path, bool replace,
		     const struct export_progress *progress, struct export_counts *counts, struct server_refusal *r,
		     char *detail, size_t cap)
{
	struct import_ctx ic = { .s = s, .store_err = LZ_OK };
	struct export_sink sink = { import_entity, import_message, &ic };
	struct store_stats st;
	char why[1024] = "";
	lz_err err;

	r->code = LZ_OK;
	memset(counts, 0, sizeof(*counts));
	if (s->peer != 0) {
		refuse(r, LZ_ESTATE, "a broker is connected and holds the state in memory: stop the broker, import, "
				     "then start it again");
		return LZ_OK;
	}
	err = fold_now(s, "import", detail, cap);
	if (err != LZ_OK)
		return err;
	err = s->ops->stats(s->store, &st, &ic.sd);
	if (err != LZ_OK)
		return fail(detail, cap, err, "%s backend stats: %s", s->ops->name, ic.sd.text);
	if ((st.entities != 0 || st.messages != 0) && !replace) {
		refuse(r, LZ_EEXIST, "the %s store is not empty (%" PRIu64 " entities, %" PRIu64 " messages): pass "
				     "--replace to replace its contents",
		       s->ops->name, st.entities, st.messages);
		return LZ_OK;
	}
	err = s->ops->begin(s->store, &ic.sd);
	if (err != LZ_OK)
		return fail(detail, cap, err, "%s backend begin: %s", s->ops->name, ic.sd.text);
	/* One transaction: the old contents go and the file's come in atomically, or nothing changes. */
	if (replace)
		err = import_clear(&ic);
	if (err == LZ_OK)
		err = export_read(in, path, &sink, progress, counts, why, sizeof(why));
	free(ic.known);
	if (err != LZ_OK) {
		s->ops->rollback(s->store);
		if (ic.store_err != LZ_OK)
			return fail(detail, cap, ic.store_err, "import from %s: %s", path, why[0] ? why : ic.sd.text);
		refuse(r, err, "%s; nothing was changed", why);
		return LZ_OK;
	}
	err = s->ops->commit(s->store, s->durable_lsn, &ic.sd);
	if (err != LZ_OK)
		return fail(detail, cap, err, "%s backend commit of the import: %s", s->ops->name, ic.sd.text);
	s->applied_lsn = s->durable_lsn;
	LZ_LOG(LOG_INFO, "imported an export file", "file=\"%s\" entities=%" PRIu64 " messages=%" PRIu64
	       " replaced=%d backend=%s", path, counts->entities, counts->messages, (int)replace, s->ops->name);
	return store_id_renew(s, detail, cap);
}

lz_err server_compact(struct server *s, char *detail, size_t cap)
{
	struct store_detail sd = { "" };
	lz_err err = fold_now(s, "compact", detail, cap);

	if (err != LZ_OK)
		return err;
	err = s->ops->compact(s->store, &sd);
	if (err != LZ_OK)
		return fail(detail, cap, err, "compacting the %s backend failed: %s", s->ops->name, sd.text);
	LZ_LOG(LOG_INFO, "compacted the backend", "backend=%s", s->ops->name);
	return LZ_OK;
}

lz_err server_purge(struct server *s, struct server_refusal *r, char *detail, size_t cap)
{
	struct store_detail sd = { "" };
	lz_err err;

	r->code = LZ_OK;
	if (s->peer != 0) {
		refuse(r, LZ_ESTATE, "a broker is connected and holds the state in memory: stop the broker first");
		return LZ_OK;
	}
	err = fold_now(s, "purge", detail, cap);
	if (err != LZ_OK)
		return err;
	err = s->ops->purge(s->store, &sd);
	/* The WAL's records are all folded: the store must say so, or a restart would fold them again. */
	if (err == LZ_OK)
		err = s->ops->begin(s->store, &sd);
	if (err == LZ_OK)
		err = s->ops->commit(s->store, s->durable_lsn, &sd);
	if (err != LZ_OK)
		return fail(detail, cap, err, "purging the %s backend failed: %s", s->ops->name, sd.text);
	s->applied_lsn = s->durable_lsn;
	LZ_LOG(LOG_WARN, "purged every entity and message", "backend=%s lsn=%" PRIu64, s->ops->name, s->durable_lsn);
	return store_id_renew(s, detail, cap);
}

/* Writes the migration record durably: temp file, fsync, rename, directory fsync. */
static lz_err migrated_write(const char *dir, const char *type, const char *location, char *detail, size_t cap)
{
	char path[SERVER_PATH_MAX], tmp[SERVER_PATH_MAX];
	struct strbuf line = STRBUF_INIT;
	lz_err err;
	int fd;

	if (path_join(path, sizeof(path), dir, MIGRATED_NAME) != LZ_OK ||
	    path_join(tmp, sizeof(tmp), dir, MIGRATED_NAME ".tmp") != LZ_OK)
		return fail(detail, cap, LZ_ETOOBIG, "data_dir %s: path too long", dir);
	err = strbuf_addf(&line, "%s:%s\n", type, location);
	if (err != LZ_OK)
		return fail(detail, cap, err, "out of memory");
	fd = fsio_real.open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = fail(detail, cap, LZ_ESYS, "cannot create %s: %s", tmp, strerror(errno));
		goto out_release;
	}
	err = fsio_write_all(&fsio_real, fd, line.data, line.len);
	if (err == LZ_OK && fsio_real.fsync(fd) != 0)
		err = LZ_ESYS;
	if (fsio_real.close(fd) != 0 && err == LZ_OK)
		err = LZ_ESYS;
	if (err == LZ_OK && fsio_real.rename(tmp, path) != 0)
		err = LZ_ESYS;
	if (err == LZ_OK && fsio_fsync_dir(&fsio_real, dir) != LZ_OK)
		err = LZ_ESYS;
	if (err != LZ_OK)
		err = fail(detail, cap, LZ_ESYS, "cannot write %s: %s", path, strerror(errno));
out_release:
	strbuf_release(&line);
	return err;
}

/* A new store the whole state is copied into (server_copy_to, server_migrate). */
struct copy_target {
	const struct store_ops *ops;
	store *to;                      /* open after copy_into_new succeeded */
	char type[16];
	char location[SERVER_PATH_MAX];
	char shown[SERVER_PATH_MAX];    /* location with a URL's password masked */
};

/*
 * Parses `spec`, "TYPE[:LOCATION]" (sqlite, json or redis; LOCATION defaults to the configured
 * path of that type), opens that store and copies the backend's whole state into it, which must
 * be empty (store_copy). On success t->to is open; otherwise `r` says why and nothing is open.
 */
static void copy_into_new(struct server *s, const char *spec, struct copy_target *t, struct server_refusal *r)
{
	const struct settings *cfg = s->cfg;
	struct store_config sc = { NULL, cfg->pretty_json, cfg->redis_prefix };
	struct store_detail sd = { "" };
	const char *colon = strchr(spec, ':');
	lz_err err;

	r->code = LZ_OK;
	t->to = NULL;
	if ((colon != NULL ? (size_t)(colon - spec) : strlen(spec)) >= sizeof(t->type) ||
	    (colon != NULL && strlen(colon + 1) >= sizeof(t->location))) {
		refuse(r, LZ_EINVAL, "'%s' is not TYPE[:LOCATION]", spec);
		return;
	}
	snprintf(t->type, sizeof(t->type), "%.*s", colon != NULL ? (int)(colon - spec) : (int)strlen(spec), spec);
	t->ops = store_ops_find(t->type);
	if (t->ops == NULL || t->ops == &store_memory_ops) {
		refuse(r, LZ_EINVAL, "'%s' is not a backend to migrate to: use sqlite, json or redis", t->type);
		return;
	}
	snprintf(t->location, sizeof(t->location), "%s",
		 colon != NULL && colon[1] != '\0' ? colon + 1 : ops_location(cfg, t->ops));
	location_mask(t->location, t->shown, sizeof(t->shown));
	if (t->ops == s->ops && strcmp(t->location, s->location) == 0) {
		refuse(r, LZ_EINVAL, "%s:%s is the store in use", t->type, t->shown);
		return;
	}
	sc.location = t->location;
	err = t->ops->open(&sc, &t->to, &sd);
	if (err != LZ_OK) {
		refuse(r, err, "cannot open the %s backend at %s: %s", t->type, t->shown, sd.text);
		return;
	}
	err = store_copy(s->ops, s->store, t->ops, t->to, &sd);
	if (err == LZ_EEXIST)
		refuse(r, err, "the %s store at %s is not empty: purge it or choose another location", t->type,
		       t->shown);
	else if (err != LZ_OK)
		refuse(r, err, "copy to %s:%s failed (the state stays in %s): %s", t->type, t->shown, s->ops->name,
		       sd.text);
	if (err != LZ_OK) {
		t->ops->close(t->to);
		t->to = NULL;
	}
}

lz_err server_copy_to(struct server *s, const char *spec, char *detail, size_t detail_cap)
{
	const char *colon = strchr(spec, ':');
	struct server_refusal r;
	struct copy_target t;

	if (colon == NULL || colon == spec || colon[1] == '\0') {
		location_mask(spec, t.shown, sizeof(t.shown));
		return fail(detail, detail_cap, LZ_EINVAL,
			    "--copy-to takes TYPE:LOCATION (sqlite:FILE, json:DIR or redis:URL), not '%s'", t.shown);
	}
	copy_into_new(s, spec, &t, &r);
	if (r.code != LZ_OK)
		return fail(detail, detail_cap, r.code, "--copy-to: %s", r.text);
	LZ_LOG(LOG_INFO, "backend copied", "from=%s to=\"%s:%s\" lsn=%" PRIu64, s->ops->name, t.type, t.shown,
	       s->applied_lsn);
	t.ops->close(t.to);
	return LZ_OK;
}

lz_err server_migrate(struct server *s, const char *spec, struct server_refusal *r, char *detail, size_t cap)
{
	struct copy_target t;
	lz_err err;

	r->code = LZ_OK;
	if (!storage_is_persistent(s)) {
		refuse(r, LZ_ESTATE, "the in-memory backend keeps no WAL: migrating from it is not supported");
		return LZ_OK;
	}
	err = fold_now(s, "migrate", detail, cap);
	if (err != LZ_OK)
		return err;
	copy_into_new(s, spec, &t, r);
	if (r->code != LZ_OK)
		return LZ_OK;
	/* The record is the switch: once it is durable, a restart opens the new store. */
	err = migrated_write(s->cfg->data_dir, t.type, t.location, detail, cap);
	if (err != LZ_OK) {
		t.ops->close(t.to);
		return err;
	}
	snprintf(s->migrated_from, sizeof(s->migrated_from), "%s:%s", s->ops->name, s->shown);
	s->ops->close(s->store);
	s->ops = t.ops;
	s->store = t.to;
	snprintf(s->location, sizeof(s->location), "%s", t.location);
	snprintf(s->shown, sizeof(s->shown), "%s", t.shown);
	LZ_LOG(LOG_WARN, "migrated the state to another backend; set storage_type and its path to match",
	       "from=%s to=%s:%s lsn=%" PRIu64, s->migrated_from, t.type, t.shown, s->applied_lsn);
	return LZ_OK;
}
