/*
 * fold — applies journal records to a storage backend, record by record, with the meaning
 * proto/journal.h gives each record type (the broker's core applies the same records to its
 * memory; the restart tests compare the two).
 *
 * Calling sequence: fold_begin → fold_record* → fold_commit (or fold_abort). One fold is one
 * backend transaction: fold_commit stores every change together with last_applied_lsn = the
 * highest LSN folded. Records at or below the store's last_applied_lsn are skipped, so folding
 * the same WAL twice is harmless. Entities touched by the fold are cached and written once at
 * commit, so a fold costs in proportion to the records folded, not to the state.
 *
 * Errors: LZ_EPARSE for a record that does not decode; LZ_EINVAL for a record that does not fit
 * the stored state (detail names LSN and object); LZ_ESYS from the backend (fatal for persistd).
 * After any error the fold must be aborted. Thread rules: one thread; blocks on backend I/O.
 */
#ifndef LZ_PERSISTD_FOLD_H
#define LZ_PERSISTD_FOLD_H

#include "persistd/store.h"

typedef struct fold fold;

lz_err fold_begin(const struct store_ops *ops, store *s, fold **out, struct store_detail *detail);
lz_err fold_record(fold *f, const struct journal_rec *rec, struct store_detail *detail);
/* Commits at the highest LSN seen (or the store's previous one if nothing was folded) and frees f. */
lz_err fold_commit(fold *f, struct store_detail *detail);
void fold_abort(fold *f); /* rolls back and frees; NULL is a no-op */

/* LSN of the last record folded (or skipped) so far. */
uint64_t fold_last_lsn(const fold *f);

#endif
