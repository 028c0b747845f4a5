/*
 * Two implementations of one function. Slicing-by-8 (portable): table[0] is the classic
 * byte-at-a-time table; table[k][b] is the CRC of byte b followed by k zero bytes, so eight input
 * bytes fold into the register with eight lookups; bytes are loaded one by one (little-endian
 * order, as the reflected CRC consumes them), so the code gives the same result on any host.
 * On x86-64 CPUs with SSE4.2 the CRC32 instruction (which computes exactly CRC-32C) does eight
 * bytes per instruction, several times faster; the choice is made once, at first use.
 */
#include "common/crc32c.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#define CRC32C_POLY 0x82F63B78u /* reflected Castagnoli polynomial */

static uint32_t crc32c_table[8][256];
static pthread_once_t crc32c_once = PTHREAD_ONCE_INIT;
static bool crc32c_use_hw;

static void crc32c_table_build(void)
{
	for (uint32_t b = 0; b < 256; b++) {
		uint32_t c = b;

		for (int bit = 0; bit < 8; bit++)
			c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
		crc32c_table[0][b] = c;
	}
	for (uint32_t b = 0; b < 256; b++) {
		uint32_t c = crc32c_table[0][b];

		for (int k = 1; k < 8; k++) {
			c = (c >> 8) ^ crc32c_table[0][c & 0xff];
			crc32c_table[k][b] = c;
		}
	}
#if defined(__x86_64__) && defined(__GNUC__)
	__builtin_cpu_init();
	crc32c_use_hw = __builtin_cpu_supports("sse4.2");
#endif
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t c, const uint8_t *s, size_t n)
{
	while (n >= 8) {
		uint64_t v;

		memcpy(&v, s, sizeof(v)); /* x86 is little-endian, the order the CRC consumes bytes */
		c = (uint32_t)__builtin_ia32_crc32di(c, v);
		s += 8;
		n -= 8;
	}
	while (n-- > 0)
		c = __builtin_ia32_crc32qi(c, *s++);
	return c;
}
#endif

uint32_t crc32c_update(uint32_t crc, const void *p, size_t n)
{
	/* pthread_once cannot fail with a valid once-control and init routine. */
	(void)pthread_once(&crc32c_once, crc32c_table_build);
#if defined(__x86_64__) && defined(__GNUC__)
	if (crc32c_use_hw)
		return n == 0 ? crc : ~crc32c_hw(~crc, p, n);
#endif
	return crc32c_update_portable(crc, p, n);
}

uint32_t crc32c_update_portable(uint32_t crc, const void *p, size_t n)
{
	const uint8_t *s = p;
	uint32_t c = ~crc;

	(void)pthread_once(&crc32c_once, crc32c_table_build);
	while (n >= 8) {
		uint32_t lo = c ^ ((uint32_t)s[0] | (uint32_t)s[1] << 8 | (uint32_t)s[2] << 16 |
				   (uint32_t)s[3] << 24);

		c = crc32c_table[7][lo & 0xff] ^ crc32c_table[6][(lo >> 8) & 0xff] ^
		    crc32c_table[5][(lo >> 16) & 0xff] ^ crc32c_table[4][lo >> 24] ^
		    crc32c_table[3][s[4]] ^ crc32c_table[2][s[5]] ^ crc32c_table[1][s[6]] ^
		    crc32c_table[0][s[7]];
		s += 8;
		n -= 8;
	}
	while (n-- > 0)
		c = (c >> 8) ^ crc32c_table[0][(c ^ *s++) & 0xff];
	return ~c;
}
