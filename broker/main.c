/*
 * localzure-broker — the broker process: configuration, the core, the HTTP front end and the
 * timer thread.
 *
 * Configuration comes from LOCALZURE_* environment variables (broker/config.h); an invalid value
 * is reported with the key and the accepted values, and the process exits 2. So is an invalid
 * entity declaration (the YAML file's `entities`, the emulator Config.json): the declarations
 * are read before anything starts and applied to the core after the state transfer from
 * persistd, before the HTTP server listens (broker/provision.h). Once the HTTP
 * server listens, one line `msg="listening" host=H port=N` is written to stderr whatever the log
 * level, so harnesses that start the broker on port 0 can read the port from it.
 *
 * Threads: libmicrohttpd's polling threads serve requests; the timer thread runs core_tick() when
 * the core's next deadline comes (at least once a second) and ends long polls whose real-time
 * wait passed; the main thread waits for SIGTERM or SIGINT. With a manual clock only the
 * emulator's clock endpoint moves time; the timer thread then only ends long polls.
 *
 * Stopping: SIGTERM or SIGINT stop accepting connections, end parked long polls, let requests in
 * progress finish (up to 5 s), free everything and exit 0. Exit 3: persistd's store was replaced
 * (`localzure storage import-data` or `purge`) while this broker was disconnected from it; its
 * state is stale, and a restart loads the new one (broker/journal_client.c).
 */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "broker/config.h"
#include "broker/core.h"
#include "broker/http.h"
#include "broker/journal_client.h"
#include "broker/provision.h"
#include "common/clock.h"
#include "common/log.h"

#define TIMER_MAX_SLEEP_US 1000000 /* the timer thread looks at the core at least this often */
#define TIMER_MIN_SLEEP_US 1000    /* a deadline that stays due (journal refused) is retried at this pace */
#define STOP_GRACE_MS 5000
#define PROVISION_DETAIL_CAP 4096

struct timer {
	pthread_mutex_t mu;
	pthread_cond_t cond;       /* on CLOCK_MONOTONIC */
	bool stop, kicked;
	core *core;
	http_server *http;
};

/* http_config.wake: a request created work that may be due before the timer's next wake-up. */
static void timer_kick(void *arg)
{
	struct timer *t = arg;

	pthread_mutex_lock(&t->mu);
	t->kicked = true;
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->mu);
}

/* Microseconds until the next thing the timer must do, within [MIN, MAX]. */
static int64_t timer_next_sleep(struct timer *t)
{
	lz_clock *clk = core_clock(t->core);
	int64_t poll_at = http_server_expire(t->http);
	int64_t due_ms = core_next_deadline(t->core);
	int64_t sleep_us = TIMER_MAX_SLEEP_US;

	if (!clock_is_manual(clk) && due_ms != INT64_MAX) {
		int64_t until = due_ms - clock_now(clk);

		if (until < TIMER_MAX_SLEEP_US / 1000)
			sleep_us = until * 1000;
	}
	if (poll_at != INT64_MAX && poll_at - clock_monotonic_us() < sleep_us)
		sleep_us = poll_at - clock_monotonic_us();
	return sleep_us < TIMER_MIN_SLEEP_US ? TIMER_MIN_SLEEP_US : sleep_us;
}

static void *timer_main(void *arg)
{
	struct timer *t = arg;

	pthread_mutex_lock(&t->mu);
	while (!t->stop) {
		struct timespec until;
		int64_t sleep_us;

		t->kicked = false;
		pthread_mutex_unlock(&t->mu);
		core_tick(t->core);
		sleep_us = timer_next_sleep(t);
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += sleep_us / 1000000;
		until.tv_nsec += (sleep_us % 1000000) * 1000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		pthread_mutex_lock(&t->mu);
		while (!t->stop && !t->kicked) {
			if (pthread_cond_timedwait(&t->cond, &t->mu, &until) != 0)
				break;
		}
	}
	pthread_mutex_unlock(&t->mu);
	return NULL;
}

static lz_err timer_init(struct timer *t)
{
	pthread_condattr_t attr;
	int rc;

	memset(t, 0, sizeof(*t));
	if (pthread_condattr_init(&attr) != 0)
		return LZ_ESYS;
	rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (rc == 0)
		rc = pthread_cond_init(&t->cond, &attr);
	pthread_condattr_destroy(&attr);
	if (rc != 0)
		return LZ_ESYS;
	pthread_mutex_init(&t->mu, NULL);
	return LZ_OK;
}

static void timer_stop(struct timer *t, pthread_t thread)
{
	pthread_mutex_lock(&t->mu);
	t->stop = true;
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->mu);
	pthread_join(thread, NULL);
}

static void timer_release(struct timer *t)
{
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->mu);
}

/* Reads the entity declarations of the YAML settings file and of the emulator Config.json. */
static lz_err declarations_read(const struct broker_config *cfg, struct provision_list *l, char *detail, size_t cap)
{
	lz_err err = LZ_OK;

	if (cfg->config_path[0] != '\0')
		err = provision_parse_yaml(cfg->config_path, l, detail, cap);
	if (err == LZ_OK && cfg->emulator_config[0] != '\0')
		err = provision_parse_json(cfg->emulator_config, l, detail, cap);
	return err;
}

/* Waits, on the main thread, for a journal LSN to become durable. */
struct durable_wait {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool done, durable;
};

static void durable_wait_done(void *arg, bool durable)
{
	struct durable_wait *w = arg;

	pthread_mutex_lock(&w->mu);
	w->done = true;
	w->durable = durable;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->mu);
}

/* True once everything committed so far is durable in persistd, false when persistd did not
 * acknowledge it within its timeout (the records stay queued and are shipped when it is back). */
static bool journal_wait_durable(journal_client *journal, core *c)
{
	struct durable_wait w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false };

	if (journal_client_wait(journal, core_last_lsn(c), durable_wait_done, &w))
		return true;
	pthread_mutex_lock(&w.mu);
	while (!w.done)
		pthread_cond_wait(&w.cond, &w.mu);
	pthread_mutex_unlock(&w.mu);
	return w.durable;
}

static int64_t wall_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(void)
{
	struct broker_config cfg;
	struct lz_detail detail = { "" };
	struct core_config ccfg;
	struct http_config hcfg;
	struct timer timer;
	sigset_t stop_signals;
	pthread_t timer_thread;
	lz_clock *clk = NULL;
	core *c = NULL;
	journal_client *journal = NULL;
	struct provision_list decl;
	char decl_detail[PROVISION_DETAIL_CAP];
	size_t created = 0;
	static const char *const durability_names[] = { "none", "async", "sync" };
	int sig = 0, status = 1;
	lz_err e;

	log_set_tag("broker");
	e = broker_config_from_env(&cfg, NULL, &detail);
	if (e != LZ_OK) {
		log_write(LOG_ERROR, "invalid configuration; fix the variable and start again", "detail=\"%s\"",
			  detail.text);
		return 2;
	}
	log_threshold = cfg.log_level;
	provision_list_init(&decl);
	e = declarations_read(&cfg, &decl, decl_detail, sizeof(decl_detail));
	if (e != LZ_OK) {
		log_write(LOG_ERROR, "invalid entity declarations; fix the file and start again", "error=%s detail=\"%s\"",
			  err_name(e), decl_detail);
		provision_list_release(&decl);
		return 2;
	}

	/* The stop signals are blocked before any thread starts, so only sigwait() below sees them.
	 * Their disposition is reset first: a shell starting us in the background sets SIGINT to
	 * "ignore", and an ignored signal is discarded even while blocked. */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	if (signal(SIGTERM, SIG_DFL) == SIG_ERR || signal(SIGINT, SIG_DFL) == SIG_ERR ||
	    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL) != 0 || signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
		log_write(LOG_ERROR, "cannot set up signal handling", "%s", "");
		provision_list_release(&decl);
		return 1;
	}

	e = clock_new(cfg.manual_clock, cfg.has_clock_start ? cfg.clock_start_ms : wall_now_ms(), &clk);
	if (e != LZ_OK)
		goto out_log_error;
	memset(&ccfg, 0, sizeof(ccfg));
	ccfg.clock = clk;
	ccfg.max_message_bytes = cfg.max_message_bytes;
	e = core_new(&ccfg, &c);
	if (e != LZ_OK)
		goto out_free_clock;
	if (cfg.durability != DURABILITY_NONE) {
		struct journal_client_config jcfg = { cfg.persistd_url, cfg.persistd_timeout_ms, 30000, "broker" };

		/* The state comes back before the broker serves anyone. */
		e = journal_client_start(&jcfg, c, &journal, &detail);
		if (e != LZ_OK)
			goto out_free_core;
	}
	/* Declared entities are created once the stored state is in, before anyone is served. */
	e = provision_apply(c, &decl, &created, decl_detail, sizeof(decl_detail));
	provision_list_release(&decl);
	if (e != LZ_OK) {
		log_write(LOG_ERROR, "cannot provision the declared entities; fix the declaration and start again",
			  "error=%s detail=\"%s\"", err_name(e), decl_detail);
		status = 2;
		goto out_stop_journal;
	}
	/* Like an Atom PUT's answer under sync durability, serving waits for them to be durable. */
	if (created > 0 && cfg.durability == DURABILITY_SYNC && !journal_wait_durable(journal, c))
		log_write(LOG_WARN, "provisioned entities are not durable yet; persistd did not acknowledge them",
			  "created=%zu", created);
	e = timer_init(&timer);
	if (e != LZ_OK)
		goto out_stop_journal;
	timer.core = c;

	memset(&hcfg, 0, sizeof(hcfg));
	hcfg.host = cfg.http_host;
	hcfg.port = cfg.http_port;
	hcfg.threads = cfg.http_threads;
	hcfg.max_body_bytes = cfg.max_message_bytes;
	hcfg.namespace_name = cfg.namespace_name;
	hcfg.wake = timer_kick;
	hcfg.wake_arg = &timer;
	hcfg.journal = cfg.durability == DURABILITY_SYNC ? journal : NULL;
	e = http_server_start(c, &hcfg, &timer.http, &detail);
	if (e != LZ_OK)
		goto out_release_timer;
	if (pthread_create(&timer_thread, NULL, timer_main, &timer) != 0) {
		e = LZ_ESYS;
		snprintf(detail.text, sizeof(detail.text), "cannot start the timer thread");
		goto out_stop_http;
	}
	log_write(LOG_INFO, "listening", "host=%s port=%u namespace=%s clock=%s durability=%s max_message_size=%zu",
		  cfg.http_host, http_server_port(timer.http), cfg.namespace_name, cfg.manual_clock ? "manual" : "real",
		  durability_names[cfg.durability], cfg.max_message_bytes);

	if (sigwait(&stop_signals, &sig) != 0)
		sig = 0;
	LZ_LOG(LOG_INFO, "stopping", "signal=%d", sig);
	status = 0;
	timer_stop(&timer, timer_thread);
out_stop_http:
	http_server_stop(timer.http, STOP_GRACE_MS);
out_release_timer:
	timer_release(&timer);
out_stop_journal:
	journal_client_stop(journal);
out_free_core:
	core_free(c);
out_free_clock:
	clock_free(clk);
out_log_error:
	provision_list_release(&decl);
	/* Status 2 (a refused declaration) was logged where it happened. */
	if (status == 1)
		log_write(LOG_ERROR, "cannot start the broker", "error=%s detail=\"%s\"", err_name(e), detail.text);
	else if (status == 0)
		LZ_LOG(LOG_INFO, "stopped", "%s", "");
	return status;
}
