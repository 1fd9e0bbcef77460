/* DEVELOPMENT backend for the S3 gateway: buckets and objects in a local
 * directory. It exists so the HTTP/SigV4/API layers can be built and
 * tested before the cluster; it is not durable storage (no replication,
 * fsync only where cheap, one gateway process per directory).
 *
 * Layout under the root:
 *   users.txt                      U <uid> <hex display name>
 *                                  K <uid> <access key> <secret>
 *   buckets/<name>/bucket.meta     encoded struct s3_bucket_info
 *   buckets/<name>/obj/<sha256(key)>.meta   key + struct s3_obj_meta + data id
 *   buckets/<name>/data/<id>       bytes of a single-PUT object
 *   buckets/<name>/data/<id>/      parts of a multipart object + "manifest"
 *   buckets/<name>/uploads/<uploadid>/   upload.meta, <n>.data, <n>.meta
 *   buckets/<name>/tmp/            objects being written
 *
 * Completing an upload renames the part files into data/<id>/ (parts are
 * stored once, no copy) and writes a manifest. Overwritten and deleted
 * data is unlinked right after the new metadata is in place (the dev
 * backend's "garbage collector"). Each bucket's key index is kept in
 * memory as a sorted array, loaded from obj/ on first use. Every op
 * completes synchronously, before it returns.
 */
#include "client/s3/s3_backend.h"

/* Paths are built with snprintf into PATH_MAX buffers from a root of at
 * most PATH_MAX/2 bytes and validated short components; truncation cannot
 * happen and would only make an open() fail. gcc cannot see the bounds. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/s3/s3_util.h"
#include "common/assert.h"
#include "common/encode.h"
#include "common/env.h"
#include "norn/errors.h"

#define FS_META_MAX_BYTES (64u << 10)
#define FS_MANIFEST_MAGIC 0x4e53334du

struct fs_entry {
	char *key;
	uint64_t size;
	int64_t mtime_ms;
	char etag[S3_ETAG_MAX];
	char owner[S3_UID_MAX];
};

struct fs_bucket {
	char name[S3_NAME_MAX];
	struct fs_entry *ents;
	size_t n, cap;
	struct fs_bucket *next;
};

struct fs_be {
	struct s3_backend base;
	char root[PATH_MAX / 2];
	struct fs_bucket *buckets;
	/* users.txt cache for lookups, refreshed when the file changes
	 * (the CLI edits it while the gateway runs). */
	struct s3_user *ucache;
	size_t nucache;
	struct timespec ucache_mtime;
	off_t ucache_size;
	ino_t ucache_ino;
};

struct s3_be_writer {
	struct fs_be *be;
	char bucket[S3_NAME_MAX];
	char *key;
	char upload_id[S3_UPLOAD_ID_MAX];
	int part;
	int fd;
	char tmp[PATH_MAX];
};

struct s3_be_reader {
	struct fs_be *be;
	struct s3_obj_meta meta;
	char dir[PATH_MAX];      /* multipart: data dir */
	int fd;                  /* single file, or the current part */
	uint32_t nparts;
	uint32_t *nums;
	uint64_t *ends;          /* cumulative end offset of each part */
	int cur;                 /* index of the part open in fd, -1 none */
};

static inline int64_t now_ms(void) { return (int64_t)(norn_real_ns() / 1000000ull); }

/* --- small file helpers ----------------------------------------------- */

static int write_file_atomic(const char *path, const void *p, size_t n)
{
	char tmp[PATH_MAX];
	uint64_t rnd = 0;
	(void)norn_random_bytes(&rnd, sizeof(rnd));
	snprintf(tmp, sizeof(tmp), "%s.tmp%016llx", path, (unsigned long long)rnd);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	const char *c = p;
	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			int e = -errno;
			close(fd);
			unlink(tmp);
			return e;
		}
		c += w;
		n -= (size_t)w;
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		int e = -errno;
		unlink(tmp);
		return e;
	}
	return 0;
}

/* Read a whole small file (bounded by @max) into a malloc'd buffer. */
static int read_file(const char *path, size_t max, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size > max) {
		close(fd);
		return -EFBIG;
	}
	char *b = malloc((size_t)st.st_size + 1);
	if (!b) {
		close(fd);
		return -ENOMEM;
	}
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, b + got, (size_t)st.st_size - got);
		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			free(b);
			close(fd);
			return -EIO;
		}
		got += (size_t)r;
	}
	close(fd);
	b[got] = 0;
	*out = b;
	*len = got;
	return 0;
}

static void rm_rf(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return;
	if (S_ISDIR(st.st_mode)) {
		DIR *d = opendir(path);
		if (d) {
			struct dirent *de;
			while ((de = readdir(d))) {
				if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
					continue;
				char sub[PATH_MAX];
				if (snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name) < (int)sizeof(sub))
					rm_rf(sub);
			}
			closedir(d);
		}
		rmdir(path);
	} else {
		unlink(path);
	}
}

static void random_id(char *out, size_t bytes)
{
	uint8_t b[32];
	NORN_ASSERT(bytes <= sizeof(b));
	if (norn_random_bytes(b, bytes))
		memset(b, 0x5a, bytes);
	s3_hex(b, bytes, out);
}

/* --- meta encoding ---------------------------------------------------- */

static void enc_meta(struct enc *e, const struct s3_obj_meta *m)
{
	size_t t = enc_struct_begin(e, 1, 1);
	enc_u64(e, m->size);
	enc_s64(e, m->mtime_ms);
	enc_str(e, m->etag);
	enc_str(e, m->owner);
	enc_s32(e, m->acl);
	enc_u32(e, m->nparts);
	enc_str(e, m->content_type);
	enc_str(e, m->content_encoding);
	enc_str(e, m->content_disposition);
	enc_str(e, m->content_language);
	enc_str(e, m->cache_control);
	enc_str(e, m->expires);
	enc_blob(e, m->user_meta, m->user_meta_len);
	enc_blob(e, m->tags, m->tags_len);
	enc_struct_end(e, t);
}

static void dec_blob_into(struct dec *d, char *out, size_t cap, size_t *len)
{
	size_t l = 0;
	const void *p = dec_blob(d, &l);
	if (dec_error(d))
		return;
	if (l > cap) {
		dec_fail(d, -EINVAL);
		return;
	}
	memcpy(out, p, l);
	*len = l;
}

static void dec_meta(struct dec *d, struct s3_obj_meta *m)
{
	struct dec_struct tok;
	uint8_t ver;
	memset(m, 0, sizeof(*m));
	dec_struct_begin(d, 1, &ver, &tok);
	m->size = dec_u64(d);
	m->mtime_ms = dec_s64(d);
	dec_str(d, m->etag, sizeof(m->etag));
	dec_str(d, m->owner, sizeof(m->owner));
	m->acl = dec_s32(d);
	m->nparts = dec_u32(d);
	dec_str(d, m->content_type, sizeof(m->content_type));
	dec_str(d, m->content_encoding, sizeof(m->content_encoding));
	dec_str(d, m->content_disposition, sizeof(m->content_disposition));
	dec_str(d, m->content_language, sizeof(m->content_language));
	dec_str(d, m->cache_control, sizeof(m->cache_control));
	dec_str(d, m->expires, sizeof(m->expires));
	dec_blob_into(d, m->user_meta, sizeof(m->user_meta), &m->user_meta_len);
	dec_blob_into(d, m->tags, sizeof(m->tags), &m->tags_len);
	dec_struct_end(d, &tok);
}

/* Object meta file: key, data id, meta. */
static int obj_meta_write(const char *path, const char *key, const char *data_id,
                          const struct s3_obj_meta *m)
{
	struct enc e;
	enc_init(&e, 1024);
	enc_str(&e, key);
	enc_str(&e, data_id);
	enc_meta(&e, m);
	int rc = enc_error(&e);
	if (!rc)
		rc = write_file_atomic(path, e.buf, e.len);
	enc_free(&e);
	return rc;
}

static int obj_meta_read(const char *path, char **key, char *data_id, size_t idcap,
                         struct s3_obj_meta *m)
{
	char *b;
	size_t n;
	int rc = read_file(path, FS_META_MAX_BYTES, &b, &n);
	if (rc)
		return rc;
	struct dec d;
	dec_init(&d, b, n);
	char *k = malloc(S3_MAX_KEY_BYTES + 1);
	if (!k) {
		free(b);
		return -ENOMEM;
	}
	dec_str(&d, k, S3_MAX_KEY_BYTES + 1);
	dec_str(&d, data_id, idcap);
	dec_meta(&d, m);
	rc = dec_error(&d);
	free(b);
	if (rc || strchr(data_id, '/') || strstr(data_id, "..")) {
		free(k);
		return rc ? rc : NORN_ECORRUPT;
	}
	if (key)
		*key = k;
	else
		free(k);
	return 0;
}

static void enc_bucket(struct enc *e, const struct s3_bucket_info *b)
{
	size_t t = enc_struct_begin(e, 1, 1);
	enc_str(e, b->name);
	enc_str(e, b->owner);
	enc_s64(e, b->created_ms);
	enc_str(e, b->location);
	enc_s32(e, b->acl);
	enc_blob(e, b->tags, b->tags_len);
	enc_struct_end(e, t);
}

static int bucket_read(struct fs_be *be, const char *name, struct s3_bucket_info *b)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/buckets/%s/bucket.meta", be->root, name);
	char *buf;
	size_t n;
	int rc = read_file(path, FS_META_MAX_BYTES, &buf, &n);
	if (rc)
		return rc == -ENOENT || rc == -ENOTDIR ? -ENOENT : rc;
	struct dec d;
	struct dec_struct tok;
	uint8_t ver;
	memset(b, 0, sizeof(*b));
	dec_init(&d, buf, n);
	dec_struct_begin(&d, 1, &ver, &tok);
	dec_str(&d, b->name, sizeof(b->name));
	dec_str(&d, b->owner, sizeof(b->owner));
	b->created_ms = dec_s64(&d);
	dec_str(&d, b->location, sizeof(b->location));
	b->acl = dec_s32(&d);
	dec_blob_into(&d, b->tags, sizeof(b->tags), &b->tags_len);
	dec_struct_end(&d, &tok);
	rc = dec_error(&d);
	free(buf);
	return rc;
}

static int bucket_write(struct fs_be *be, const struct s3_bucket_info *b)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/buckets/%s/bucket.meta", be->root, b->name);
	struct enc e;
	enc_init(&e, 512);
	enc_bucket(&e, b);
	int rc = enc_error(&e) ? enc_error(&e) : write_file_atomic(path, e.buf, e.len);
	enc_free(&e);
	return rc;
}

/* --- in-memory index -------------------------------------------------- */

static size_t idx_find(const struct fs_bucket *b, const char *key, int *found)
{
	size_t lo = 0, hi = b->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(b->ents[mid].key, key);
		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = 0;
	return lo;
}

static int idx_put(struct fs_bucket *b, const char *key, const struct s3_obj_meta *m)
{
	int found;
	size_t i = idx_find(b, key, &found);
	if (!found) {
		if (b->n == b->cap) {
			size_t nc = b->cap ? b->cap * 2 : 64;
			struct fs_entry *ne = realloc(b->ents, nc * sizeof(*ne));
			if (!ne)
				return -ENOMEM;
			b->ents = ne;
			b->cap = nc;
		}
		char *k = strdup(key);
		if (!k)
			return -ENOMEM;
		memmove(&b->ents[i + 1], &b->ents[i], (b->n - i) * sizeof(*b->ents));
		b->n++;
		memset(&b->ents[i], 0, sizeof(b->ents[i]));
		b->ents[i].key = k;
	}
	struct fs_entry *e = &b->ents[i];
	e->size = m->size;
	e->mtime_ms = m->mtime_ms;
	snprintf(e->etag, sizeof(e->etag), "%s", m->etag);
	snprintf(e->owner, sizeof(e->owner), "%s", m->owner);
	return 0;
}

static void idx_del(struct fs_bucket *b, const char *key)
{
	int found;
	size_t i = idx_find(b, key, &found);
	if (!found)
		return;
	free(b->ents[i].key);
	memmove(&b->ents[i], &b->ents[i + 1], (b->n - i - 1) * sizeof(*b->ents));
	b->n--;
}

static void bucket_forget(struct fs_be *be, const char *name)
{
	for (struct fs_bucket **pp = &be->buckets; *pp; pp = &(*pp)->next) {
		struct fs_bucket *b = *pp;
		if (strcmp(b->name, name))
			continue;
		*pp = b->next;
		for (size_t i = 0; i < b->n; i++)
			free(b->ents[i].key);
		free(b->ents);
		free(b);
		return;
	}
}

/* The index of bucket @name, loading it on first use; NULL + *err. */
static struct fs_bucket *bucket_index(struct fs_be *be, const char *name, int *err)
{
	for (struct fs_bucket *b = be->buckets; b; b = b->next)
		if (!strcmp(b->name, name))
			return b;
	struct s3_bucket_info *bi = malloc(sizeof(*bi));
	if (!bi) {
		*err = -ENOMEM;
		return NULL;
	}
	*err = bucket_read(be, name, bi);
	free(bi);
	if (*err)
		return NULL;
	struct fs_bucket *b = calloc(1, sizeof(*b));
	if (!b) {
		*err = -ENOMEM;
		return NULL;
	}
	snprintf(b->name, sizeof(b->name), "%s", name);
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/buckets/%s/obj", be->root, name);
	DIR *d = opendir(dir);
	struct s3_obj_meta *m = malloc(sizeof(*m));
	if (d && m) {
		struct dirent *de;
		while ((de = readdir(d))) {
			size_t l = strlen(de->d_name);
			if (l < 6 || strcmp(de->d_name + l - 5, ".meta"))
				continue;
			char path[PATH_MAX], id[64];
			char *key = NULL;
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			if (obj_meta_read(path, &key, id, sizeof(id), m) == 0) {
				(void)idx_put(b, key, m);
				free(key);
			}
		}
	}
	if (d)
		closedir(d);
	free(m);
	b->next = be->buckets;
	be->buckets = b;
	return b;
}

static void key_hash(const char *key, char out[65])
{
	s3_sha256_hex(key, strlen(key), out);
}

static void obj_meta_path(struct fs_be *be, const char *bucket, const char *key, char *out)
{
	char h[65];
	key_hash(key, h);
	snprintf(out, PATH_MAX, "%s/buckets/%s/obj/%s.meta", be->root, bucket, h);
}

static void data_path(struct fs_be *be, const char *bucket, const char *id, char *out)
{
	snprintf(out, PATH_MAX, "%s/buckets/%s/data/%s", be->root, bucket, id);
}

/* Replace object @key's meta with (@id, @m) and reclaim the old data. */
static int obj_replace(struct fs_be *be, struct fs_bucket *b, const char *key, const char *id,
                      const struct s3_obj_meta *m)
{
	char path[PATH_MAX], old_id[64] = "";
	struct s3_obj_meta *old = malloc(sizeof(*old));
	if (!old)
		return -ENOMEM;
	obj_meta_path(be, b->name, key, path);
	int had = obj_meta_read(path, NULL, old_id, sizeof(old_id), old) == 0;
	free(old);
	int rc = obj_meta_write(path, key, id, m);
	if (rc)
		return rc;
	rc = idx_put(b, key, m);
	if (had && old_id[0] && strcmp(old_id, id)) {
		char dp[PATH_MAX];
		data_path(be, b->name, old_id, dp);
		rm_rf(dp);
	}
	return rc;
}

/* --- users ------------------------------------------------------------ */

static int users_load(struct fs_be *be, struct s3_user **out, size_t *n)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/users.txt", be->root);
	char *buf = NULL;
	size_t len;
	*out = NULL;
	*n = 0;
	int rc = read_file(path, 16u << 20, &buf, &len);
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	size_t cap = 0, cnt = 0;
	struct s3_user *arr = NULL;
	char *save = NULL;
	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char t[4], a[256], b[256], c[256];
		a[0] = b[0] = c[0] = 0;
		int f = sscanf(line, "%3s %255s %255s %255s", t, a, b, c);
		if (f < 3)
			continue;
		if (cnt == cap) {
			cap = cap ? cap * 2 : 16;
			struct s3_user *na = realloc(arr, cap * sizeof(*arr));
			if (!na) {
				free(arr);
				free(buf);
				return -ENOMEM;
			}
			arr = na;
		}
		struct s3_user *u = &arr[cnt];
		memset(u, 0, sizeof(*u));
		if (!strcmp(t, "U") && f >= 3) {
			snprintf(u->uid, sizeof(u->uid), "%s", a);
			uint8_t dn[128];
			size_t hl = strlen(b);
			if (hl / 2 < sizeof(u->display_name) && !strcmp(b, "-")) {
				u->display_name[0] = 0;
			} else if (hl / 2 < sizeof(u->display_name) && s3_unhex(b, hl, dn) == 0) {
				memcpy(u->display_name, dn, hl / 2);
				u->display_name[hl / 2] = 0;
			}
			cnt++;
		} else if (!strcmp(t, "K") && f == 4) {
			snprintf(u->uid, sizeof(u->uid), "%s", a);
			snprintf(u->access_key, sizeof(u->access_key), "%s", b);
			snprintf(u->secret, sizeof(u->secret), "%s", c);
			cnt++;
		}
	}
	free(buf);
	*out = arr;
	*n = cnt;
	return 0;
}

static int users_save(struct fs_be *be, const struct s3_user *u, size_t n)
{
	struct s3_buf b;
	s3_buf_init(&b);
	for (size_t i = 0; i < n; i++) {
		if (u[i].access_key[0]) {
			s3_buf_printf(&b, "K %s %s %s\n", u[i].uid, u[i].access_key, u[i].secret);
		} else {
			char hx[256];
			size_t dl = strlen(u[i].display_name);
			if (dl > 120)
				dl = 120;
			s3_hex((const uint8_t *)u[i].display_name, dl, hx);
			s3_buf_printf(&b, "U %s %s\n", u[i].uid, dl ? hx : "-");
		}
	}
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/users.txt", be->root);
	int rc = b.err ? b.err : write_file_atomic(path, b.p ? b.p : "", b.len);
	s3_buf_free(&b);
	return rc;
}

static void fill_display(struct s3_user *u, const struct s3_user *all, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!all[i].access_key[0] && !strcmp(all[i].uid, u->uid))
			snprintf(u->display_name, sizeof(u->display_name), "%s", all[i].display_name);
}

static void fs_user_by_key(struct s3_backend *sb, const char *ak, s3_be_user_cb cb, void *arg)
{
	struct fs_be *be = (struct fs_be *)sb;
	struct s3_user *all;
	size_t n;
	char path[PATH_MAX];
	struct stat st;
	snprintf(path, sizeof(path), "%s/users.txt", be->root);
	int have = stat(path, &st) == 0;
	if (have && be->ucache && st.st_ino == be->ucache_ino && st.st_size == be->ucache_size &&
	    st.st_mtim.tv_sec == be->ucache_mtime.tv_sec &&
	    st.st_mtim.tv_nsec == be->ucache_mtime.tv_nsec) {
		all = be->ucache;
		n = be->nucache;
	} else {
		int rc = users_load(be, &all, &n);
		if (rc) {
			cb(arg, rc, NULL);
			return;
		}
		free(be->ucache);
		be->ucache = all;
		be->nucache = n;
		if (have) {
			be->ucache_ino = st.st_ino;
			be->ucache_size = st.st_size;
			be->ucache_mtime = st.st_mtim;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (all[i].access_key[0] && !strcmp(all[i].access_key, ak)) {
			struct s3_user u = all[i];
			fill_display(&u, all, n);
			cb(arg, 0, &u);
			return;
		}
	}
	cb(arg, -ENOENT, NULL);
}

static int valid_uid(const char *uid)
{
	size_t l = strlen(uid);
	if (l == 0 || l >= S3_UID_MAX)
		return 0;
	for (size_t i = 0; i < l; i++) {
		char c = uid[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.' || c == '@'))
			return 0;
	}
	return 1;
}

static void gen_key(struct s3_user *k)
{
	static const char ak_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	static const char sk_chars[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint8_t r[60];
	NORN_ASSERT(norn_random_bytes(r, sizeof(r)) == 0);
	memcpy(k->access_key, "NK", 2);
	for (int i = 0; i < 18; i++)
		k->access_key[2 + i] = ak_chars[r[i] & 31];
	k->access_key[20] = 0;
	for (int i = 0; i < 40; i++)
		k->secret[i] = sk_chars[r[20 + i] & 63];
	k->secret[40] = 0;
}

static int fs_user_create(struct s3_backend *sb, const char *uid, const char *display,
                          struct s3_user *out)
{
	struct fs_be *be = (struct fs_be *)sb;
	if (!valid_uid(uid))
		return -EINVAL;
	struct s3_user *all;
	size_t n;
	int rc = users_load(be, &all, &n);
	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(all[i].uid, uid)) {
			free(all);
			return -EEXIST;
		}
	struct s3_user *na = realloc(all, (n + 2) * sizeof(*na));
	if (!na) {
		free(all);
		return -ENOMEM;
	}
	all = na;
	memset(&all[n], 0, 2 * sizeof(*all));
	snprintf(all[n].uid, sizeof(all[n].uid), "%s", uid);
	snprintf(all[n].display_name, sizeof(all[n].display_name), "%s", display ? display : uid);
	all[n + 1] = all[n];
	gen_key(&all[n + 1]);
	rc = users_save(be, all, n + 2);
	if (!rc && out)
		*out = all[n + 1];
	free(all);
	return rc;
}

static int fs_key_add_impl(struct fs_be *be, const char *uid, const char *ak, const char *sk,
                           struct s3_user *out)
{
	struct s3_user *all;
	size_t n;
	int rc = users_load(be, &all, &n);
	if (rc)
		return rc;
	int found = 0;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(all[i].uid, uid))
			found = 1;
	if (!found) {
		free(all);
		return -ENOENT;
	}
	struct s3_user *na = realloc(all, (n + 1) * sizeof(*na));
	if (!na) {
		free(all);
		return -ENOMEM;
	}
	all = na;
	memset(&all[n], 0, sizeof(*all));
	snprintf(all[n].uid, sizeof(all[n].uid), "%s", uid);
	if (ak && sk) {
		snprintf(all[n].access_key, sizeof(all[n].access_key), "%s", ak);
		snprintf(all[n].secret, sizeof(all[n].secret), "%s", sk);
	} else {
		gen_key(&all[n]);
	}
	for (size_t i = 0; i < n; i++)
		if (all[i].access_key[0] && !strcmp(all[i].access_key, all[n].access_key)) {
			free(all);
			return -EEXIST;
		}
	fill_display(&all[n], all, n);
	rc = users_save(be, all, n + 1);
	if (!rc && out)
		*out = all[n];
	free(all);
	return rc;
}

static int fs_key_add(struct s3_backend *sb, const char *uid, struct s3_user *out)
{
	return fs_key_add_impl((struct fs_be *)sb, uid, NULL, NULL, out);
}

int s3_backend_fs_key_set(struct s3_backend *sb, const char *uid, const char *ak, const char *sk)
{
	if (!ak || !sk || !*ak || !*sk || strlen(ak) >= 128 || strlen(sk) >= 128 ||
	    strpbrk(ak, " \t\n") || strpbrk(sk, " \t\n"))
		return -EINVAL;
	return fs_key_add_impl((struct fs_be *)sb, uid, ak, sk, NULL);
}

static int fs_key_remove(struct s3_backend *sb, const char *uid, const char *ak)
{
	struct fs_be *be = (struct fs_be *)sb;
	struct s3_user *all;
	size_t n, o = 0;
	int rc = users_load(be, &all, &n);
	if (rc)
		return rc;
	int found = 0;
	for (size_t i = 0; i < n; i++) {
		if (all[i].access_key[0] && !strcmp(all[i].uid, uid) && !strcmp(all[i].access_key, ak)) {
			found = 1;
			continue;
		}
		all[o++] = all[i];
	}
	rc = found ? users_save(be, all, o) : -ENOENT;
	free(all);
	return rc;
}

static int fs_user_remove(struct s3_backend *sb, const char *uid)
{
	struct fs_be *be = (struct fs_be *)sb;
	struct s3_user *all;
	size_t n, o = 0;
	int rc = users_load(be, &all, &n);
	if (rc)
		return rc;
	int found = 0;
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(all[i].uid, uid)) {
			found = 1;
			continue;
		}
		all[o++] = all[i];
	}
	rc = found ? users_save(be, all, o) : -ENOENT;
	free(all);
	return rc;
}

static int fs_user_list(struct s3_backend *sb, struct s3_user **out, size_t *n)
{
	struct fs_be *be = (struct fs_be *)sb;
	int rc = users_load(be, out, n);
	if (rc)
		return rc;
	for (size_t i = 0; i < *n; i++)
		if ((*out)[i].access_key[0])
			fill_display(&(*out)[i], *out, *n);
	return 0;
}

/* --- buckets ---------------------------------------------------------- */

static void fs_bucket_create(struct s3_backend *sb, const struct s3_bucket_info *bi,
                             s3_be_done_cb cb, void *arg)
{
	struct fs_be *be = (struct fs_be *)sb;
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/buckets/%s", be->root, bi->name);
	if (mkdir(dir, 0755) < 0) {
		cb(arg, errno == EEXIST ? -EEXIST : -errno);
		return;
	}
	static const char *subs[] = { "obj", "data", "uploads", "tmp" };
	int rc = 0;
	for (size_t i = 0; i < NORN_ARRAY_SIZE(subs) && !rc; i++) {
		char sub[PATH_MAX];
		snprintf(sub, sizeof(sub), "%s/%s", dir, subs[i]);
		if (mkdir(sub, 0755) < 0)
			rc = -errno;
	}
	if (!rc)
		rc = bucket_write(be, bi);
	if (rc)
		rm_rf(dir);
	cb(arg, rc);
}

static void fs_bucket_get(struct s3_backend *sb, const char *name, s3_be_bucket_cb cb, void *arg)
{
	struct fs_be *be = (struct fs_be *)sb;
	struct s3_bucket_info *b = malloc(sizeof(*b));
	if (!b) {
		cb(arg, -ENOMEM, NULL);
		return;
	}
	int rc = bucket_read(be, name, b);
	cb(arg, rc, rc ? NULL : b);
	free(b);
}

static void fs_bucket_update(struct s3_backend *sb, const struct s3_bucket_info *bi,
                             s3_be_done_cb cb, void *arg)
{
	struct fs_be *be = (struct fs_be *)sb;
	struct s3_bucket_info *b = malloc(sizeof(*b));
	if (!b) {
		cb(arg, -ENOMEM);
		return;
	}
	int rc = bucket_read(be, bi->name, b);
	free(b);
	if (!rc)
		rc = bucket_write(be, bi);
	cb(arg, rc);
}

static int dir_empty(const char *path)
{
	DIR *d = opendir(path);
	if (!d)
		return 1;
	struct dirent *de;
	int empty = 1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			empty = 0;
			break;
		}
	closedir(d);
	return empty;
}

static void fs_bucket_delete(struct s3_backend *sb, const char *name, s3_be_done_cb cb, void *arg)
{
	struct fs_be *be = (struct fs_be *)sb;
	int err;
	struct fs_bucket *b = bucket_index(be, name, &err);
	if (!b) {
		cb(arg, err);
		return;
	}
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/buckets/%s/uploads", be->root, name);
	if (b->n || !dir_empty(dir)) {
		cb(arg, -ENOTEMPTY);
		return;
	}
	snprintf(dir, sizeof(dir), "%s/buckets/%s", be->root, name);
	bucket_forget(be, name);
	/* Make the bucket vanish atomically first, then reclaim. */
	char grave[PATH_MAX];
	char id[33];
	random_id(id, 16);
	snprintf(grave, sizeof(grave), "%s/tmp/deleted-%s", be->root, id);
	if (rename(dir, grave) < 0) {
		cb(arg, -errno);
		return;
	}
	rm_rf(grave);
	cb(arg, 0);
}

static int bucket_cmp(const void *a, const void *b)
{
	return strcmp(((const struct s3_bucket_info *)a)->name, ((const struct s3_bucket_info *)b)->name);
}

static void fs_bucket_list(struct s3_backend *sb, const char *owner, s3_be_buckets_cb cb, void *arg)
{
	struct fs_be *be = (struct fs_be *)sb;
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/buckets", be->root);
	DIR *d = opendir(dir);
	if (!d) {
		cb(arg, -errno, NULL, 0);
		return;
	}
	struct s3_bucket_info *arr = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int rc = 0;
	struct s3_bucket_info *tmp = malloc(sizeof(*tmp));
	if (!tmp)
		rc = -ENOMEM;
	while (!rc && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (bucket_read(be, de->d_name, tmp) || strcmp(tmp->owner, owner))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			struct s3_bucket_info *na = realloc(arr, cap * sizeof(*arr));
			if (!na) {
				rc = -ENOMEM;
				break;
			}
			arr = na;
		}
		arr[n++] = *tmp;
	}
	closedir(d);
	free(tmp);
	if (!rc && n)
		qsort(arr, n, sizeof(*arr), bucket_cmp);
	cb(arg, rc, rc ? NULL : arr, rc ? 0 : n);
	free(arr);
}

/* --- index listing ---------------------------------------------------- */

static void fs_index_list(struct s3_backend *sb, const char *bucket, const char *prefix,
                          const char *start_after, size_t max, s3_be_index_cb cb, void *arg)
{
	struct fs_be *be = (struct fs_be *)sb;
	int err;
	struct fs_bucket *b = bucket_index(be, bucket, &err);
	if (!b) {
		cb(arg, err, NULL, 0, 0);
		return;
	}
	const char *from = start_after && strcmp(start_after, prefix) > 0 ? start_after : prefix;
	int found;
	size_t i = idx_find(b, from, &found);
	if (found && from == start_after)
		i++;
	size_t pl = strlen(prefix);
	struct s3_index_entry *out = malloc((max ? max : 1) * sizeof(*out));
	if (!out) {
		cb(arg, -ENOMEM, NULL, 0, 0);
		return;
	}
	size_t n = 0;
	int truncated = 0;
	for (; i < b->n; i++) {
		if (strncmp(b->ents[i].key, prefix, pl))
			break;
		if (n == max) {
			truncated = 1;
			break;
		}
		out[n].key = b->ents[i].key;
		out[n].size = b->ents[i].size;
		out[n].mtime_ms = b->ents[i].mtime_ms;
		out[n].etag = b->ents[i].etag;
		out[n].owner = b->ents[i].owner;
		n++;
	}
	cb(arg, 0, out, n, truncated);
	free(out);
}

/* --- objects ---------------------------------------------------------- */

static void fs_obj_delete(struct s3_backend *sb, const char *bucket, const char *key,
                          s3_be_done_cb cb, void *arg)
{
	struct fs_be *be = (struct fs_be *)sb;
	int err;
	struct fs_bucket *b = bucket_index(be, bucket, &err);
	if (!b) {
		cb(arg, err);
		return;
	}
	char path[PATH_MAX], id[64];
	struct s3_obj_meta *m = malloc(sizeof(*m));
	if (!m) {
		cb(arg, -ENOMEM);
		return;
	}
	obj_meta_path(be, bucket, key, path);
	int rc = obj_meta_read(path, NULL, id, sizeof(id), m);
	free(m);
	if (rc) {
		cb(arg, rc == -ENOENT ? -ENOENT : rc);
		return;
	}
	unlink(path);
	idx_del(b, key);
	char dp[PATH_MAX];
	data_path(be, bucket, id, dp);
	rm_rf(dp);
	cb(arg, 0);
}

static void fs_obj_update_meta(struct s3_backend *sb, const char *bucket, const char *key,
                               const struct s3_obj_meta *nm, s3_be_done_cb cb, void *arg)
{
	struct fs_be *be = (struct fs_be *)sb;
	int err;
	struct fs_bucket *b = bucket_index(be, bucket, &err);
	if (!b) {
		cb(arg, err);
		return;
	}
	char path[PATH_MAX], id[64];
	struct s3_obj_meta *m = malloc(sizeof(*m));
	if (!m) {
		cb(arg, -ENOMEM);
		return;
	}
	obj_meta_path(be, bucket, key, path);
	int rc = obj_meta_read(path, NULL, id, sizeof(id), m);
	if (!rc) {
		/* Keep what describes the bytes; take the rest. */
		struct s3_obj_meta keep = *m;
		*m = *nm;
		m->size = keep.size;
		m->nparts = keep.nparts;
		snprintf(m->etag, sizeof(m->etag), "%s", keep.etag);
		rc = obj_meta_write(path, key, id, m);
		if (!rc)
			rc = idx_put(b, key, m);
	}
	free(m);
	cb(arg, rc);
}

static void fs_put_open(struct s3_backend *sb, const char *bucket, const char *key,
                        const char *upload_id, int part, s3_be_writer_cb cb, void *arg)
{
	struct fs_be *be = (struct fs_be *)sb;
	int err;
	if (!bucket_index(be, bucket, &err)) {
		cb(arg, err, NULL);
		return;
	}
	if (upload_id) {
		char up[PATH_MAX];
		snprintf(up, sizeof(up), "%s/buckets/%s/uploads/%s/upload.meta", be->root, bucket,
		         upload_id);
		if (access(up, F_OK) < 0) {
			cb(arg, -ENOENT, NULL);
			return;
		}
	}
	struct s3_be_writer *w = calloc(1, sizeof(*w));
	if (!w) {
		cb(arg, -ENOMEM, NULL);
		return;
	}
	w->be = be;
	snprintf(w->bucket, sizeof(w->bucket), "%s", bucket);
	w->key = strdup(key ? key : "");
	if (upload_id)
		snprintf(w->upload_id, sizeof(w->upload_id), "%s", upload_id);
	w->part = part;
	char id[33];
	random_id(id, 16);
	snprintf(w->tmp, sizeof(w->tmp), "%s/buckets/%s/tmp/%s", be->root, bucket, id);
	w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (w->fd < 0 || !w->key) {
		int e = w->fd < 0 ? -errno : -ENOMEM;
		if (w->fd >= 0) {
			close(w->fd);
			unlink(w->tmp);
		}
		free(w->key);
		free(w);
		cb(arg, e, NULL);
		return;
	}
	cb(arg, 0, w);
}

static void fs_put_write(struct s3_be_writer *w, const void *p, size_t n, s3_be_done_cb cb, void *arg)
{
	const char *c = p;
	while (n) {
		ssize_t r = write(w->fd, c, n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			cb(arg, errno == ENOSPC ? NORN_ENOSPC : -EIO);
			return;
		}
		c += r;
		n -= (size_t)r;
	}
	cb(arg, 0);
}

/* Written (a copy into the page cache) and released at once. */
static void fs_put_write_buf(struct s3_be_writer *w, struct s3_be_buf *b, s3_be_done_cb cb,
                             void *arg)
{
	const char *c = b->p;
	size_t n = b->len;
	int rc = 0;
	while (n) {
		ssize_t r = write(w->fd, c, n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			rc = errno == ENOSPC ? NORN_ENOSPC : -EIO;
			break;
		}
		c += r;
		n -= (size_t)r;
	}
	b->release(b);
	cb(arg, rc);
}

static size_t fs_put_piece_bytes(struct s3_be_writer *w, uint64_t off)
{
	(void)w;
	(void)off;
	return 1u << 20;
}

static void writer_free(struct s3_be_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	free(w->key);
	free(w);
}

static void fs_put_abort(struct s3_be_writer *w)
{
	unlink(w->tmp);
	writer_free(w);
}

static void fs_put_commit(struct s3_be_writer *w, const struct s3_obj_meta *m, s3_be_done_cb cb,
                          void *arg)
{
	struct fs_be *be = w->be;
	int rc = 0, err;
	close(w->fd);
	w->fd = -1;
	struct fs_bucket *b = bucket_index(be, w->bucket, &err);
	if (!b) {
		rc = err;
		goto out;
	}
	if (w->upload_id[0]) {
		char dst[PATH_MAX];
		snprintf(dst, sizeof(dst), "%s/buckets/%s/uploads/%s/%d.data", be->root, w->bucket,
		         w->upload_id, w->part);
		if (rename(w->tmp, dst) < 0) {
			rc = errno == ENOENT ? -ENOENT : -errno;   /* upload aborted meanwhile */
			goto out;
		}
		snprintf(dst, sizeof(dst), "%s/buckets/%s/uploads/%s/%d.meta", be->root, w->bucket,
		         w->upload_id, w->part);
		rc = obj_meta_write(dst, "", "", m);
		goto out;
	}
	char id[33], dp[PATH_MAX];
	random_id(id, 16);
	data_path(be, w->bucket, id, dp);
	if (rename(w->tmp, dp) < 0) {
		rc = -errno;
		goto out;
	}
	rc = obj_replace(be, b, w->key, id, m);
	if (rc)
		unlink(dp);
out:
	if (rc)
		unlink(w->tmp);
	writer_free(w);
	cb(arg, rc);
}

static void reader_free(struct s3_be_reader *r)
{
	if (r->fd >= 0)
		close(r->fd);
	free(r->nums);
	free(r->ends);
	free(r);
}

static void fs_get_open(struct s3_backend *sb, const char *bucket, const char *key,
                        s3_be_reader_cb cb, void *arg)
{
	struct fs_be *be = (struct fs_be *)sb;
	int err;
	if (!bucket_index(be, bucket, &err)) {
		cb(arg, err, NULL, NULL);
		return;
	}
	struct s3_be_reader *r = calloc(1, sizeof(*r));
	if (!r) {
		cb(arg, -ENOMEM, NULL, NULL);
		return;
	}
	r->be = be;
	r->fd = -1;
	r->cur = -1;
	char path[PATH_MAX], id[64];
	obj_meta_path(be, bucket, key, path);
	int rc = obj_meta_read(path, NULL, id, sizeof(id), &r->meta);
	if (rc)
		goto fail;
	data_path(be, bucket, id, r->dir);
	if (r->meta.nparts == 0) {
		r->fd = open(r->dir, O_RDONLY | O_CLOEXEC);
		if (r->fd < 0) {
			rc = -errno;
			goto fail;
		}
	} else {
		char mp[PATH_MAX];
		char *buf;
		size_t len;
		snprintf(mp, sizeof(mp), "%s/manifest", r->dir);
		rc = read_file(mp, 16u << 20, &buf, &len);
		if (rc)
			goto fail;
		struct dec d;
		dec_init(&d, buf, len);
		if (dec_u32(&d) != FS_MANIFEST_MAGIC)
			dec_fail(&d, NORN_ECORRUPT);
		uint32_t n = dec_count(&d, S3_MAX_PARTS, 12);
		r->nums = calloc(n ? n : 1, sizeof(*r->nums));
		r->ends = calloc(n ? n : 1, sizeof(*r->ends));
		if (!r->nums || !r->ends)
			dec_fail(&d, -ENOMEM);
		uint64_t total = 0;
		for (uint32_t i = 0; i < n && !dec_error(&d); i++) {
			r->nums[i] = dec_u32(&d);
			total += dec_u64(&d);
			r->ends[i] = total;
		}
		rc = dec_error(&d);
		free(buf);
		if (!rc && (n != r->meta.nparts || total != r->meta.size))
			rc = NORN_ECORRUPT;
		if (rc)
			goto fail;
		r->nparts = n;
	}
	cb(arg, 0, r, &r->meta);
	return;
fail:
	reader_free(r);
	cb(arg, rc == -ENOTDIR ? -ENOENT : rc, NULL, NULL);
}

static void fs_get_read(struct s3_be_reader *r, uint64_t off, void *buf, size_t n,
                        s3_be_read_cb cb, void *arg)
{
	if (off >= r->meta.size || n == 0) {
		cb(arg, 0, 0);
		return;
	}
	if (n > r->meta.size - off)
		n = (size_t)(r->meta.size - off);
	uint64_t foff = off;
	if (r->nparts) {
		/* Find the part holding @off. */
		uint32_t lo = 0, hi = r->nparts;
		while (lo < hi) {
			uint32_t mid = (lo + hi) / 2;
			if (r->ends[mid] <= off)
				lo = mid + 1;
			else
				hi = mid;
		}
		NORN_ASSERT(lo < r->nparts);
		if (r->cur != (int)lo) {
			if (r->fd >= 0)
				close(r->fd);
			char pp[PATH_MAX];
			snprintf(pp, sizeof(pp), "%s/%u", r->dir, r->nums[lo]);
			r->fd = open(pp, O_RDONLY | O_CLOEXEC);
			r->cur = r->fd >= 0 ? (int)lo : -1;
			if (r->fd < 0) {
				cb(arg, -EIO, 0);
				return;
			}
		}
		uint64_t start = lo ? r->ends[lo - 1] : 0;
		foff = off - start;
		if (n > r->ends[lo] - off)
			n = (size_t)(r->ends[lo] - off);
	}
	ssize_t got;
	do {
		got = pread(r->fd, buf, n, (off_t)foff);
	} while (got < 0 && errno == EINTR);
	if (got <= 0) {
		/* Short file under a meta that says otherwise: corrupt. */
		cb(arg, got < 0 ? -EIO : NORN_ECORRUPT, 0);
		return;
	}
	cb(arg, 0, (size_t)got);
}

static void fs_get_close(struct s3_be_reader *r)
{
	reader_free(r);
}

/* --- multipart -------------------------------------------------------- */

static void upload_dir(struct fs_be *be, const char *bucket, const char *id, char *out)
{
	snprintf(out, PATH_MAX, "%s/buckets/%s/uploads/%s", be->root, bucket, id);
}

static int valid_upload_id(const char *id)
{
	size_t l = strlen(id);
	if (l == 0 || l >= S3_UPLOAD_ID_MAX)
		return 0;
	for (size_t i = 0; i < l; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f') || id[i] == '_'))
			return 0;
	return 1;
}

static void fs_mpu_create(struct s3_backend *sb, const char *bucket, const char *key,
                          const struct s3_obj_meta *m, s3_be_id_cb cb, void *arg)
{
	struct fs_be *be = (struct fs_be *)sb;
	int err;
	if (!bucket_index(be, bucket, &err)) {
		cb(arg, err, NULL);
		return;
	}
	char id[S3_UPLOAD_ID_MAX], dir[PATH_MAX], path[PATH_MAX];
	char rnd[33];
	random_id(rnd, 16);
	/* Time first so a directory listing sorts by initiation. */
	snprintf(id, sizeof(id), "%013llx_%s", (unsigned long long)now_ms(), rnd);
	upload_dir(be, bucket, id, dir);
	if (mkdir(dir, 0755) < 0) {
		cb(arg, -errno, NULL);
		return;
	}
	snprintf(path, sizeof(path), "%s/upload.meta", dir);
	int rc = obj_meta_write(path, key, "", m);
	if (rc) {
		rm_rf(dir);
		cb(arg, rc, NULL);
		return;
	}
	cb(arg, 0, id);
}

static void fs_mpu_get(struct s3_backend *sb, const char *bucket, const char *upload_id,
                       s3_be_upload_cb cb, void *arg)
{
	struct fs_be *be = (struct fs_be *)sb;
	if (!valid_upload_id(upload_id)) {
		cb(arg, -ENOENT, NULL);
		return;
	}
	char path[PATH_MAX], dir[PATH_MAX], id[8];
	upload_dir(be, bucket, upload_id, dir);
	snprintf(path, sizeof(path), "%s/upload.meta", dir);
	struct s3_obj_meta *m = malloc(sizeof(*m));
	char *key = NULL;
	if (!m) {
		cb(arg, -ENOMEM, NULL);
		return;
	}
	int rc = obj_meta_read(path, &key, id, sizeof(id), m);
	if (rc) {
		free(m);
		cb(arg, rc == -ENOTDIR ? -ENOENT : rc, NULL);
		return;
	}
	struct s3_upload_info u;
	memset(&u, 0, sizeof(u));
	snprintf(u.upload_id, sizeof(u.upload_id), "%s", upload_id);
	u.key = key;
	u.initiated_ms = (int64_t)strtoull(upload_id, NULL, 16);
	u.meta = m;
	cb(arg, 0, &u);
	free(key);
	free(m);
}

static int part_cmp(const void *a, const void *b)
{
	return ((const struct s3_part_info *)a)->number - ((const struct s3_part_info *)b)->number;
}

static int load_parts(struct fs_be *be, const char *bucket, const char *upload_id,
                      struct s3_part_info **out, size_t *cnt)
{
	char dir[PATH_MAX];
	*out = NULL;
	*cnt = 0;
	if (!valid_upload_id(upload_id))
		return -ENOENT;
	upload_dir(be, bucket, upload_id, dir);
	DIR *d = opendir(dir);
	if (!d)
		return -ENOENT;
	struct s3_part_info *arr = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int rc = 0;
	struct s3_obj_meta *m = malloc(sizeof(*m));
	if (!m)
		rc = -ENOMEM;
	while (!rc && (de = readdir(d))) {
		char *end;
		long num = strtol(de->d_name, &end, 10);
		if (end == de->d_name || strcmp(end, ".meta") || num < 1 || num > S3_MAX_PARTS)
			continue;
		char path[PATH_MAX], id[8];
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (obj_meta_read(path, NULL, id, sizeof(id), m))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			struct s3_part_info *na = realloc(arr, cap * sizeof(*arr));
			if (!na) {
				rc = -ENOMEM;
				break;
			}
			arr = na;
		}
		arr[n].number = (int)num;
		arr[n].size = m->size;
		arr[n].mtime_ms = m->mtime_ms;
		snprintf(arr[n].etag, sizeof(arr[n].etag), "%s", m->etag);
		n++;
	}
	closedir(d);
	free(m);
	if (rc) {
		free(arr);
		return rc;
	}
	if (n)
		qsort(arr, n, sizeof(*arr), part_cmp);
	*out = arr;
	*cnt = n;
	return 0;
}

static void fs_mpu_parts(struct s3_backend *sb, const char *bucket, const char *upload_id,
                         s3_be_parts_cb cb, void *arg)
{
	struct s3_part_info *arr;
	size_t n;
	int rc = load_parts((struct fs_be *)sb, bucket, upload_id, &arr, &n);
	cb(arg, rc, arr, n);
	free(arr);
}

static void fs_mpu_complete(struct s3_backend *sb, const char *bucket, const char *upload_id,
                            const int *numbers, size_t n, const struct s3_obj_meta *m,
                            s3_be_done_cb cb, void *arg)
{
	struct fs_be *be = (struct fs_be *)sb;
	int err, rc;
	struct fs_bucket *b = bucket_index(be, bucket, &err);
	if (!b) {
		cb(arg, err);
		return;
	}
	char udir[PATH_MAX], path[PATH_MAX], id[33], ddir[PATH_MAX], x[8];
	char *key = NULL;
	struct s3_part_info *parts = NULL;
	size_t np = 0;
	struct enc e;
	enc_init(&e, 64 + n * 12);
	struct s3_obj_meta *um = malloc(sizeof(*um));
	if (!um) {
		rc = -ENOMEM;
		goto out;
	}
	if (!valid_upload_id(upload_id)) {
		rc = -ENOENT;
		goto out;
	}
	upload_dir(be, bucket, upload_id, udir);
	snprintf(path, sizeof(path), "%s/upload.meta", udir);
	rc = obj_meta_read(path, &key, x, sizeof(x), um);
	if (rc)
		goto out;
	rc = load_parts(be, bucket, upload_id, &parts, &np);
	if (rc)
		goto out;
	random_id(id, 16);
	data_path(be, bucket, id, ddir);
	if (mkdir(ddir, 0755) < 0) {
		rc = -errno;
		goto out;
	}
	enc_u32(&e, FS_MANIFEST_MAGIC);
	enc_u32(&e, (uint32_t)n);
	size_t j = 0;
	for (size_t i = 0; i < n; i++) {
		while (j < np && parts[j].number < numbers[i])
			j++;
		if (j == np || parts[j].number != numbers[i]) {
			rc = -EINVAL;
			goto out_rm;
		}
		char src[PATH_MAX], dst[PATH_MAX];
		snprintf(src, sizeof(src), "%s/%d.data", udir, numbers[i]);
		snprintf(dst, sizeof(dst), "%s/%d", ddir, numbers[i]);
		/* The parts move, they are not copied. */
		if (rename(src, dst) < 0) {
			rc = -errno;
			goto out_rm;
		}
		enc_u32(&e, (uint32_t)numbers[i]);
		enc_u64(&e, parts[j].size);
	}
	snprintf(path, sizeof(path), "%s/manifest", ddir);
	rc = enc_error(&e) ? enc_error(&e) : write_file_atomic(path, e.buf, e.len);
	if (rc)
		goto out_rm;
	rc = obj_replace(be, b, key, id, m);
	if (rc)
		goto out_rm;
	rm_rf(udir);
	goto out;
out_rm:
	/* Parts already moved are lost with the half-built object: the
	 * upload cannot complete anyway, and nothing became visible. */
	rm_rf(ddir);
out:
	enc_free(&e);
	free(parts);
	free(key);
	free(um);
	cb(arg, rc);
}

static void fs_mpu_abort(struct s3_backend *sb, const char *bucket, const char *upload_id,
                         s3_be_done_cb cb, void *arg)
{
	struct fs_be *be = (struct fs_be *)sb;
	char dir[PATH_MAX], path[PATH_MAX];
	if (!valid_upload_id(upload_id)) {
		cb(arg, -ENOENT);
		return;
	}
	upload_dir(be, bucket, upload_id, dir);
	snprintf(path, sizeof(path), "%s/upload.meta", dir);
	if (access(path, F_OK) < 0) {
		cb(arg, -ENOENT);
		return;
	}
	rm_rf(dir);
	cb(arg, 0);
}

struct up_sort {
	struct s3_upload_info info;
	char *key;
	struct s3_obj_meta *meta;
};

static int up_cmp(const void *a, const void *b)
{
	const struct up_sort *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	return c ? c : strcmp(x->info.upload_id, y->info.upload_id);
}

static void fs_mpu_list(struct s3_backend *sb, const char *bucket, s3_be_uploads_cb cb, void *arg)
{
	struct fs_be *be = (struct fs_be *)sb;
	char dir[PATH_MAX];
	int err;
	if (!bucket_index(be, bucket, &err)) {
		cb(arg, err, NULL, 0);
		return;
	}
	snprintf(dir, sizeof(dir), "%s/buckets/%s/uploads", be->root, bucket);
	DIR *d = opendir(dir);
	if (!d) {
		cb(arg, -ENOENT, NULL, 0);
		return;
	}
	struct up_sort *arr = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int rc = 0;
	while ((de = readdir(d)) && n < 100000) {
		if (!valid_upload_id(de->d_name))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			struct up_sort *na = realloc(arr, cap * sizeof(*arr));
			if (!na) {
				rc = -ENOMEM;
				break;
			}
			arr = na;
		}
		struct up_sort *u = &arr[n];
		memset(u, 0, sizeof(*u));
		u->meta = malloc(sizeof(*u->meta));
		char path[PATH_MAX], x[8];
		snprintf(path, sizeof(path), "%s/%s/upload.meta", dir, de->d_name);
		if (!u->meta || obj_meta_read(path, &u->key, x, sizeof(x), u->meta)) {
			free(u->meta);
			continue;
		}
		snprintf(u->info.upload_id, sizeof(u->info.upload_id), "%s", de->d_name);
		u->info.initiated_ms = (int64_t)strtoull(de->d_name, NULL, 16);
		n++;
	}
	closedir(d);
	if (n)
		qsort(arr, n, sizeof(*arr), up_cmp);
	struct s3_upload_info *out = calloc(n ? n : 1, sizeof(*out));
	if (!out)
		rc = -ENOMEM;
	for (size_t i = 0; out && i < n; i++) {
		out[i] = arr[i].info;
		out[i].key = arr[i].key;
		out[i].meta = arr[i].meta;
	}
	cb(arg, rc, rc ? NULL : out, rc ? 0 : n);
	for (size_t i = 0; i < n; i++) {
		free(arr[i].key);
		free(arr[i].meta);
	}
	free(arr);
	free(out);
}

static void fs_destroy(struct s3_backend *sb)
{
	struct fs_be *be = (struct fs_be *)sb;
	while (be->buckets)
		bucket_forget(be, be->buckets->name);
	free(be->ucache);
	free(be);
}

static const struct s3_backend_ops fs_ops = {
	.name = "fs (development only)",
	.destroy = fs_destroy,
	.user_by_key = fs_user_by_key,
	.user_create = fs_user_create,
	.user_remove = fs_user_remove,
	.user_list = fs_user_list,
	.key_add = fs_key_add,
	.key_set = s3_backend_fs_key_set,
	.key_remove = fs_key_remove,
	.bucket_create = fs_bucket_create,
	.bucket_get = fs_bucket_get,
	.bucket_update = fs_bucket_update,
	.bucket_delete = fs_bucket_delete,
	.bucket_list = fs_bucket_list,
	.index_list = fs_index_list,
	.obj_delete = fs_obj_delete,
	.obj_update_meta = fs_obj_update_meta,
	.put_open = fs_put_open,
	.put_write = fs_put_write,
	.put_write_buf = fs_put_write_buf,
	.put_piece_bytes = fs_put_piece_bytes,
	.put_commit = fs_put_commit,
	.put_abort = fs_put_abort,
	.get_open = fs_get_open,
	.get_read = fs_get_read,
	.get_close = fs_get_close,
	.mpu_create = fs_mpu_create,
	.mpu_get = fs_mpu_get,
	.mpu_parts = fs_mpu_parts,
	.mpu_complete = fs_mpu_complete,
	.mpu_abort = fs_mpu_abort,
	.mpu_list = fs_mpu_list,
};

int s3_backend_fs_open(const char *root, struct s3_backend **out)
{
	if (strlen(root) + 1 > PATH_MAX / 2)
		return -ENAMETOOLONG;
	struct fs_be *be = calloc(1, sizeof(*be));
	if (!be)
		return -ENOMEM;
	be->base.ops = &fs_ops;
	snprintf(be->root, sizeof(be->root), "%s", root);
	char p[PATH_MAX];
	if (mkdir(root, 0755) < 0 && errno != EEXIST)
		goto fail;
	snprintf(p, sizeof(p), "%s/buckets", root);
	if (mkdir(p, 0755) < 0 && errno != EEXIST)
		goto fail;
	snprintf(p, sizeof(p), "%s/tmp", root);
	if (mkdir(p, 0755) < 0 && errno != EEXIST)
		goto fail;
	*out = &be->base;
	return 0;
fail:;
	int e = -errno;
	free(be);
	return e;
}
