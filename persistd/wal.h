/*
 * wal — persistd's write-ahead log: numbered segment files in one directory.
 *
 * Each segment is `<dir>/<first_lsn, 20 digits>.wal`, in the format of proto/wal.h (header with a
 * random salt, then records with length, CRC-32C, LSN, time, type and payload). LSNs are
 * contiguous across all segments: a record's LSN is the previous one + 1, and a segment's
 * first_lsn is the previous segment's last + 1.
 *
 * Calling sequence:
 *   wal_open()          creates the directory if missing, verifies every segment and record,
 *                       cuts a torn tail off the last segment (logged), refuses any other damage
 *                       unless opts.repair; fills a struct wal_recovery
 *   wal_read_from()     replays records after an LSN (e.g. the backend's last_applied_lsn)
 *   wal_append()*       one batch = one write + one fdatasync; the records are durable when it
 *                       returns LZ_OK, and only then may they be acked
 *   wal_drop_through()  after a durable fold: deletes segments wholly at or below an LSN
 *   wal_close()
 * Tools (localzure wal dump/verify) call wal_inspect() instead: the same checks, read-only.
 *
 * Errors (lz_err; `detail`, when not NULL, gets a one-line explanation of at most detail_cap
 * bytes, ≥ 256 recommended):
 *   LZ_ECRC / LZ_EPARSE  damage found by wal_open (or by wal_read_from if a file changed since):
 *                        "file <path> offset <n>: <what>; records <first>..<last> before it are
 *                        intact"; wal_open then modified nothing
 *   LZ_ESYS              a system call failed (errno text in detail). A failed write or sync in
 *                        wal_append (or any failed fsync) makes the wal unusable: every later
 *                        call except wal_close returns LZ_ESYS. The caller must exit without
 *                        acking anything from the failed batch; it never retries.
 *   LZ_EINVAL            bad options; records not continuing the log; a type outside 0..255
 *   LZ_ETOOBIG           a payload over WAL_PAYLOAD_MAX (32 MiB)
 *   LZ_ENOMEM            out of memory (the wal stays usable)
 *
 * Blocking: every call blocks in the file system (it reads, writes and syncs files).
 * Thread rules: a wal belongs to one thread, except that wal_read_range (below) may run on
 * another; no call may be made from inside a wal_read_from callback on the same wal.
 */
#ifndef LZ_PERSISTD_WAL_H
#define LZ_PERSISTD_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/fsio.h"
#include "proto/journal.h"

#define WAL_SEGMENT_MAX_DEFAULT (16u * 1024u * 1024u)
#define WAL_WHAT_MAX 192

typedef struct wal wal;

struct wal_opts {
	const char *dir;            /* created (one level, mode 0700) when missing */
	uint64_t segment_max_bytes; /* roll to a new segment past this size; 0: 16 MiB. A single
				     * batch never spans segments, so one big batch may exceed it */
	bool repair;                /* cut at damage instead of refusing (copies are kept) */
	const struct fsio_ops *io;  /* NULL: fsio_real */
};

/* What wal_open found and did. */
struct wal_recovery {
	uint64_t first_lsn;     /* wal_first_lsn() after recovery */
	uint64_t last_lsn;      /* wal_last_lsn() after recovery */
	size_t segments;        /* segment files after recovery */
	uint64_t records;       /* records verified */

	bool torn;              /* a torn tail was cut off the last segment */
	uint64_t torn_segment;  /* first_lsn naming that file */
	uint64_t torn_offset;   /* the file's new size; 0: no complete header, file deleted */
	uint64_t torn_bytes;    /* bytes cut */

	bool repaired;          /* opts.repair was set and damage was cut */
	uint64_t repair_segment;       /* first_lsn naming the damaged file */
	uint64_t repair_offset;        /* where it was cut; 0: the whole file was set aside */
	uint64_t repair_bytes;         /* bytes cut from the damaged file */
	size_t repair_later_segments;  /* later segment files set aside whole */
	int64_t repair_time;           /* <t> in the names `<file>.broken-<t>` of the kept copies */
	char repair_what[WAL_WHAT_MAX]; /* the damage, as the refusal would have described it */
};

/*
 * Opens (creating if needed) the WAL in opts->dir and verifies all of it (see the top comment
 * and DESIGN.md "persistd"): header, every record's CRC and LSN continuity within and across
 * segments, file names matching headers. A torn record at the end of the last segment — short,
 * or invalid with no valid record after it — is cut (ftruncate + fdatasync) and logged; a last
 * segment too short to hold its header (a crash while creating it) is deleted. Any other damage
 * refuses with LZ_ECRC or LZ_EPARSE and modifies nothing, unless opts->repair: then the damaged
 * file is copied to `<file>.broken-<unix time>`, later segments are renamed likewise, the
 * directory is fsynced, and the damaged file is truncated at the damage point.
 * Files whose names are not segment names are ignored. *out is NULL on failure; `rec` (OUT, may
 * be NULL) is filled on success.
 */
lz_err wal_open(const struct wal_opts *opts, wal **out, struct wal_recovery *rec, char *detail,
		size_t detail_cap);

/* What wal_inspect found; the damage and torn-tail fields mean what they do in wal_open. */
struct wal_inspection {
	size_t segments;        /* segment files in the directory */
	uint64_t records;       /* valid records before any damage or torn tail */
	uint64_t first_lsn;     /* LSN of the first of them; 0: none */
	uint64_t last_lsn;      /* LSN of the last of them; 0: none */
	uint64_t bytes;         /* headers and valid records: where the intact data ends */

	bool torn;              /* the last segment ends in a torn record: wal_open cuts it */
	uint64_t torn_segment;  /* first_lsn naming that file */
	uint64_t torn_offset;   /* where the valid part ends; 0: no complete header (deleted) */
	uint64_t torn_bytes;    /* bytes wal_open would cut */

	bool damaged;           /* damage wal_open refuses (then torn is false) */
	lz_err damage_err;      /* LZ_ECRC or LZ_EPARSE, as wal_open would return */
	uint64_t damaged_segment; /* first_lsn naming the damaged file */
	uint64_t damaged_offset;  /* byte offset of the damage; 0: the file as a whole (header) */
	size_t later_segments;    /* segment files after it, which --repair would set aside */
	char what[WAL_WHAT_MAX];  /* the damage, in wal_open's words */
};

/*
 * Checks the WAL in `dir` exactly as wal_open does, read-only: it creates, cuts, renames and
 * locks nothing, so it may run while persistd appends (a record being written at that moment
 * may show as a torn tail; a segment deleted by a fold meanwhile fails with LZ_ESYS). Calls fn
 * (may be NULL) for every valid record in LSN order, up to the first damage or torn tail; the
 * record and its payload are valid only during the call, and a non-LZ_OK return stops the walk
 * and is returned as it is. Damage is not an error: it is reported in *out (OUT), which is
 * filled whenever LZ_OK is returned. Errors: LZ_EINVAL (bad dir), LZ_ESYS (a missing directory
 * included; errno text in detail), LZ_ENOMEM.
 */
lz_err wal_inspect(const char *dir, lz_err (*fn)(void *arg, const struct journal_rec *r),
		   void *arg, struct wal_inspection *out, char *detail, size_t detail_cap);

/*
 * Appends `n` records (payloads borrowed for the call) and makes them durable: one write and one
 * fdatasync for the whole batch. recs[0].lsn must be wal_last_lsn() + 1 (any LSN ≥ 1 when the
 * WAL has no segment yet) and each next record's LSN one more, else LZ_EINVAL with nothing
 * written. Rolls to a new segment first when the current one holds records and would pass
 * segment_max_bytes (the new file's header is fdatasynced and the directory fsynced before the
 * records are written). n == 0 does nothing.
 */
lz_err wal_append(wal *w, const struct journal_rec *recs, size_t n, char *detail,
		  size_t detail_cap);

/*
 * Calls fn for every record with lsn > after_lsn, in LSN order, reading them back from the
 * segment files one at a time (memory stays at about 1 MiB or the largest record). The record
 * and its payload are valid only during the call. A non-LZ_OK return from fn stops the walk and
 * is returned as it is.
 */
lz_err wal_read_from(wal *w, uint64_t after_lsn,
		     lz_err (*fn)(void *arg, const struct journal_rec *r), void *arg, char *detail,
		     size_t detail_cap);

/* Deletes, oldest first, every segment whose records all have LSN ≤ `lsn`, never the segment
 * being written; then fsyncs the directory. Call only once those records are durable elsewhere. */
lz_err wal_drop_through(wal *w, uint64_t lsn, char *detail, size_t detail_cap);

/*
 * As wal_read_from for the records after_lsn < lsn <= through_lsn (all of them durable when it
 * is called), but callable from another thread while the owning thread goes on appending: it
 * copies the list of segments under the WAL's lock and opens each file itself. Meanwhile the
 * owning thread must neither drop (wal_drop_through) the segments it reads nor close the wal.
 */
lz_err wal_read_range(wal *w, uint64_t after_lsn, uint64_t through_lsn,
		      lz_err (*fn)(void *arg, const struct journal_rec *r), void *arg, char *detail,
		      size_t detail_cap);

/* Highest LSN in the WAL, which the next append must follow; 0 when the WAL has no segment.
 * A segment left empty by a crash right after its creation counts as ending at first_lsn - 1. */
uint64_t wal_last_lsn(const wal *w);

/* Lowest LSN of a record still in the WAL; 0 when it holds no record. */
uint64_t wal_first_lsn(const wal *w);

/* Bytes in all segment files (headers included). */
uint64_t wal_size_bytes(const wal *w);

size_t wal_segment_count(const wal *w);

/* Closes the files and frees the wal; wal_close(NULL) is a no-op. */
void wal_close(wal *w);

#endif
