/*
 * crc32c — CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of WAL records.
 *
 * Convention (the same as zlib's crc32()): the pre- and post-inversion happen inside, so
 *   crc = crc32c_update(0, data, n)
 * is the finished CRC of `data`, and a CRC over pieces chains by passing the previous result:
 *   crc32c_update(crc32c_update(0, a, na), b, nb) == crc32c_update(0, a || b, na + nb).
 * Check value: crc32c_update(0, "123456789", 9) == 0xE3069283. An empty input leaves `crc`
 * unchanged.
 *
 * Thread rules: any thread; the lookup tables are built and the CPU is probed for the SSE4.2 CRC32
 * instruction once, on first use (pthread_once).
 */
#ifndef LZ_COMMON_CRC32C_H
#define LZ_COMMON_CRC32C_H

#include <stddef.h>
#include <stdint.h>

uint32_t crc32c_update(uint32_t crc, const void *p, size_t n);

/* The same function without the SSE4.2 instruction: what crc32c_update() uses on other CPUs,
 * exposed so that tests can check that both give the same result. */
uint32_t crc32c_update_portable(uint32_t crc, const void *p, size_t n);

#endif
