/* snap_client: a small libnorn driver for the OSD snapshot-recovery test
 * (snap_recovery_integ.py). Objects PREFIX.0 .. PREFIX.N-1 get contents
 * derived from (TAG, index, SIZE) so any copy can be checked later.
 *
 *   snap_client CONF POOL snapcreate
 *       allocate a self-managed snapshot id; prints it
 *   snap_client CONF POOL write PREFIX FROM TO SIZE TAG [SNAPC]
 *       objects FROM..TO-1: write_full of gen(TAG, i, SIZE), xattr "tag" =
 *       TAG and omap key "k" = TAG, in one compound op
 *   snap_client CONF POOL rm PREFIX FROM TO [SNAPC]
 *       remove objects FROM..TO-1
 *   snap_client CONF POOL verify PREFIX FROM TO SIZE TAG|- [READSNAP]
 *       read objects FROM..TO-1 (as of snapshot READSNAP, default the
 *       head) and compare data, xattr and omap with TAG; "-" expects
 *       -ENOENT for each
 *   snap_client gen TAG I SIZE
 *       write gen(TAG, I, SIZE) to stdout
 *
 * SNAPC is "SEQ:ID,ID,..." (ids newest first), the write snap context.
 * Exit status 0 on success, 1 on a failed check (details on stderr), 2
 * on usage errors.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "norn/norn.h"

#define MAX_SNAPS 64
#define MAX_SIZE (16u << 20)

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ull;
	}
	return h;
}

/* Deterministic bytes for (tag, i): xorshift64* seeded from the name. */
static void gen(uint8_t *buf, size_t len, const char *tag, uint64_t i)
{
	char seed[256];
	snprintf(seed, sizeof(seed), "%s.%" PRIu64, tag, i);
	uint64_t x = fnv1a(seed) | 1;
	for (size_t o = 0; o < len; o += 8) {
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		uint64_t v = x * 0x2545F4914F6CDD1Dull;
		for (size_t k = 0; k < 8 && o + k < len; k++)
			buf[o + k] = (uint8_t)(v >> (8 * k));
	}
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end)
		return -1;
	*out = v;
	return 0;
}

static int set_snapc(norn_ioctx_t *io, const char *spec)
{
	uint64_t seq, ids[MAX_SNAPS];
	size_t n = 0;
	char buf[1024], *colon, *tok, *save = NULL;

	if (strlen(spec) >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, spec, strlen(spec) + 1);
	colon = strchr(buf, ':');
	if (!colon)
		return -EINVAL;
	*colon = 0;
	if (parse_u64(buf, &seq))
		return -EINVAL;
	for (tok = strtok_r(colon + 1, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (n >= MAX_SNAPS || parse_u64(tok, &ids[n]))
			return -EINVAL;
		n++;
	}
	return norn_ioctx_set_write_snap_context(io, seq, ids, n);
}

static int do_write(norn_ioctx_t *io, const char *prefix, uint64_t from, uint64_t to, size_t size,
                    const char *tag)
{
	uint8_t *buf = malloc(size ? size : 1);
	int rc = 0;
	if (!buf)
		return -ENOMEM;
	for (uint64_t i = from; i < to && !rc; i++) {
		char oid[256];
		snprintf(oid, sizeof(oid), "%s.%" PRIu64, prefix, i);
		gen(buf, size, tag, i);
		norn_write_op_t *op = norn_write_op_create();
		if (!op) {
			rc = -ENOMEM;
			break;
		}
		const char *key = "k";
		const void *val = tag;
		size_t vlen = strlen(tag);
		norn_write_op_write_full(op, buf, size);
		norn_write_op_setxattr(op, "tag", tag, strlen(tag));
		norn_write_op_omap_set(op, &key, &val, &vlen, 1);
		rc = norn_write_op_operate(op, io, oid);
		norn_write_op_release(op);
		if (rc)
			fprintf(stderr, "write %s: %s\n", oid, norn_strerror(rc));
	}
	free(buf);
	return rc;
}

static int do_rm(norn_ioctx_t *io, const char *prefix, uint64_t from, uint64_t to)
{
	for (uint64_t i = from; i < to; i++) {
		char oid[256];
		snprintf(oid, sizeof(oid), "%s.%" PRIu64, prefix, i);
		int rc = norn_remove(io, oid);
		if (rc) {
			fprintf(stderr, "rm %s: %s\n", oid, norn_strerror(rc));
			return rc;
		}
	}
	return 0;
}

/* 0 if every object matches, 1 on a mismatch, < 0 on an error. */
static int do_verify(norn_ioctx_t *io, const char *prefix, uint64_t from, uint64_t to, size_t size,
                     const char *tag)
{
	uint8_t *want = malloc(size + 1), *got = malloc(size + 1);
	int bad = 0;
	if (!want || !got) {
		free(want);
		free(got);
		return -ENOMEM;
	}
	for (uint64_t i = from; i < to; i++) {
		char oid[256];
		snprintf(oid, sizeof(oid), "%s.%" PRIu64, prefix, i);
		ssize_t n = norn_read(io, oid, got, size + 1, 0);
		if (!strcmp(tag, "-")) {
			if (n != -ENOENT) {
				fprintf(stderr, "%s: expected ENOENT, read returned %zd\n", oid, n);
				bad = 1;
			}
			continue;
		}
		gen(want, size, tag, i);
		if (n < 0) {
			fprintf(stderr, "%s: read: %s\n", oid, norn_strerror((int)n));
			bad = 1;
			continue;
		}
		if ((size_t)n != size || memcmp(want, got, size)) {
			fprintf(stderr, "%s: %zd bytes, content differs from %s\n", oid, n, tag);
			bad = 1;
			continue;
		}
		void *v = NULL;
		ssize_t vl = norn_getxattr(io, oid, "tag", &v);
		if (vl != (ssize_t)strlen(tag) || memcmp(v, tag, (size_t)vl)) {
			fprintf(stderr, "%s: xattr tag %zd bytes, expected %s\n", oid, vl, tag);
			bad = 1;
		}
		free(v);
		v = NULL;
		vl = norn_omap_get(io, oid, "k", &v);
		if (vl != (ssize_t)strlen(tag) || memcmp(v, tag, (size_t)vl)) {
			fprintf(stderr, "%s: omap k %zd bytes, expected %s\n", oid, vl, tag);
			bad = 1;
		}
		free(v);
	}
	free(want);
	free(got);
	return bad;
}

static int usage(void)
{
	fprintf(stderr, "usage: snap_client CONF POOL snapcreate|write|rm|verify ... | snap_client gen TAG I SIZE\n");
	return 2;
}

int main(int argc, char **argv)
{
	norn_cluster_t *cl = NULL;
	norn_ioctx_t *io = NULL;
	uint64_t from, to, size = 0;
	int rc, ret = 0;

	if (argc == 5 && !strcmp(argv[1], "gen")) {
		uint64_t i;
		if (parse_u64(argv[3], &i) || parse_u64(argv[4], &size) || size > MAX_SIZE)
			return usage();
		uint8_t *buf = malloc(size ? size : 1);
		if (!buf)
			return 1;
		gen(buf, size, argv[2], i);
		ret = fwrite(buf, 1, size, stdout) == size ? 0 : 1;
		free(buf);
		return ret;
	}
	if (argc < 4)
		return usage();
	const char *cmd = argv[3];
	if (!strcmp(cmd, "write") ? argc < 9 || argc > 10 :
	    !strcmp(cmd, "rm") ? argc < 7 || argc > 8 :
	    !strcmp(cmd, "verify") ? argc < 9 || argc > 10 :
	    !strcmp(cmd, "snapcreate") ? argc != 4 : 1)
		return usage();
	if (strcmp(cmd, "snapcreate") &&
	    (parse_u64(argv[5], &from) || parse_u64(argv[6], &to) || from > to))
		return usage();
	if ((!strcmp(cmd, "write") || !strcmp(cmd, "verify")) &&
	    (parse_u64(argv[7], &size) || size > MAX_SIZE))
		return usage();
	rc = norn_connect(argv[1], NULL, NULL, &cl);
	if (rc) {
		fprintf(stderr, "connect: %s\n", norn_strerror(rc));
		return 1;
	}
	rc = norn_ioctx_create(cl, argv[2], &io);
	if (rc) {
		fprintf(stderr, "pool %s: %s\n", argv[2], norn_strerror(rc));
		norn_shutdown(cl);
		return 1;
	}
	if (!strcmp(cmd, "snapcreate")) {
		uint64_t id;
		rc = norn_ioctx_selfmanaged_snap_create(io, &id);
		if (!rc)
			printf("%" PRIu64 "\n", id);
	} else if (!strcmp(cmd, "write")) {
		rc = argc == 10 ? set_snapc(io, argv[9]) : 0;
		if (!rc)
			rc = do_write(io, argv[4], from, to, size, argv[8]);
	} else if (!strcmp(cmd, "rm")) {
		rc = argc == 8 ? set_snapc(io, argv[7]) : 0;
		if (!rc)
			rc = do_rm(io, argv[4], from, to);
	} else {
		uint64_t snap = 0;
		if (argc == 10 && parse_u64(argv[9], &snap)) {
			rc = -EINVAL;
		} else {
			norn_ioctx_set_read_snap(io, snap);
			rc = do_verify(io, argv[4], from, to, size, argv[8]);
			if (rc == 1) {
				ret = 1;
				rc = 0;
			} else if (!rc) {
				printf("verified %" PRIu64 " objects\n", to - from);
			}
		}
	}
	if (rc) {
		fprintf(stderr, "%s: %s\n", cmd, norn_strerror(rc));
		ret = 1;
	}
	norn_ioctx_destroy(io);
	norn_shutdown(cl);
	return ret;
}
