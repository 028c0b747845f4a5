/*
 * export — the export file: a store's whole state as one streamed, versioned text file that
 * `localzure storage export` writes and `storage import-data` reads (format at the top of
 * export.c). Both directions stream: memory stays flat whatever the number of messages.
 *
 * export_write reads `store` through ops->load (entities, then messages) and writes the file
 * to `out`. export_read parses a file and hands every entity and message, in file order, to the
 * callbacks (borrowed: valid during the call); it checks the header, every line, the order
 * (entities before messages) and the trailer's counts, so a truncated or edited file is
 * refused with its line number.
 *
 * Progress: `progress` (may be NULL) is called every few thousand items with done / total
 * (total from the header or the store's stats).
 *
 * Errors: LZ_ESYS for I/O (detail names the file and errno text), LZ_EPARSE / LZ_EUNSUPPORTED for
 * a file that is not an export of a version this build reads (detail names file:line and the
 * field), the callbacks' or the store's codes otherwise.
 *
 * Thread rules: none; the store handle's rules apply (one thread).
 */
#ifndef LZ_PERSISTD_EXPORT_H
#define LZ_PERSISTD_EXPORT_H

#include <stdint.h>
#include <stdio.h>

#include "common/err.h"
#include "persistd/store.h"
#include "proto/journal.h"

#define EXPORT_FORMAT_VERSION 1

struct export_progress {
	void (*fn)(void *arg, uint64_t done, uint64_t total);
	void *arg;
};

struct export_counts {
	uint64_t entities, messages;
	uint64_t lsn;   /* the store's last_applied_lsn written in / read from the header */
	uint64_t bytes; /* file bytes written or read */
};

lz_err export_write(const struct store_ops *ops, store *s, FILE *out, const char *path,
		    const struct export_progress *progress, struct export_counts *counts, char *detail, size_t cap);

struct export_sink {
	lz_err (*entity)(void *arg, const struct jrec_load_entity *e, char *detail, size_t cap);
	lz_err (*message)(void *arg, const struct jrec_load_message *m, char *detail, size_t cap);
	void *arg;
};

lz_err export_read(FILE *in, const char *path, const struct export_sink *sink, const struct export_progress *progress,
		   struct export_counts *counts, char *detail, size_t cap);

#endif
