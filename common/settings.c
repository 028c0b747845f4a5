/*
 * settings — defaults, YAML file and LOCALZURE_* environment, through one registry.
 *
 * The registry (`defs` below) is the only list of keys: a key's type, default, accepted values,
 * the field it fills and the processes that read it all sit in one row. Defaults are written as
 * text and go through the same parser as user values, so a default can never be something a
 * user could not write. A derived default ("{data_dir}/localzure.db") is a template filled in
 * after every source has been read.
 *
 * Load order: defaults → file → environment → derived values → checks across keys. The loader
 * remembers where each key's value came from so that every error can point at it.
 */
#include "common/settings.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>
#include <yaml.h>

extern char **environ;

#define ENV_PREFIX "LOCALZURE_"
#define ENV_CONFIG "LOCALZURE_CONFIG"
#define PATH_CAP 4096                 /* PATH_MAX, terminating NUL included */
#define IPC_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)
#define DATA_DIR_TOKEN "{data_dir}"
#define SHOWN_VALUE_MAX 200           /* bytes of a bad value quoted in a message */

/* The processes that read a key (named in settings_dump's comments). */
enum setting_proc {
	PROC_BROKER = 1u << 0,
	PROC_PERSISTD = 1u << 1,
	PROC_CLI = 1u << 2,
};

enum setting_kind {
	KIND_STRING,   /* char *, validated by `check` */
	KIND_U16,      /* uint16_t, decimal in [min, max] */
	KIND_UINT,     /* unsigned, decimal in [min, max] */
	KIND_I64,      /* int64_t, decimal in [min, max] */
	KIND_SIZE,     /* uint64_t, bytes with an optional KiB/MiB/GiB/TiB suffix, in [min, max] */
	KIND_BOOL,     /* bool */
	KIND_ENUM,     /* an enum field, one of `choices` */
};

struct setting_choice {
	const char *name;  /* the first name of a value is its canonical one (settings_dump) */
	int value;
};

struct setting_def {
	const char *key;
	enum setting_kind kind;
	unsigned procs;              /* enum setting_proc */
	const char *def;             /* default as text; a template with {data_dir} when `derived`;
				      * NULL: no default (the key is `optional`) */
	bool derived;
	bool optional;               /* unset unless given; `present` is the offset of its flag */
	size_t present;
	int64_t min, max;            /* KIND_U16, KIND_UINT, KIND_I64, KIND_SIZE */
	const struct setting_choice *choices; /* KIND_ENUM, ended by a NULL name */
	/* KIND_STRING: whether `v` is acceptable; when not, may say why in `why` */
	bool (*check)(const char *v, char *why, size_t why_cap);
	const char *accepted;        /* for error messages */
	size_t offset;               /* of the field in struct settings */
};

/* Enum fields are written and read as int (KIND_ENUM). */
_Static_assert(sizeof(enum settings_durability) == sizeof(int), "enum stored as int");
_Static_assert(sizeof(enum settings_clock) == sizeof(int), "enum stored as int");
_Static_assert(sizeof(enum settings_storage) == sizeof(int), "enum stored as int");
_Static_assert(sizeof(enum log_level) == sizeof(int), "enum stored as int");

static const struct setting_choice durability_choices[] = {
	{ "none", SETTINGS_DURABILITY_NONE },
	{ "async", SETTINGS_DURABILITY_ASYNC },
	{ "sync", SETTINGS_DURABILITY_SYNC },
	{ NULL, 0 },
};

static const struct setting_choice clock_choices[] = {
	{ "real", SETTINGS_CLOCK_REAL },
	{ "manual", SETTINGS_CLOCK_MANUAL },
	{ NULL, 0 },
};

static const struct setting_choice log_level_choices[] = {
	{ "debug", LOG_DEBUG },
	{ "info", LOG_INFO },
	{ "warn", LOG_WARN },
	{ "error", LOG_ERROR },
	{ NULL, 0 },
};

static const struct setting_choice storage_choices[] = {
	{ "in-memory", SETTINGS_STORAGE_MEMORY },
	{ "memory", SETTINGS_STORAGE_MEMORY },
	{ "sqlite", SETTINGS_STORAGE_SQLITE },
	{ "json", SETTINGS_STORAGE_JSON },
	{ "redis", SETTINGS_STORAGE_REDIS },
	{ NULL, 0 },
};

static bool host_ok(const char *v, char *why, size_t why_cap);
static bool namespace_ok(const char *v, char *why, size_t why_cap);
static bool path_ok(const char *v, char *why, size_t why_cap);
static bool url_ok(const char *v, char *why, size_t why_cap);
static bool redis_url_ok(const char *v, char *why, size_t why_cap);
static bool redis_prefix_ok(const char *v, char *why, size_t why_cap);

#define FIELD(f) offsetof(struct settings, f)

static const struct setting_def defs[] = {
	{ .key = "http_host", .kind = KIND_STRING, .procs = PROC_BROKER, .def = "127.0.0.1", .check = host_ok,
	  .accepted = "an IP address or host name (up to 63 characters, no spaces or '/')",
	  .offset = FIELD(http_host) },
	{ .key = "http_port", .kind = KIND_U16, .procs = PROC_BROKER, .def = "5300", .min = 0, .max = 65535,
	  .accepted = "0..65535 (0 = any free port)", .offset = FIELD(http_port) },
	{ .key = "http_threads", .kind = KIND_UINT, .procs = PROC_BROKER, .def = "2", .min = 1, .max = 256,
	  .accepted = "1..256", .offset = FIELD(http_threads) },
	{ .key = "durability", .kind = KIND_ENUM, .procs = PROC_BROKER, .def = "sync", .choices = durability_choices,
	  .accepted = "none, async, sync", .offset = FIELD(durability) },
	{ .key = "clock", .kind = KIND_ENUM, .procs = PROC_BROKER, .def = "real", .choices = clock_choices,
	  .accepted = "real, manual", .offset = FIELD(clock) },
	/* 0001-01-01 .. 9999-12-31, the range the wire formats can express. */
	{ .key = "clock_start_ms", .kind = KIND_I64, .procs = PROC_BROKER, .optional = true,
	  .present = FIELD(has_clock_start), .min = -62135596800000LL, .max = 253402300799999LL,
	  .accepted = "milliseconds since the Unix epoch within years 0001..9999", .offset = FIELD(clock_start_ms) },
	{ .key = "max_message_size", .kind = KIND_SIZE, .procs = PROC_BROKER, .def = "262144", .min = 1024,
	  .max = 104857600, .accepted = "1024..104857600 bytes (1 KiB..100 MiB)", .offset = FIELD(max_message_size) },
	{ .key = "log_level", .kind = KIND_ENUM, .procs = PROC_BROKER | PROC_PERSISTD, .def = "info",
	  .choices = log_level_choices, .accepted = "debug, info, warn, error", .offset = FIELD(log_level) },
	{ .key = "namespace", .kind = KIND_STRING, .procs = PROC_BROKER, .def = "localzure", .check = namespace_ok,
	  .accepted = "1..50 letters, digits and hyphens", .offset = FIELD(namespace_name) },
	{ .key = "emulator_config", .kind = KIND_STRING, .procs = PROC_BROKER, .optional = true,
	  .present = FIELD(has_emulator_config), .check = path_ok,
	  .accepted = "the path of a Microsoft Service Bus emulator Config.json (1..4095 bytes)",
	  .offset = FIELD(emulator_config) },
	{ .key = "storage_type", .kind = KIND_ENUM, .procs = PROC_PERSISTD, .def = "sqlite", .choices = storage_choices,
	  .accepted = "in-memory (or memory), sqlite, json, redis", .offset = FIELD(storage_type) },
	{ .key = "data_dir", .kind = KIND_STRING, .procs = PROC_BROKER | PROC_PERSISTD | PROC_CLI,
	  .def = "./localzure-data", .check = path_ok, .accepted = "a directory path (1..4095 bytes)",
	  .offset = FIELD(data_dir) },
	{ .key = "sqlite_path", .kind = KIND_STRING, .procs = PROC_PERSISTD, .def = DATA_DIR_TOKEN "/localzure.db",
	  .derived = true, .check = path_ok, .accepted = "a file path (1..4095 bytes)", .offset = FIELD(sqlite_path) },
	{ .key = "json_path", .kind = KIND_STRING, .procs = PROC_PERSISTD, .def = DATA_DIR_TOKEN "/json",
	  .derived = true, .check = path_ok, .accepted = "a directory path (1..4095 bytes)", .offset = FIELD(json_path) },
	{ .key = "redis_url", .kind = KIND_STRING, .procs = PROC_PERSISTD | PROC_CLI, .def = "redis://127.0.0.1:6379/0",
	  .check = redis_url_ok, .accepted = "redis://[:password@]host[:port][/db] (db 0..15)",
	  .offset = FIELD(redis_url) },
	{ .key = "redis_prefix", .kind = KIND_STRING, .procs = PROC_PERSISTD | PROC_CLI, .def = "localzure:",
	  .check = redis_prefix_ok, .accepted = "1..64 printable characters without spaces",
	  .offset = FIELD(redis_prefix) },
	{ .key = "pretty_json", .kind = KIND_BOOL, .procs = PROC_PERSISTD, .def = "false",
	  .accepted = "true, false, 1, 0, yes, no", .offset = FIELD(pretty_json) },
	{ .key = "snapshot_interval", .kind = KIND_UINT, .procs = PROC_PERSISTD, .def = "60", .min = 1, .max = 86400,
	  .accepted = "1..86400 seconds", .offset = FIELD(snapshot_interval) },
	{ .key = "wal_enabled", .kind = KIND_BOOL, .procs = PROC_PERSISTD, .def = "true",
	  .accepted = "true, false, 1, 0, yes, no", .offset = FIELD(wal_enabled) },
	{ .key = "wal_max_bytes", .kind = KIND_SIZE, .procs = PROC_PERSISTD, .def = "64MiB", .min = 4096,
	  .max = 1099511627776LL, .accepted = "4 KiB..1 TiB, as bytes or with a KiB, MiB, GiB or TiB suffix",
	  .offset = FIELD(wal_max_bytes) },
	{ .key = "auto_compact", .kind = KIND_BOOL, .procs = PROC_PERSISTD, .def = "false",
	  .accepted = "true, false, 1, 0, yes, no", .offset = FIELD(auto_compact) },
	{ .key = "persistd_url", .kind = KIND_STRING, .procs = PROC_BROKER | PROC_PERSISTD,
	  .def = "ipc://" DATA_DIR_TOKEN "/persistd.ipc", .derived = true, .check = url_ok,
	  .accepted = "ipc://<path> or tcp://<host>:<port>", .offset = FIELD(persistd_url) },
	{ .key = "persistd_timeout_ms", .kind = KIND_I64, .procs = PROC_BROKER, .def = "5000", .min = 1,
	  .max = 3600000, .accepted = "1..3600000 milliseconds", .offset = FIELD(persistd_timeout_ms) },
	{ .key = "control_url", .kind = KIND_STRING, .procs = PROC_PERSISTD | PROC_CLI,
	  .def = "ipc://" DATA_DIR_TOKEN "/control.ipc", .derived = true, .check = url_ok,
	  .accepted = "ipc://<path> or tcp://<host>:<port>", .offset = FIELD(control_url) },
};

#define NDEFS (sizeof defs / sizeof defs[0])

/* ------------------------------------------------------------------------------------------ */
/* Value checks and parsers                                                                   */
/* ------------------------------------------------------------------------------------------ */

static bool host_ok(const char *v, char *why, size_t why_cap)
{
	(void)why;
	(void)why_cap;
	return v[0] != '\0' && strlen(v) <= 63 && strpbrk(v, " \t\r\n/") == NULL;
}

static bool namespace_ok(const char *v, char *why, size_t why_cap)
{
	size_t n = strlen(v);

	(void)why;
	(void)why_cap;
	if (n == 0 || n > 50)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!isalnum((unsigned char)v[i]) && v[i] != '-')
			return false;
	}
	return true;
}

/* redis://[:password@]host[:port][/db]; the persistd backend parses it (persistd/store_redis.c). */
static bool redis_url_ok(const char *v, char *why, size_t why_cap)
{
	const char *host, *slash, *colon;
	size_t n = strlen(v);

	if (strncmp(v, "redis://", 8) != 0 || n > 512) {
		snprintf(why, why_cap, "it must start with redis://");
		return false;
	}
	host = v + 8;
	if (strchr(host, '@') != NULL)
		host = strrchr(host, '@') + 1;
	slash = strchr(host, '/');
	colon = strchr(host, ':');
	if (host[0] == '\0' || host[0] == '/' || host[0] == ':') {
		snprintf(why, why_cap, "it names no host");
		return false;
	}
	if (colon != NULL && (slash == NULL || colon < slash)) {
		char *end;
		long port = strtol(colon + 1, &end, 10);

		if (end == colon + 1 || port < 1 || port > 65535 || (*end != '\0' && *end != '/')) {
			snprintf(why, why_cap, "the port must be 1..65535");
			return false;
		}
	}
	if (slash != NULL && slash[1] != '\0') {
		char *end;
		long db = strtol(slash + 1, &end, 10);

		if (end == slash + 1 || *end != '\0' || db < 0 || db > 15) {
			snprintf(why, why_cap, "the database number must be 0..15");
			return false;
		}
	}
	return true;
}

static bool redis_prefix_ok(const char *v, char *why, size_t why_cap)
{
	size_t n = strlen(v);

	(void)why;
	(void)why_cap;
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isgraph((unsigned char)v[i]))
			return false;
	return true;
}

static bool path_ok(const char *v, char *why, size_t why_cap)
{
	(void)why;
	(void)why_cap;
	return v[0] != '\0' && strlen(v) < PATH_CAP;
}

/* ipc://<path> (the path must fit a UNIX socket address) or tcp://<host>:<port 1..65535>, where
 * host may be a bracketed IPv6 address. */
static bool url_ok(const char *v, char *why, size_t why_cap)
{
	const char *host, *colon;
	char *end;
	long port;

	if (strncmp(v, "ipc://", 6) == 0) {
		size_t n = strlen(v + 6);

		if (n > IPC_PATH_MAX) {
			snprintf(why, why_cap, "the ipc path is %zu bytes, a UNIX socket takes at most %zu", n,
				 (size_t)IPC_PATH_MAX);
			return false;
		}
		return n > 0;
	}
	if (strncmp(v, "tcp://", 6) != 0)
		return false;
	host = v + 6;
	colon = strrchr(host, ':');
	if (colon == NULL || colon == host || strchr(host, '/') != NULL)
		return false;
	if (host[0] == '[' && colon[-1] != ']')
		return false;
	if (!isdigit((unsigned char)colon[1]))
		return false;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	return errno == 0 && *end == '\0' && port >= 1 && port <= 65535;
}

/* A decimal integer in [min, max]: optional '-', digits, nothing else. */
static bool parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long v;

	if (!(isdigit((unsigned char)s[0]) || (s[0] == '-' && isdigit((unsigned char)s[1]))))
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* Digits, then optionally one space and KiB, MiB, GiB or TiB; in [min, max] bytes. */
static bool parse_size(const char *s, int64_t min, int64_t max, int64_t *out)
{
	static const struct {
		const char *suffix;
		unsigned shift;
	} units[] = { { "KiB", 10 }, { "MiB", 20 }, { "GiB", 30 }, { "TiB", 40 } };
	unsigned long long v;
	unsigned shift = 0;
	char *end;

	if (!isdigit((unsigned char)s[0]))
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return false;
	if (*end != '\0') {
		size_t u;

		if (*end == ' ')
			end++;
		for (u = 0; u < sizeof units / sizeof units[0]; u++) {
			if (strcmp(end, units[u].suffix) == 0)
				break;
		}
		if (u == sizeof units / sizeof units[0])
			return false;
		shift = units[u].shift;
	}
	if (v > ((unsigned long long)max >> shift))
		return false;
	v <<= shift;
	if ((long long)v < min)
		return false;
	*out = (int64_t)v;
	return true;
}

static bool parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "true", "1", "yes" };
	static const char *const no[] = { "false", "0", "no" };

	for (size_t i = 0; i < 3; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

static bool parse_choice(const struct setting_choice *c, const char *s, int *out)
{
	for (; c->name != NULL; c++) {
		if (strcasecmp(s, c->name) == 0) {
			*out = c->value;
			return true;
		}
	}
	return false;
}

static const char *choice_name(const struct setting_choice *c, int value)
{
	for (; c->name != NULL; c++) {
		if (c->value == value)
			return c->name;
	}
	return "?";
}

/* ------------------------------------------------------------------------------------------ */
/* The loader                                                                                 */
/* ------------------------------------------------------------------------------------------ */

enum origin_kind { ORIGIN_DEFAULT, ORIGIN_FILE, ORIGIN_ENV, ORIGIN_DERIVED };

/* Where a key's value came from. */
struct origin {
	enum origin_kind kind;
	unsigned long line, column;  /* ORIGIN_FILE, 1-based */
};

struct loader {
	struct settings *s;
	const char *file;            /* the YAML file being read */
	struct origin origin[NDEFS];
	char *detail;
	size_t detail_cap;
};

__attribute__((format(printf, 3, 4)))
static lz_err loader_fail(struct loader *ld, lz_err err, const char *fmt, ...)
{
	va_list ap;

	if (ld->detail == NULL || ld->detail_cap == 0)
		return err;
	va_start(ap, fmt);
	vsnprintf(ld->detail, ld->detail_cap, fmt, ap);
	va_end(ap);
	return err;
}

static size_t def_find(const char *key, size_t len)
{
	for (size_t i = 0; i < NDEFS; i++) {
		if (strlen(defs[i].key) == len && memcmp(defs[i].key, key, len) == 0)
			return i;
	}
	return NDEFS;
}

/* "LOCALZURE_HTTP_PORT" for "http_port", into `buf`. */
static void env_name(const struct setting_def *d, char *buf, size_t cap)
{
	size_t n = (size_t)snprintf(buf, cap, ENV_PREFIX "%s", d->key);

	for (size_t i = sizeof ENV_PREFIX - 1; i < n && i < cap; i++)
		buf[i] = (char)toupper((unsigned char)buf[i]);
}

/* Describes where key `i`'s value came from, into `buf`. */
static const char *origin_text(const struct loader *ld, size_t i, char *buf, size_t cap)
{
	const struct origin *o = &ld->origin[i];
	char dir_where[PATH_CAP + 64];

	switch (o->kind) {
	case ORIGIN_FILE:
		snprintf(buf, cap, "%s:%lu:%lu", ld->file, o->line, o->column);
		break;
	case ORIGIN_ENV:
		env_name(&defs[i], buf, cap);
		break;
	case ORIGIN_DERIVED:
		/* data_dir is never derived itself, so this recurses once. */
		snprintf(buf, cap, "%s (derived from data_dir, %s)", defs[i].key,
			 origin_text(ld, def_find("data_dir", strlen("data_dir")), dir_where, sizeof dir_where));
		break;
	case ORIGIN_DEFAULT:
		snprintf(buf, cap, "the default of %s", defs[i].key);
		break;
	}
	return buf;
}

/* Parses `text` into the field of `d`: LZ_OK, LZ_EINVAL (`why` may say more than "invalid") or
 * LZ_ENOMEM. */
static lz_err value_parse(struct settings *s, const struct setting_def *d, const char *text, char *why,
			  size_t why_cap)
{
	char *field = (char *)s + d->offset;
	int64_t n;
	bool b;
	int e;
	char *copy;

	switch (d->kind) {
	case KIND_STRING:
		if (!d->check(text, why, why_cap))
			return LZ_EINVAL;
		copy = strdup(text);
		if (copy == NULL)
			return LZ_ENOMEM;
		free(*(char **)field);
		*(char **)field = copy;
		break;
	case KIND_U16:
		if (!parse_int(text, d->min, d->max, &n))
			return LZ_EINVAL;
		*(uint16_t *)field = (uint16_t)n;
		break;
	case KIND_UINT:
		if (!parse_int(text, d->min, d->max, &n))
			return LZ_EINVAL;
		*(unsigned *)field = (unsigned)n;
		break;
	case KIND_I64:
		if (!parse_int(text, d->min, d->max, &n))
			return LZ_EINVAL;
		*(int64_t *)field = n;
		break;
	case KIND_SIZE:
		if (!parse_size(text, d->min, d->max, &n))
			return LZ_EINVAL;
		*(uint64_t *)field = (uint64_t)n;
		break;
	case KIND_BOOL:
		if (!parse_bool(text, &b))
			return LZ_EINVAL;
		*(bool *)field = b;
		break;
	case KIND_ENUM:
		if (!parse_choice(d->choices, text, &e))
			return LZ_EINVAL;
		memcpy(field, &e, sizeof e);
		break;
	}
	if (d->optional)
		*(bool *)((char *)s + d->present) = true;
	return LZ_OK;
}

/* Sets key `i` from `text`, which came from `o`. */
static lz_err loader_set(struct loader *ld, size_t i, const char *text, struct origin o)
{
	char why[160] = "";
	char where[2 * PATH_CAP];
	lz_err err;

	ld->origin[i] = o;
	err = value_parse(ld->s, &defs[i], text, why, sizeof why);
	if (err != LZ_EINVAL)
		return err;
	return loader_fail(ld, LZ_EINVAL, "%s: invalid value '%.*s'%s for %s%s%s%s: accepted values are %s",
			   origin_text(ld, i, where, sizeof where), SHOWN_VALUE_MAX, text,
			   strlen(text) > SHOWN_VALUE_MAX ? "..." : "", defs[i].key, why[0] ? " (" : "", why,
			   why[0] ? ")" : "", defs[i].accepted);
}

static lz_err loader_defaults(struct loader *ld)
{
	for (size_t i = 0; i < NDEFS; i++) {
		lz_err err;

		if (defs[i].def == NULL || defs[i].derived)
			continue;
		err = loader_set(ld, i, defs[i].def, (struct origin){ .kind = ORIGIN_DEFAULT });
		if (err != LZ_OK)
			return err;
	}
	return LZ_OK;
}

/* "http_host, http_port, ..." into `buf`. */
static const char *key_list(char *buf, size_t cap)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < NDEFS && len < cap; i++)
		len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? ", " : "", defs[i].key);
	return buf;
}

/* ---- YAML file ---------------------------------------------------------------------------- */

static lz_err yaml_next(struct loader *ld, yaml_parser_t *p, yaml_event_t *ev)
{
	if (yaml_parser_parse(p, ev))
		return LZ_OK;
	if (p->error == YAML_MEMORY_ERROR)
		return LZ_ENOMEM;
	if (p->error == YAML_READER_ERROR)
		return loader_fail(ld, LZ_EPARSE, "%s: YAML syntax error at byte %zu: %s", ld->file, p->problem_offset,
				   p->problem ? p->problem : "unreadable input");
	return loader_fail(ld, LZ_EPARSE, "%s:%zu:%zu: YAML syntax error: %s%s%s", ld->file, p->problem_mark.line + 1,
			   p->problem_mark.column + 1, p->context ? p->context : "", p->context ? ": " : "",
			   p->problem ? p->problem : "invalid YAML");
}

static const char *yaml_event_what(const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_SEQUENCE_START_EVENT: return "a list";
	case YAML_MAPPING_START_EVENT: return "a mapping";
	case YAML_ALIAS_EVENT: return "an alias";
	case YAML_SCALAR_EVENT: return "a single value";
	default: return "something else";
	}
}

/* A plain scalar that YAML reads as null: `key:`, `key: ~`, `key: null`. */
static bool yaml_is_null(const yaml_event_t *ev)
{
	const char *v = (const char *)ev->data.scalar.value;

	return ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       (v[0] == '\0' || strcmp(v, "~") == 0 || strcasecmp(v, "null") == 0);
}

/* The top-level key that holds entity declarations, not a setting: the broker's provisioning
 * reads and checks it; here its value is skipped. */
#define ENTITIES_KEY "entities"

/* Reads and drops one value, however deeply nested. */
static lz_err yaml_skip_value(struct loader *ld, yaml_parser_t *p)
{
	unsigned depth = 0;
	yaml_event_t ev;
	lz_err err;

	do {
		err = yaml_next(ld, p, &ev);
		if (err != LZ_OK)
			return err;
		if (ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT)
			depth++;
		else if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT)
			depth--;
		yaml_event_delete(&ev);
	} while (depth > 0);
	return LZ_OK;
}

/* One `key: value` pair; `key` is the key's scalar event. */
static lz_err yaml_pair(struct loader *ld, yaml_parser_t *p, const yaml_event_t *key)
{
	const char *name = (const char *)key->data.scalar.value;
	unsigned long line = key->start_mark.line + 1, column = key->start_mark.column + 1;
	char keys[512];
	yaml_event_t val;
	size_t i;
	lz_err err;

	if (key->data.scalar.length == sizeof ENTITIES_KEY - 1 && memcmp(name, ENTITIES_KEY, sizeof ENTITIES_KEY - 1) == 0)
		return yaml_skip_value(ld, p);
	i = def_find(name, key->data.scalar.length);
	if (i == NDEFS)
		return loader_fail(ld, LZ_EINVAL, "%s:%lu:%lu: unknown key '%.*s': known keys are %s and " ENTITIES_KEY,
				   ld->file, line, column, SHOWN_VALUE_MAX, name, key_list(keys, sizeof keys));
	if (ld->origin[i].kind == ORIGIN_FILE)
		return loader_fail(ld, LZ_EINVAL, "%s:%lu:%lu: %s given twice (first at line %lu)", ld->file, line,
				   column, defs[i].key, ld->origin[i].line);
	err = yaml_next(ld, p, &val);
	if (err != LZ_OK)
		return err;
	line = val.start_mark.line + 1;
	column = val.start_mark.column + 1;
	if (val.type != YAML_SCALAR_EVENT)
		err = loader_fail(ld, LZ_EINVAL, "%s:%lu:%lu: wrong type for %s: expected a single value (%s), found %s",
				  ld->file, line, column, defs[i].key, defs[i].accepted, yaml_event_what(&val));
	else if (yaml_is_null(&val))
		err = loader_fail(ld, LZ_EINVAL,
				  "%s:%lu:%lu: %s has no value: give one (%s) or remove the line to use the default",
				  ld->file, line, column, defs[i].key, defs[i].accepted);
	else if (strlen((const char *)val.data.scalar.value) != val.data.scalar.length)
		err = loader_fail(ld, LZ_EINVAL, "%s:%lu:%lu: invalid value for %s: contains a NUL character", ld->file,
				  line, column, defs[i].key);
	else
		err = loader_set(ld, i, (const char *)val.data.scalar.value,
				 (struct origin){ .kind = ORIGIN_FILE, .line = line, .column = column });
	yaml_event_delete(&val);
	return err;
}

/* The pairs of the top-level mapping, up to and including its end. */
static lz_err yaml_mapping(struct loader *ld, yaml_parser_t *p)
{
	yaml_event_t ev;
	lz_err err;

	for (;;) {
		err = yaml_next(ld, p, &ev);
		if (err != LZ_OK)
			return err;
		if (ev.type == YAML_MAPPING_END_EVENT)
			break;
		if (ev.type == YAML_SCALAR_EVENT)
			err = yaml_pair(ld, p, &ev);
		else
			err = loader_fail(ld, LZ_EINVAL, "%s:%zu:%zu: expected a key name, found %s", ld->file,
					  ev.start_mark.line + 1, ev.start_mark.column + 1, yaml_event_what(&ev));
		yaml_event_delete(&ev);
		if (err != LZ_OK)
			return err;
	}
	yaml_event_delete(&ev);
	return LZ_OK;
}

/*
 * The whole stream: nothing at all, or one document holding a mapping (or nothing, as in a file
 * with just "---"). Events come one at a time and each is deleted before the next is read.
 */
static lz_err yaml_stream(struct loader *ld, yaml_parser_t *p)
{
	static const yaml_event_type_t expect_end[] = { YAML_DOCUMENT_END_EVENT, YAML_STREAM_END_EVENT };
	yaml_event_t ev;
	lz_err err;

	err = yaml_next(ld, p, &ev); /* STREAM_START */
	if (err != LZ_OK)
		return err;
	yaml_event_delete(&ev);
	err = yaml_next(ld, p, &ev);
	if (err != LZ_OK)
		return err;
	if (ev.type == YAML_STREAM_END_EVENT) {
		yaml_event_delete(&ev);
		return LZ_OK;
	}
	yaml_event_delete(&ev); /* DOCUMENT_START */
	err = yaml_next(ld, p, &ev);
	if (err != LZ_OK)
		return err;
	if (ev.type == YAML_MAPPING_START_EVENT)
		err = yaml_mapping(ld, p);
	else if (ev.type != YAML_SCALAR_EVENT || !yaml_is_null(&ev))
		err = loader_fail(ld, LZ_EINVAL, "%s:%zu:%zu: expected a mapping of settings keys to values, found %s",
				  ld->file, ev.start_mark.line + 1, ev.start_mark.column + 1, yaml_event_what(&ev));
	yaml_event_delete(&ev);
	for (size_t i = 0; i < 2 && err == LZ_OK; i++) {
		err = yaml_next(ld, p, &ev);
		if (err != LZ_OK)
			break;
		if (ev.type != expect_end[i])
			err = loader_fail(ld, LZ_EINVAL, "%s:%zu:%zu: only one YAML document is allowed", ld->file,
					  ev.start_mark.line + 1, ev.start_mark.column + 1);
		yaml_event_delete(&ev);
	}
	return err;
}

static lz_err loader_file(struct loader *ld, const char *path)
{
	yaml_parser_t parser;
	FILE *f;
	lz_err err;

	ld->file = path;
	f = fopen(path, "rb");
	if (f == NULL)
		return loader_fail(ld, LZ_ESYS, "config file %s: cannot open: %s", path, strerror(errno));
	if (!yaml_parser_initialize(&parser)) {
		err = LZ_ENOMEM;
		goto out_close_file;
	}
	yaml_parser_set_input_file(&parser, f);
	err = yaml_stream(ld, &parser);
	if (ferror(f))
		err = loader_fail(ld, LZ_ESYS, "config file %s: cannot read: %s", path, strerror(errno));
	yaml_parser_delete(&parser);
out_close_file:
	fclose(f);
	return err;
}

/* ---- Environment -------------------------------------------------------------------------- */

/* The value of `name` in `envp` (the first one, as getenv), NULL when unset or empty. */
static const char *env_lookup(const char *const *envp, const char *name)
{
	size_t n = strlen(name);

	for (; *envp != NULL; envp++) {
		if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=')
			return (*envp)[n + 1] != '\0' ? *envp + n + 1 : NULL;
	}
	return NULL;
}

/* The key whose variable is `name[0..len)`, NDEFS for none. */
static size_t env_find(const char *name, size_t len)
{
	char buf[64];

	for (size_t i = 0; i < NDEFS; i++) {
		env_name(&defs[i], buf, sizeof buf);
		if (strlen(buf) == len && memcmp(buf, name, len) == 0)
			return i;
	}
	return NDEFS;
}

static lz_err loader_env(struct loader *ld, const char *const *envp)
{
	char keys[512];

	for (; *envp != NULL; envp++) {
		const char *eq = strchr(*envp, '=');
		size_t len, i;
		lz_err err;

		if (eq == NULL || strncmp(*envp, ENV_PREFIX, sizeof ENV_PREFIX - 1) != 0)
			continue;
		len = (size_t)(eq - *envp);
		if (len == sizeof ENV_CONFIG - 1 && memcmp(*envp, ENV_CONFIG, len) == 0)
			continue;
		i = env_find(*envp, len);
		if (i == NDEFS)
			return loader_fail(ld, LZ_EINVAL,
					   "%.*s: unknown LOCALZURE_* variable: known keys are %s (as LOCALZURE_ + the "
					   "key in upper case) and LOCALZURE_CONFIG",
					   (int)len, *envp, key_list(keys, sizeof keys));
		/* Empty means unset; a repeated variable counts once, as getenv() reads it. */
		if (eq[1] == '\0' || ld->origin[i].kind == ORIGIN_ENV)
			continue;
		err = loader_set(ld, i, eq + 1, (struct origin){ .kind = ORIGIN_ENV });
		if (err != LZ_OK)
			return err;
	}
	return LZ_OK;
}

/* ---- Derived values and checks across keys ------------------------------------------------ */

/* Fills every derived key not set by the file or the environment from its template. */
static lz_err loader_derive(struct loader *ld)
{
	const char *dir = ld->s->data_dir;
	size_t dir_len = strlen(dir);
	struct strbuf text = STRBUF_INIT;
	lz_err err = LZ_OK;

	/* "data/" and "data" give the same paths, and "/" gives "/localzure.db". */
	while (dir_len > 0 && dir[dir_len - 1] == '/')
		dir_len--;
	for (size_t i = 0; i < NDEFS && err == LZ_OK; i++) {
		const char *tok;

		if (!defs[i].derived || ld->origin[i].kind != ORIGIN_DEFAULT)
			continue;
		tok = strstr(defs[i].def, DATA_DIR_TOKEN);
		strbuf_reset(&text);
		err = strbuf_add(&text, defs[i].def, (size_t)(tok - defs[i].def));
		if (err == LZ_OK)
			err = strbuf_add(&text, dir, dir_len);
		if (err == LZ_OK)
			err = strbuf_adds(&text, tok + sizeof DATA_DIR_TOKEN - 1);
		if (err == LZ_OK)
			err = loader_set(ld, i, strbuf_cstr(&text), (struct origin){ .kind = ORIGIN_DERIVED });
	}
	strbuf_release(&text);
	return err;
}

/* clock_start_ms only makes sense with the manual clock. */
static lz_err loader_cross_check(struct loader *ld)
{
	size_t start = def_find("clock_start_ms", strlen("clock_start_ms"));
	size_t clock = def_find("clock", strlen("clock"));
	char where[2 * PATH_CAP], clock_where[2 * PATH_CAP];

	if (ld->s->has_clock_start && ld->s->clock != SETTINGS_CLOCK_MANUAL)
		return loader_fail(ld, LZ_EINVAL,
				   "%s: clock_start_ms is accepted only with clock: manual (clock is real, from %s)",
				   origin_text(ld, start, where, sizeof where),
				   origin_text(ld, clock, clock_where, sizeof clock_where));
	return LZ_OK;
}

lz_err settings_load(const char *yaml_path, const char *const *envp, struct settings *out, char *detail,
		     size_t detail_cap)
{
	struct loader ld = { .s = out, .detail = detail, .detail_cap = detail_cap };
	lz_err err;

	memset(out, 0, sizeof *out);
	if (detail != NULL && detail_cap > 0)
		detail[0] = '\0';
	if (envp == NULL)
		envp = (const char *const *)environ;
	if (yaml_path == NULL)
		yaml_path = env_lookup(envp, ENV_CONFIG);
	err = loader_defaults(&ld);
	if (err != LZ_OK)
		goto out_release;
	if (yaml_path != NULL) {
		out->config_path = strdup(yaml_path);
		if (out->config_path == NULL) {
			err = LZ_ENOMEM;
			goto out_release;
		}
		err = loader_file(&ld, out->config_path);
		if (err != LZ_OK)
			goto out_release;
	}
	err = loader_env(&ld, envp);
	if (err != LZ_OK)
		goto out_release;
	err = loader_derive(&ld);
	if (err != LZ_OK)
		goto out_release;
	err = loader_cross_check(&ld);
	if (err != LZ_OK)
		goto out_release;
	return LZ_OK;

out_release:
	settings_release(out);
	return err;
}

void settings_release(struct settings *s)
{
	free(s->config_path);
	for (size_t i = 0; i < NDEFS; i++) {
		if (defs[i].kind == KIND_STRING)
			free(*(char **)((char *)s + defs[i].offset));
	}
	memset(s, 0, sizeof *s);
}

/* ------------------------------------------------------------------------------------------ */
/* Dump                                                                                       */
/* ------------------------------------------------------------------------------------------ */

/* `v` as a YAML double-quoted scalar. Bytes from 0x80 up pass through (UTF-8 text). */
static lz_err dump_quoted(struct strbuf *out, const char *v)
{
	lz_err err = strbuf_addch(out, '"');

	for (; *v != '\0' && err == LZ_OK; v++) {
		unsigned char c = (unsigned char)*v;

		if (c == '"' || c == '\\')
			err = strbuf_addf(out, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			err = strbuf_addf(out, "\\x%02x", c);
		else
			err = strbuf_addch(out, (char)c);
	}
	if (err == LZ_OK)
		err = strbuf_addch(out, '"');
	return err;
}

static lz_err dump_value(struct strbuf *out, const struct settings *s, const struct setting_def *d)
{
	const char *field = (const char *)s + d->offset;
	int e;

	switch (d->kind) {
	case KIND_STRING:
		return dump_quoted(out, *(char *const *)field);
	case KIND_U16:
		return strbuf_addf(out, "%u", (unsigned)*(const uint16_t *)field);
	case KIND_UINT:
		return strbuf_addf(out, "%u", *(const unsigned *)field);
	case KIND_I64:
		return strbuf_addf(out, "%lld", (long long)*(const int64_t *)field);
	case KIND_SIZE:
		return strbuf_addf(out, "%llu", (unsigned long long)*(const uint64_t *)field);
	case KIND_BOOL:
		return strbuf_adds(out, *(const bool *)field ? "true" : "false");
	case KIND_ENUM:
		memcpy(&e, field, sizeof e);
		return strbuf_adds(out, choice_name(d->choices, e));
	}
	return LZ_EINVAL;
}

static lz_err dump_procs(struct strbuf *out, unsigned procs)
{
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = { { PROC_BROKER, "broker" }, { PROC_PERSISTD, "persistd" }, { PROC_CLI, "cli" } };
	const char *sep = "  # ";
	lz_err err = LZ_OK;

	for (size_t i = 0; i < sizeof names / sizeof names[0] && err == LZ_OK; i++) {
		if (procs & names[i].bit) {
			err = strbuf_addf(out, "%s%s", sep, names[i].name);
			sep = ", ";
		}
	}
	return err;
}

lz_err settings_dump(const struct settings *s, struct strbuf *out)
{
	lz_err err = strbuf_adds(out, "# LocalZure settings in force (environment beats file beats defaults)\n"
				      "# config file: ");

	if (err == LZ_OK)
		err = s->config_path != NULL ? dump_quoted(out, s->config_path) : strbuf_adds(out, "none");
	if (err == LZ_OK)
		err = strbuf_addch(out, '\n');
	for (size_t i = 0; i < NDEFS && err == LZ_OK; i++) {
		const struct setting_def *d = &defs[i];

		if (d->optional && !*(const bool *)((const char *)s + d->present)) {
			err = strbuf_addf(out, "# %s: not set", d->key);
		} else {
			err = strbuf_addf(out, "%s: ", d->key);
			if (err == LZ_OK)
				err = dump_value(out, s, d);
		}
		if (err == LZ_OK)
			err = dump_procs(out, d->procs);
		if (err == LZ_OK)
			err = strbuf_addch(out, '\n');
	}
	return err;
}
