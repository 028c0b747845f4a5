/*
 * endian — explicit big-endian stores and loads for durable and wire formats.
 *
 * Every multi-byte integer a format writes goes through these helpers, one byte at a time, so a
 * file never depends on the host's byte order or on struct padding. `p` needs no alignment.
 * Signed values are stored as their two's-complement bit pattern (cast to the unsigned type).
 *
 * Thread rules: none (pure functions).
 */
#ifndef LZ_COMMON_ENDIAN_H
#define LZ_COMMON_ENDIAN_H

#include <stdint.h>

static inline void endian_put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void endian_put_u64(uint8_t *p, uint64_t v)
{
	endian_put_u32(p, (uint32_t)(v >> 32));
	endian_put_u32(p + 4, (uint32_t)v);
}

static inline uint32_t endian_get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static inline uint64_t endian_get_u64(const uint8_t *p)
{
	return (uint64_t)endian_get_u32(p) << 32 | endian_get_u32(p + 4);
}

#endif
