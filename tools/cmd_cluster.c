/* `norn` cluster commands: status, health, mon, osd, pool, auth,
 * config-key, and the cluster half of crush (norn_cli_crush_cluster, called
 * by the `crush` word's dispatcher in cmd_crush.c).
 *
 * Each command becomes one JSON request for the monitors
 * ({"prefix": "pool create", "pool": "rbd", "pg_num": 64, "format": "json"})
 * sent with monc_command_sync(), which finds the leader itself. The mon
 * formats the output (text, or JSON with -f json); this file only parses
 * arguments, prints, and maps errors to exit codes: 0 ok, 1 the cluster
 * refused or could not be reached, 2 usage.
 */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/encode.h"
#include "common/log.h"
#include "common/monc.h"
#include "norn/errors.h"
#include "tools/cli.h"

int norn_cli_crush_cluster(struct norn_cli_ctx *ctx, int argc, char **argv);
/* `osd map` and `osd df` live in cmd_obj.c (they need libnorn). */
int norn_cli_osd_client(struct norn_cli_ctx *ctx, int argc, char **argv);

/* ---- a tiny JSON writer (names and values are escaped) ------------------- */

struct jw {
	struct enc e;
	int n;
};

static void jw_raw(struct jw *w, const char *s)
{
	enc_bytes(&w->e, s, strlen(s));
}

static void jw_strval(struct jw *w, const char *s)
{
	enc_u8(&w->e, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char esc[8];
		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			enc_bytes(&w->e, esc, 2);
		} else if (*p < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", *p);
			enc_bytes(&w->e, esc, 6);
		} else {
			enc_u8(&w->e, *p);
		}
	}
	enc_u8(&w->e, '"');
}

static void jw_key(struct jw *w, const char *k)
{
	jw_raw(w, w->n++ ? "," : "{");
	jw_strval(w, k);
	jw_raw(w, ":");
}

static void jw_str(struct jw *w, const char *k, const char *v)
{
	jw_key(w, k);
	jw_strval(w, v);
}

static void jw_lit(struct jw *w, const char *k, const char *lit)
{
	jw_key(w, k);
	jw_raw(w, lit);
}

/* ---- running a command --------------------------------------------------- */

static int load_opts(struct norn_cli_ctx *ctx, struct monc_opts *o)
{
	struct norn_config cfg;
	char err[512], kpath[1100];
	int rc;

	if (norn_config_init(&cfg, ctx->entity))
		return -ENOMEM;
	if (getenv("NORN_CLI_DEBUG"))
		norn_log_init(ctx->entity, stderr, NORN_LOG_DEBUG);
	else
		norn_log_init(ctx->entity, stderr, NORN_LOG_ERR);
	rc = norn_config_load_file(&cfg, ctx->conf_path, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "norn: config %s: %s\n", ctx->conf_path, rc == -EINVAL ? err : strerror(-rc));
		norn_config_free(&cfg);
		return rc;
	}
	if (ctx->keyring)
		snprintf(kpath, sizeof(kpath), "%s", ctx->keyring);
	else if (cfg.keyring && cfg.keyring[0])
		snprintf(kpath, sizeof(kpath), "%s", cfg.keyring);
	else {
		char tmp[1024];
		snprintf(tmp, sizeof(tmp), "%s", ctx->conf_path);
		snprintf(kpath, sizeof(kpath), "%s/norn.keyring", dirname(tmp));
	}
	rc = monc_opts_from_config(o, &cfg, kpath, err, sizeof(err));
	if (rc)
		fprintf(stderr, "norn: %s\n", err);
	norn_config_free(&cfg);
	return rc;
}

/* Finish @w (adds format), send, print. Returns the exit code. */
static int run(struct norn_cli_ctx *ctx, struct jw *w)
{
	struct monc_opts o;
	char *status = NULL, *out = NULL;
	size_t out_len = 0;
	int rc;

	jw_str(w, "format", ctx->json ? "json" : "plain");
	jw_raw(w, "}");
	enc_u8(&w->e, 0);
	if (enc_error(&w->e)) {
		enc_free(&w->e);
		return 1;
	}
	if (load_opts(ctx, &o)) {
		enc_free(&w->e);
		return 1;
	}
	rc = monc_command_sync(&o, (const char *)w->e.buf, (uint64_t)ctx->timeout_ms, &status, &out, &out_len);
	enc_free(&w->e);
	if (rc == 0) {
		if (out_len) {
			fwrite(out, 1, out_len, stdout);
			if (out[out_len - 1] != '\n')
				fputc('\n', stdout);
		} else if (status && status[0] && !ctx->json) {
			printf("%s\n", status);
		}
	} else if (rc == -ETIMEDOUT) {
		fprintf(stderr, "Error: no answer from a monitor quorum within %d ms (%s)\n", ctx->timeout_ms,
		        status ? status : "timed out");
	} else if (rc == -EACCES) {
		fprintf(stderr, "Error: authentication refused for %s (wrong key?)\n", ctx->entity);
	} else {
		fprintf(stderr, "Error %s: %s\n", norn_strerror(rc), status && status[0] ? status : "failed");
	}
	free(status);
	free(out);
	return rc ? 1 : 0;
}

static void begin(struct jw *w, const char *prefix)
{
	enc_init(&w->e, 256);
	w->n = 0;
	jw_str(w, "prefix", prefix);
}

static int usage_err(const char *u)
{
	fprintf(stderr, "usage: norn %s\n", u);
	return 2;
}

static int is_int(const char *s)
{
	char *end;
	if (!*s)
		return 0;
	strtoll(s, &end, 10);
	return !*end;
}

/* ---- status / health / mon --------------------------------------------------- */

static int cli_status(struct norn_cli_ctx *ctx, int argc, char **argv)
{
	struct jw w;
	if (argc != 1)
		return usage_err("status");
	begin(&w, "status");
	return run(ctx, &w);
}
NORN_CLI_COMMAND("status", cli_status, "cluster summary (health, mons, osds, pools, pgs, usage)")

static int cli_health(struct norn_cli_ctx *ctx, int argc, char **argv)
{
	struct jw w;
	if (argc > 2 || (argc == 2 && strcmp(argv[1], "detail")))
		return usage_err("health [detail]");
	begin(&w, "health");
	if (argc == 2)
		jw_lit(&w, "detail", "true");
	return run(ctx, &w);
}
NORN_CLI_COMMAND("health", cli_health, "health checks: health [detail]")

static int cli_mon(struct norn_cli_ctx *ctx, int argc, char **argv)
{
	struct jw w;
	if (argc == 2 && !strcmp(argv[1], "stat"))
		begin(&w, "mon stat");
	else if (argc == 2 && !strcmp(argv[1], "dump"))
		begin(&w, "mon dump");
	else if (argc == 4 && !strcmp(argv[1], "add")) {
		begin(&w, "mon add");
		jw_str(&w, "name", argv[2]);
		jw_str(&w, "addr", argv[3]);
	} else if (argc == 3 && !strcmp(argv[1], "rm")) {
		begin(&w, "mon rm");
		jw_str(&w, "name", argv[2]);
	} else
		return usage_err("mon stat|dump | mon add NAME HOST:PORT | mon rm NAME");
	return run(ctx, &w);
}
NORN_CLI_COMMAND("mon", cli_mon, "monitors: mon stat|dump|add|rm")

/* ---- osd ---------------------------------------------------------------------- */

static int ids_arg(struct jw *w, int argc, char **argv)
{
	jw_key(w, "ids");
	jw_raw(w, "[");
	for (int i = 0; i < argc; i++) {
		const char *s = argv[i];
		if (!strncmp(s, "osd.", 4))
			s += 4;
		if (!is_int(s) || atoll(s) < 0)
			return -EINVAL;
		jw_raw(w, i ? "," : "");
		jw_raw(w, s);
	}
	jw_raw(w, "]");
	return argc ? 0 : -EINVAL;
}

static int cli_osd(struct norn_cli_ctx *ctx, int argc, char **argv)
{
	static const char *u =
		"osd tree|ls|dump | osd out|in|down ID... | osd rm ID... [--force] | osd reweight ID WEIGHT | "
		"osd create [UUID] | osd set|unset FLAG | osd map POOL OBJ | osd df";
	struct jw w;
	char prefix[64];
	if (argc < 2)
		return usage_err(u);
	const char *sub = argv[1];
	if (!strcmp(sub, "map") || !strcmp(sub, "df"))
		return norn_cli_osd_client(ctx, argc, argv);
	snprintf(prefix, sizeof(prefix), "osd %s", sub);
	if (!strcmp(sub, "tree") || !strcmp(sub, "ls") || !strcmp(sub, "dump")) {
		if (argc != 2)
			return usage_err(u);
		begin(&w, prefix);
	} else if (!strcmp(sub, "out") || !strcmp(sub, "in") || !strcmp(sub, "down") || !strcmp(sub, "rm")) {
		/* osd rm ID... --force: skip the mon's "only copy" check */
		int force = !strcmp(sub, "rm") && argc > 3 && !strcmp(argv[argc - 1], "--force");
		begin(&w, prefix);
		if (ids_arg(&w, argc - 2 - force, argv + 2)) {
			enc_free(&w.e);
			return usage_err(u);
		}
		if (force)
			jw_lit(&w, "force", "true");
	} else if (!strcmp(sub, "reweight")) {
		char *end;
		if (argc != 4 || !is_int(argv[2]))
			return usage_err(u);
		double x = strtod(argv[3], &end);
		if (*end || !(x >= 0 && x <= 1)) {
			fprintf(stderr, "norn: weight must be between 0 and 1\n");
			return 2;
		}
		begin(&w, prefix);
		jw_lit(&w, "id", argv[2]);
		jw_lit(&w, "weight", argv[3]);
	} else if (!strcmp(sub, "create")) {
		if (argc > 3)
			return usage_err(u);
		begin(&w, prefix);
		if (argc == 3)
			jw_str(&w, "uuid", argv[2]);
	} else if (!strcmp(sub, "set") || !strcmp(sub, "unset")) {
		if (argc != 3)
			return usage_err(u);
		begin(&w, prefix);
		jw_str(&w, "key", argv[2]);
	} else {
		return usage_err(u);
	}
	return run(ctx, &w);
}
NORN_CLI_COMMAND("osd", cli_osd, "osds: tree|ls|dump|out|in|down|rm|reweight|create|set|unset|map|df")

/* ---- pool ---------------------------------------------------------------------- */

static int cli_pool(struct norn_cli_ctx *ctx, int argc, char **argv)
{
	static const char *u =
		"pool create NAME PGS [--size N] [--min-size M] [--rule R] | pool ls [detail] | "
		"pool rm NAME --yes-i-really-mean-it | pool set NAME FIELD VALUE | pool get NAME [FIELD]";
	struct jw w;
	if (argc < 2)
		return usage_err(u);
	const char *sub = argv[1];
	if (!strcmp(sub, "create")) {
		if (argc < 4 || !is_int(argv[3]))
			return usage_err(u);
		begin(&w, "pool create");
		jw_str(&w, "pool", argv[2]);
		jw_lit(&w, "pg_num", argv[3]);
		for (int i = 4; i < argc; i++) {
			const char *a = argv[i];
			if (i + 1 >= argc)
				goto bad;
			if (!strcmp(a, "--size") && is_int(argv[i + 1]))
				jw_lit(&w, "size", argv[++i]);
			else if (!strcmp(a, "--min-size") && is_int(argv[i + 1]))
				jw_lit(&w, "min_size", argv[++i]);
			else if (!strcmp(a, "--rule"))
				jw_str(&w, "rule", argv[++i]);
			else if (!strcmp(a, "--application"))
				jw_str(&w, "application", argv[++i]);
			else
				goto bad;
		}
	} else if (!strcmp(sub, "ls")) {
		if (argc > 3 || (argc == 3 && strcmp(argv[2], "detail")))
			return usage_err(u);
		begin(&w, "pool ls");
		if (argc == 3)
			jw_lit(&w, "detail", "true");
	} else if (!strcmp(sub, "rm")) {
		if (argc < 3 || argc > 4)
			return usage_err(u);
		if (argc != 4 || strcmp(argv[3], "--yes-i-really-mean-it")) {
			fprintf(stderr, "norn: removing pool '%s' destroys all its data; add --yes-i-really-mean-it\n",
			        argv[2]);
			return 2;
		}
		begin(&w, "pool rm");
		jw_str(&w, "pool", argv[2]);
		jw_lit(&w, "yes_i_really_mean_it", "true");
	} else if (!strcmp(sub, "set")) {
		if (argc != 5)
			return usage_err(u);
		begin(&w, "pool set");
		jw_str(&w, "pool", argv[2]);
		jw_str(&w, "var", argv[3]);
		jw_str(&w, "val", argv[4]);
	} else if (!strcmp(sub, "get")) {
		if (argc < 3 || argc > 4)
			return usage_err(u);
		begin(&w, "pool get");
		jw_str(&w, "pool", argv[2]);
		if (argc == 4)
			jw_str(&w, "var", argv[3]);
	} else {
		return usage_err(u);
	}
	return run(ctx, &w);
bad:
	enc_free(&w.e);
	return usage_err(u);
}
NORN_CLI_COMMAND("pool", cli_pool, "pools: create|ls|rm|set|get")

/* ---- auth ---------------------------------------------------------------------- */

/* Join argv into a caps string: `auth caps client.x mon 'allow r' osd 'allow rw'`
 * arrives as separate words; re-quote the specs. */
static void caps_join(char *buf, size_t cap, int argc, char **argv)
{
	size_t o = 0;
	buf[0] = 0;
	for (int i = 0; i + 1 < argc && o < cap; i += 2)
		o += (size_t)snprintf(buf + o, cap - o, "%s%s '%s'", o ? " " : "", argv[i], argv[i + 1]);
	if (argc == 1)
		snprintf(buf, cap, "%s", argv[0]);   /* one pre-quoted string */
}

static int cli_auth(struct norn_cli_ctx *ctx, int argc, char **argv)
{
	static const char *u = "auth add ENTITY [SVC 'CAPS']... | auth get ENTITY | auth ls | auth rm ENTITY | "
	                       "auth caps ENTITY SVC 'CAPS'...";
	struct jw w;
	char caps[2048];
	if (argc < 2)
		return usage_err(u);
	const char *sub = argv[1];
	if (!strcmp(sub, "ls")) {
		if (argc != 2)
			return usage_err(u);
		begin(&w, "auth ls");
		return run(ctx, &w);
	}
	if (argc < 3)
		return usage_err(u);
	if (!strcmp(sub, "get") || !strcmp(sub, "rm")) {
		if (argc != 3)
			return usage_err(u);
		begin(&w, !strcmp(sub, "get") ? "auth get" : "auth rm");
		jw_str(&w, "entity", argv[2]);
	} else if (!strcmp(sub, "add") || !strcmp(sub, "caps")) {
		int n = argc - 3;
		if ((n > 1 && n % 2) || (!strcmp(sub, "caps") && n == 0))
			return usage_err(u);
		caps_join(caps, sizeof(caps), n, argv + 3);
		begin(&w, !strcmp(sub, "add") ? "auth add" : "auth caps");
		jw_str(&w, "entity", argv[2]);
		jw_str(&w, "caps", caps);
	} else {
		return usage_err(u);
	}
	return run(ctx, &w);
}
NORN_CLI_COMMAND("auth", cli_auth, "entities and caps: add|get|ls|rm|caps")

static int cli_config_key(struct norn_cli_ctx *ctx, int argc, char **argv)
{
	static const char *u = "config-key set KEY VALUE | get KEY | rm KEY | ls";
	struct jw w;
	char prefix[64];
	if (argc < 2)
		return usage_err(u);
	snprintf(prefix, sizeof(prefix), "config-key %s", argv[1]);
	if (!strcmp(argv[1], "ls") && argc == 2) {
		begin(&w, prefix);
	} else if ((!strcmp(argv[1], "get") || !strcmp(argv[1], "rm")) && argc == 3) {
		begin(&w, prefix);
		jw_str(&w, "key", argv[2]);
	} else if (!strcmp(argv[1], "set") && argc == 4) {
		begin(&w, prefix);
		jw_str(&w, "key", argv[2]);
		jw_str(&w, "val", argv[3]);
	} else {
		return usage_err(u);
	}
	return run(ctx, &w);
}
NORN_CLI_COMMAND("config-key", cli_config_key, "small key/value store in the mons: set|get|rm|ls")

/* ---- crush (cluster half) ---------------------------------------------------------- */

int norn_cli_crush_cluster(struct norn_cli_ctx *ctx, int argc, char **argv)
{
	static const char *u = "crush show | crush rule ls | crush add-bucket NAME TYPE | "
	                       "crush move NAME [TYPE=]PARENT | crush set-weight NAME WEIGHT";
	struct jw w;
	if (argc < 2)
		return usage_err(u);
	const char *sub = argv[1];
	if (!strcmp(sub, "show") && argc == 2) {
		begin(&w, "crush show");
	} else if (!strcmp(sub, "rule") && argc == 3 && !strcmp(argv[2], "ls")) {
		begin(&w, "crush rule ls");
	} else if (!strcmp(sub, "add-bucket") && argc == 4) {
		begin(&w, "crush add-bucket");
		jw_str(&w, "name", argv[2]);
		jw_str(&w, "type", argv[3]);
	} else if (!strcmp(sub, "move") && argc == 4) {
		begin(&w, "crush move");
		jw_str(&w, "name", argv[2]);
		jw_str(&w, "loc", argv[3]);
	} else if (!strcmp(sub, "set-weight") && argc == 4) {
		begin(&w, "crush set-weight");
		jw_str(&w, "name", argv[2]);
		jw_str(&w, "weight", argv[3]);
	} else {
		return usage_err(u);
	}
	return run(ctx, &w);
}
