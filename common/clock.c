#include "common/clock.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

struct lz_clock {
	bool manual;
	_Atomic int64_t now_ms;
};

lz_err clock_new(bool manual, int64_t start_ms, lz_clock **out)
{
	lz_clock *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return LZ_ENOMEM;
	c->manual = manual;
	atomic_store(&c->now_ms, start_ms);
	*out = c;
	return LZ_OK;
}

void clock_free(lz_clock *c)
{
	free(c);
}

int64_t clock_now(const lz_clock *c)
{
	struct timespec ts;

	if (c->manual)
		return atomic_load(&((lz_clock *)c)->now_ms);
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool clock_is_manual(const lz_clock *c)
{
	return c->manual;
}

lz_err clock_advance(lz_clock *c, int64_t delta_ms)
{
	if (!c->manual)
		return LZ_ESTATE;
	if (delta_ms < 0)
		return LZ_ERANGE;
	atomic_fetch_add(&c->now_ms, delta_ms);
	return LZ_OK;
}

int64_t clock_monotonic_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
