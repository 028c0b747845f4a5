#include "broker/config.h"

#include <stdio.h>
#include <string.h>

#include "common/settings.h"

void broker_config_defaults(struct broker_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->http_host, sizeof(cfg->http_host), "127.0.0.1");
	cfg->http_port = 5300;
	cfg->http_threads = 2;
	cfg->durability = DURABILITY_SYNC;
	snprintf(cfg->data_dir, sizeof(cfg->data_dir), "./localzure-data");
	snprintf(cfg->persistd_url, sizeof(cfg->persistd_url), "ipc://./localzure-data/persistd.ipc");
	cfg->persistd_timeout_ms = 5000;
	cfg->max_message_bytes = 262144;
	cfg->log_level = LOG_INFO;
	snprintf(cfg->namespace_name, sizeof(cfg->namespace_name), "localzure");
}

/* Copies `v` into the fixed field `dst`; false when it does not fit. */
static bool copy_field(char *dst, size_t cap, const char *v)
{
	return snprintf(dst, cap, "%s", v != NULL ? v : "") < (int)cap;
}

lz_err broker_config_from_env(struct broker_config *cfg, const char *const *envp, struct lz_detail *detail)
{
	static const enum broker_durability durability[] = {
		[SETTINGS_DURABILITY_NONE] = DURABILITY_NONE,
		[SETTINGS_DURABILITY_ASYNC] = DURABILITY_ASYNC,
		[SETTINGS_DURABILITY_SYNC] = DURABILITY_SYNC,
	};
	struct settings s;
	char why[sizeof(detail->text)];
	lz_err err;

	broker_config_defaults(cfg);
	err = settings_load(NULL, envp, &s, why, sizeof(why));
	if (err != LZ_OK) {
		if (detail != NULL)
			snprintf(detail->text, sizeof(detail->text), "%s", why);
		return err;
	}
	if (!copy_field(cfg->http_host, sizeof(cfg->http_host), s.http_host) ||
	    !copy_field(cfg->data_dir, sizeof(cfg->data_dir), s.data_dir) ||
	    !copy_field(cfg->persistd_url, sizeof(cfg->persistd_url), s.persistd_url) ||
	    !copy_field(cfg->namespace_name, sizeof(cfg->namespace_name), s.namespace_name) ||
	    !copy_field(cfg->config_path, sizeof(cfg->config_path), s.config_path) ||
	    !copy_field(cfg->emulator_config, sizeof(cfg->emulator_config), s.emulator_config)) {
		if (detail != NULL)
			snprintf(detail->text, sizeof(detail->text),
				 "http_host (LOCALZURE_HTTP_HOST), data_dir (LOCALZURE_DATA_DIR), persistd_url "
				 "(LOCALZURE_PERSISTD_URL), namespace (LOCALZURE_NAMESPACE), LOCALZURE_CONFIG or "
				 "emulator_config (LOCALZURE_EMULATOR_CONFIG) is longer than the broker accepts");
		err = LZ_EINVAL;
		goto out_release_settings;
	}
	cfg->http_port = s.http_port;
	cfg->http_threads = s.http_threads;
	cfg->durability = durability[s.durability];
	cfg->manual_clock = s.clock == SETTINGS_CLOCK_MANUAL;
	cfg->has_clock_start = s.has_clock_start;
	cfg->clock_start_ms = s.clock_start_ms;
	cfg->max_message_bytes = (size_t)s.max_message_size;
	cfg->log_level = s.log_level;
	cfg->persistd_timeout_ms = s.persistd_timeout_ms;
out_release_settings:
	settings_release(&s);
	return err;
}
