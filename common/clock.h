/*
 * clock — the one time source for TTL, locks, scheduling, idle deletion and long polls.
 *
 * A clock is either real (CLOCK_REALTIME in milliseconds) or manual: a manual clock starts at a
 * given instant and moves only when clock_advance() is called, so tests never sleep to wait for
 * an expiry. Times are int64 milliseconds since the Unix epoch, UTC.
 *
 * Thread rules: clock_now() and clock_advance() may be called from any thread (atomic).
 * Ownership: clock_new() returns a clock the caller frees with clock_free(); clock_free(NULL) is
 * a no-op.
 */
#ifndef LZ_COMMON_CLOCK_H
#define LZ_COMMON_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"

typedef struct lz_clock lz_clock;

/* A real clock when `manual` is false; otherwise a manual clock starting at `start_ms`. */
lz_err clock_new(bool manual, int64_t start_ms, lz_clock **out);
void clock_free(lz_clock *c);

int64_t clock_now(const lz_clock *c);
bool clock_is_manual(const lz_clock *c);

/* Moves a manual clock forward by `delta_ms` (≥ 0); LZ_ESTATE on a real clock, LZ_ERANGE for a
 * negative delta. */
lz_err clock_advance(lz_clock *c, int64_t delta_ms);

/* Microseconds of CLOCK_MONOTONIC, for measuring latencies; unrelated to any lz_clock. */
int64_t clock_monotonic_us(void);

#endif
