/* Unit tests for common/settings: defaults, the order environment > file > defaults, every key's
 * accepted and refused values from both sources (the error names the key, where the value came
 * from and the accepted values), unknown keys, YAML syntax and shape errors with their position,
 * derived paths, booleans, size suffixes, URLs, and a dump that loads back to the same settings. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "common/settings.h"
#include "common/strbuf.h"

#define ck_assert_err(expr, want)                                                          \
	do {                                                                               \
		lz_err got_ = (expr);                                                      \
		ck_assert_msg(got_ == (want), "%s: got %s, want %s", #expr, err_name(got_), \
			      err_name(want));                                             \
	} while (0)

#define DETAIL_CAP 2048

static const char *const no_env[] = { "PATH=/usr/bin", "HOME=/root", NULL };

static char tmpdir[64];
static unsigned file_seq;

/* Checked fixture: runs around every test, in the test's process, even when it fails. */
static void tmpdir_create(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/lz-settings-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void tmpdir_remove(void)
{
	char cmd[128];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Writes `text` to a new file in tmpdir; returns its path (static buffer, one at a time). */
static const char *yaml_write(const char *text)
{
	static char path[128];
	FILE *f;

	snprintf(path, sizeof path, "%s/c%u.yaml", tmpdir, file_seq++);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(text, 1, strlen(text), f), strlen(text));
	ck_assert_int_eq(fclose(f), 0);
	return path;
}

static void load_ok(const char *yaml, const char *const *envp, struct settings *s)
{
	char detail[DETAIL_CAP];

	ck_assert_msg(settings_load(yaml, envp, s, detail, sizeof detail) == LZ_OK, "%s", detail);
}

static void expect_detail(const char *detail, const char *needle)
{
	ck_assert_msg(strstr(detail, needle) != NULL, "'%s' does not contain '%s'", detail, needle);
}

static void expect_defaults(const struct settings *s)
{
	ck_assert_ptr_null(s->config_path);
	ck_assert_str_eq(s->http_host, "127.0.0.1");
	ck_assert_uint_eq(s->http_port, 5300);
	ck_assert_uint_eq(s->http_threads, 2);
	ck_assert_int_eq(s->durability, SETTINGS_DURABILITY_SYNC);
	ck_assert_int_eq(s->clock, SETTINGS_CLOCK_REAL);
	ck_assert(!s->has_clock_start);
	ck_assert_uint_eq(s->max_message_size, 262144);
	ck_assert_int_eq(s->log_level, LOG_INFO);
	ck_assert_str_eq(s->namespace_name, "localzure");
	ck_assert_int_eq(s->storage_type, SETTINGS_STORAGE_SQLITE);
	ck_assert_str_eq(s->data_dir, "./localzure-data");
	ck_assert_str_eq(s->sqlite_path, "./localzure-data/localzure.db");
	ck_assert_str_eq(s->json_path, "./localzure-data/json");
	ck_assert(!s->pretty_json);
	ck_assert_uint_eq(s->snapshot_interval, 60);
	ck_assert(s->wal_enabled);
	ck_assert_uint_eq(s->wal_max_bytes, 64u * 1024 * 1024);
	ck_assert(!s->auto_compact);
	ck_assert_str_eq(s->persistd_url, "ipc://./localzure-data/persistd.ipc");
	ck_assert_int_eq(s->persistd_timeout_ms, 5000);
	ck_assert_str_eq(s->control_url, "ipc://./localzure-data/control.ipc");
}

START_TEST(test_defaults)
{
	const char *const empty_vars[] = { "LOCALZURE_HTTP_PORT=", "LOCALZURE_CONFIG=", "OTHER=1", NULL };
	struct settings s;

	load_ok(NULL, no_env, &s);
	expect_defaults(&s);
	settings_release(&s);
	/* Empty variables count as unset. */
	load_ok(NULL, empty_vars, &s);
	expect_defaults(&s);
	settings_release(&s);
	/* An empty file, a file of comments and a bare document separator are all "no settings". */
	load_ok(yaml_write(""), no_env, &s);
	ck_assert_ptr_nonnull(s.config_path);
	ck_assert_uint_eq(s.http_port, 5300);
	settings_release(&s);
	load_ok(yaml_write("# nothing here\n\n"), no_env, &s);
	settings_release(&s);
	load_ok(yaml_write("---\n...\n"), no_env, &s);
	ck_assert_str_eq(s.sqlite_path, "./localzure-data/localzure.db");
	settings_release(&s);
	/* Releasing twice, or a zeroed struct, is harmless. */
	settings_release(&s);
}
END_TEST

START_TEST(test_env_beats_file_beats_defaults)
{
	struct settings s;
	const char *path;
	char config_var[160];

	path = yaml_write("# test\nhttp_port: 6000\nstorage_type: json\nnamespace: from-file\n");
	{
		const char *const envp[] = { "LOCALZURE_HTTP_PORT=7000", "LOCALZURE_NAMESPACE=", NULL };

		load_ok(path, envp, &s);
		ck_assert_uint_eq(s.http_port, 7000);                     /* env over file */
		ck_assert_int_eq(s.storage_type, SETTINGS_STORAGE_JSON);   /* file over default */
		ck_assert_str_eq(s.namespace_name, "from-file");          /* empty env = unset */
		ck_assert_uint_eq(s.http_threads, 2);                      /* default */
		ck_assert_str_eq(s.config_path, path);
		settings_release(&s);
	}
	/* LOCALZURE_CONFIG names the file when the daemon passes none. */
	snprintf(config_var, sizeof config_var, "LOCALZURE_CONFIG=%s", path);
	{
		const char *const envp[] = { config_var, NULL };

		load_ok(NULL, envp, &s);
		ck_assert_uint_eq(s.http_port, 6000);
		ck_assert_str_eq(s.config_path, path);
		settings_release(&s);
	}
	/* --config (the yaml_path argument) beats LOCALZURE_CONFIG. */
	{
		const char *const envp[] = { "LOCALZURE_CONFIG=/nonexistent/x.yaml", NULL };

		load_ok(path, envp, &s);
		ck_assert_uint_eq(s.http_port, 6000);
		settings_release(&s);
	}
	/* A repeated variable counts once, as getenv() reads it: the first one. */
	{
		const char *const envp[] = { "LOCALZURE_HTTP_PORT=1", "LOCALZURE_HTTP_PORT=2", NULL };

		load_ok(NULL, envp, &s);
		ck_assert_uint_eq(s.http_port, 1);
		settings_release(&s);
	}
}
END_TEST

START_TEST(test_every_key_accepted)
{
	const char *const envp[] = {
		"LOCALZURE_HTTP_HOST=::1",
		"LOCALZURE_HTTP_PORT=0",
		"LOCALZURE_HTTP_THREADS=256",
		"LOCALZURE_DURABILITY=async",
		"LOCALZURE_CLOCK=manual",
		"LOCALZURE_CLOCK_START_MS=-62135596800000",
		"LOCALZURE_MAX_MESSAGE_SIZE=100 MiB",
		"LOCALZURE_LOG_LEVEL=DEBUG",
		"LOCALZURE_NAMESPACE=ns-1",
		"LOCALZURE_STORAGE_TYPE=memory",
		"LOCALZURE_DATA_DIR=/var/lib/lz",
		"LOCALZURE_SQLITE_PATH=/db/x.db",
		"LOCALZURE_JSON_PATH=/json",
		"LOCALZURE_PRETTY_JSON=Yes",
		"LOCALZURE_SNAPSHOT_INTERVAL=86400",
		"LOCALZURE_WAL_ENABLED=0",
		"LOCALZURE_WAL_MAX_BYTES=1TiB",
		"LOCALZURE_AUTO_COMPACT=TRUE",
		"LOCALZURE_PERSISTD_URL=tcp://[::1]:7001",
		"LOCALZURE_PERSISTD_TIMEOUT_MS=1",
		"LOCALZURE_CONTROL_URL=tcp://localhost:65535",
		NULL,
	};
	struct settings s;

	load_ok(NULL, envp, &s);
	ck_assert_str_eq(s.http_host, "::1");
	ck_assert_uint_eq(s.http_port, 0);
	ck_assert_uint_eq(s.http_threads, 256);
	ck_assert_int_eq(s.durability, SETTINGS_DURABILITY_ASYNC);
	ck_assert_int_eq(s.clock, SETTINGS_CLOCK_MANUAL);
	ck_assert(s.has_clock_start);
	ck_assert_int_eq(s.clock_start_ms, -62135596800000LL);
	ck_assert_uint_eq(s.max_message_size, 104857600);
	ck_assert_int_eq(s.log_level, LOG_DEBUG);
	ck_assert_str_eq(s.namespace_name, "ns-1");
	ck_assert_int_eq(s.storage_type, SETTINGS_STORAGE_MEMORY);
	ck_assert_str_eq(s.data_dir, "/var/lib/lz");
	ck_assert_str_eq(s.sqlite_path, "/db/x.db");
	ck_assert_str_eq(s.json_path, "/json");
	ck_assert(s.pretty_json);
	ck_assert_uint_eq(s.snapshot_interval, 86400);
	ck_assert(!s.wal_enabled);
	ck_assert_uint_eq(s.wal_max_bytes, 1ULL << 40);
	ck_assert(s.auto_compact);
	ck_assert_str_eq(s.persistd_url, "tcp://[::1]:7001");
	ck_assert_int_eq(s.persistd_timeout_ms, 1);
	ck_assert_str_eq(s.control_url, "tcp://localhost:65535");
	settings_release(&s);
}
END_TEST

/* One refused value: the key, its variable, the value and a piece of the accepted values. */
struct bad_case {
	const char *key;
	const char *var;
	const char *value;
	const char *accepted;
};

static const struct bad_case bad_cases[] = {
	{ "http_host", "LOCALZURE_HTTP_HOST", "a b", "IP address or host name" },
	{ "http_host", "LOCALZURE_HTTP_HOST", "h/x", "IP address or host name" },
	{ "http_host", "LOCALZURE_HTTP_HOST", "0123456789012345678901234567890123456789012345678901234567890123",
	  "up to 63" },
	{ "http_port", "LOCALZURE_HTTP_PORT", "65536", "0..65535" },
	{ "http_port", "LOCALZURE_HTTP_PORT", "-1", "0..65535" },
	{ "http_port", "LOCALZURE_HTTP_PORT", "+80", "0..65535" },
	{ "http_port", "LOCALZURE_HTTP_PORT", " 80", "0..65535" },
	{ "http_port", "LOCALZURE_HTTP_PORT", "80x", "0..65535" },
	{ "http_port", "LOCALZURE_HTTP_PORT", "0x50", "0..65535" },
	{ "http_threads", "LOCALZURE_HTTP_THREADS", "0", "1..256" },
	{ "http_threads", "LOCALZURE_HTTP_THREADS", "257", "1..256" },
	{ "durability", "LOCALZURE_DURABILITY", "full", "none, async, sync" },
	{ "clock", "LOCALZURE_CLOCK", "fake", "real, manual" },
	{ "clock_start_ms", "LOCALZURE_CLOCK_START_MS", "253402300800000", "years 0001..9999" },
	{ "clock_start_ms", "LOCALZURE_CLOCK_START_MS", "-62135596800001", "years 0001..9999" },
	{ "clock_start_ms", "LOCALZURE_CLOCK_START_MS", "soon", "years 0001..9999" },
	{ "max_message_size", "LOCALZURE_MAX_MESSAGE_SIZE", "1023", "1024..104857600" },
	{ "max_message_size", "LOCALZURE_MAX_MESSAGE_SIZE", "101MiB", "1024..104857600" },
	{ "log_level", "LOCALZURE_LOG_LEVEL", "trace", "debug, info, warn, error" },
	{ "namespace", "LOCALZURE_NAMESPACE", "my_ns", "letters, digits and hyphens" },
	{ "namespace", "LOCALZURE_NAMESPACE", "n23456789012345678901234567890123456789012345678901",
	  "1..50 letters" },
	{ "storage_type", "LOCALZURE_STORAGE_TYPE", "cassandra", "in-memory (or memory), sqlite, json, redis" },
	{ "storage_type", "LOCALZURE_STORAGE_TYPE", "inmemory", "in-memory (or memory), sqlite, json, redis" },
	{ "redis_url", "LOCALZURE_REDIS_URL", "http://x", "redis://[:password@]host[:port][/db]" },
	{ "redis_url", "LOCALZURE_REDIS_URL", "redis://", "redis://[:password@]host[:port][/db]" },
	{ "redis_url", "LOCALZURE_REDIS_URL", "redis://h:0", "redis://[:password@]host[:port][/db]" },
	{ "redis_url", "LOCALZURE_REDIS_URL", "redis://h:70000/1", "redis://[:password@]host[:port][/db]" },
	{ "redis_url", "LOCALZURE_REDIS_URL", "redis://h/16", "redis://[:password@]host[:port][/db]" },
	{ "redis_url", "LOCALZURE_REDIS_URL", "redis://h/x", "redis://[:password@]host[:port][/db]" },
	{ "redis_prefix", "LOCALZURE_REDIS_PREFIX", "has space", "1..64 printable characters" },
	{ "pretty_json", "LOCALZURE_PRETTY_JSON", "on", "true, false, 1, 0, yes, no" },
	{ "pretty_json", "LOCALZURE_PRETTY_JSON", "2", "true, false, 1, 0, yes, no" },
	{ "snapshot_interval", "LOCALZURE_SNAPSHOT_INTERVAL", "0", "1..86400 seconds" },
	{ "snapshot_interval", "LOCALZURE_SNAPSHOT_INTERVAL", "60s", "1..86400 seconds" },
	{ "wal_enabled", "LOCALZURE_WAL_ENABLED", "off", "true, false, 1, 0, yes, no" },
	{ "wal_max_bytes", "LOCALZURE_WAL_MAX_BYTES", "4095", "4 KiB..1 TiB" },
	{ "wal_max_bytes", "LOCALZURE_WAL_MAX_BYTES", "1025GiB", "4 KiB..1 TiB" },
	{ "wal_max_bytes", "LOCALZURE_WAL_MAX_BYTES", "64MB", "KiB, MiB, GiB or TiB" },
	{ "wal_max_bytes", "LOCALZURE_WAL_MAX_BYTES", "64mib", "KiB, MiB, GiB or TiB" },
	{ "wal_max_bytes", "LOCALZURE_WAL_MAX_BYTES", "64  MiB", "KiB, MiB, GiB or TiB" },
	{ "wal_max_bytes", "LOCALZURE_WAL_MAX_BYTES", "MiB", "KiB, MiB, GiB or TiB" },
	{ "wal_max_bytes", "LOCALZURE_WAL_MAX_BYTES", "99999999999999999999", "4 KiB..1 TiB" },
	{ "wal_max_bytes", "LOCALZURE_WAL_MAX_BYTES", "17592186044416TiB", "4 KiB..1 TiB" },
	{ "auto_compact", "LOCALZURE_AUTO_COMPACT", "maybe", "true, false, 1, 0, yes, no" },
	{ "persistd_url", "LOCALZURE_PERSISTD_URL", "http://x:1", "ipc://<path> or tcp://<host>:<port>" },
	{ "persistd_url", "LOCALZURE_PERSISTD_URL", "ipc://", "ipc://<path> or tcp://<host>:<port>" },
	{ "persistd_url", "LOCALZURE_PERSISTD_URL", "tcp://host", "ipc://<path> or tcp://<host>:<port>" },
	{ "persistd_url", "LOCALZURE_PERSISTD_URL", "tcp://:5000", "ipc://<path> or tcp://<host>:<port>" },
	{ "persistd_url", "LOCALZURE_PERSISTD_URL", "tcp://h:0", "ipc://<path> or tcp://<host>:<port>" },
	{ "persistd_url", "LOCALZURE_PERSISTD_URL", "tcp://h:65536", "ipc://<path> or tcp://<host>:<port>" },
	{ "persistd_url", "LOCALZURE_PERSISTD_URL", "tcp://h:1/x", "ipc://<path> or tcp://<host>:<port>" },
	{ "persistd_url", "LOCALZURE_PERSISTD_URL", "tcp://[::1:5", "ipc://<path> or tcp://<host>:<port>" },
	{ "persistd_timeout_ms", "LOCALZURE_PERSISTD_TIMEOUT_MS", "0", "1..3600000" },
	{ "persistd_timeout_ms", "LOCALZURE_PERSISTD_TIMEOUT_MS", "3600001", "1..3600000" },
	{ "control_url", "LOCALZURE_CONTROL_URL", "ipc:/x", "ipc://<path> or tcp://<host>:<port>" },
	/* A 108-byte path: one more than sockaddr_un holds. */
	{ "control_url", "LOCALZURE_CONTROL_URL",
	  "ipc:///tmp/012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678.ipc",
	  "the ipc path is 108 bytes, a UNIX socket takes at most 107" },
};

#define NBAD (sizeof bad_cases / sizeof bad_cases[0])

/* The redis keys: defaults, and the URL forms the backend accepts. */
START_TEST(test_redis_keys)
{
	static const char *const good[] = { "redis://127.0.0.1", "redis://h:6380", "redis://h:6380/15",
					    "redis://:secret@h:1/0", "redis://h/" };
	struct settings s;
	char detail[DETAIL_CAP];

	ck_assert_int_eq(settings_load(NULL, no_env, &s, detail, sizeof detail), LZ_OK);
	ck_assert_str_eq(s.redis_url, "redis://127.0.0.1:6379/0");
	ck_assert_str_eq(s.redis_prefix, "localzure:");
	settings_release(&s);
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		char var[128];
		const char *envp[] = { var, "LOCALZURE_STORAGE_TYPE=redis", "LOCALZURE_REDIS_PREFIX=lz/test:", NULL };

		snprintf(var, sizeof var, "LOCALZURE_REDIS_URL=%s", good[i]);
		ck_assert_msg(settings_load(NULL, envp, &s, detail, sizeof detail) == LZ_OK, "%s: %s", var, detail);
		ck_assert_str_eq(s.redis_url, good[i]);
		ck_assert_str_eq(s.redis_prefix, "lz/test:");
		ck_assert_int_eq(s.storage_type, SETTINGS_STORAGE_REDIS);
		settings_release(&s);
	}
}
END_TEST

START_TEST(test_every_key_refused_from_env)
{
	for (size_t i = 0; i < NBAD; i++) {
		const struct bad_case *c = &bad_cases[i];
		char var[256];
		/* The variable under test comes first: it wins over a repeat (LOCALZURE_CLOCK). */
		const char *envp[] = { var, "LOCALZURE_CLOCK=manual", NULL };
		struct settings s;
		char detail[DETAIL_CAP];

		snprintf(var, sizeof var, "%s=%s", c->var, c->value);
		ck_assert_msg(settings_load(NULL, envp, &s, detail, sizeof detail) == LZ_EINVAL, "%s accepted", var);
		expect_detail(detail, c->var);
		expect_detail(detail, c->key);
		expect_detail(detail, c->value);
		expect_detail(detail, c->accepted);
		ck_assert_ptr_null(s.http_host); /* nothing left to release */
	}
}
END_TEST

START_TEST(test_every_key_refused_from_file)
{
	for (size_t i = 0; i < NBAD; i++) {
		const struct bad_case *c = &bad_cases[i];
		char text[512], where[160];
		const char *path;
		struct settings s;
		char detail[DETAIL_CAP];

		bool is_clock = strcmp(c->key, "clock") == 0;

		/* Quoted, so that YAML keeps spaces and signs as they are. */
		snprintf(text, sizeof text, "%s%s:   '%s'\n", is_clock ? "" : "clock: manual\n", c->key, c->value);
		path = yaml_write(text);
		ck_assert_msg(settings_load(path, no_env, &s, detail, sizeof detail) == LZ_EINVAL, "%s accepted", text);
		snprintf(where, sizeof where, "%s:%d:%zu:", path, is_clock ? 1 : 2, strlen(c->key) + 5);
		expect_detail(detail, where);
		expect_detail(detail, c->key);
		expect_detail(detail, c->value);
		expect_detail(detail, c->accepted);
	}
}
END_TEST

START_TEST(test_unknown_keys)
{
	const char *const env_unknown[] = { "LOCALZURE_STORAGE=sqlite", NULL };
	const char *const env_lower[] = { "LOCALZURE_http_port=1", NULL };
	const char *const env_config_ok[] = { "LOCALZURE_CONFIG=", "LZ_OTHER=1", "XLOCALZURE_FOO=1", NULL };
	struct settings s;
	char detail[DETAIL_CAP], where[160];
	const char *path;

	ck_assert_err(settings_load(NULL, env_unknown, &s, detail, sizeof detail), LZ_EINVAL);
	expect_detail(detail, "LOCALZURE_STORAGE: unknown LOCALZURE_* variable");
	expect_detail(detail, "storage_type");
	expect_detail(detail, "control_url");
	ck_assert_err(settings_load(NULL, env_lower, &s, detail, sizeof detail), LZ_EINVAL);
	expect_detail(detail, "LOCALZURE_http_port");
	/* Even an empty unknown variable is refused: it is most likely a typo. */
	ck_assert_err(settings_load(NULL, (const char *const[]){ "LOCALZURE_DATADIR=", NULL }, &s, detail,
				    sizeof detail), LZ_EINVAL);
	load_ok(NULL, env_config_ok, &s);
	settings_release(&s);

	path = yaml_write("http_port: 1\n\n  # comment\nstorage: sqlite\n");
	ck_assert_err(settings_load(path, no_env, &s, detail, sizeof detail), LZ_EINVAL);
	snprintf(where, sizeof where, "%s:4:1: unknown key 'storage'", path);
	expect_detail(detail, where);
	expect_detail(detail, "known keys are http_host, http_port");
	/* Keys are the snake_case names exactly. */
	path = yaml_write("HTTP_PORT: 1\n");
	ck_assert_err(settings_load(path, no_env, &s, detail, sizeof detail), LZ_EINVAL);
	expect_detail(detail, "unknown key 'HTTP_PORT'");
}
END_TEST

/* A file whose loading fails with `want` and a detail containing `path:where` and `needle`. */
static void expect_file_error(const char *text, lz_err want, const char *where, const char *needle)
{
	struct settings s;
	char detail[DETAIL_CAP], pos[160];
	const char *path = yaml_write(text);

	ck_assert_msg(settings_load(path, no_env, &s, detail, sizeof detail) == want, "%s: %s", text, detail);
	snprintf(pos, sizeof pos, "%s:%s", path, where);
	expect_detail(detail, pos);
	expect_detail(detail, needle);
}

START_TEST(test_yaml_errors)
{
	struct settings s;
	char detail[DETAIL_CAP];

	/* Syntax errors name file, line and column. */
	expect_file_error("http_port: 1\nnamespace: a: b\n", LZ_EPARSE, "2:13: YAML syntax error",
			  "mapping values are not allowed");
	expect_file_error("http_port: 1\nhttp_host: \"unterminated\n", LZ_EPARSE, "3:1: YAML syntax error",
			  "found unexpected end of stream");
	expect_file_error("http_port: 1\n@bad: 2\n", LZ_EPARSE, "2:1: YAML syntax error",
			  "found character that cannot start any token");
	expect_file_error("\tx: 1\n", LZ_EPARSE, "1:1: YAML syntax error",
			  "while scanning for the next token: found character that cannot start any token");
	/* Shapes other than one flat mapping. */
	expect_file_error("- http_port\n- 1\n", LZ_EINVAL, "1:1:", "expected a mapping of settings keys to values, found a list");
	expect_file_error("just text\n", LZ_EINVAL, "1:1:", "found a single value");
	expect_file_error("http_port: 1\n---\nhttp_port: 2\n", LZ_EINVAL, "2:1:", "only one YAML document");
	expect_file_error("http_port:\n  - 1\n", LZ_EINVAL, "2:3:",
			  "wrong type for http_port: expected a single value (0..65535 (0 = any free port)), found a list");
	expect_file_error("data_dir: {a: 1}\n", LZ_EINVAL, "1:11:", "wrong type for data_dir");
	expect_file_error("? [a]\n: 1\n", LZ_EINVAL, "1:3:", "expected a key name, found a list");
	expect_file_error("http_port: &p 1\nhttp_threads: *p\n", LZ_EINVAL, "2:15:", "found an alias");
	expect_file_error("http_port: 1\nhttp_port: 2\n", LZ_EINVAL, "2:1:", "http_port given twice (first at line 1)");
	/* A null value is not "the default": the line must go. */
	expect_file_error("http_threads:\n", LZ_EINVAL, "1:14:", "http_threads has no value");
	expect_file_error("namespace: ~\n", LZ_EINVAL, "1:12:", "namespace has no value");
	expect_file_error("namespace: null\n", LZ_EINVAL, "1:12:", "remove the line to use the default");
	expect_file_error("data_dir: \"a\\0b\"\n", LZ_EINVAL, "1:11:", "contains a NUL character");
	/* YAML's own booleans that we do not accept are refused, not read as true. */
	expect_file_error("wal_enabled: on\n", LZ_EINVAL, "1:14:", "accepted values are true, false, 1, 0, yes, no");
	/* A file that cannot be read. */
	ck_assert_err(settings_load("/nonexistent/lz.yaml", no_env, &s, detail, sizeof detail), LZ_ESYS);
	expect_detail(detail, "config file /nonexistent/lz.yaml: cannot open: No such file or directory");
	ck_assert_err(settings_load(tmpdir, no_env, &s, detail, sizeof detail), LZ_ESYS);
	expect_detail(detail, "cannot read");
	/* Quoted null-looking strings are values. */
	{
		const char *path = yaml_write("namespace: \"null\"\nhttp_host: 'x'\n");

		load_ok(path, no_env, &s);
		ck_assert_str_eq(s.namespace_name, "null");
		settings_release(&s);
	}
}
END_TEST

START_TEST(test_derived_paths)
{
	struct settings s;
	char detail[DETAIL_CAP];

	/* data_dir moves every derived value; a trailing slash does not double up. */
	load_ok(NULL, (const char *const[]){ "LOCALZURE_DATA_DIR=/srv/lz/", NULL }, &s);
	ck_assert_str_eq(s.data_dir, "/srv/lz/");
	ck_assert_str_eq(s.sqlite_path, "/srv/lz/localzure.db");
	ck_assert_str_eq(s.json_path, "/srv/lz/json");
	ck_assert_str_eq(s.persistd_url, "ipc:///srv/lz/persistd.ipc");
	ck_assert_str_eq(s.control_url, "ipc:///srv/lz/control.ipc");
	settings_release(&s);
	load_ok(NULL, (const char *const[]){ "LOCALZURE_DATA_DIR=/", NULL }, &s);
	ck_assert_str_eq(s.sqlite_path, "/localzure.db");
	settings_release(&s);

	/* Derivation happens after every source: data_dir from the environment, sqlite_path from the
	 * file, json_path derived from the environment's data_dir. */
	{
		const char *path = yaml_write("sqlite_path: /explicit.db\ndata_dir: /from-file\n");

		load_ok(path, (const char *const[]){ "LOCALZURE_DATA_DIR=/from-env", NULL }, &s);
		ck_assert_str_eq(s.sqlite_path, "/explicit.db");
		ck_assert_str_eq(s.json_path, "/from-env/json");
		ck_assert_str_eq(s.persistd_url, "ipc:///from-env/persistd.ipc");
		settings_release(&s);
	}

	/* A data_dir so long that the derived socket path does not fit: the error names both. */
	{
		char var[200] = "LOCALZURE_DATA_DIR=/";

		memset(var + strlen(var), 'd', 100);
		ck_assert_err(settings_load(NULL, (const char *const[]){ var, NULL }, &s, detail, sizeof detail),
			      LZ_EINVAL);
		expect_detail(detail, "persistd_url (derived from data_dir, LOCALZURE_DATA_DIR)");
		expect_detail(detail, "the ipc path is 114 bytes, a UNIX socket takes at most 107");
		/* ... which an explicit URL fixes. */
		load_ok(NULL,
			(const char *const[]){ var, "LOCALZURE_PERSISTD_URL=ipc:///tmp/p.ipc",
					       "LOCALZURE_CONTROL_URL=tcp://127.0.0.1:7002", NULL },
			&s);
		ck_assert_str_eq(s.persistd_url, "ipc:///tmp/p.ipc");
		settings_release(&s);
	}
	/* A 107-byte socket path is the longest that fits. */
	load_ok(NULL, (const char *const[]){ "LOCALZURE_PERSISTD_URL=ipc:///tmp/01234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567.ipc", NULL }, &s);
	ck_assert_uint_eq(strlen(s.persistd_url), 6 + 107);
	settings_release(&s);
}
END_TEST

START_TEST(test_booleans)
{
	static const struct {
		const char *text;
		bool value;
	} forms[] = {
		{ "true", true }, { "TRUE", true }, { "True", true }, { "1", true }, { "yes", true }, { "YES", true },
		{ "false", false }, { "FALSE", false }, { "0", false }, { "no", false }, { "No", false },
	};
	static const char *const refused[] = { "on", "off", "y", "n", "t", "2", "-1", "truee", " true" };

	for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
		char var[64];
		struct settings s;

		snprintf(var, sizeof var, "LOCALZURE_PRETTY_JSON=%s", forms[i].text);
		load_ok(NULL, (const char *const[]){ var, NULL }, &s);
		ck_assert_msg(s.pretty_json == forms[i].value, "%s", forms[i].text);
		settings_release(&s);
	}
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		char var[64];
		struct settings s;
		char detail[DETAIL_CAP];

		snprintf(var, sizeof var, "LOCALZURE_WAL_ENABLED=%s", refused[i]);
		ck_assert_err(settings_load(NULL, (const char *const[]){ var, NULL }, &s, detail, sizeof detail),
			      LZ_EINVAL);
		expect_detail(detail, "LOCALZURE_WAL_ENABLED");
	}
}
END_TEST

START_TEST(test_sizes)
{
	static const struct {
		const char *text;
		uint64_t bytes;
	} forms[] = {
		{ "4096", 4096 },         { "4KiB", 4096 },          { "4 KiB", 4096 },
		{ "64MiB", 64ULL << 20 }, { "64 MiB", 64ULL << 20 }, { "3GiB", 3ULL << 30 },
		{ "1TiB", 1ULL << 40 },   { "1024GiB", 1ULL << 40 }, { "1099511627776", 1ULL << 40 },
	};

	for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
		char var[64];
		struct settings s;

		snprintf(var, sizeof var, "LOCALZURE_WAL_MAX_BYTES=%s", forms[i].text);
		load_ok(NULL, (const char *const[]){ var, NULL }, &s);
		ck_assert_msg(s.wal_max_bytes == forms[i].bytes, "%s", forms[i].text);
		settings_release(&s);
	}
	/* The same parser serves max_message_size. */
	{
		struct settings s;

		load_ok(NULL, (const char *const[]){ "LOCALZURE_MAX_MESSAGE_SIZE=1KiB", NULL }, &s);
		ck_assert_uint_eq(s.max_message_size, 1024);
		settings_release(&s);
	}
	/* And from a file, unquoted. */
	{
		struct settings s;

		load_ok(yaml_write("wal_max_bytes: 8 MiB\nmax_message_size: 1 MiB\n"), no_env, &s);
		ck_assert_uint_eq(s.wal_max_bytes, 8ULL << 20);
		ck_assert_uint_eq(s.max_message_size, 1ULL << 20);
		settings_release(&s);
	}
}
END_TEST

START_TEST(test_enums_and_clock_start)
{
	struct settings s;
	char detail[DETAIL_CAP];

	load_ok(NULL, (const char *const[]){ "LOCALZURE_STORAGE_TYPE=In-Memory", "LOCALZURE_DURABILITY=none", NULL },
		&s);
	ck_assert_int_eq(s.storage_type, SETTINGS_STORAGE_MEMORY);
	ck_assert_int_eq(s.durability, SETTINGS_DURABILITY_NONE);
	settings_release(&s);
	load_ok(NULL, (const char *const[]){ "LOCALZURE_STORAGE_TYPE=json", NULL }, &s);
	ck_assert_int_eq(s.storage_type, SETTINGS_STORAGE_JSON);
	settings_release(&s);

	/* clock_start_ms only with the manual clock; the error points at both sources. */
	{
		const char *path = yaml_write("clock_start_ms: 1000\n");
		char where[160];

		ck_assert_err(settings_load(path, no_env, &s, detail, sizeof detail), LZ_EINVAL);
		snprintf(where, sizeof where, "%s:1:17: clock_start_ms is accepted only with clock: manual", path);
		expect_detail(detail, where);
		expect_detail(detail, "the default of clock");
		load_ok(path, (const char *const[]){ "LOCALZURE_CLOCK=manual", NULL }, &s);
		ck_assert(s.has_clock_start);
		ck_assert_int_eq(s.clock_start_ms, 1000);
		settings_release(&s);
		ck_assert_err(settings_load(path, (const char *const[]){ "LOCALZURE_CLOCK=real", NULL }, &s, detail,
					    sizeof detail),
			      LZ_EINVAL);
		expect_detail(detail, "from LOCALZURE_CLOCK");
	}
}
END_TEST

/* The dump without its two header lines. */
static const char *dump_body(const struct strbuf *b)
{
	const char *p = strchr(strbuf_cstr(b), '\n');

	ck_assert_ptr_nonnull(p);
	p = strchr(p + 1, '\n');
	ck_assert_ptr_nonnull(p);
	return p + 1;
}

START_TEST(test_dump_round_trip)
{
	const char *const envp[] = {
		"LOCALZURE_HTTP_HOST=0.0.0.0", "LOCALZURE_CLOCK=manual", "LOCALZURE_CLOCK_START_MS=-5",
		"LOCALZURE_STORAGE_TYPE=memory", "LOCALZURE_DATA_DIR=/tmp/d \"q\" \\ x\t",
		"LOCALZURE_WAL_MAX_BYTES=1 GiB", "LOCALZURE_AUTO_COMPACT=yes", NULL,
	};
	struct settings s, again;
	struct strbuf first = STRBUF_INIT, second = STRBUF_INIT;

	load_ok(NULL, envp, &s);
	ck_assert_err(settings_dump(&s, &first), LZ_OK);
	expect_detail(strbuf_cstr(&first), "# config file: none\n");
	expect_detail(strbuf_cstr(&first), "storage_type: in-memory  # persistd\n");
	expect_detail(strbuf_cstr(&first), "wal_max_bytes: 1073741824  # persistd\n");
	expect_detail(strbuf_cstr(&first), "clock_start_ms: -5  # broker\n");
	expect_detail(strbuf_cstr(&first), "data_dir: \"/tmp/d \\\"q\\\" \\\\ x\\x09\"  # broker, persistd, cli\n");
	expect_detail(strbuf_cstr(&first), "control_url: ");
	load_ok(yaml_write(strbuf_cstr(&first)), no_env, &again);
	ck_assert_err(settings_dump(&again, &second), LZ_OK);
	ck_assert_str_eq(dump_body(&second), dump_body(&first));
	ck_assert_str_eq(again.data_dir, "/tmp/d \"q\" \\ x\t");
	expect_detail(strbuf_cstr(&second), "# config file: \"");
	settings_release(&again);
	settings_release(&s);

	/* An unset optional key is a comment, and the defaults load back as they are. */
	strbuf_reset(&first);
	strbuf_reset(&second);
	load_ok(NULL, no_env, &s);
	ck_assert_err(settings_dump(&s, &first), LZ_OK);
	expect_detail(strbuf_cstr(&first), "# clock_start_ms: not set  # broker\n");
	load_ok(yaml_write(strbuf_cstr(&first)), no_env, &again);
	ck_assert_err(settings_dump(&again, &second), LZ_OK);
	ck_assert_str_eq(dump_body(&second), dump_body(&first));
	ck_assert(!again.has_clock_start);
	settings_release(&again);
	settings_release(&s);
	strbuf_release(&first);
	strbuf_release(&second);
}
END_TEST

START_TEST(test_no_detail_buffer)
{
	struct settings s;

	ck_assert_err(settings_load(NULL, (const char *const[]){ "LOCALZURE_HTTP_PORT=x", NULL }, &s, NULL, 0),
		      LZ_EINVAL);
}
END_TEST

/* emulator_config: optional (unset by default), a path from either source, in the dump; and the
 * `entities` section, which belongs to provisioning and is skipped whatever its shape. */
START_TEST(test_emulator_config_and_entities)
{
	struct settings s, again;
	struct strbuf dump = STRBUF_INIT;
	char detail[DETAIL_CAP];
	const char *path;

	load_ok(NULL, no_env, &s);
	ck_assert(!s.has_emulator_config);
	ck_assert_ptr_null(s.emulator_config);
	ck_assert_err(settings_dump(&s, &dump), LZ_OK);
	expect_detail(strbuf_cstr(&dump), "# emulator_config: not set  # broker\n");
	strbuf_release(&dump);
	settings_release(&s);

	load_ok(NULL, (const char *const[]){ "LOCALZURE_EMULATOR_CONFIG=/cfg/Config.json", NULL }, &s);
	ck_assert(s.has_emulator_config);
	ck_assert_str_eq(s.emulator_config, "/cfg/Config.json");
	ck_assert_err(settings_dump(&s, &dump), LZ_OK);
	expect_detail(strbuf_cstr(&dump), "emulator_config: \"/cfg/Config.json\"  # broker\n");
	load_ok(yaml_write(strbuf_cstr(&dump)), no_env, &again);
	ck_assert_str_eq(again.emulator_config, "/cfg/Config.json");
	settings_release(&again);
	strbuf_release(&dump);
	settings_release(&s);
	/* Empty means unset, as for every variable. */
	load_ok(NULL, (const char *const[]){ "LOCALZURE_EMULATOR_CONFIG=", NULL }, &s);
	ck_assert(!s.has_emulator_config);
	settings_release(&s);
	expect_file_error("emulator_config: ''\n", LZ_EINVAL, "1:18:", "invalid value '' for emulator_config");

	/* `entities` of any shape is skipped, wherever it stands; the keys around it are read. */
	path = yaml_write("http_port: 1\nentities:\n  queues:\n    - {name: q, lock_duration: PT1M}\n"
			  "  topics: [{name: t, subscriptions: [{name: s, rules: [{name: r, sql_filter: '1=1'}]}]}]\n"
			  "http_threads: 3\n");
	load_ok(path, no_env, &s);
	ck_assert_uint_eq(s.http_port, 1);
	ck_assert_uint_eq(s.http_threads, 3);
	settings_release(&s);
	load_ok(yaml_write("entities: [1, [2, {a: b}]]\nhttp_port: 2\n"), no_env, &s);
	ck_assert_uint_eq(s.http_port, 2);
	settings_release(&s);
	load_ok(yaml_write("entities:\n"), no_env, &s);
	settings_release(&s);
	/* Still an unknown key otherwise, and the message says `entities` is known. */
	path = yaml_write("entity: {}\n");
	ck_assert_err(settings_load(path, no_env, &s, detail, sizeof detail), LZ_EINVAL);
	expect_detail(detail, "unknown key 'entity'");
	expect_detail(detail, " and entities");
	/* Not a variable. */
	ck_assert_err(settings_load(NULL, (const char *const[]){ "LOCALZURE_ENTITIES=x", NULL }, &s, detail,
				    sizeof detail), LZ_EINVAL);
}
END_TEST

static Suite *settings_suite(void)
{
	Suite *s = suite_create("settings");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, tmpdir_create, tmpdir_remove);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_env_beats_file_beats_defaults);
	tcase_add_test(tc, test_every_key_accepted);
	tcase_add_test(tc, test_every_key_refused_from_env);
	tcase_add_test(tc, test_every_key_refused_from_file);
	tcase_add_test(tc, test_unknown_keys);
	tcase_add_test(tc, test_yaml_errors);
	tcase_add_test(tc, test_derived_paths);
	tcase_add_test(tc, test_booleans);
	tcase_add_test(tc, test_sizes);
	tcase_add_test(tc, test_enums_and_clock_start);
	tcase_add_test(tc, test_dump_round_trip);
	tcase_add_test(tc, test_no_detail_buffer);
	tcase_add_test(tc, test_emulator_config_and_entities);
	tcase_add_test(tc, test_redis_keys);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(settings_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
