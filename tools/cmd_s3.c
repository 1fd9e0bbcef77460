/* `norn s3 ...`: S3 gateway users and keys.
 *
 *   norn s3 user create UID [--display-name NAME] [--access-key AK --secret SK]
 *   norn s3 user ls
 *   norn s3 user info UID
 *   norn s3 user rm UID
 *   norn s3 key add UID [--access-key AK --secret SK]
 *   norn s3 key rm UID ACCESS_KEY
 *   norn s3 gc [--orphans [--grace-ms MS]]
 *                                    (run one garbage-collector pass now; with
 *                                    --orphans also scan the pool for data
 *                                    nothing references, older than MS, default
 *                                    s3_gc_orphan_ms)
 *   norn s3 census                   (objects, data stripes, manifests, GC queue)
 *
 * Users and keys live in the cluster (omap of object s3.users in pool
 * s3_pool, default "s3"), reached with the CLI's -c/-n/-k like every other
 * command, where the gateways see them at once. --fs-root DIR (or
 * $NORN_S3_FS_ROOT) selects the DEVELOPMENT fs store instead. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/s3/s3_backend.h"
#include "common/config.h"
#include "norn/errors.h"
#include "tools/cli.h"

static void s3_usage(void)
{
	fprintf(stderr,
	        "usage: norn s3 user create UID [--display-name NAME] [--access-key AK --secret SK]\n"
	        "       norn s3 user ls | info UID | rm UID\n"
	        "       norn s3 key add UID [--access-key AK --secret SK] | key rm UID ACCESS_KEY\n"
	        "       norn s3 gc [--orphans [--grace-ms MS]] | census\n"
	        "       (store: the cluster, pool s3_pool; or the dev store with --fs-root DIR or\n"
	        "        $NORN_S3_FS_ROOT)\n");
}

static int open_store(struct norn_cli_ctx *ctx, const char *root, struct s3_backend **be)
{
	if (!root)
		root = getenv("NORN_S3_FS_ROOT");
	if (root && root[0])
		return s3_backend_fs_open(root, be);
#ifdef NORN_S3_HAVE_CLUSTER
	struct norn_config cfg;
	char err[256];
	if (norn_config_init(&cfg, "client.s3"))
		return -ENOMEM;
	if (ctx->conf_path && norn_config_load_file(&cfg, ctx->conf_path, err, sizeof(err))) {
		fprintf(stderr, "norn s3: %s: %s\n", ctx->conf_path, err);
		norn_config_free(&cfg);
		return -EINVAL;
	}
	struct s3_norn_config ncfg = {
		.conf_path = ctx->conf_path,
		.entity = ctx->entity,
		.keyring = ctx->keyring,
		.pool = cfg.s3_pool,
		.index_shards = (uint32_t)cfg.s3_index_shards,
		.gc_shards = (uint32_t)cfg.s3_gc_shards,
		.stripe_bytes = cfg.s3_stripe_bytes,
		.window_bytes = cfg.s3_write_window_bytes,
		.gc_interval_ms = -1,
		.gc_delay_ms = (int64_t)cfg.s3_gc_delay_ms,
		.gc_orphan_ms = (int64_t)cfg.s3_gc_orphan_ms,
		.user_cache_ms = (int64_t)cfg.s3_user_cache_ms,
		.orphan_scan_per_pass = (uint32_t)cfg.s3_orphan_scan_per_pass,
	};
	int rc = s3_backend_norn_open(&ncfg, NULL, be);
	norn_config_free(&cfg);
	return rc;
#else
	(void)ctx;
	fprintf(stderr, "norn s3: this build has no cluster client: give --fs-root DIR\n");
	return -EINVAL;
#endif
}

/* Print @s escaped for a JSON string (display names are free text). */
static void json_str(const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
}

static void print_user(struct norn_cli_ctx *ctx, const struct s3_user *u, int first)
{
	if (ctx->json)
		printf("%s{\"uid\":\"%s\",\"access_key\":\"%s\",\"secret_key\":\"%s\"}", first ? "" : ",",
		       u->uid, u->access_key, u->secret);
	else
		printf("%-24s %-24s %s\n", u->uid, u->access_key, u->secret);
}

static int cmd_s3(struct norn_cli_ctx *ctx, int argc, char **argv)
{
	const char *root = NULL, *display = NULL, *ak = NULL, *sk = NULL;
	const char *pos[4] = { 0 };
	int np = 0, orphans = 0;
	long long grace_ms = -1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--fs-root") && i + 1 < argc)
			root = argv[++i];
		else if (!strcmp(a, "--display-name") && i + 1 < argc)
			display = argv[++i];
		else if (!strcmp(a, "--access-key") && i + 1 < argc)
			ak = argv[++i];
		else if (!strcmp(a, "--secret") && i + 1 < argc)
			sk = argv[++i];
		else if (!strcmp(a, "--orphans"))
			orphans = 1;
		else if (!strcmp(a, "--grace-ms") && i + 1 < argc) {
			char *end;
			grace_ms = strtoll(argv[++i], &end, 10);
			if (*end || grace_ms < 0) {
				s3_usage();
				return 2;
			}
		}
		else if (a[0] == '-' || np == 4) {
			s3_usage();
			return 2;
		} else
			pos[np++] = a;
	}
	if (np == 1 && (!strcmp(pos[0], "gc") || !strcmp(pos[0], "census"))) {
#ifdef NORN_S3_HAVE_CLUSTER
		struct s3_backend *gbe = NULL;
		int grc = open_store(ctx, root, &gbe);
		if (!grc && strcmp(gbe->ops->name, "norn"))
			grc = -EOPNOTSUPP;
		uint64_t removed = 0;
		struct s3_norn_census cs;
		int gc = !strcmp(pos[0], "gc");
		struct s3_norn_scan sc;
		memset(&sc, 0, sizeof(sc));
		if (!grc)
			grc = gc ? s3_backend_norn_gc(gbe, &removed) : s3_backend_norn_census(gbe, &cs);
		if (!grc && gc && orphans)
			grc = s3_backend_norn_scan(gbe, UINT64_MAX, grace_ms, &sc);
		if (gbe)
			gbe->ops->destroy(gbe);
		if (grc) {
			fprintf(stderr, "norn s3 %s: %s\n", pos[0], norn_strerror(grc));
			return 1;
		}
		if (gc && ctx->json)
			printf("{\"removed\":%" PRIu64 ",\"scanned\":%" PRIu64 ",\"orphans\":%" PRIu64 "}\n",
			       removed + sc.removed, sc.examined, sc.orphans);
		else if (gc)
			printf("removed %" PRIu64 " data objects (orphan scan: %" PRIu64 " objects examined, %"
			       PRIu64 " orphans)\n", removed + sc.removed, sc.examined, sc.orphans);
		else if (ctx->json)
			printf("{\"objects\":%" PRIu64 ",\"data_objects\":%" PRIu64 ",\"manifests\":%" PRIu64
			       ",\"gc_pending\":%" PRIu64 "}\n",
			       cs.objects, cs.data_objects, cs.manifests, cs.gc_pending);
		else
			printf("objects %" PRIu64 "\ndata_objects %" PRIu64 "\nmanifests %" PRIu64
			       "\ngc_pending %" PRIu64 "\n",
			       cs.objects, cs.data_objects, cs.manifests, cs.gc_pending);
		return 0;
#else
		(void)orphans;
		(void)grace_ms;
		fprintf(stderr, "norn s3 gc: needs the cluster backend\n");
		return 1;
#endif
	}
	if (np < 2 || (!!ak != !!sk)) {
		s3_usage();
		return 2;
	}
	const char *what = pos[0], *verb = pos[1], *uid = np > 2 ? pos[2] : NULL;
	struct s3_backend *be = NULL;
	int rc = open_store(ctx, root, &be);
	if (rc) {
		fprintf(stderr, "norn s3: cannot open the user store: %s\n", norn_strerror(rc));
		return 1;
	}
	struct s3_user u;
	memset(&u, 0, sizeof(u));
	int ret = 0;
	if (!strcmp(what, "user") && !strcmp(verb, "create") && uid && np == 3) {
		rc = be->ops->user_create(be, uid, display ? display : uid, &u);
		if (!rc && ak) {
			/* Replace the generated key with the requested one. */
			rc = be->ops->key_set(be, uid, ak, sk);
			if (!rc)
				rc = be->ops->key_remove(be, uid, u.access_key);
			snprintf(u.access_key, sizeof(u.access_key), "%s", ak);
			snprintf(u.secret, sizeof(u.secret), "%s", sk);
		}
		if (!rc) {
			if (ctx->json)
				print_user(ctx, &u, 1), printf("\n");
			else
				printf("uid %s\naccess_key %s\nsecret_key %s\n", u.uid, u.access_key, u.secret);
		}
	} else if (!strcmp(what, "user") && (!strcmp(verb, "ls") || !strcmp(verb, "info")) &&
	           (np == 2 || (uid && np == 3))) {
		struct s3_user *all = NULL;
		size_t n = 0;
		rc = be->ops->user_list(be, &all, &n);
		int found = 0, printed = 0;
		if (!rc && ctx->json)
			printf("[");
		for (size_t i = 0; !rc && i < n; i++) {
			if (uid && strcmp(all[i].uid, uid))
				continue;
			if (!strcmp(verb, "ls") && all[i].access_key[0])
				continue;       /* ls: one line per user */
			if (!strcmp(verb, "info") && !all[i].access_key[0]) {
				if (!ctx->json)
					printf("uid %s\ndisplay_name %s\n", all[i].uid, all[i].display_name);
				found = 1;
				continue;
			}
			if (ctx->json) {
				printf("%s{\"uid\":\"%s\",\"display_name\":\"", printed++ ? "," : "", all[i].uid);
				json_str(all[i].display_name);
				printf("\"%s%s%s}", all[i].access_key[0] ? ",\"access_key\":\"" : "",
				       all[i].access_key, all[i].access_key[0] ? "\"" : "");
			}
			else if (!strcmp(verb, "ls"))
				printf("%s\n", all[i].uid);
			else
				printf("key %s %s\n", all[i].access_key, all[i].secret);
			found = 1;
		}
		if (!rc && ctx->json)
			printf("]\n");
		if (!rc && uid && !found)
			rc = -ENOENT;
		free(all);
	} else if (!strcmp(what, "user") && !strcmp(verb, "rm") && uid && np == 3) {
		rc = be->ops->user_remove(be, uid);
	} else if (!strcmp(what, "key") && !strcmp(verb, "add") && uid && np == 3) {
		if (ak) {
			rc = be->ops->key_set(be, uid, ak, sk);
			snprintf(u.access_key, sizeof(u.access_key), "%s", ak);
			snprintf(u.secret, sizeof(u.secret), "%s", sk);
		} else {
			rc = be->ops->key_add(be, uid, &u);
		}
		if (!rc)
			printf("access_key %s\nsecret_key %s\n", u.access_key, u.secret);
	} else if (!strcmp(what, "key") && !strcmp(verb, "rm") && uid && np == 4) {
		rc = be->ops->key_remove(be, uid, pos[3]);
	} else {
		s3_usage();
		ret = 2;
	}
	if (rc) {
		fprintf(stderr, "norn s3 %s %s: %s\n", what, verb,
		        rc == -EEXIST ? "already exists" : rc == -ENOENT ? "not found" : norn_strerror(rc));
		ret = 1;
	}
	be->ops->destroy(be);
	return ret;
}

NORN_CLI_COMMAND("s3", cmd_s3, "S3 gateway users and keys (user create|ls|info|rm, key add|rm, gc, census)")
