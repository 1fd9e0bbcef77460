/* `norn vol ...`: block volumes (client/vol) and their NBD exports.
 *
 *   vol create POOL/NAME SIZE [--object-size SIZE]
 *   vol ls POOL
 *   vol info POOL/NAME
 *   vol resize POOL/NAME SIZE [--allow-shrink]
 *   vol rm POOL/NAME [--force]
 *   vol rename POOL/NAME NEWNAME
 *   vol du POOL/NAME
 *   vol import FILE|- POOL/NAME [--size SIZE] [--object-size SIZE]
 *   vol export POOL/NAME FILE|-
 *   vol lock info|break POOL/NAME
 *   vol lock acquire POOL/NAME --owner WHO [--lease MS]
 *   vol snap create|rollback|rm POOL/NAME@SNAP, vol snap ls POOL/NAME
 *   vol nbd start [--listen ADDR] | nbd stop [ADDR] | nbd ls
 *
 * Sizes take K/M/G/T suffixes (powers of 1024). Import creates the volume
 * (its size is the file's unless --size is given; required for stdin) and
 * skips zero blocks; export writes a sparse file (or everything to a
 * pipe). Both show a progress bar when stderr is a terminal.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/vol/vol.h"
#include "common/config.h"
#include "common/env.h"
#include "norn/norn.h"
#include "tools/cli.h"

static const char *g_usage =
	"usage: norn vol create POOL/NAME SIZE [--object-size SIZE]\n"
	"       norn vol ls POOL\n"
	"       norn vol info POOL/NAME\n"
	"       norn vol resize POOL/NAME SIZE [--allow-shrink]\n"
	"       norn vol rm POOL/NAME [--force]\n"
	"       norn vol rename POOL/NAME NEWNAME\n"
	"       norn vol du POOL/NAME\n"
	"       norn vol import FILE|- POOL/NAME [--size SIZE] [--object-size SIZE]\n"
	"       norn vol export POOL/NAME FILE|-\n"
	"       norn vol lock info|break POOL/NAME\n"
	"       norn vol lock acquire POOL/NAME --owner WHO [--lease MS]\n"
	"       norn vol snap create|rollback|rm POOL/NAME@SNAP | snap ls POOL/NAME\n"
	"       norn vol nbd start [--listen ADDR] | nbd stop [ADDR] | nbd ls\n";

static int usage_err(void)
{
	fputs(g_usage, stderr);
	return 2;
}

struct vctx {
	struct norn_cli_ctx *cli;
	norn_cluster_t *cl;
	norn_ioctx_t *io;
	char pool[VOL_NAME_MAX + 1], vol[VOL_NAME_MAX + 1], snap[VOL_NAME_MAX + 1];
};

static int fail(const char *what, int err)
{
	fprintf(stderr, "norn vol: %s: %s\n", what, norn_strerror(err));
	return 1;
}

/* Parse POOL/NAME[@SNAP] (snapshots allowed only if @snap_ok), connect
 * and open the pool. */
static int vopen(struct vctx *v, const char *spec, bool snap_ok)
{
	int err;

	if (vol_spec_parse(spec, v->pool, v->vol, v->snap) || (!snap_ok && v->snap[0])) {
		fprintf(stderr, "norn vol: '%s' is not POOL/VOLUME%s (names: [A-Za-z0-9._+:-])\n",
		        spec, snap_ok ? "[@SNAP]" : "");
		return 2;
	}
	err = norn_connect(v->cli->conf_path, v->cli->entity, v->cli->keyring, &v->cl);
	if (err)
		return fail("connect", err);
	err = norn_ioctx_create(v->cl, v->pool, &v->io);
	if (err) {
		norn_shutdown(v->cl);
		v->cl = NULL;
		return fail(v->pool, err);
	}
	return 0;
}

/* Only the pool: for `vol ls POOL`. */
static int vopen_pool(struct vctx *v, const char *pool)
{
	int err;

	if (vol_name_check(pool)) {
		fprintf(stderr, "norn vol: bad pool name '%s'\n", pool);
		return 2;
	}
	snprintf(v->pool, sizeof(v->pool), "%s", pool);
	err = norn_connect(v->cli->conf_path, v->cli->entity, v->cli->keyring, &v->cl);
	if (err)
		return fail("connect", err);
	err = norn_ioctx_create(v->cl, pool, &v->io);
	if (err) {
		norn_shutdown(v->cl);
		v->cl = NULL;
		return fail(pool, err);
	}
	return 0;
}

static void vclose(struct vctx *v)
{
	if (v->io)
		norn_ioctx_destroy(v->io);
	if (v->cl)
		norn_shutdown(v->cl);
}

static void human(uint64_t b, char *out, size_t cap)
{
	static const char *u[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double d = (double)b;
	int i = 0;
	while (d >= 1024 && i < 5) {
		d /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(out, cap, "%" PRIu64 " B", b);
	else
		snprintf(out, cap, "%.1f %s", d, u[i]);
}

/* ---- progress bar ------------------------------------------------------------------ */

struct progress {
	bool tty;
	uint64_t start_ns, last_ns;
};

static void progress_cb(void *arg, uint64_t done, uint64_t total)
{
	struct progress *p = arg;
	uint64_t now = norn_mono_ns();
	char a[32], b[32];

	if (!p->tty || (now - p->last_ns < 200000000ull && done < total))
		return;
	p->last_ns = now;
	int pct = total ? (int)(done * 100 / total) : 100, w = pct * 40 / 100;
	double secs = (double)(now - p->start_ns) / 1e9;
	human(done, a, sizeof(a));
	human(secs > 0 ? (uint64_t)((double)done / secs) : 0, b, sizeof(b));
	fprintf(stderr, "\r[%.*s%*s] %3d%% %s  %s/s ", w, "========================================",
	        40 - w, "", pct, a, b);
	if (done >= total)
		fputc('\n', stderr);
	fflush(stderr);
}

static void progress_init(struct progress *p)
{
	p->tty = isatty(2);
	p->start_ns = p->last_ns = norn_mono_ns();
}

/* ---- commands ------------------------------------------------------------------------- */

static int parse_size_arg(const char *s, uint64_t *out)
{
	if (norn_parse_size(s, out)) {
		fprintf(stderr, "norn vol: bad size '%s' (e.g. 10G, 512M, 4096)\n", s);
		return 2;
	}
	return 0;
}

static int default_obj_size(struct norn_cli_ctx *ctx, uint32_t *out)
{
	struct norn_config cfg;
	char eb[256];

	*out = VOL_OBJ_SIZE_DEFAULT;
	if (norn_config_init(&cfg, ctx->entity ? ctx->entity : "client.admin"))
		return 0;
	if (ctx->conf_path && norn_config_load_file(&cfg, ctx->conf_path, eb, sizeof(eb)) == 0)
		*out = (uint32_t)cfg.vol_object_size_bytes;
	norn_config_free(&cfg);
	return 0;
}

static int cmd_create(struct vctx *v, int argc, char **argv)
{
	uint64_t size, os = 0;
	uint32_t def;
	int rc, err;

	if (argc != 4 && !(argc == 6 && !strcmp(argv[4], "--object-size")))
		return usage_err();
	if ((rc = parse_size_arg(argv[3], &size)))
		return rc;
	if (argc == 6 && (rc = parse_size_arg(argv[5], &os)))
		return rc;
	default_obj_size(v->cli, &def);
	if (!os)
		os = def;
	if (os > UINT32_MAX)
		return usage_err();
	if ((rc = vopen(v, argv[2], false)))
		return rc;
	err = vol_create(v->io, v->vol, size, (uint32_t)os);
	if (err == -EINVAL)
		fprintf(stderr, "norn vol: object size must be a power of two from 64K to 64M, size at most 1P\n");
	rc = err ? fail(argv[2], err) : 0;
	vclose(v);
	return rc;
}

static int cmd_ls(struct vctx *v, int argc, char **argv)
{
	char **names;
	size_t n;
	int rc, err;

	if (argc != 3)
		return usage_err();
	if ((rc = vopen_pool(v, argv[2])))
		return rc;
	err = vol_list(v->io, 1000000, &names, &n);
	if (err) {
		vclose(v);
		return fail("list", err);
	}
	if (v->cli->json) {
		printf("[");
		for (size_t i = 0; i < n; i++)
			printf("%s\"%s\"", i ? "," : "", names[i]);
		printf("]\n");
	} else {
		for (size_t i = 0; i < n; i++)
			printf("%s\n", names[i]);
	}
	vol_names_free(names, n);
	vclose(v);
	return 0;
}

static int cmd_info(struct vctx *v, int argc, char **argv)
{
	struct vol_image *img = NULL;
	struct vol_info *info;
	struct vol_lock_info li;
	char hs[32];
	int rc, err;

	if (argc != 3)
		return usage_err();
	if ((rc = vopen(v, argv[2], true)))
		return rc;
	err = vol_open(v->io, v->vol, v->snap, true, &img);
	if (err) {
		vclose(v);
		return fail(argv[2], err);
	}
	info = malloc(sizeof(*info));
	if (!info) {
		vol_close(img);
		vclose(v);
		return fail("info", -ENOMEM);
	}
	vol_get_info(img, info);
	if (vol_lock_get(v->io, v->vol, &li))
		memset(&li, 0, sizeof(li));
	uint64_t now = norn_real_ns();
	bool live = li.held && li.expiry_ns > now;
	if (v->cli->json) {
		printf("{\"name\":\"%s\",\"pool\":\"%s\",\"id\":\"%s\",\"size\":%" PRIu64
		       ",\"object_size\":%u,\"objects\":%" PRIu64 ",\"features\":%" PRIu64
		       ",\"ctime_ns\":%" PRIu64 ",\"snapshots\":%u,\"lock\":",
		       info->name, v->pool, info->id, vol_size(img), info->obj_size_bytes,
		       (vol_size(img) + info->obj_size_bytes - 1) / info->obj_size_bytes, info->features,
		       info->ctime_ns, info->n_snaps);
		if (li.held)
			printf("{\"owner\":\"%s\",\"expires_in_ms\":%" PRId64 "}}\n", li.owner,
			       (int64_t)(li.expiry_ns - now) / 1000000);
		else
			printf("null}\n");
	} else {
		human(vol_size(img), hs, sizeof(hs));
		printf("volume %s/%s%s%s\n", v->pool, info->name, v->snap[0] ? "@" : "", v->snap);
		printf("  id:          %s\n", info->id);
		printf("  size:        %s (%" PRIu64 " bytes)\n", hs, vol_size(img));
		printf("  object size: %u bytes (%" PRIu64 " objects, data objects %s.<16 hex>)\n",
		       info->obj_size_bytes,
		       (vol_size(img) + info->obj_size_bytes - 1) / info->obj_size_bytes, info->id);
		printf("  features:    %s\n", (info->features & VOL_FEATURE_LOCK) ? "exclusive-lock" : "");
		printf("  snapshots:   %u\n", info->n_snaps);
		if (li.held)
			printf("  lock:        %s, %s %.1f s\n", li.owner, live ? "expires in" : "EXPIRED",
			       (double)(int64_t)(li.expiry_ns - now) / 1e9);
		else
			printf("  lock:        none\n");
	}
	free(info);
	vol_close(img);
	vclose(v);
	return 0;
}

static int cmd_resize(struct vctx *v, int argc, char **argv)
{
	struct vol_image *img = NULL;
	uint64_t size;
	bool shrink = false;
	int rc, err;

	if (argc < 4 || argc > 5)
		return usage_err();
	if (argc == 5) {
		if (strcmp(argv[4], "--allow-shrink") && strcmp(argv[4], "--yes-i-really-mean-it"))
			return usage_err();
		shrink = true;
	}
	if ((rc = parse_size_arg(argv[3], &size)))
		return rc;
	if ((rc = vopen(v, argv[2], false)))
		return rc;
	err = vol_open(v->io, v->vol, NULL, false, &img);
	if (err) {
		vclose(v);
		return fail(argv[2], err);
	}
	err = vol_resize(img, size, shrink);
	if (err == -EPERM)
		fprintf(stderr, "norn vol: shrinking %s destroys the data past %s bytes; shrink the "
		        "filesystem first, then add --allow-shrink\n", argv[2], argv[3]);
	else if (err == -EBUSY)
		fprintf(stderr, "norn vol: %s is locked by a writer; not shrinking under it\n", argv[2]);
	rc = err ? (err == -EPERM ? 2 : fail(argv[2], err)) : 0;
	vol_close(img);
	vclose(v);
	return rc;
}

static void rm_progress(void *arg, uint64_t done, uint64_t total)
{
	progress_cb(arg, done, total);
}

static int cmd_rm(struct vctx *v, int argc, char **argv)
{
	struct progress p;
	bool force = argc == 4 && !strcmp(argv[3], "--force");
	int rc, err;

	if (argc != 3 && !force)
		return usage_err();
	if ((rc = vopen(v, argv[2], false)))
		return rc;
	progress_init(&p);
	err = vol_remove(v->io, v->vol, force, rm_progress, &p);
	if (err == -EBUSY)
		fprintf(stderr, "norn vol: %s is locked by a live writer (norn vol lock info); "
		        "stop it or add --force\n", argv[2]);
	rc = err ? fail(argv[2], err) : 0;
	vclose(v);
	return rc;
}

static int cmd_rename(struct vctx *v, int argc, char **argv)
{
	int rc, err;

	if (argc != 4)
		return usage_err();
	if ((rc = vopen(v, argv[2], false)))
		return rc;
	/* Accept NEWNAME or POOL/NEWNAME (same pool). */
	const char *to = argv[3], *slash = strchr(to, '/');
	if (slash) {
		if ((size_t)(slash - to) != strlen(v->pool) || strncmp(to, v->pool, strlen(v->pool))) {
			fprintf(stderr, "norn vol: rename stays within pool %s\n", v->pool);
			vclose(v);
			return 2;
		}
		to = slash + 1;
	}
	err = vol_rename(v->io, v->vol, to);
	rc = err ? fail(argv[2], err) : 0;
	vclose(v);
	return rc;
}

static int cmd_du(struct vctx *v, int argc, char **argv)
{
	struct vol_image *img = NULL;
	uint64_t bytes, objs;
	char a[32], b[32];
	int rc, err;

	if (argc != 3)
		return usage_err();
	if ((rc = vopen(v, argv[2], false)))
		return rc;
	err = vol_open(v->io, v->vol, NULL, true, &img);
	if (!err)
		err = vol_du(img, &bytes, &objs);
	if (err) {
		if (img)
			vol_close(img);
		vclose(v);
		return fail(argv[2], err);
	}
	if (v->cli->json) {
		printf("{\"name\":\"%s\",\"provisioned\":%" PRIu64 ",\"used\":%" PRIu64
		       ",\"objects\":%" PRIu64 "}\n", v->vol, vol_size(img), bytes, objs);
	} else {
		human(vol_size(img), a, sizeof(a));
		human(bytes, b, sizeof(b));
		printf("NAME PROVISIONED USED OBJECTS\n%s %s %s %" PRIu64 "\n", v->vol, a, b, objs);
	}
	vol_close(img);
	vclose(v);
	return 0;
}

static int cmd_import(struct vctx *v, int argc, char **argv)
{
	struct vol_image *img = NULL;
	struct progress p;
	uint64_t size = 0, os = 0, n_in = 0;
	uint32_t def;
	struct stat st;
	bool from_stdin = !strcmp(argv[2], "-");
	int fd, rc, err;

	if (argc < 4)
		return usage_err();
	for (int i = 4; i < argc; i++) {
		if (i + 1 >= argc)
			return usage_err();
		if (!strcmp(argv[i], "--size")) {
			if ((rc = parse_size_arg(argv[++i], &size)))
				return rc;
		} else if (!strcmp(argv[i], "--object-size")) {
			if ((rc = parse_size_arg(argv[++i], &os)))
				return rc;
		} else {
			return usage_err();
		}
	}
	fd = from_stdin ? 0 : open(argv[2], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "norn vol: %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	if (!size) {
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
			size = (uint64_t)st.st_size;
		} else {
			fprintf(stderr, "norn vol: importing from a pipe needs --size\n");
			rc = 2;
			goto out_fd;
		}
	}
	default_obj_size(v->cli, &def);
	if (!os)
		os = def;
	if ((rc = vopen(v, argv[3], false)))
		goto out_fd;
	err = vol_create(v->io, v->vol, size, (uint32_t)os);
	if (err) {
		rc = fail(argv[3], err);
		goto out_v;
	}
	err = vol_open(v->io, v->vol, NULL, false, &img);
	if (err) {
		rc = fail(argv[3], err);
		goto out_v;
	}
	progress_init(&p);
	err = vol_import_fd(img, fd, progress_cb, &p, &n_in);
	if (err == -EFBIG)
		fprintf(stderr, "norn vol: the input is larger than --size\n");
	rc = err ? fail("import", err) : 0;
	if (!err && !v->cli->json)
		fprintf(stderr, "imported %" PRIu64 " bytes into %s\n", n_in, argv[3]);
	vol_close(img);
out_v:
	vclose(v);
out_fd:
	if (!from_stdin)
		close(fd);
	return rc;
}

static int cmd_export(struct vctx *v, int argc, char **argv)
{
	struct vol_image *img = NULL;
	struct progress p;
	bool to_stdout;
	int fd, rc, err;

	if (argc != 4)
		return usage_err();
	to_stdout = !strcmp(argv[3], "-");
	if ((rc = vopen(v, argv[2], true)))
		return rc;
	err = vol_open(v->io, v->vol, v->snap, true, &img);
	if (err) {
		vclose(v);
		return fail(argv[2], err);
	}
	fd = to_stdout ? 1 : open(argv[3], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "norn vol: %s: %s\n", argv[3], strerror(errno));
		vol_close(img);
		vclose(v);
		return 1;
	}
	progress_init(&p);
	err = vol_export_fd(img, fd, progress_cb, &p);
	if (!to_stdout && close(fd) < 0 && !err)
		err = -errno;
	rc = err ? fail("export", err) : 0;
	vol_close(img);
	vclose(v);
	return rc;
}

static int cmd_lock(struct vctx *v, int argc, char **argv)
{
	struct vol_lock_info li;
	int rc, err;

	if (argc < 4)
		return usage_err();
	const char *sub = argv[2];
	if ((rc = vopen(v, argv[3], false)))
		return rc;
	if (!strcmp(sub, "info") && argc == 4) {
		err = vol_lock_get(v->io, v->vol, &li);
		if (err) {
			vclose(v);
			return fail(argv[3], err);
		}
		uint64_t now = norn_real_ns();
		if (v->cli->json) {
			if (li.held)
				printf("{\"owner\":\"%s\",\"expires_in_ms\":%" PRId64 "}\n", li.owner,
				       (int64_t)(li.expiry_ns - now) / 1000000);
			else
				printf("null\n");
		} else if (li.held) {
			printf("%s %s %.1f s\n", li.owner, li.expiry_ns > now ? "expires in" : "EXPIRED",
			       (double)(int64_t)(li.expiry_ns - now) / 1e9);
		} else {
			printf("unlocked\n");
		}
		rc = 0;
	} else if (!strcmp(sub, "break") && argc == 4) {
		err = vol_lock_break(v->io, v->vol, &li);
		if (err) {
			rc = fail(argv[3], err);
		} else {
			if (li.held)
				printf("broke the lock of %s\n", li.owner);
			else
				printf("no lock to break\n");
			rc = 0;
		}
	} else if (!strcmp(sub, "acquire")) {
		const char *owner = NULL;
		uint64_t lease = 30000;
		struct vol_image *img;
		for (int i = 4; i + 1 < argc; i += 2) {
			if (!strcmp(argv[i], "--owner"))
				owner = argv[i + 1];
			else if (!strcmp(argv[i], "--lease") && !norn_parse_ms(argv[i + 1], &lease))
				;
			else
				owner = NULL, i = argc;
		}
		if (!owner || (argc - 4) % 2) {
			vclose(v);
			return usage_err();
		}
		err = vol_open(v->io, v->vol, NULL, false, &img);
		if (!err) {
			err = vol_lock_acquire(img, owner, lease, &li);
			if (err == -EBUSY)
				fprintf(stderr, "norn vol: locked by %s\n", li.owner);
			/* vol_close() would release the lock; this command exists
			 * to leave it held (tests, maintenance fences) until the
			 * lease runs out, so the image is dropped without closing
			 * when the lock was taken. */
			if (err)
				vol_close(img);
		}
		rc = err ? fail(argv[3], err) : 0;
		if (!err)
			printf("locked by %s for %" PRIu64 " ms\n", owner, lease);
		goto out;
	} else {
		vclose(v);
		return usage_err();
	}
out:
	vclose(v);
	return rc;
}

/* ---- nbd start/stop/ls ------------------------------------------------------------------ */

static void run_dir(char *out, size_t cap)
{
	const char *x = getenv("NORN_RUN_DIR");
	if (x && *x)
		snprintf(out, cap, "%s", x);
	else
		snprintf(out, cap, "/tmp/norn-nbd-%ld", (long)getuid());
	mkdir(out, 0700);
}

static void addr_tag(const char *addr, char *out, size_t cap)
{
	size_t j = 0;
	for (size_t i = 0; addr[i] && j + 1 < cap; i++)
		out[j++] = (addr[i] == '/' || addr[i] == ':') ? '_' : addr[i];
	out[j] = 0;
}

static int find_nbd_binary(char *out, size_t cap)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	const char *env = getenv("NORN_NBD_BIN");

	if (env && *env && access(env, X_OK) == 0) {
		snprintf(out, cap, "%s", env);
		return 0;
	}
	if (n > 0) {
		self[n] = 0;
		char *slash = strrchr(self, '/');
		if (slash) {
			*slash = 0;
			snprintf(out, cap, "%.4000s/norn-nbd", self);
			if (access(out, X_OK) == 0)
				return 0;
			snprintf(out, cap, "%.4000s/../client/nbd/norn-nbd", self);
			if (access(out, X_OK) == 0)
				return 0;
		}
	}
	snprintf(out, cap, "norn-nbd");   /* from PATH */
	return 0;
}

static long read_pid(const char *path)
{
	FILE *f = fopen(path, "r");
	long pid = 0;
	if (!f)
		return 0;
	if (fscanf(f, "%ld", &pid) != 1)
		pid = 0;
	fclose(f);
	return pid;
}

static int cmd_nbd(struct norn_cli_ctx *ctx, int argc, char **argv)
{
	char dir[PATH_MAX], tag[200], pidf[PATH_MAX + 256], logf[PATH_MAX + 256], bin[PATH_MAX];
	const char *listen = "127.0.0.1:10809";

	if (argc < 3)
		return usage_err();
	run_dir(dir, sizeof(dir));
	if (!strcmp(argv[2], "start")) {
		const char *extra[16];
		int n_extra = 0;
		for (int i = 3; i < argc; i++) {
			if (!strcmp(argv[i], "--listen") && i + 1 < argc)
				listen = argv[++i];
			else if (n_extra < 16)
				extra[n_extra++] = argv[i];  /* passed through (--read-only, --vol-nbd-pools=...) */
		}
		addr_tag(listen, tag, sizeof(tag));
		snprintf(pidf, sizeof(pidf), "%s/%s.pid", dir, tag);
		snprintf(logf, sizeof(logf), "%s/%s.log", dir, tag);
		long old = read_pid(pidf);
		if (old > 0 && kill((pid_t)old, 0) == 0) {
			fprintf(stderr, "norn vol: an NBD server (pid %ld) already serves %s\n", old, listen);
			return 1;
		}
		find_nbd_binary(bin, sizeof(bin));
		char *av[40];
		int ac = 0;
		av[ac++] = bin;
		av[ac++] = (char *)"--backend";
		av[ac++] = (char *)"vol";
		if (ctx->conf_path) {
			av[ac++] = (char *)"-c";
			av[ac++] = (char *)ctx->conf_path;
		}
		av[ac++] = (char *)"--listen";
		av[ac++] = (char *)listen;
		av[ac++] = (char *)"--pid-file";
		av[ac++] = pidf;
		av[ac++] = (char *)"--log-file";
		av[ac++] = logf;
		av[ac++] = (char *)"--daemon";
		for (int i = 0; i < n_extra; i++)
			av[ac++] = (char *)extra[i];
		av[ac] = NULL;
		pid_t pid = fork();
		if (pid < 0)
			return fail("fork", -errno);
		if (pid == 0) {
			execvp(bin, av);
			fprintf(stderr, "norn vol: %s: %s\n", bin, strerror(errno));
			_exit(127);
		}
		int st = 0;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(st) || WEXITSTATUS(st)) {
			fprintf(stderr, "norn vol: norn-nbd failed to start (log: %s)\n", logf);
			return 1;
		}
		printf("norn-nbd serving volumes on %s (pid %ld, log %s)\n", listen, read_pid(pidf), logf);
		printf("  e.g. nbdinfo nbd://%s/POOL/VOLUME\n", listen);
		return 0;
	}
	if (!strcmp(argv[2], "stop")) {
		if (argc > 3)
			listen = argv[3];
		addr_tag(listen, tag, sizeof(tag));
		snprintf(pidf, sizeof(pidf), "%s/%s.pid", dir, tag);
		long pid = read_pid(pidf);
		if (pid <= 0 || kill((pid_t)pid, SIGTERM) < 0) {
			fprintf(stderr, "norn vol: no NBD server on %s\n", listen);
			return 1;
		}
		/* It finishes in-flight requests, releases locks and exits. */
		for (int i = 0; i < 300 && kill((pid_t)pid, 0) == 0; i++)
			usleep(100 * 1000);
		if (kill((pid_t)pid, 0) == 0) {
			fprintf(stderr, "norn vol: norn-nbd %ld did not stop within 30 s\n", pid);
			return 1;
		}
		printf("stopped norn-nbd %ld on %s\n", pid, listen);
		return 0;
	}
	if (!strcmp(argv[2], "ls")) {
		char cmd[PATH_MAX + 64];
		snprintf(cmd, sizeof(cmd), "ls %s/*.pid 2>/dev/null", dir);
		FILE *p = popen(cmd, "r");
		char line[PATH_MAX + 256];
		int n = 0;
		if (!p)
			return fail("ls", -errno);
		while (fgets(line, sizeof(line), p)) {
			line[strcspn(line, "\n")] = 0;
			long pid = read_pid(line);
			if (pid <= 0 || kill((pid_t)pid, 0) < 0)
				continue;
			char *base = strrchr(line, '/');
			base = base ? base + 1 : line;
			base[strlen(base) - 4] = 0;
			printf("pid %ld  listen %s\n", pid, base);
			n++;
		}
		pclose(p);
		if (!n)
			printf("no NBD servers running\n");
		return 0;
	}
	return usage_err();
}

/* vol snap create|rm|rollback POOL/NAME@SNAP, vol snap ls POOL/NAME */
static int cmd_snap(struct vctx *v, int argc, char **argv)
{
	struct vol_image *img = NULL;
	struct vol_info *info = NULL;
	const char *what;
	int rc, err;

	if (argc != 4)
		return usage_err();
	what = argv[2];
	bool is_ls = !strcmp(what, "ls");
	if (!is_ls && strcmp(what, "create") && strcmp(what, "rm") && strcmp(what, "rollback"))
		return usage_err();
	if ((rc = vopen(v, argv[3], true)))
		return rc;
	if (!is_ls && !v->snap[0]) {
		vclose(v);
		fprintf(stderr, "norn vol: snap %s needs POOL/VOLUME@SNAP\n", what);
		return 2;
	}
	err = vol_open(v->io, v->vol, NULL, is_ls, &img);
	if (err) {
		vclose(v);
		return fail(argv[3], err);
	}
	if (!strcmp(what, "create"))
		err = vol_snap_create(img, v->snap, 30000);
	else if (!strcmp(what, "rm"))
		err = vol_snap_remove(img, v->snap);
	else if (!strcmp(what, "rollback"))
		err = vol_snap_rollback(img, v->snap);
	else if ((info = malloc(sizeof(*info))) == NULL)
		err = -ENOMEM;
	if (!err && info) {
		vol_get_info(img, info);
		if (v->cli->json)
			printf("[");
		for (uint32_t i = 0; i < info->n_snaps; i++) {
			const struct vol_snap_info *s = &info->snaps[i];
			if (v->cli->json)
				printf("%s{\"id\":%" PRIu64 ",\"name\":\"%s\",\"size\":%" PRIu64
				       ",\"ctime_ns\":%" PRIu64 "}", i ? "," : "", s->id, s->name,
				       s->size_bytes, s->ctime_ns);
			else
				printf("%-8" PRIu64 " %-32s %" PRIu64 "\n", s->id, s->name, s->size_bytes);
		}
		if (v->cli->json)
			printf("]\n");
	}
	free(info);
	vol_close(img);
	vclose(v);
	if (err)
		return fail(argv[3], err);
	return 0;
}

static int cli_vol(struct norn_cli_ctx *ctx, int argc, char **argv)
{
	struct vctx v = { .cli = ctx };

	if (argc < 2)
		return usage_err();
	const char *sub = argv[1];
	if (!strcmp(sub, "nbd"))
		return cmd_nbd(ctx, argc, argv);
	if (argc < 3)
		return usage_err();
	if (!strcmp(sub, "snap"))
		return cmd_snap(&v, argc, argv);
	if (!strcmp(sub, "create"))
		return cmd_create(&v, argc, argv);
	if (!strcmp(sub, "ls"))
		return cmd_ls(&v, argc, argv);
	if (!strcmp(sub, "info"))
		return cmd_info(&v, argc, argv);
	if (!strcmp(sub, "resize"))
		return cmd_resize(&v, argc, argv);
	if (!strcmp(sub, "rm"))
		return cmd_rm(&v, argc, argv);
	if (!strcmp(sub, "rename"))
		return cmd_rename(&v, argc, argv);
	if (!strcmp(sub, "du"))
		return cmd_du(&v, argc, argv);
	if (!strcmp(sub, "import"))
		return cmd_import(&v, argc, argv);
	if (!strcmp(sub, "export"))
		return cmd_export(&v, argc, argv);
	if (!strcmp(sub, "lock"))
		return cmd_lock(&v, argc, argv);
	return usage_err();
}
NORN_CLI_COMMAND("vol", cli_vol, "block volumes: create|ls|info|resize|rm|rename|du|import|export|lock|snap|nbd")
