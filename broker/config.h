/*
 * config — the broker's settings: the shared configuration (common/settings.h: a YAML file named
 * by LOCALZURE_CONFIG plus LOCALZURE_* environment variables, environment first) reduced to what
 * the broker uses. docs/configuration.md lists every key.
 *
 * An invalid value or an unknown LOCALZURE_* variable is an error whose detail names the key,
 * where the value came from and the accepted values; there is never a silent fallback.
 *
 * Thread rules: none; broker_config_from_env() reads the process environment when `envp` is NULL
 * (call it before other threads exist).
 */
#ifndef LZ_BROKER_CONFIG_H
#define LZ_BROKER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/core.h"
#include "common/log.h"

enum broker_durability {
	DURABILITY_NONE = 0,  /* no persistd: state lives and dies with the broker */
	DURABILITY_ASYNC = 1, /* answer at once, ship in the background */
	DURABILITY_SYNC = 2,  /* answer a change once persistd has it durable */
};

struct broker_config {
	char http_host[64];
	uint16_t http_port;
	unsigned http_threads;
	enum broker_durability durability;
	char data_dir[512];
	char persistd_url[600];      /* default ipc://<data_dir>/persistd.ipc */
	int64_t persistd_timeout_ms; /* writes wait this long for an unreachable persistd, then 503 */
	bool manual_clock;
	bool has_clock_start;   /* LOCALZURE_CLOCK_START_MS was given */
	int64_t clock_start_ms;
	size_t max_message_bytes;
	enum log_level log_level;
	char namespace_name[51];
	char config_path[4096];      /* the YAML settings file, whose `entities` provisioning reads; "": none */
	char emulator_config[4096];  /* an emulator Config.json to provision entities from; "": none */
};

/* Fills `cfg` with the defaults listed above. */
void broker_config_defaults(struct broker_config *cfg);

/*
 * Fills OUT `cfg` from the defaults and the environment: `envp` is an environ-style
 * NULL-terminated "KEY=value" array, or NULL for the process environment. LZ_EINVAL with
 * `detail`.
 */
lz_err broker_config_from_env(struct broker_config *cfg, const char *const *envp, struct lz_detail *detail);

#endif
