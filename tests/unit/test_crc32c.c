/* Unit tests for common/crc32c: published check values (the CRC catalogue's "123456789" and the
 * iSCSI vectors of RFC 3720 B.4), chaining across every split point, and agreement with a
 * bit-at-a-time reference for every length and alignment of a pseudo-random buffer, by both the
 * dispatching and the portable implementation (which also chain into each other). */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "common/crc32c.h"

/* Bit-at-a-time CRC-32C, the definition the table-driven code must match. */
static uint32_t crc_reference(const uint8_t *p, size_t n)
{
	uint32_t c = 0xFFFFFFFFu;

	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int bit = 0; bit < 8; bit++)
			c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
	}
	return ~c;
}

START_TEST(test_check_values)
{
	uint8_t buf[32];

	ck_assert_uint_eq(crc32c_update(0, "123456789", 9), 0xE3069283u);
	ck_assert_uint_eq(crc32c_update(0, "a", 1), 0xC1D04330u);
	ck_assert_uint_eq(crc32c_update(0, "", 0), 0);
	ck_assert_uint_eq(crc32c_update(0x12345678u, NULL, 0), 0x12345678u);
	memset(buf, 0, sizeof(buf));
	ck_assert_uint_eq(crc32c_update(0, buf, sizeof(buf)), 0x8A9136AAu);
	memset(buf, 0xff, sizeof(buf));
	ck_assert_uint_eq(crc32c_update(0, buf, sizeof(buf)), 0x62A8AB43u);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	ck_assert_uint_eq(crc32c_update(0, buf, sizeof(buf)), 0x46DD794Eu);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	ck_assert_uint_eq(crc32c_update(0, buf, sizeof(buf)), 0x113FDB5Cu);
}
END_TEST

START_TEST(test_chaining)
{
	static const char text[] = "The quick brown fox jumps over the lazy dog, twice over.";
	size_t n = sizeof(text) - 1;
	uint32_t whole = crc32c_update(0, text, n);

	ck_assert_uint_eq(whole, crc_reference((const uint8_t *)text, n));
	for (size_t cut = 0; cut <= n; cut++) {
		uint32_t c = crc32c_update(0, text, cut);

		ck_assert_uint_eq(crc32c_update(c, text + cut, n - cut), whole);
	}
}
END_TEST

START_TEST(test_matches_reference)
{
	uint8_t buf[300];
	uint64_t x = 42;

	for (size_t i = 0; i < sizeof(buf); i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		buf[i] = (uint8_t)(x >> 33);
	}
	for (size_t start = 0; start < 9; start++)
		for (size_t len = 0; start + len <= sizeof(buf); len++) {
			uint32_t want = crc_reference(buf + start, len);

			ck_assert_uint_eq(crc32c_update(0, buf + start, len), want);
			ck_assert_uint_eq(crc32c_update_portable(0, buf + start, len), want);
			ck_assert_uint_eq(crc32c_update_portable(crc32c_update(0, buf, start), buf + start, len),
					  crc32c_update(0, buf, start + len));
		}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("crc32c");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_check_values);
	tcase_add_test(tc, test_chaining);
	tcase_add_test(tc, test_matches_reference);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
