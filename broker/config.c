#include "broker/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

void broker_config_defaults(struct broker_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->http_host, sizeof(cfg->http_host), "127.0.0.1");
	cfg->http_port = 5300;
	cfg->http_threads = 2;
	cfg->durability = DURABILITY_NONE;
	cfg->max_message_bytes = 262144;
	cfg->log_level = LOG_INFO;
	snprintf(cfg->namespace_name, sizeof(cfg->namespace_name), "localzure");
}

/* The value of `key` in `envp`, NULL when unset or empty. */
static const char *env_get(const char *const *envp, const char *key)
{
	size_t klen = strlen(key);

	for (; *envp != NULL; envp++) {
		if (strncmp(*envp, key, klen) == 0 && (*envp)[klen] == '=')
			return (*envp)[klen + 1] != '\0' ? *envp + klen + 1 : NULL;
	}
	return NULL;
}

static lz_err bad_value(struct lz_detail *detail, const char *key, const char *value, const char *accepted)
{
	if (detail != NULL)
		snprintf(detail->text, sizeof(detail->text), "invalid %s '%s': accepted values are %s", key, value,
			 accepted);
	return LZ_EINVAL;
}

/* Parses a decimal integer in [min, max] with nothing around it. */
static bool parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long v;

	if (s[0] == '\0' || s[0] == ' ' || s[0] == '+')
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static bool namespace_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 50)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return true;
}

lz_err broker_config_from_env(struct broker_config *cfg, const char *const *envp, struct lz_detail *detail)
{
	const char *v;
	int64_t n;

	if (envp == NULL)
		envp = (const char *const *)environ;
	broker_config_defaults(cfg);

	v = env_get(envp, "LOCALZURE_HTTP_HOST");
	if (v != NULL) {
		if (strlen(v) >= sizeof(cfg->http_host) || strpbrk(v, " \t/") != NULL)
			return bad_value(detail, "LOCALZURE_HTTP_HOST", v, "an IP address or host name (up to 63 characters)");
		snprintf(cfg->http_host, sizeof(cfg->http_host), "%s", v);
	}
	v = env_get(envp, "LOCALZURE_HTTP_PORT");
	if (v != NULL) {
		if (!parse_int(v, 0, 65535, &n))
			return bad_value(detail, "LOCALZURE_HTTP_PORT", v, "0..65535 (0 = any free port)");
		cfg->http_port = (uint16_t)n;
	}
	v = env_get(envp, "LOCALZURE_HTTP_THREADS");
	if (v != NULL) {
		if (!parse_int(v, 1, 256, &n))
			return bad_value(detail, "LOCALZURE_HTTP_THREADS", v, "1..256");
		cfg->http_threads = (unsigned)n;
	}
	v = env_get(envp, "LOCALZURE_DURABILITY");
	if (v != NULL && strcmp(v, "none") != 0)
		return bad_value(detail, "LOCALZURE_DURABILITY", v,
				 "none (sync and async need localzure-persistd, which this build does not have yet)");
	v = env_get(envp, "LOCALZURE_CLOCK");
	if (v != NULL) {
		if (strcmp(v, "real") == 0)
			cfg->manual_clock = false;
		else if (strcmp(v, "manual") == 0)
			cfg->manual_clock = true;
		else
			return bad_value(detail, "LOCALZURE_CLOCK", v, "real, manual");
	}
	v = env_get(envp, "LOCALZURE_CLOCK_START_MS");
	if (v != NULL) {
		if (!cfg->manual_clock)
			return bad_value(detail, "LOCALZURE_CLOCK_START_MS", v,
					 "a start time only together with LOCALZURE_CLOCK=manual");
		/* 0001-01-01 .. 9999-12-31, the range the wire formats can express. */
		if (!parse_int(v, -62135596800000LL, 253402300799999LL, &n))
			return bad_value(detail, "LOCALZURE_CLOCK_START_MS", v,
					 "milliseconds since the Unix epoch within years 0001..9999");
		cfg->has_clock_start = true;
		cfg->clock_start_ms = n;
	}
	v = env_get(envp, "LOCALZURE_MAX_MESSAGE_SIZE");
	if (v != NULL) {
		if (!parse_int(v, 1024, 104857600, &n))
			return bad_value(detail, "LOCALZURE_MAX_MESSAGE_SIZE", v, "1024..104857600 bytes");
		cfg->max_message_bytes = (size_t)n;
	}
	v = env_get(envp, "LOCALZURE_LOG_LEVEL");
	if (v != NULL && log_level_parse(v, &cfg->log_level) != LZ_OK)
		return bad_value(detail, "LOCALZURE_LOG_LEVEL", v, "debug, info, warn, error");
	v = env_get(envp, "LOCALZURE_NAMESPACE");
	if (v != NULL) {
		if (!namespace_ok(v))
			return bad_value(detail, "LOCALZURE_NAMESPACE", v, "1..50 letters, digits and hyphens");
		snprintf(cfg->namespace_name, sizeof(cfg->namespace_name), "%s", v);
	}
	return LZ_OK;
}
