/*
 * Slicing-by-8: table[0] is the classic byte-at-a-time table; table[k][b] is the CRC of byte b
 * followed by k zero bytes, so eight input bytes fold into the register with eight lookups.
 * Bytes are loaded one by one (little-endian order, as the reflected CRC consumes them), so the
 * code gives the same result on any host.
 */
#include "common/crc32c.h"

#include <pthread.h>

#define CRC32C_POLY 0x82F63B78u /* reflected Castagnoli polynomial */

static uint32_t crc32c_table[8][256];
static pthread_once_t crc32c_once = PTHREAD_ONCE_INIT;

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
}

uint32_t crc32c_update(uint32_t crc, const void *p, size_t n)
{
	const uint8_t *s = p;
	uint32_t c = ~crc;

	/* pthread_once cannot fail with a valid once-control and init routine. */
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
