/* norn-nbd: serve block exports over the NBD protocol.
 *
 * This file is the process shell around nbd_server: command line and
 * configuration, logging, optional daemonizing with a pid file, signal
 * handling for a clean stop, and the choice of backend (config
 * nbd_backend): "vol" serves Norn volumes ("pool/volume",
 * "pool/volume@snap") through libnorn; "file" is the development backend
 * (exports are files in --export-dir, or "file:/path" names with
 * --allow-paths).
 *
 * Options come from the cluster config file (-c FILE, section [client.nbd]
 * and [client]), then --name=value overrides of any config option (see
 * --help-config; ours are nbd_*), then the short forms below.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "client/nbd/nbd_backend_file.h"
#include "client/nbd/nbd_server.h"
#ifdef NORN_NBD_HAVE_VOL
#include "client/nbd/nbd_backend_vol.h"
#include "client/vol/vol.h"
#endif
#include "common/config.h"
#include "common/log.h"
#include "norn/errors.h"

struct nbd_main {
	uv_loop_t loop;
	uv_signal_t sig_int, sig_term;
	struct nbd_server *srv;
	const struct nbd_backend_ops *ops;
	void *backend;
	const char *pid_file;
	bool stopping;
	int exit_code;
	norn_cluster_t *cluster;   /* vol backend */
};

static void usage(FILE *fp)
{
	fprintf(fp,
	"usage: norn-nbd [options]\n"
	"Serve block exports over the NBD protocol (fixed newstyle).\n\n"
	"  --listen ADDR         HOST:PORT, [V6]:PORT, unix:PATH or /PATH; repeatable\n"
	"                        (default 127.0.0.1:10809; config nbd_listen)\n"
	"  --backend NAME        vol (Norn volumes, needs -c) or file (config nbd_backend)\n"
	"  --export-dir DIR      file backend: export DIR/NAME as NAME (\"pool/vol\";\n"
	"                        \"pool/vol@snap\" is read-only)\n"
	"  --allow-paths         file backend: also export \"file:/absolute/path\" names\n"
	"  --default-export NAME export served for the empty name\n"
	"  --read-only           serve every export read-only\n"
	"  --threads N           file backend I/O threads (default 16)\n"
	"  --pid-file PATH       write the pid here (removed on clean exit)\n"
	"  --log-file PATH       log here instead of stderr\n"
	"  --log-level LEVEL     err, warn, info, debug, trace\n"
	"  --daemon              detach; returns once the server listens\n"
	"  --foreground          stay attached (the default)\n"
	"  -c FILE               cluster config file\n"
	"  --NAME=VALUE          any config option (norn-nbd --help-config)\n"
	"  -h, --help            this text\n");
}

static int write_pid_file(const char *path)
{
	char buf[32];
	int fd, n;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (write(fd, buf, (size_t)n) != n) {
		int err = -errno;
		close(fd);
		return err ? err : -EIO;
	}
	close(fd);
	return 0;
}

static void on_server_closed(void *arg)
{
	struct nbd_main *m = arg;

	m->srv = NULL;
	if (m->ops->destroy)
		m->ops->destroy(m->backend);
	m->backend = NULL;
	uv_close((uv_handle_t *)&m->sig_int, NULL);
	uv_close((uv_handle_t *)&m->sig_term, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct nbd_main *m = h->data;

	if (m->stopping) {
		NLOG(NBD, WARN, "signal %d again: exiting now", signum);
		if (m->pid_file)
			unlink(m->pid_file);
		_exit(1);
	}
	m->stopping = true;
	NLOG(NBD, INFO, "signal %d: stopping", signum);
	nbd_server_close(m->srv, on_server_closed, m);
}

/* Fork into the background. The parent exits 0 only when the child
 * reports (through a pipe) that it is listening, so `norn-nbd --daemon &&
 * nbdinfo ...` never races the server. Returns in the child with the
 * pipe's write end in *notify_fd. */
static int daemonize(int *notify_fd)
{
	int p[2];
	pid_t pid;
	char ok = 0;

	if (pipe(p) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		close(p[1]);
		ssize_t r;
		do {
			r = read(p[0], &ok, 1);
		} while (r < 0 && errno == EINTR);
		if (r == 1 && ok == 1)
			_exit(0);
		int st = 0;
		waitpid(pid, &st, WNOHANG);
		fprintf(stderr, "norn-nbd: server failed to start (see its log)\n");
		_exit(1);
	}
	close(p[0]);
	if (setsid() < 0)
		return -errno;
	int fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	if (chdir("/") < 0)
		return -errno;
	*notify_fd = p[1];
	return 0;
}

int main(int argc, char **argv)
{
	struct norn_config cfg;
	struct nbd_server_config scfg;
	struct nbd_file_backend_config fcfg = { 0 };
	struct nbd_main m;
	enum norn_log_level lvl;
	const char *listens[NBD_SERVER_MAX_LISTEN];
	unsigned n_listens = 0;
	bool daemon_mode = false;
	int notify_fd = -1, err, rc = 1;
	char errbuf[256], *listen_copy = NULL, threads[16];
	const char *conf_path = NULL, *backend_name;
	FILE *logfp = NULL;

	memset(&m, 0, sizeof(m));
	signal(SIGPIPE, SIG_IGN);
	if (norn_config_init(&cfg, "client.nbd")) {
		fprintf(stderr, "norn-nbd: out of memory\n");
		return 1;
	}
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			rc = 0;
			goto out_cfg;
		}
		if (!strcmp(argv[i], "--help-config")) {
			norn_config_print_help(stdout);
			rc = 0;
			goto out_cfg;
		}
		if (!strcmp(argv[i], "-c") && i + 1 < argc) {
			conf_path = argv[i + 1];
			err = norn_config_load_file(&cfg, argv[i + 1], errbuf, sizeof(errbuf));
			if (err) {
				fprintf(stderr, "norn-nbd: %s: %s\n", argv[i + 1],
				        err == -EINVAL ? errbuf : strerror(-err));
				rc = 2;
				goto out_cfg;
			}
		}
	}
	err = norn_config_parse_args(&cfg, &argc, argv, errbuf, sizeof(errbuf));
	if (err) {
		fprintf(stderr, "norn-nbd: %s\n", errbuf);
		rc = 2;
		goto out_cfg;
	}

	/* Short forms, which win over the config. */
	const char *export_dir = cfg.nbd_export_dir[0] ? cfg.nbd_export_dir : NULL;
	const char *default_export = cfg.nbd_default_export;
	const char *pid_file = cfg.nbd_pid_file[0] ? cfg.nbd_pid_file : NULL;
	bool read_only = cfg.nbd_read_only, allow_paths = false;
	int64_t n_threads = cfg.nbd_threads;
	backend_name = cfg.nbd_backend;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "-c") && v) {
			i++;
		} else if (!strcmp(a, "--listen") && v) {
			if (n_listens >= NBD_SERVER_MAX_LISTEN) {
				fprintf(stderr, "norn-nbd: at most %d --listen\n", NBD_SERVER_MAX_LISTEN);
				rc = 2;
				goto out_cfg;
			}
			listens[n_listens++] = v;
			i++;
		} else if (!strcmp(a, "--backend") && v) {
			backend_name = v;
			i++;
		} else if (!strcmp(a, "--export-dir") && v) {
			export_dir = v;
			i++;
		} else if (!strcmp(a, "--default-export") && v) {
			default_export = v;
			i++;
		} else if (!strcmp(a, "--pid-file") && v) {
			pid_file = v;
			i++;
		} else if (!strcmp(a, "--threads") && v) {
			if (norn_parse_int(v, &n_threads) || n_threads < 1 || n_threads > 1024) {
				fprintf(stderr, "norn-nbd: --threads wants 1..1024\n");
				rc = 2;
				goto out_cfg;
			}
			i++;
		} else if (!strcmp(a, "--allow-paths")) {
			allow_paths = true;
		} else if (!strcmp(a, "--read-only")) {
			read_only = true;
		} else if (!strcmp(a, "--daemon")) {
			daemon_mode = true;
		} else if (!strcmp(a, "--foreground") || !strcmp(a, "-f")) {
			daemon_mode = false;
		} else {
			fprintf(stderr, "norn-nbd: unknown or incomplete argument '%s'\n", a);
			usage(stderr);
			rc = 2;
			goto out_cfg;
		}
	}
	bool use_vol = !strcmp(backend_name, "vol");
#ifndef NORN_NBD_HAVE_VOL
	if (use_vol) {
		fprintf(stderr, "norn-nbd: this build has no volume backend (libnorn missing)\n");
		rc = 2;
		goto out_cfg;
	}
#endif
	if (!use_vol && strcmp(backend_name, "file")) {
		fprintf(stderr, "norn-nbd: unknown backend '%s' (vol or file)\n", backend_name);
		rc = 2;
		goto out_cfg;
	}
	if (!use_vol && !export_dir && !allow_paths) {
		fprintf(stderr, "norn-nbd: the file backend needs --export-dir DIR or --allow-paths\n");
		rc = 2;
		goto out_cfg;
	}
	if (export_dir && !use_vol) {
		struct stat st;
		if (stat(export_dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
			fprintf(stderr, "norn-nbd: export dir %s: not a directory\n", export_dir);
			rc = 2;
			goto out_cfg;
		}
	}
	if (n_listens == 0) {
		/* Split the config's comma-separated list in place. */
		listen_copy = strdup(cfg.nbd_listen);
		if (!listen_copy)
			goto out_cfg;
		for (char *save = NULL, *t = strtok_r(listen_copy, ",", &save); t;
		     t = strtok_r(NULL, ",", &save)) {
			while (*t == ' ')
				t++;
			if (*t && n_listens < NBD_SERVER_MAX_LISTEN)
				listens[n_listens++] = t;
		}
		if (n_listens == 0) {
			fprintf(stderr, "norn-nbd: nothing to listen on\n");
			rc = 2;
			goto out_cfg;
		}
	}
	if (norn_log_parse_level(cfg.log_level, &lvl)) {
		fprintf(stderr, "norn-nbd: bad log level '%s'\n", cfg.log_level);
		rc = 2;
		goto out_cfg;
	}
	if (cfg.log_file[0]) {
		logfp = fopen(cfg.log_file, "a");
		if (!logfp) {
			fprintf(stderr, "norn-nbd: log file %s: %s\n", cfg.log_file, strerror(errno));
			goto out_cfg;
		}
		setvbuf(logfp, NULL, _IOLBF, 0);
	}
	norn_log_init("client.nbd", logfp, lvl);

	/* Daemonize before libuv starts any thread. */
	if (daemon_mode) {
		err = daemonize(&notify_fd);
		if (err) {
			NLOG(NBD, ERR, "daemonize: %s", strerror(-err));
			goto out_log;
		}
	}
	/* libuv reads this once, at the first use of its thread pool. */
	snprintf(threads, sizeof(threads), "%d", (int)n_threads);
	setenv("UV_THREADPOOL_SIZE", threads, 1);

	err = uv_loop_init(&m.loop);
	if (err) {
		NLOG(NBD, ERR, "loop: %s", uv_strerror(err));
		goto out_log;
	}
	if (use_vol) {
#ifdef NORN_NBD_HAVE_VOL
		struct nbd_vol_backend_config vcfg = { 0 };
		char owner[VOL_LOCK_OWNER_MAX + 1], host[64] = "localhost";
		/* Connect before the loop runs: libnorn starts its own thread. */
		err = norn_connect(conf_path, cfg.vol_nbd_entity, NULL, &m.cluster);
		if (err) {
			NLOG(NBD, ERR, "connect to the cluster: %s", norn_strerror(err));
			fprintf(stderr, "norn-nbd: connect to the cluster: %s\n", norn_strerror(err));
			goto out_loop;
		}
		gethostname(host, sizeof(host) - 1);
		/* Stable across restarts of this server (so a restarted norn-nbd
		 * takes its own lock back at once), distinct per host and
		 * listen address. */
		snprintf(owner, sizeof(owner), "norn-nbd@%.50s/%.60s", host, listens[0]);
		vcfg.cluster = m.cluster;
		vcfg.lock_owner = owner;
		vcfg.lease_ms = cfg.vol_lock_lease_ms;
		vcfg.list_pools = cfg.vol_nbd_pools;
		vcfg.read_only = read_only;
		m.ops = &nbd_backend_vol_ops;
		err = nbd_backend_vol_create(&m.loop, &vcfg, &m.backend);
		if (err) {
			NLOG(NBD, ERR, "volume backend: %s", norn_strerror(err));
			goto out_loop;
		}
#endif
	} else {
		fcfg.export_dir = export_dir;
		fcfg.allow_paths = allow_paths;
		fcfg.read_only = read_only;
		m.ops = &nbd_backend_file_ops;
		err = nbd_backend_file_create(&m.loop, &fcfg, &m.backend);
		if (err) {
			NLOG(NBD, ERR, "file backend: %s", norn_strerror(err));
			goto out_loop;
		}
	}
	nbd_server_config_defaults(&scfg);
	scfg.max_connections = (uint32_t)cfg.nbd_max_connections;
	scfg.max_inflight = (uint32_t)cfg.nbd_max_inflight;
	scfg.max_buffer_bytes = cfg.nbd_max_buffer_bytes;
	scfg.max_payload_bytes = (uint32_t)cfg.nbd_max_payload_bytes;
	scfg.handshake_timeout_ms = cfg.nbd_handshake_timeout_ms;
	scfg.default_export = default_export[0] ? default_export : NULL;
	scfg.read_only = read_only;
	err = nbd_server_create(&m.loop, &scfg, m.ops, m.backend, &m.srv);
	if (err) {
		NLOG(NBD, ERR, "server: %s", norn_strerror(err));
		m.ops->destroy(m.backend);
		goto out_loop;
	}
	for (unsigned i = 0; i < n_listens; i++) {
		err = nbd_server_listen(m.srv, listens[i]);
		if (err) {
			fprintf(stderr, "norn-nbd: listen on %s: %s\n", listens[i],
			        err == -EINVAL ? "bad address" : uv_strerror(err));
			NLOG(NBD, ERR, "listen on %s failed", listens[i]);
			m.exit_code = 1;
			break;
		}
	}
	uv_signal_init(&m.loop, &m.sig_int);
	uv_signal_init(&m.loop, &m.sig_term);
	m.sig_int.data = m.sig_term.data = &m;
	if (m.exit_code) {
		m.stopping = true;
		nbd_server_close(m.srv, on_server_closed, &m);
	} else {
		uv_signal_start(&m.sig_int, on_signal, SIGINT);
		uv_signal_start(&m.sig_term, on_signal, SIGTERM);
		if (pid_file) {
			err = write_pid_file(pid_file);
			if (err)
				NLOG(NBD, WARN, "pid file %s: %s", pid_file, strerror(-err));
			else
				m.pid_file = pid_file;
		}
		NLOG(NBD, INFO, "norn-nbd %ld ready (backend %s%s%s)", (long)getpid(), m.ops->name,
		     export_dir && !use_vol ? ", dir " : "", export_dir && !use_vol ? export_dir : "");
		if (notify_fd >= 0) {
			char ok = 1;
			if (write(notify_fd, &ok, 1) != 1)
				NLOG(NBD, WARN, "could not notify the parent");
			close(notify_fd);
			notify_fd = -1;
		}
	}
	uv_run(&m.loop, UV_RUN_DEFAULT);
	rc = m.exit_code;
	if (m.pid_file)
		unlink(m.pid_file);
out_loop:
	if (uv_loop_close(&m.loop) == UV_EBUSY)
		NLOG(NBD, WARN, "loop closed with handles still open");
#ifdef NORN_NBD_HAVE_VOL
	if (m.cluster)
		norn_shutdown(m.cluster);
#endif
out_log:
	if (notify_fd >= 0)
		close(notify_fd);
	if (logfp) {
		norn_log_init("client.nbd", NULL, lvl);
		fclose(logfp);
	}
out_cfg:
	free(listen_copy);
	norn_config_free(&cfg);
	return rc;
}
