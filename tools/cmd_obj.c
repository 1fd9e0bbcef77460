/* `norn` object and placement commands, on libnorn:
 *
 *   put POOL OBJ FILE|-     write a whole object from a file or stdin
 *   get POOL OBJ FILE|-     read a whole object to a file or stdout
 *   stat POOL OBJ           size and modification time
 *   rm POOL OBJ...          remove objects
 *   ls POOL                 list object names (PG by PG)
 *   pg stat|dump            PG states from the mon's PG statistics
 *   osd map POOL OBJ        PG, up and acting set of an object
 *   osd df                  capacity and use per OSD
 *
 * `osd` is one top-level word owned by cmd_cluster.c; it calls
 * norn_cli_osd_client() here for `map` and `df`.
 *
 * Large objects are streamed in pieces of NORN_CLI_IO_CHUNK bytes with a
 * few asynchronous operations in flight; an object that fits in one piece
 * is written with one write_full (atomic). Exit codes: 0 ok, 1 failure,
 * 2 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "norn/norn.h"
#include "tools/cli.h"

#define NORN_CLI_IO_CHUNK (4u << 20)
#define NORN_CLI_IO_WINDOW 4

int norn_cli_osd_client(struct norn_cli_ctx *ctx, int argc, char **argv);

static int usage_err(const char *u)
{
	fprintf(stderr, "usage: norn %s\n", u);
	return 2;
}

/* Connect with the CLI's -c/-n/-k and --timeout (used as the mount timeout). */
static int cli_connect(struct norn_cli_ctx *ctx, norn_cluster_t **cl)
{
	char o1[64];
	const char *ov[1] = { o1 };
	int rc;

	norn_log_init(ctx->entity, stderr, getenv("NORN_CLI_DEBUG") ? NORN_LOG_DEBUG : NORN_LOG_ERR);
	snprintf(o1, sizeof(o1), "client_mount_timeout_ms=%d", ctx->timeout_ms);
	rc = norn_connect2(ctx->conf_path, ctx->entity, ctx->keyring, ov, 1, cl);
	if (rc == NORN_EAUTH)
		fprintf(stderr, "Error: authentication refused for %s (wrong key?)\n", ctx->entity);
	else if (rc == NORN_ENOQUORUM)
		fprintf(stderr, "Error: no monitor quorum within %d ms\n", ctx->timeout_ms);
	else if (rc)
		fprintf(stderr, "Error: cannot connect: %s\n", norn_strerror(rc));
	return rc;
}

static int open_pool(struct norn_cli_ctx *ctx, const char *pool, norn_cluster_t **cl,
                     norn_ioctx_t **io)
{
	int rc = cli_connect(ctx, cl);
	if (rc)
		return rc;
	rc = norn_ioctx_create(*cl, pool, io);
	if (rc) {
		fprintf(stderr, "Error: pool '%s': %s\n", pool,
		        rc == -ENOENT ? "does not exist" : norn_strerror(rc));
		norn_shutdown(*cl);
		*cl = NULL;
	}
	return rc;
}

static void close_pool(norn_cluster_t *cl, norn_ioctx_t *io)
{
	norn_ioctx_destroy(io);
	norn_shutdown(cl);
}

/* Read up to @len bytes (short only at end of input). */
static ssize_t read_full(int fd, uint8_t *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static int write_full_fd(int fd, const uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* ---- put / get ----------------------------------------------------------------- */

struct slot {
	uint8_t *buf;
	size_t len;
	uint64_t off;
	norn_completion_t *c;
};

static int put_stream(norn_ioctx_t *io, const char *oid, int fd)
{
	struct slot s[NORN_CLI_IO_WINDOW];
	uint64_t off = 0;
	ssize_t n;
	int rc = 0, k = 0;

	memset(s, 0, sizeof(s));
	for (int i = 0; i < NORN_CLI_IO_WINDOW; i++)
		if (!(s[i].buf = malloc(NORN_CLI_IO_CHUNK))) {
			rc = -ENOMEM;
			goto out;
		}
	/* the first piece replaces the object (it may shrink) */
	n = read_full(fd, s[0].buf, NORN_CLI_IO_CHUNK);
	if (n < 0) {
		rc = (int)n;
		goto out;
	}
	rc = norn_write_full(io, oid, s[0].buf, (size_t)n);
	if (rc || (size_t)n < NORN_CLI_IO_CHUNK)
		goto out;
	off = (uint64_t)n;
	for (;;) {
		struct slot *sl = &s[k];
		if (sl->c) {
			int r = norn_completion_wait(sl->c);
			norn_completion_release(sl->c);
			sl->c = NULL;
			if (r < 0) {
				rc = r;
				break;
			}
		}
		n = read_full(fd, sl->buf, NORN_CLI_IO_CHUNK);
		if (n < 0) {
			rc = (int)n;
			break;
		}
		if (n == 0)
			break;
		sl->len = (size_t)n;
		sl->off = off;
		sl->c = norn_completion_create(NULL, NULL);
		if (!sl->c) {
			rc = -ENOMEM;
			break;
		}
		rc = norn_aio_write(io, oid, sl->c, sl->buf, sl->len, sl->off);
		if (rc) {
			norn_completion_release(sl->c);
			sl->c = NULL;
			break;
		}
		off += (uint64_t)n;
		k = (k + 1) % NORN_CLI_IO_WINDOW;
		if ((size_t)n < NORN_CLI_IO_CHUNK)
			break;
	}
out:
	for (int i = 0; i < NORN_CLI_IO_WINDOW; i++) {
		if (s[i].c) {
			int r = norn_completion_wait(s[i].c);
			if (r < 0 && !rc)
				rc = r;
			norn_completion_release(s[i].c);
		}
		free(s[i].buf);
	}
	return rc;
}

static int get_stream(norn_ioctx_t *io, const char *oid, int fd, uint64_t size)
{
	struct slot s[NORN_CLI_IO_WINDOW];
	uint64_t next = 0;
	int rc = 0, issued = 0, head = 0, inflight = 0;

	memset(s, 0, sizeof(s));
	for (int i = 0; i < NORN_CLI_IO_WINDOW; i++)
		if (!(s[i].buf = malloc(NORN_CLI_IO_CHUNK))) {
			rc = -ENOMEM;
			goto out;
		}
	while (next < size || inflight) {
		/* fill the window in order, then drain the oldest */
		while (next < size && inflight < NORN_CLI_IO_WINDOW) {
			struct slot *sl = &s[issued];
			sl->off = next;
			sl->len = (size_t)(size - next < NORN_CLI_IO_CHUNK ? size - next : NORN_CLI_IO_CHUNK);
			sl->c = norn_completion_create(NULL, NULL);
			if (!sl->c) {
				rc = -ENOMEM;
				goto out;
			}
			rc = norn_aio_read(io, oid, sl->c, sl->buf, sl->len, sl->off);
			if (rc) {
				norn_completion_release(sl->c);
				sl->c = NULL;
				goto out;
			}
			next += sl->len;
			issued = (issued + 1) % NORN_CLI_IO_WINDOW;
			inflight++;
		}
		struct slot *sl = &s[head];
		ssize_t r;
		norn_completion_wait(sl->c);
		r = norn_completion_result(sl->c);
		norn_completion_release(sl->c);
		sl->c = NULL;
		inflight--;
		head = (head + 1) % NORN_CLI_IO_WINDOW;
		if (r < 0) {
			rc = (int)r;
			goto out;
		}
		if ((size_t)r != sl->len) {
			rc = -EIO;  /* the object shrank under us */
			goto out;
		}
		rc = write_full_fd(fd, sl->buf, (size_t)r);
		if (rc)
			goto out;
	}
out:
	for (int i = 0; i < NORN_CLI_IO_WINDOW; i++) {
		if (s[i].c) {
			norn_completion_wait(s[i].c);
			norn_completion_release(s[i].c);
		}
		free(s[i].buf);
	}
	return rc;
}

static int cli_put(struct norn_cli_ctx *ctx, int argc, char **argv)
{
	norn_cluster_t *cl;
	norn_ioctx_t *io;
	int fd, rc;

	if (argc != 4)
		return usage_err("put POOL OBJ FILE|-");
	if (!strcmp(argv[3], "-"))
		fd = STDIN_FILENO;
	else if ((fd = open(argv[3], O_RDONLY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "Error: %s: %s\n", argv[3], strerror(errno));
		return 1;
	}
	if (open_pool(ctx, argv[1], &cl, &io)) {
		if (fd != STDIN_FILENO)
			close(fd);
		return 1;
	}
	rc = put_stream(io, argv[2], fd);
	if (fd != STDIN_FILENO)
		close(fd);
	close_pool(cl, io);
	if (rc) {
		fprintf(stderr, "Error: put %s/%s: %s\n", argv[1], argv[2], norn_strerror(rc));
		return 1;
	}
	return 0;
}
NORN_CLI_COMMAND("put", cli_put, "write an object: put POOL OBJ FILE|-")

static int cli_get(struct norn_cli_ctx *ctx, int argc, char **argv)
{
	norn_cluster_t *cl;
	norn_ioctx_t *io;
	uint64_t size = 0, mtime;
	int fd = STDOUT_FILENO, rc;

	if (argc != 4)
		return usage_err("get POOL OBJ FILE|-");
	if (open_pool(ctx, argv[1], &cl, &io))
		return 1;
	rc = norn_stat(io, argv[2], &size, &mtime);
	if (rc == 0 && strcmp(argv[3], "-")) {
		fd = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) {
			fprintf(stderr, "Error: %s: %s\n", argv[3], strerror(errno));
			close_pool(cl, io);
			return 1;
		}
	}
	if (rc == 0)
		rc = get_stream(io, argv[2], fd, size);
	if (fd != STDOUT_FILENO && close(fd) && !rc)
		rc = -errno;
	close_pool(cl, io);
	if (rc) {
		fprintf(stderr, "Error: get %s/%s: %s\n", argv[1], argv[2],
		        rc == -ENOENT ? "no such object" : norn_strerror(rc));
		return 1;
	}
	return 0;
}
NORN_CLI_COMMAND("get", cli_get, "read an object: get POOL OBJ FILE|-")

static int cli_stat(struct norn_cli_ctx *ctx, int argc, char **argv)
{
	norn_cluster_t *cl;
	norn_ioctx_t *io;
	uint64_t size = 0, mtime = 0;
	int rc;

	if (argc != 3)
		return usage_err("stat POOL OBJ");
	if (open_pool(ctx, argv[1], &cl, &io))
		return 1;
	rc = norn_stat(io, argv[2], &size, &mtime);
	close_pool(cl, io);
	if (rc) {
		fprintf(stderr, "Error: stat %s/%s: %s\n", argv[1], argv[2],
		        rc == -ENOENT ? "no such object" : norn_strerror(rc));
		return 1;
	}
	if (ctx->json) {
		printf("{\"pool\":\"%s\",\"name\":\"%s\",\"size\":%" PRIu64 ",\"mtime_ns\":%" PRIu64 "}\n",
		       argv[1], argv[2], size, mtime);
	} else {
		time_t t = (time_t)(mtime / 1000000000ull);
		struct tm tm;
		char when[64];
		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
		printf("%s/%s mtime %s.%06" PRIu64 "Z, size %" PRIu64 "\n", argv[1], argv[2], when,
		       (uint64_t)((mtime % 1000000000ull) / 1000), size);
	}
	return 0;
}
NORN_CLI_COMMAND("stat", cli_stat, "object size and mtime: stat POOL OBJ")

static int cli_rm(struct norn_cli_ctx *ctx, int argc, char **argv)
{
	norn_cluster_t *cl;
	norn_ioctx_t *io;
	int bad = 0;

	if (argc < 3)
		return usage_err("rm POOL OBJ...");
	if (open_pool(ctx, argv[1], &cl, &io))
		return 1;
	for (int i = 2; i < argc; i++) {
		int rc = norn_remove(io, argv[i]);
		if (rc) {
			fprintf(stderr, "Error: rm %s/%s: %s\n", argv[1], argv[i],
			        rc == -ENOENT ? "no such object" : norn_strerror(rc));
			bad = 1;
		}
	}
	close_pool(cl, io);
	return bad;
}
NORN_CLI_COMMAND("rm", cli_rm, "remove objects: rm POOL OBJ...")

static int cli_ls(struct norn_cli_ctx *ctx, int argc, char **argv)
{
	norn_cluster_t *cl;
	norn_ioctx_t *io;
	char *cursor = NULL;
	struct norn_list l;
	int rc, first = 1, more;

	if (argc != 2)
		return usage_err("ls POOL");
	if (open_pool(ctx, argv[1], &cl, &io))
		return 1;
	if (ctx->json)
		fputs("[", stdout);
	do {
		rc = norn_list_objects(io, &cursor, 1000, &l);
		if (rc)
			break;
		for (size_t i = 0; i < l.n; i++) {
			if (ctx->json) {
				fputs(first ? "\"" : ",\"", stdout);
				for (const unsigned char *p = (const unsigned char *)l.items[i].key; *p; p++) {
					if (*p == '"' || *p == '\\')
						printf("\\%c", *p);
					else if (*p < 0x20)
						printf("\\u%04x", *p);
					else
						putchar(*p);
				}
				putchar('"');
			} else {
				puts(l.items[i].key);
			}
			first = 0;
		}
		more = l.more;
		norn_list_free(&l);
	} while (more);
	if (ctx->json)
		puts("]");
	free(cursor);
	close_pool(cl, io);
	if (rc) {
		fprintf(stderr, "Error: ls %s: %s\n", argv[1], norn_strerror(rc));
		return 1;
	}
	return 0;
}
NORN_CLI_COMMAND("ls", cli_ls, "list objects: ls POOL")

/* ---- mon-backed views ------------------------------------------------------------ */

static int mon_cmd_print(struct norn_cli_ctx *ctx, const char *prefix)
{
	norn_cluster_t *cl;
	char json[256], *out = NULL, *status = NULL;
	size_t out_len = 0;
	int rc;

	if (cli_connect(ctx, &cl))
		return 1;
	snprintf(json, sizeof(json), "{\"prefix\":\"%s\",\"format\":\"%s\"}", prefix,
	         ctx->json ? "json" : "plain");
	rc = norn_mon_command(cl, json, &out, &out_len, &status);
	norn_shutdown(cl);
	if (rc == 0 && out_len) {
		fwrite(out, 1, out_len, stdout);
		if (out[out_len - 1] != '\n')
			fputc('\n', stdout);
	} else if (rc == 0 && status && status[0]) {
		printf("%s\n", status);
	} else if (rc) {
		fprintf(stderr, "Error %s: %s\n", norn_strerror(rc), status && status[0] ? status : "failed");
	}
	free(out);
	free(status);
	return rc ? 1 : 0;
}

static int cli_pg(struct norn_cli_ctx *ctx, int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "stat"))
		return mon_cmd_print(ctx, "pg stat");
	if (argc == 2 && !strcmp(argv[1], "dump"))
		return mon_cmd_print(ctx, "pg dump");
	return usage_err("pg stat|dump");
}
NORN_CLI_COMMAND("pg", cli_pg, "placement groups: pg stat|dump")

static void print_osds(const int32_t *v, uint32_t n)
{
	putchar('[');
	for (uint32_t i = 0; i < n; i++)
		printf("%s%d", i ? "," : "", v[i]);
	putchar(']');
}

static int osd_map(struct norn_cli_ctx *ctx, const char *pool, const char *oid)
{
	norn_cluster_t *cl;
	norn_ioctx_t *io;
	struct norn_pg_location l;
	int rc;

	if (open_pool(ctx, pool, &cl, &io))
		return 1;
	rc = norn_object_locate(io, oid, &l);
	close_pool(cl, io);
	if (rc) {
		fprintf(stderr, "Error: osd map %s/%s: %s\n", pool, oid, norn_strerror(rc));
		return 1;
	}
	if (ctx->json) {
		printf("{\"epoch\":%" PRIu64 ",\"pool\":\"%s\",\"pool_id\":%" PRId64 ",\"objname\":\"%s\","
		       "\"raw_pgid\":\"%" PRId64 ".%" PRIx32 "\",\"pgid\":\"%" PRId64 ".%" PRIx32 "\",\"up\":",
		       l.epoch, pool, l.pool, oid, l.pool, l.object_hash, l.pool, l.pg_seed);
		print_osds(l.up, l.n_up);
		printf(",\"up_primary\":%d,\"acting\":", l.up_primary);
		print_osds(l.acting, l.n_acting);
		printf(",\"acting_primary\":%d}\n", l.acting_primary);
	} else {
		printf("osdmap e%" PRIu64 " pool '%s' (%" PRId64 ") object '%s' -> pg %" PRId64 ".%" PRIx32
		       " (%" PRId64 ".%" PRIx32 ") -> up (",
		       l.epoch, pool, l.pool, oid, l.pool, l.object_hash, l.pool, l.pg_seed);
		print_osds(l.up, l.n_up);
		printf(", p%d) acting (", l.up_primary);
		print_osds(l.acting, l.n_acting);
		printf(", p%d)\n", l.acting_primary);
	}
	return 0;
}

int norn_cli_osd_client(struct norn_cli_ctx *ctx, int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "map"))
		return osd_map(ctx, argv[2], argv[3]);
	if (argc == 2 && !strcmp(argv[1], "df"))
		return mon_cmd_print(ctx, "osd df");
	return usage_err("osd map POOL OBJ | osd df");
}
