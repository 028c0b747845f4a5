/*
 * config — the broker's settings, read from LOCALZURE_* environment variables.
 *
 * Keys (unset or empty = the default):
 *   LOCALZURE_HTTP_HOST          address or host name to listen on       127.0.0.1
 *   LOCALZURE_HTTP_PORT          0..65535; 0 = any free port           5300
 *   LOCALZURE_HTTP_THREADS       1..256 HTTP worker threads             2
 *   LOCALZURE_DURABILITY         none (sync and async arrive with persistd)  none
 *   LOCALZURE_CLOCK              real | manual                          real
 *   LOCALZURE_CLOCK_START_MS     manual clock start, ms since the epoch  the current time
 *   LOCALZURE_MAX_MESSAGE_SIZE   bytes, 1024..104857600                 262144
 *   LOCALZURE_LOG_LEVEL          debug | info | warn | error            info
 *   LOCALZURE_NAMESPACE          namespace name shown in Atom entries     localzure
 *                                (letters, digits, '-', 1..50 chars)
 *
 * An invalid value is an error whose detail names the key, the value and the accepted values;
 * there is never a silent fallback. Other LOCALZURE_* variables are left alone: persistd and the
 * supervisor read their own keys from the same environment.
 *
 * Thread rules: none; broker_config_from_env() is pure except that it reads the process
 * environment when `envp` is NULL (call it before other threads exist).
 */
#ifndef LZ_BROKER_CONFIG_H
#define LZ_BROKER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/core.h"
#include "common/log.h"

enum broker_durability {
	DURABILITY_NONE = 0,
};

struct broker_config {
	char http_host[64];
	uint16_t http_port;
	unsigned http_threads;
	enum broker_durability durability;
	bool manual_clock;
	bool has_clock_start;   /* LOCALZURE_CLOCK_START_MS was given */
	int64_t clock_start_ms;
	size_t max_message_bytes;
	enum log_level log_level;
	char namespace_name[51];
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
