/*
 * settings — the configuration shared by localzure-broker, localzure-persistd and the CLI.
 *
 * Sources, the later beating the earlier: built-in defaults, a YAML file, LOCALZURE_*
 * environment variables. The YAML file is a flat mapping of the keys below (`storage_type:
 * sqlite`); its path is the daemon's --config option, else LOCALZURE_CONFIG, else there is none.
 * One top-level key is not a setting: `entities`, the entity declarations read by the broker's
 * provisioning; this loader skips its value whatever its shape.
 * The variable for a key is LOCALZURE_ + the key in upper case (LOCALZURE_STORAGE_TYPE); an
 * empty variable counts as unset. Values that derive from others (sqlite_path, json_path,
 * persistd_url and control_url from data_dir) are resolved after every source is read, so
 * setting only data_dir moves them all.
 *
 * Keys (the registry in settings.c is the reference; docs/configuration.md lists the same):
 *   http_host http_port http_threads durability clock clock_start_ms max_message_size log_level
 *   namespace emulator_config storage_type data_dir sqlite_path json_path redis_url redis_prefix
 *   pretty_json snapshot_interval
 *   wal_enabled wal_max_bytes auto_compact persistd_url persistd_timeout_ms control_url
 * Booleans are true/false/1/0/yes/no (any case); sizes are bytes with an optional KiB, MiB, GiB
 * or TiB suffix ("64MiB", "64 MiB").
 *
 * Errors: never a silent fallback. An unknown YAML key, an unknown LOCALZURE_* variable (other
 * than LOCALZURE_CONFIG), a list or mapping where a value belongs, or an invalid value is
 * LZ_EINVAL; a YAML syntax error is LZ_EPARSE; a config file that cannot be read is LZ_ESYS. The
 * detail names the key, where the value came from (the variable, or file:line:column) and the
 * accepted values; give it ≥ 1024 bytes so that the list of known keys fits.
 *
 * Thread rules: none. settings_load reads the process environment when `envp` is NULL: call it
 * before other threads exist.
 */
#ifndef LZ_COMMON_SETTINGS_H
#define LZ_COMMON_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/log.h"
#include "common/strbuf.h"

enum settings_durability {
	SETTINGS_DURABILITY_NONE,  /* no persistd: state lives and dies with the broker */
	SETTINGS_DURABILITY_ASYNC, /* reply at once, ship to persistd in the background */
	SETTINGS_DURABILITY_SYNC,  /* reply once persistd acked the change as durable */
};

enum settings_clock {
	SETTINGS_CLOCK_REAL,
	SETTINGS_CLOCK_MANUAL,     /* moves only when told to (tests) */
};

enum settings_storage {
	SETTINGS_STORAGE_MEMORY,   /* "in-memory" (alias "memory") */
	SETTINGS_STORAGE_SQLITE,
	SETTINGS_STORAGE_JSON,
	SETTINGS_STORAGE_REDIS,    /* a Redis server (redis_url), keys under redis_prefix */
};

/* Every string is owned by the struct (settings_release frees them) and never NULL after a
 * successful settings_load, except config_path and emulator_config. */
struct settings {
	char *config_path;                 /* the YAML file read; NULL: none */
	char *http_host;
	uint16_t http_port;                /* 0: any free port */
	unsigned http_threads;
	enum settings_durability durability;
	enum settings_clock clock;
	bool has_clock_start;              /* clock_start_ms was given */
	int64_t clock_start_ms;            /* manual clock start, ms since the Unix epoch */
	uint64_t max_message_size;         /* bytes */
	enum log_level log_level;
	char *namespace_name;              /* key "namespace" */
	bool has_emulator_config;          /* emulator_config was given */
	char *emulator_config;             /* Config.json to provision entities from; NULL: none */
	enum settings_storage storage_type;
	char *data_dir;
	char *sqlite_path;
	char *json_path;                   /* a directory */
	char *redis_url;                   /* redis://[:password@]host[:port][/db] */
	char *redis_prefix;                /* prefix of every key persistd writes in Redis */
	bool pretty_json;
	unsigned snapshot_interval;        /* seconds between folds */
	bool wal_enabled;
	uint64_t wal_max_bytes;
	bool auto_compact;
	char *persistd_url;                /* ipc://path or tcp://host:port */
	int64_t persistd_timeout_ms;       /* how long writes wait for persistd before 503 */
	char *control_url;                 /* ipc://path or tcp://host:port */
};

/*
 * Fills OUT `out` from the defaults, the YAML file at `yaml_path` (NULL: LOCALZURE_CONFIG from
 * `envp`, or no file) and `envp`, an environ-style NULL-terminated "KEY=value" array (NULL: the
 * process environment). On failure `out` holds nothing to release and `detail` (may be NULL) says
 * why (see Errors above).
 */
lz_err settings_load(const char *yaml_path, const char *const *envp, struct settings *out, char *detail,
		     size_t detail_cap);

/* Frees the strings of `s` and zeroes it; safe on a zeroed or released struct. */
void settings_release(struct settings *s);

/* Appends to `out` the configuration in force as YAML that settings_load reads back, one key per
 * line with a comment naming the processes that read it. LZ_ENOMEM. */
lz_err settings_dump(const struct settings *s, struct strbuf *out);

#endif
