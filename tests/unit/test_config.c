/* Unit tests for broker/config: defaults, every LOCALZURE_* key, and the error for each invalid
 * value (naming the key and the accepted values). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "broker/config.h"
#include "common/err.h"

#define ck_assert_err(expr, want)                                                          \
	do {                                                                               \
		lz_err got_ = (expr);                                                      \
		ck_assert_msg(got_ == (want), "%s: got %s, want %s", #expr, err_name(got_), \
			      err_name(want));                                             \
	} while (0)

static void expect_invalid(const char *entry, const char *key, const char *accepted)
{
	const char *envp[] = { "PATH=/bin", entry, NULL };
	struct broker_config cfg;
	struct lz_detail d = { "" };

	ck_assert_err(broker_config_from_env(&cfg, envp, &d), LZ_EINVAL);
	ck_assert_msg(strstr(d.text, key) != NULL, "'%s' does not name %s", d.text, key);
	ck_assert_msg(strstr(d.text, accepted) != NULL, "'%s' does not list '%s'", d.text, accepted);
}

/* broker/config maps the shared settings (tested in test_settings.c) onto the broker's fields. */
START_TEST(test_defaults)
{
	const char *envp[] = { "HOME=/root", "LOCALZURE_HTTP_PORT=", NULL };
	struct broker_config cfg;

	ck_assert_err(broker_config_from_env(&cfg, envp, NULL), LZ_OK);
	ck_assert_str_eq(cfg.http_host, "127.0.0.1");
	ck_assert_uint_eq(cfg.http_port, 5300);
	ck_assert_uint_eq(cfg.http_threads, 2);
	ck_assert_int_eq(cfg.durability, DURABILITY_SYNC);
	ck_assert(!cfg.manual_clock);
	ck_assert(!cfg.has_clock_start);
	ck_assert_uint_eq(cfg.max_message_bytes, 262144);
	ck_assert_int_eq(cfg.log_level, LOG_INFO);
	ck_assert_str_eq(cfg.namespace_name, "localzure");
	ck_assert_str_eq(cfg.persistd_url, "ipc://./localzure-data/persistd.ipc");
	ck_assert_int_eq(cfg.persistd_timeout_ms, 5000);
}
END_TEST

START_TEST(test_all_keys)
{
	const char *envp[] = {
		"LOCALZURE_HTTP_HOST=::1", "LOCALZURE_HTTP_PORT=0", "LOCALZURE_HTTP_THREADS=4",
		"LOCALZURE_DURABILITY=async", "LOCALZURE_CLOCK=manual", "LOCALZURE_CLOCK_START_MS=-1000",
		"LOCALZURE_MAX_MESSAGE_SIZE=1048576", "LOCALZURE_LOG_LEVEL=debug", "LOCALZURE_NAMESPACE=my-ns1",
		"LOCALZURE_DATA_DIR=/tmp/lzdata", "LOCALZURE_PERSISTD_TIMEOUT_MS=250", NULL,
	};
	struct broker_config cfg;

	ck_assert_err(broker_config_from_env(&cfg, envp, NULL), LZ_OK);
	ck_assert_str_eq(cfg.http_host, "::1");
	ck_assert_uint_eq(cfg.http_port, 0);
	ck_assert_uint_eq(cfg.http_threads, 4);
	ck_assert_int_eq(cfg.durability, DURABILITY_ASYNC);
	ck_assert(cfg.manual_clock);
	ck_assert(cfg.has_clock_start);
	ck_assert_int_eq(cfg.clock_start_ms, -1000);
	ck_assert_uint_eq(cfg.max_message_bytes, 1048576);
	ck_assert_int_eq(cfg.log_level, LOG_DEBUG);
	ck_assert_str_eq(cfg.namespace_name, "my-ns1");
	ck_assert_str_eq(cfg.persistd_url, "ipc:///tmp/lzdata/persistd.ipc");
	ck_assert_int_eq(cfg.persistd_timeout_ms, 250);
}
END_TEST

START_TEST(test_invalid_values)
{
	expect_invalid("LOCALZURE_HTTP_PORT=65536", "LOCALZURE_HTTP_PORT", "65535");
	expect_invalid("LOCALZURE_DURABILITY=maybe", "LOCALZURE_DURABILITY", "sync");
	expect_invalid("LOCALZURE_CLOCK=fake", "LOCALZURE_CLOCK", "manual");
	/* An unknown key is an error, not a silent no-op (it may be a typo of a real one). */
	expect_invalid("LOCALZURE_HTTP_PORTX=1", "LOCALZURE_HTTP_PORTX", "LOCALZURE_");
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_all_keys);
	tcase_add_test(tc, test_invalid_values);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
