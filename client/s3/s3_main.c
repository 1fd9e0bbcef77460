/* norn-s3: the S3 gateway daemon. Reads the cluster config for entity
 * "client.s3" (section [client.s3] or [s3]-prefixed options in [global] /
 * [client]), opens the storage backend, starts the HTTP server on one
 * libuv loop and runs until SIGINT/SIGTERM.
 *
 *   norn-s3 [-c CONF] [--s3_backend=fs --s3_fs_root=DIR] [--s3_port=N] ...
 *
 * The default backend ("norn") stores everything in the cluster through
 * libnorn (s3_backend_norn.c); "fs" is a DEVELOPMENT backend on a local
 * directory for tests without a cluster. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <uv.h>

#include "client/s3/s3_api.h"
#include "client/s3/s3_backend.h"
#include "client/s3/s3_http.h"
#include "common/config.h"
#include "common/log.h"
#include "norn/errors.h"

struct s3_main {
	uv_loop_t loop;
	uv_signal_t sigint, sigterm;
	uv_timer_t tick;                /* s3_api_tick: memory back to the system when idle */
	struct s3_api *api;
	struct s3_http_server *srv;
	struct s3_backend *be;
};

static void on_signal(uv_signal_t *h, int sig)
{
	struct s3_main *m = h->data;
	NLOG(S3, INFO, "signal %d, shutting down", sig);
	if (m->srv) {
		s3_http_server_close(m->srv);
		m->srv = NULL;
	}
	if (m->be && m->be->ops->stop)
		m->be->ops->stop(m->be);
	uv_close((uv_handle_t *)&m->sigint, NULL);
	uv_close((uv_handle_t *)&m->sigterm, NULL);
	uv_close((uv_handle_t *)&m->tick, NULL);
}

static void on_tick(uv_timer_t *t)
{
	struct s3_main *m = t->data;
	s3_api_tick(m->api);
}

static void usage(void)
{
	fprintf(stderr, "usage: norn-s3 [-c CONF] [--name=value ...]\n"
	                "  e.g. norn-s3 --s3_backend=fs --s3_fs_root=/tmp/s3 --s3_port=7480\n"
	                "  norn-s3 --help-config lists every option\n");
}

int main(int argc, char **argv)
{
	struct norn_config cfg;
	char err[512];
	const char *conf = NULL;
	int rc;
	/* Metadata steps run in libuv's thread pool (libnorn has no async
	 * omap reads); they mostly wait on the cluster, so use more threads
	 * than libuv's default 4. */
	setenv("UV_THREADPOOL_SIZE", "32", 0);
	if (norn_config_init(&cfg, "client.s3"))
		return 1;
	/* The file first, then command-line overrides on top. */
	for (int i = 1; i + 1 < argc; i++)
		if (!strcmp(argv[i], "-c"))
			conf = argv[i + 1];
	if (conf && norn_config_load_file(&cfg, conf, err, sizeof(err))) {
		fprintf(stderr, "norn-s3: %s: %s\n", conf, err);
		return 2;
	}
	if (norn_config_parse_args(&cfg, &argc, argv, err, sizeof(err))) {
		fprintf(stderr, "norn-s3: %s\n", err);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-c") && i + 1 < argc) {
			i++;
		} else if (!strcmp(argv[i], "--help-config")) {
			norn_config_print_help(stdout);
			return 0;
		} else {
			usage();
			return 2;
		}
	}
	enum norn_log_level lvl = NORN_LOG_INFO;
	norn_log_parse_level(cfg.log_level, &lvl);
	FILE *logf = NULL;
	if (cfg.log_file && cfg.log_file[0])
		logf = fopen(cfg.log_file, "a");
	norn_log_init("client.s3", logf, lvl);

	struct s3_main m;
	memset(&m, 0, sizeof(m));
	uv_loop_init(&m.loop);
	struct s3_backend *be = NULL;
	if (!strcmp(cfg.s3_backend, "fs")) {
		if (!cfg.s3_fs_root[0]) {
			fprintf(stderr, "norn-s3: --s3_fs_root is required with the fs backend\n");
			return 2;
		}
		rc = s3_backend_fs_open(cfg.s3_fs_root, &be);
		if (rc) {
			fprintf(stderr, "norn-s3: fs backend %s: %s\n", cfg.s3_fs_root, norn_strerror(rc));
			return 1;
		}
		NLOG(S3, WARN, "using the fs DEVELOPMENT backend at %s (not durable storage)",
		     cfg.s3_fs_root);
#ifdef NORN_S3_HAVE_CLUSTER
	} else if (!strcmp(cfg.s3_backend, "norn")) {
		/* libnorn reads the same config file (mon_host, fsid, keyring)
		 * plus its own client_* options. */
		struct s3_norn_config ncfg = {
			.conf_path = conf,
			.entity = cfg.s3_client_name,
			.keyring = cfg.keyring[0] ? cfg.keyring : NULL,
			.pool = cfg.s3_pool,
			.index_shards = (uint32_t)cfg.s3_index_shards,
			.gc_shards = (uint32_t)cfg.s3_gc_shards,
			.stripe_bytes = cfg.s3_stripe_bytes,
			.window_bytes = cfg.s3_write_window_bytes,
			.gc_interval_ms = (int64_t)cfg.s3_gc_interval_ms,
			.gc_delay_ms = (int64_t)cfg.s3_gc_delay_ms,
			.gc_orphan_ms = (int64_t)cfg.s3_gc_orphan_ms,
			.user_cache_ms = (int64_t)cfg.s3_user_cache_ms,
			.orphan_scan_per_pass = (uint32_t)cfg.s3_orphan_scan_per_pass,
		};
		rc = s3_backend_norn_open(&ncfg, &m.loop, &be);
		if (rc) {
			fprintf(stderr, "norn-s3: cluster backend (pool %s): %s\n", cfg.s3_pool,
			        norn_strerror(rc));
			return 1;
		}
#endif
	} else {
		fprintf(stderr, "norn-s3: backend '%s' is not available in this build\n", cfg.s3_backend);
		return 2;
	}
	m.be = be;

	struct s3_api *api;
	struct s3_api_config acfg = {
		.region = cfg.s3_region,
		.domain = cfg.s3_domain,
		.max_skew_ms = cfg.s3_max_skew_ms,
		.max_put_bytes = cfg.s3_max_put_bytes,
		.io_chunk_bytes = (size_t)cfg.s3_io_chunk_bytes,
		.md5_lanes = (int)cfg.s3_md5_lanes,
	};
	if (s3_api_create(&acfg, be, &api))
		return 1;
	FILE *alog = NULL;
	if (cfg.s3_access_log[0])
		alog = !strcmp(cfg.s3_access_log, "-") ? stdout : fopen(cfg.s3_access_log, "a");
	struct s3_http_config hcfg = {
		.addr = cfg.s3_addr,
		.port = (int)cfg.s3_port,
		.max_header_bytes = (size_t)cfg.s3_max_header_bytes,
		.idle_timeout_ms = cfg.s3_idle_timeout_ms,
		.request_timeout_ms = cfg.s3_request_timeout_ms,
		.max_req_per_sec = (uint32_t)cfg.s3_max_req_per_sec,
		.max_conns = (uint32_t)cfg.s3_max_conns,
		.access_log = alog,
	};
	SSL_CTX *tls = NULL;
	if (cfg.s3_tls_cert[0] || cfg.s3_tls_key[0]) {
		tls = SSL_CTX_new(TLS_server_method());
		if (!tls || SSL_CTX_set_min_proto_version(tls, TLS1_2_VERSION) != 1 ||
		    SSL_CTX_use_certificate_chain_file(tls, cfg.s3_tls_cert) != 1 ||
		    SSL_CTX_use_PrivateKey_file(tls, cfg.s3_tls_key, SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_check_private_key(tls) != 1) {
			char e[256];
			ERR_error_string_n(ERR_get_error(), e, sizeof(e));
			fprintf(stderr, "norn-s3: TLS setup (%s, %s): %s\n", cfg.s3_tls_cert, cfg.s3_tls_key, e);
			return 2;
		}
		hcfg.tls_ctx = tls;
	}
	struct s3_http_handlers h = { s3_api_on_request, api };
	signal(SIGPIPE, SIG_IGN);
	rc = s3_http_server_start(&m.loop, &hcfg, &h, &m.srv);
	if (rc) {
		fprintf(stderr, "norn-s3: listen %s:%d: %s\n", cfg.s3_addr, (int)cfg.s3_port, uv_strerror(rc));
		return 1;
	}
	m.api = api;
	uv_timer_init(&m.loop, &m.tick);
	m.tick.data = &m;
	uv_timer_start(&m.tick, on_tick, 1000, 1000);
	uv_signal_init(&m.loop, &m.sigint);
	uv_signal_init(&m.loop, &m.sigterm);
	m.sigint.data = m.sigterm.data = &m;
	uv_signal_start(&m.sigint, on_signal, SIGINT);
	uv_signal_start(&m.sigterm, on_signal, SIGTERM);
	if (cfg.s3_pid_file[0]) {
		FILE *pf = fopen(cfg.s3_pid_file, "w");
		if (pf) {
			fprintf(pf, "%d\n", (int)getpid());
			fclose(pf);
		}
	}
	/* Scripts wait for this line (and read the port from it). */
	printf("norn-s3 listening on %s:%d%s\n", cfg.s3_addr, s3_http_port(m.srv), tls ? " (TLS)" : "");
	fflush(stdout);
	NLOG(S3, INFO, "listening on %s:%d", cfg.s3_addr, s3_http_port(m.srv));
	uv_run(&m.loop, UV_RUN_DEFAULT);
	if (be->ops->stop)
		be->ops->stop(be);
	uv_run(&m.loop, UV_RUN_DEFAULT);
	uv_loop_close(&m.loop);
	s3_api_destroy(api);
	if (tls)
		SSL_CTX_free(tls);
	be->ops->destroy(be);
	if (alog && alog != stdout)
		fclose(alog);
	norn_config_free(&cfg);
	return 0;
}
