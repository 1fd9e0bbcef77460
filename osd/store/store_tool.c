/* norn-store: create, check and inspect an OSD's object store offline.
 *
 *   norn-store mkfs DIR [--size BYTES] [--osd-id N] [--data PATH]
 *   norn-store fsck DIR
 *   norn-store ls DIR [CID]            collections, or objects of CID
 *   norn-store stat DIR CID OID
 *   norn-store read DIR CID OID [OFF [LEN]]   raw bytes to stdout
 *   norn-store put DIR CID OID FILE    (creates CID if missing; for tests)
 *   norn-store dump DIR [CID]          collections, objects, xattrs, omap
 *                                      and collection meta, as text
 *
 * Integration tests use it to look at each OSD's store after the daemon
 * stopped. Exit status: 0 ok, 1 failure (fsck: problems found), 2 usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/log.h"
#include "norn/errors.h"
#include "osd/store/store.h"

static int usage(void)
{
	fprintf(stderr,
	        "usage: norn-store mkfs DIR [--size BYTES] [--osd-id N] [--data PATH]\n"
	        "       norn-store fsck DIR\n"
	        "       norn-store ls DIR [CID]\n"
	        "       norn-store stat DIR CID OID\n"
	        "       norn-store read DIR CID OID [OFF [LEN]]\n"
	        "       norn-store put DIR CID OID FILE\n"
	        "       norn-store dump DIR [CID]\n");
	return 2;
}

static void print_bytes(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n && i < 64; i++)
		putchar(p[i] >= 32 && p[i] < 127 && p[i] != '\\' ? p[i] : '.');
	if (n > 64)
		printf("...(%zu bytes)", n);
}

static int dump_coll(struct store *s, const char *cid)
{
	printf("collection %s\n", cid);
	struct store_kvs l;
	int rc = store_cmeta_list(s, cid, NULL, 0, NULL, 0, SIZE_MAX, &l);
	if (rc)
		return rc;
	for (size_t i = 0; i < l.n; i++) {
		printf("  meta ");
		print_bytes(l.v[i].key, l.v[i].klen);
		printf(" = ");
		print_bytes(l.v[i].val, l.v[i].vlen);
		printf("\n");
	}
	store_kvs_free(&l);
	char after[STORE_OID_MAX + 1] = "";
	for (;;) {
		struct store_names n;
		rc = store_list_objects(s, cid, after[0] ? after : NULL, 256, &n);
		if (rc)
			return rc;
		for (size_t i = 0; i < n.n; i++) {
			struct store_stat st;
			rc = store_stat(s, cid, n.v[i], &st);
			if (rc)
				break;
			printf("  object %s size %" PRIu64 " version %" PRIu64 " blocks %u\n", n.v[i],
			       st.size, st.version, st.blocks);
			if (!store_getxattrs(s, cid, n.v[i], &l)) {
				for (size_t k = 0; k < l.n; k++) {
					printf("    xattr %.*s = ", (int)l.v[k].klen, (char *)l.v[k].key);
					print_bytes(l.v[k].val, l.v[k].vlen);
					printf("\n");
				}
				store_kvs_free(&l);
			}
			if (!store_omap_list(s, cid, n.v[i], NULL, 0, NULL, 0, SIZE_MAX, &l)) {
				for (size_t k = 0; k < l.n; k++) {
					printf("    omap ");
					print_bytes(l.v[k].key, l.v[k].klen);
					printf(" = ");
					print_bytes(l.v[k].val, l.v[k].vlen);
					printf("\n");
				}
				store_kvs_free(&l);
			}
		}
		size_t cnt = n.n;
		if (cnt)
			snprintf(after, sizeof(after), "%s", n.v[cnt - 1]);
		store_names_free(&n);
		if (rc || cnt < 256)
			return rc;
	}
}

int main(int argc, char **argv)
{
	/* NORN_STORE_VERBOSE=1: also the mount's INFO lines (log replay,
	 * format upgrade). */
	norn_log_init("norn-store", stderr, getenv("NORN_STORE_VERBOSE") ? NORN_LOG_INFO : NORN_LOG_WARN);
	if (argc < 3)
		return usage();
	const char *cmd = argv[1], *dir = argv[2];
	struct store_options o;
	store_options_init(&o, NULL, dir);
	if (!strcmp(cmd, "mkfs")) {
		o.osd_id = 0;
		for (int i = 3; i < argc; i++) {
			if (i + 1 >= argc)
				return usage();
			if (!strcmp(argv[i], "--size")) {
				if (norn_parse_size(argv[++i], &o.size_bytes))
					return usage();
			} else if (!strcmp(argv[i], "--osd-id")) {
				int64_t v;
				if (norn_parse_int(argv[++i], &v) || v < 0 || v >= UINT32_MAX)
					return usage();
				o.osd_id = (uint32_t)v;
			} else if (!strcmp(argv[i], "--data")) {
				o.data_path = argv[++i];
			} else {
				return usage();
			}
		}
		int rc = store_mkfs(&o);
		if (rc) {
			fprintf(stderr, "norn-store: mkfs %s: %s\n", dir, norn_strerror(rc));
			return 1;
		}
		return 0;
	}
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct store *s;
	int rc = store_open(&loop, &o, &s);
	if (rc) {
		fprintf(stderr, "norn-store: cannot open %s: %s\n", dir, norn_strerror(rc));
		return 1;
	}
	int ret = 0;
	if (!strcmp(cmd, "fsck") && argc == 3) {
		rc = store_fsck(s, stdout);
		if (rc < 0)
			fprintf(stderr, "norn-store: fsck: %s\n", norn_strerror(rc));
		else
			printf("fsck: %d problem%s\n", rc, rc == 1 ? "" : "s");
		ret = rc != 0;
	} else if (!strcmp(cmd, "ls") && argc <= 4) {
		struct store_names n;
		if (argc == 3)
			rc = store_list_colls(s, &n);
		else
			rc = store_list_objects(s, argv[3], NULL, SIZE_MAX, &n);
		if (!rc) {
			for (size_t i = 0; i < n.n; i++)
				printf("%s\n", n.v[i]);
			store_names_free(&n);
		}
	} else if (!strcmp(cmd, "stat") && argc == 5) {
		struct store_stat st;
		rc = store_stat(s, argv[3], argv[4], &st);
		if (!rc)
			printf("size %" PRIu64 "\nmtime_ns %" PRIu64 "\nversion %" PRIu64 "\nnid %" PRIu64
			       "\nblocks %u\nxattrs %u\n", st.size, st.mtime_ns, st.version, st.nid,
			       st.blocks, st.nxattrs);
	} else if (!strcmp(cmd, "read") && argc >= 5 && argc <= 7) {
		uint64_t off = 0, len = UINT64_MAX / 4;
		if ((argc > 5 && norn_parse_size(argv[5], &off)) ||
		    (argc > 6 && norn_parse_size(argv[6], &len))) {
			ret = usage();
		} else {
			uint8_t *buf;
			size_t n;
			rc = store_read_sync(s, argv[3], argv[4], off, len, &buf, &n);
			if (!rc) {
				if (n && fwrite(buf, 1, n, stdout) != n)
					rc = -EIO;
				free(buf);
			}
		}
	} else if (!strcmp(cmd, "put") && argc == 6) {
		FILE *f = fopen(argv[5], "rb");
		if (!f) {
			rc = -errno;
		} else {
			size_t cap = 1 << 20, n = 0;
			uint8_t *buf = malloc(cap);
			size_t got;
			while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
				n += got;
				if (n == cap) {
					uint8_t *nb = realloc(buf, cap * 2);
					if (!nb) {
						free(buf);
						buf = NULL;
						break;
					}
					buf = nb;
					cap *= 2;
				}
			}
			fclose(f);
			if (!buf) {
				rc = -ENOMEM;
			} else {
				struct store_txn *t = store_txn_new();
				if (store_coll_exists(s, argv[3]) == -ENOENT)
					store_txn_coll_create(t, argv[3]);
				store_txn_remove(t, argv[3], argv[4]);
				store_txn_write(t, argv[3], argv[4], 0, buf, n);
				free(buf);
				struct store_stat st;
				if (store_stat(s, argv[3], argv[4], &st) == -ENOENT) {
					/* remove of a missing object would fail the txn: rebuild */
					store_txn_free(t);
					t = store_txn_new();
					f = fopen(argv[5], "rb");
					buf = malloc(n ? n : 1);
					if (f && buf && fread(buf, 1, n, f) == n) {
						if (store_coll_exists(s, argv[3]) == -ENOENT)
							store_txn_coll_create(t, argv[3]);
						store_txn_write(t, argv[3], argv[4], 0, buf, n);
					}
					if (f)
						fclose(f);
					free(buf);
				}
				rc = store_apply_sync(s, t);
			}
		}
	} else if (!strcmp(cmd, "dump") && argc <= 4) {
		if (argc == 4) {
			rc = dump_coll(s, argv[3]);
		} else {
			struct store_names n;
			rc = store_list_colls(s, &n);
			for (size_t i = 0; !rc && i < n.n; i++)
				rc = dump_coll(s, n.v[i]);
			if (!rc || n.n)
				store_names_free(&n);
		}
	} else {
		ret = usage();
	}
	if (rc < 0) {
		fprintf(stderr, "norn-store: %s: %s\n", cmd, norn_strerror(rc));
		ret = 1;
	}
	store_close_sync(s);
	uv_loop_close(&loop);
	return ret;
}
