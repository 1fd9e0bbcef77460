/* TEST DOUBLE of libnorn (include/norn/norn.h) for the S3 cluster
 * backend's tests when no cluster is at hand: the subset of the API
 * s3_backend_norn.c uses, on a local directory shared between processes
 * (the gateway and the `norn s3` CLI), with async completions from a
 * separate "I/O thread" like the real library. It is NOT the client
 * library and never ships; the real-cluster tests use libnorn + OSDs.
 *
 * Root: $NORN_FAKE_ROOT. An object is the directory
 * <root>/<pool>/<sha256(oid)>/ with "data", "x.<sha256(name)>" (xattrs)
 * and "o.<sha256(key)>" (omap; file = u32 key length, key, value). Every
 * operation holds an exclusive flock on <root>/lock, so compound write ops
 * are atomic across processes.
 *
 * NORN_FAKE_FAIL_EVERY=N makes every Nth aio data op fail with -ETIMEDOUT
 * (fault injection: the gateway must answer 503 and a retry succeed).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/s3/s3_util.h"
#include "norn/norn.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

struct norn_cluster {
	char root[PATH_MAX / 2];
	int lockfd;
	pthread_t thr;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct norn_completion *qhead, *qtail;
	int stop;
	atomic_uint nops;
	unsigned fail_every;
};

struct norn_ioctx {
	struct norn_cluster *cl;
	char pool[128];
};

enum aio_kind { A_WRITE, A_WRITE_FULL, A_READ, A_REMOVE, A_STAT, A_OP, A_ROP };

/* Read ops: only the omap_get_vals step (what the gateway uses). */
struct norn_read_op {
	char *start_after, *prefix;
	size_t max;
	struct norn_list *out;
	int *rval;
	int have;
};

struct norn_completion {
	norn_callback_t cb;
	void *arg;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
	ssize_t result;
	/* the queued op */
	enum aio_kind kind;
	norn_ioctx_t *io;
	char *oid;
	const void *wbuf;
	void *rbuf;
	size_t len;
	uint64_t off;
	uint64_t *psize, *pmtime;
	norn_write_op_t *op;
	norn_read_op_t *rop;
	struct norn_completion *next;
};

enum step_kind {
	S_CREATE, S_ASSERT_EXISTS, S_CMPXATTR, S_WRITE, S_WRITE_FULL, S_APPEND, S_TRUNCATE, S_ZERO,
	S_REMOVE, S_SETXATTR, S_RMXATTR, S_OMAP_SET, S_OMAP_RM, S_OMAP_CLEAR, S_OMAP_CMP
};

struct step {
	enum step_kind k;
	int excl;
	char *name;
	void *buf;
	size_t len;
	uint64_t off;
	char **keys;
	void **vals;
	size_t *lens;
	size_t n;
};

struct norn_write_op {
	struct step *s;
	size_t n, cap;
};

static __thread const char *g_cur_oid;   /* name mkobj records (set by obj_dir) */

/* --- paths ---------------------------------------------------------------- */

static void hname(const char *s, char out[65]) { s3_sha256_hex(s, strlen(s), out); }

static void obj_dir(norn_ioctx_t *io, const char *oid, char *out, size_t cap)
{
	char h[65];
	g_cur_oid = oid;
	hname(oid, h);
	snprintf(out, cap, "%s/%s/%s", io->cl->root, io->pool, h);
}

static int exists(const char *dir)
{
	struct stat st;
	return stat(dir, &st) == 0;
}

static int read_all(const char *path, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return -EIO;
	}
	char *b = malloc((size_t)st.st_size + 1);
	if (!b) {
		close(fd);
		return -ENOMEM;
	}
	ssize_t r = pread(fd, b, (size_t)st.st_size, 0);
	close(fd);
	if (r != st.st_size) {
		free(b);
		return -EIO;
	}
	*out = b;
	*len = (size_t)r;
	return 0;
}

static int write_all(const char *path, const void *a, size_t alen, const void *b, size_t blen)
{
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if ((alen && write(fd, a, alen) != (ssize_t)alen) || (blen && write(fd, b, blen) != (ssize_t)blen)) {
		close(fd);
		return -EIO;
	}
	close(fd);
	return rename(tmp, path) < 0 ? -errno : 0;
}

static void lock(struct norn_cluster *cl) { (void)flock(cl->lockfd, LOCK_EX); }
static void unlock(struct norn_cluster *cl) { (void)flock(cl->lockfd, LOCK_UN); }

static int mkobj(const char *dir)
{
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/name", dir);
	if (g_cur_oid && access(p, F_OK) != 0) {
		int r = write_all(p, g_cur_oid, strlen(g_cur_oid), NULL, 0);
		if (r)
			return r;
	}
	snprintf(p, sizeof(p), "%s/data", dir);
	int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

static void rmobj(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

/* --- connection --------------------------------------------------------------- */

static void *io_thread(void *arg);

int norn_connect2(const char *conf_path, const char *entity, const char *keyring_path,
                  const char *const *overrides, int n_overrides, norn_cluster_t **out)
{
	(void)conf_path, (void)entity, (void)keyring_path, (void)overrides, (void)n_overrides;
	const char *root = getenv("NORN_FAKE_ROOT");
	if (!root || strlen(root) >= PATH_MAX / 2 - 8)
		return -ENOENT;
	struct norn_cluster *cl = calloc(1, sizeof(*cl));
	if (!cl)
		return -ENOMEM;
	snprintf(cl->root, sizeof(cl->root), "%s", root);
	(void)mkdir(root, 0755);
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/lock", root);
	cl->lockfd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (cl->lockfd < 0) {
		free(cl);
		return -errno;
	}
	const char *fe = getenv("NORN_FAKE_FAIL_EVERY");
	cl->fail_every = fe ? (unsigned)atoi(fe) : 0;
	pthread_mutex_init(&cl->mu, NULL);
	pthread_cond_init(&cl->cv, NULL);
	pthread_create(&cl->thr, NULL, io_thread, cl);
	*out = cl;
	return 0;
}

int norn_connect(const char *conf_path, const char *entity, const char *keyring_path,
                 norn_cluster_t **out)
{
	return norn_connect2(conf_path, entity, keyring_path, NULL, 0, out);
}

void norn_shutdown(norn_cluster_t *cl)
{
	pthread_mutex_lock(&cl->mu);
	cl->stop = 1;
	pthread_cond_signal(&cl->cv);
	pthread_mutex_unlock(&cl->mu);
	pthread_join(cl->thr, NULL);
	close(cl->lockfd);
	pthread_mutex_destroy(&cl->mu);
	pthread_cond_destroy(&cl->cv);
	free(cl);
}

int norn_ioctx_create(norn_cluster_t *cl, const char *pool_name, norn_ioctx_t **out)
{
	char p[PATH_MAX];
	if (strlen(pool_name) >= 128 || strchr(pool_name, '/'))
		return -EINVAL;
	snprintf(p, sizeof(p), "%s/%s", cl->root, pool_name);
	if (!exists(p))
		return -ENOENT;     /* pools are created by the test (mkdir) */
	norn_ioctx_t *io = calloc(1, sizeof(*io));
	if (!io)
		return -ENOMEM;
	io->cl = cl;
	snprintf(io->pool, sizeof(io->pool), "%s", pool_name);
	*out = io;
	return 0;
}

void norn_ioctx_destroy(norn_ioctx_t *io) { free(io); }

/* --- data ---------------------------------------------------------------------- */

static int do_write(norn_ioctx_t *io, const char *oid, const void *buf, size_t len, uint64_t off,
                    int full)
{
	char dir[PATH_MAX], p[PATH_MAX];
	obj_dir(io, oid, dir, sizeof(dir));
	int rc = mkobj(dir);
	if (rc)
		return rc;
	snprintf(p, sizeof(p), "%s/data", dir);
	int fd = open(p, O_WRONLY | O_CLOEXEC | (full ? O_TRUNC : 0));
	if (fd < 0)
		return -errno;
	ssize_t w = len ? pwrite(fd, buf, len, (off_t)off) : 0;
	close(fd);
	return w == (ssize_t)len ? 0 : -EIO;
}

static ssize_t do_read(norn_ioctx_t *io, const char *oid, void *buf, size_t len, uint64_t off)
{
	char dir[PATH_MAX], p[PATH_MAX];
	obj_dir(io, oid, dir, sizeof(dir));
	snprintf(p, sizeof(p), "%s/data", dir);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ENOENT : -errno;
	ssize_t r = pread(fd, buf, len, (off_t)off);
	close(fd);
	return r < 0 ? -EIO : r;
}

static int do_stat(norn_ioctx_t *io, const char *oid, uint64_t *size, uint64_t *mtime)
{
	char dir[PATH_MAX], p[PATH_MAX];
	struct stat st;
	obj_dir(io, oid, dir, sizeof(dir));
	snprintf(p, sizeof(p), "%s/data", dir);
	if (stat(p, &st) < 0)
		return -ENOENT;
	if (size)
		*size = (uint64_t)st.st_size;
	if (mtime)
		*mtime = (uint64_t)st.st_mtim.tv_sec * 1000000000ull + (uint64_t)st.st_mtim.tv_nsec;
	return 0;
}

static int do_remove(norn_ioctx_t *io, const char *oid)
{
	char dir[PATH_MAX];
	obj_dir(io, oid, dir, sizeof(dir));
	if (!exists(dir))
		return -ENOENT;
	rmobj(dir);
	return 0;
}

int norn_write_full(norn_ioctx_t *io, const char *oid, const void *buf, size_t len)
{
	lock(io->cl);
	int rc = do_write(io, oid, buf, len, 0, 1);
	unlock(io->cl);
	return rc;
}

int norn_write(norn_ioctx_t *io, const char *oid, const void *buf, size_t len, uint64_t off)
{
	lock(io->cl);
	int rc = do_write(io, oid, buf, len, off, 0);
	unlock(io->cl);
	return rc;
}

ssize_t norn_read(norn_ioctx_t *io, const char *oid, void *buf, size_t len, uint64_t off)
{
	lock(io->cl);
	ssize_t r = do_read(io, oid, buf, len, off);
	unlock(io->cl);
	return r;
}

int norn_stat(norn_ioctx_t *io, const char *oid, uint64_t *size, uint64_t *mtime_ns)
{
	lock(io->cl);
	int rc = do_stat(io, oid, size, mtime_ns);
	unlock(io->cl);
	return rc;
}

int norn_remove(norn_ioctx_t *io, const char *oid)
{
	lock(io->cl);
	int rc = do_remove(io, oid);
	unlock(io->cl);
	return rc;
}

/* --- xattrs and omap ------------------------------------------------------------ */

static int do_setxattr(const char *dir, const char *name, const void *val, size_t len)
{
	char h[65], p[PATH_MAX];
	hname(name, h);
	snprintf(p, sizeof(p), "%s/x.%s", dir, h);
	return write_all(p, val, len, NULL, 0);
}

ssize_t norn_getxattr(norn_ioctx_t *io, const char *oid, const char *name, void **val)
{
	char dir[PATH_MAX], h[65], p[PATH_MAX];
	char *b;
	size_t n;
	obj_dir(io, oid, dir, sizeof(dir));
	hname(name, h);
	snprintf(p, sizeof(p), "%s/x.%s", dir, h);
	lock(io->cl);
	int ex = exists(dir);
	int rc = read_all(p, &b, &n);
	unlock(io->cl);
	if (!ex)
		return -ENOENT;
	if (rc)
		return rc == -ENOENT ? -ENODATA : rc;
	*val = b;
	return (ssize_t)n;
}

static int do_omap_set(const char *dir, const char *key, const void *val, size_t len)
{
	char h[65], p[PATH_MAX];
	uint32_t kl = (uint32_t)strlen(key);
	char *hdr = malloc(4 + kl);
	if (!hdr)
		return -ENOMEM;
	memcpy(hdr, &kl, 4);
	memcpy(hdr + 4, key, kl);
	hname(key, h);
	snprintf(p, sizeof(p), "%s/o.%s", dir, h);
	int rc = write_all(p, hdr, 4 + kl, val, len);
	free(hdr);
	return rc;
}

static int do_omap_rm(const char *dir, const char *key)
{
	char h[65], p[PATH_MAX];
	hname(key, h);
	snprintf(p, sizeof(p), "%s/o.%s", dir, h);
	return unlink(p) < 0 && errno != ENOENT ? -errno : 0;
}

int norn_omap_set(norn_ioctx_t *io, const char *oid, const char *const *keys,
                  const void *const *vals, const size_t *val_lens, size_t n)
{
	char dir[PATH_MAX];
	obj_dir(io, oid, dir, sizeof(dir));
	lock(io->cl);
	int rc = mkobj(dir);
	for (size_t i = 0; !rc && i < n; i++)
		rc = do_omap_set(dir, keys[i], vals[i], val_lens[i]);
	unlock(io->cl);
	return rc;
}

int norn_omap_rm_keys(norn_ioctx_t *io, const char *oid, const char *const *keys, size_t n)
{
	char dir[PATH_MAX];
	obj_dir(io, oid, dir, sizeof(dir));
	lock(io->cl);
	int rc = exists(dir) ? 0 : -ENOENT;
	for (size_t i = 0; !rc && i < n; i++)
		rc = do_omap_rm(dir, keys[i]);
	unlock(io->cl);
	return rc;
}

ssize_t norn_omap_get(norn_ioctx_t *io, const char *oid, const char *key, void **val)
{
	char dir[PATH_MAX], h[65], p[PATH_MAX];
	char *b;
	size_t n;
	obj_dir(io, oid, dir, sizeof(dir));
	hname(key, h);
	snprintf(p, sizeof(p), "%s/o.%s", dir, h);
	lock(io->cl);
	int rc = read_all(p, &b, &n);
	unlock(io->cl);
	if (rc)
		return rc;
	uint32_t kl;
	if (n < 4 || (memcpy(&kl, b, 4), n < 4 + (size_t)kl)) {
		free(b);
		return -EIO;
	}
	size_t vl = n - 4 - kl;
	void *v = malloc(vl ? vl : 1);
	if (!v) {
		free(b);
		return -ENOMEM;
	}
	memcpy(v, b + 4 + kl, vl);
	free(b);
	*val = v;
	return (ssize_t)vl;
}

void norn_list_free(struct norn_list *l)
{
	for (size_t i = 0; l->items && i < l->n; i++) {
		free(l->items[i].key);
		free(l->items[i].val);
	}
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

static int kv_cmp(const void *a, const void *b)
{
	return strcmp(((const struct norn_kv *)a)->key, ((const struct norn_kv *)b)->key);
}

int norn_omap_get_vals(norn_ioctx_t *io, const char *oid, const char *start_after,
                       const char *prefix, size_t max, struct norn_list *out)
{
	char dir[PATH_MAX];
	obj_dir(io, oid, dir, sizeof(dir));
	memset(out, 0, sizeof(*out));
	lock(io->cl);
	DIR *d = opendir(dir);
	if (!d) {
		unlock(io->cl);
		return -ENOENT;
	}
	struct norn_kv *all = NULL;
	size_t n = 0, cap = 0;
	size_t pl = strlen(prefix);
	struct dirent *de;
	int rc = 0;
	while (!rc && (de = readdir(d))) {
		if (strncmp(de->d_name, "o.", 2) || strstr(de->d_name, ".tmp"))
			continue;
		char p[PATH_MAX], *b;
		size_t bl;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (read_all(p, &b, &bl))
			continue;
		uint32_t kl;
		if (bl < 4 || (memcpy(&kl, b, 4), bl < 4 + (size_t)kl)) {
			free(b);
			continue;
		}
		char *key = strndup(b + 4, kl);
		if (!key || strncmp(key, prefix, pl) || strcmp(key, start_after) <= 0) {
			free(key);
			free(b);
			continue;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			struct norn_kv *na = realloc(all, cap * sizeof(*na));
			if (!na) {
				free(key);
				free(b);
				rc = -ENOMEM;
				break;
			}
			all = na;
		}
		size_t vl = bl - 4 - kl;
		void *v = malloc(vl ? vl : 1);
		if (v)
			memcpy(v, b + 4 + kl, vl);
		free(b);
		all[n].key = key;
		all[n].val = v;
		all[n].val_len = vl;
		n++;
	}
	closedir(d);
	unlock(io->cl);
	if (n)
		qsort(all, n, sizeof(*all), kv_cmp);
	size_t keep = n < max ? n : max;
	for (size_t i = keep; i < n; i++) {
		free(all[i].key);
		free(all[i].val);
	}
	out->items = all;
	out->n = keep;
	out->more = n > keep;
	return rc;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One page of names after the cursor (the last name returned). */
int norn_list_objects(norn_ioctx_t *io, char **cursor, size_t max, struct norn_list *out)
{
	char pdir[PATH_MAX];
	snprintf(pdir, sizeof(pdir), "%s/%s", io->cl->root, io->pool);
	memset(out, 0, sizeof(*out));
	lock(io->cl);
	DIR *d = opendir(pdir);
	if (!d) {
		unlock(io->cl);
		return -ENOENT;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char p[PATH_MAX], *b;
		size_t bl;
		snprintf(p, sizeof(p), "%s/%s/name", pdir, de->d_name);
		if (read_all(p, &b, &bl))
			continue;
		b[bl] = 0;
		if (strcmp(b, *cursor) <= 0) {
			free(b);
			continue;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			char **nn = realloc(names, cap * sizeof(*nn));
			if (!nn)
				abort();
			names = nn;
		}
		names[n++] = b;
	}
	closedir(d);
	unlock(io->cl);
	if (n)
		qsort(names, n, sizeof(*names), name_cmp);
	size_t keep = n < max ? n : max;
	out->items = calloc(keep + 1, sizeof(*out->items));
	if (!out->items)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (i < keep)
			out->items[i].key = names[i];
		else
			free(names[i]);
	}
	free(names);
	out->n = keep;
	out->more = n > keep;
	if (keep) {
		free(*cursor);
		*cursor = strdup(out->items[keep - 1].key);
	}
	return 0;
}

/* --- compound ops ------------------------------------------------------------------ */

norn_write_op_t *norn_write_op_create(void) { return calloc(1, sizeof(norn_write_op_t)); }

void norn_write_op_release(norn_write_op_t *op)
{
	if (!op)
		return;
	for (size_t i = 0; i < op->n; i++) {
		struct step *s = &op->s[i];
		free(s->name);
		free(s->buf);
		for (size_t j = 0; j < s->n; j++) {
			free(s->keys[j]);
			if (s->vals)
				free(s->vals[j]);
		}
		free(s->keys);
		free(s->vals);
		free(s->lens);
	}
	free(op->s);
	free(op);
}

static struct step *add_step(norn_write_op_t *op, enum step_kind k)
{
	if (op->n == op->cap) {
		size_t nc = op->cap ? op->cap * 2 : 4;
		struct step *ns = realloc(op->s, nc * sizeof(*ns));
		if (!ns)
			abort();
		op->s = ns;
		op->cap = nc;
	}
	struct step *s = &op->s[op->n++];
	memset(s, 0, sizeof(*s));
	s->k = k;
	return s;
}

static void *dupmem(const void *p, size_t n)
{
	void *c = malloc(n ? n : 1);
	if (!c)
		abort();
	if (n)
		memcpy(c, p, n);
	return c;
}

void norn_write_op_create_obj(norn_write_op_t *op, int exclusive)
{
	add_step(op, S_CREATE)->excl = exclusive;
}
void norn_write_op_assert_exists(norn_write_op_t *op) { add_step(op, S_ASSERT_EXISTS); }
void norn_write_op_remove(norn_write_op_t *op) { add_step(op, S_REMOVE); }
void norn_write_op_setxattr(norn_write_op_t *op, const char *name, const void *val, size_t len)
{
	struct step *s = add_step(op, S_SETXATTR);
	s->name = strdup(name);
	s->buf = dupmem(val, len);
	s->len = len;
}
void norn_write_op_write_full(norn_write_op_t *op, const void *buf, size_t len)
{
	struct step *s = add_step(op, S_WRITE_FULL);
	s->buf = dupmem(buf, len);
	s->len = len;
}
void norn_write_op_omap_cmp(norn_write_op_t *op, const char *key, const void *val, size_t len)
{
	struct step *s = add_step(op, S_OMAP_CMP);
	s->name = strdup(key);
	s->buf = dupmem(val, len);
	s->len = len;
}

/* Does omap key @key of object dir @dir hold exactly @val (missing == "")?
 * Called with the lock held. */
static int omap_cmp_locked(const char *dir, const char *key, const void *val, size_t len)
{
	char h[65], p[PATH_MAX];
	char *b;
	size_t n;
	uint32_t kl;
	hname(key, h);
	snprintf(p, sizeof(p), "%s/o.%s", dir, h);
	int rc = read_all(p, &b, &n);
	if (rc == -ENOENT)
		return len ? -ECANCELED : 0;
	if (rc)
		return rc;
	if (n < 4 || (memcpy(&kl, b, 4), n < 4 + (size_t)kl)) {
		free(b);
		return -EIO;
	}
	rc = (n - 4 - kl == len && (len == 0 || !memcmp(b + 4 + kl, val, len))) ? 0 : -ECANCELED;
	free(b);
	return rc;
}

void norn_write_op_write(norn_write_op_t *op, const void *buf, size_t len, uint64_t off)
{
	struct step *s = add_step(op, S_WRITE);
	s->buf = dupmem(buf, len);
	s->len = len;
	s->off = off;
}
void norn_write_op_omap_set(norn_write_op_t *op, const char *const *keys,
                            const void *const *vals, const size_t *val_lens, size_t n)
{
	struct step *s = add_step(op, S_OMAP_SET);
	s->keys = calloc(n + 1, sizeof(char *));
	s->vals = calloc(n + 1, sizeof(void *));
	s->lens = calloc(n + 1, sizeof(size_t));
	if (!s->keys || !s->vals || !s->lens)
		abort();
	for (size_t i = 0; i < n; i++) {
		s->keys[i] = strdup(keys[i]);
		s->vals[i] = dupmem(vals[i], val_lens[i]);
		s->lens[i] = val_lens[i];
	}
	s->n = n;
}
void norn_write_op_omap_rm_keys(norn_write_op_t *op, const char *const *keys, size_t n)
{
	struct step *s = add_step(op, S_OMAP_RM);
	s->keys = calloc(n + 1, sizeof(char *));
	if (!s->keys)
		abort();
	for (size_t i = 0; i < n; i++)
		s->keys[i] = strdup(keys[i]);
	s->n = n;
}

static int op_apply(norn_write_op_t *op, norn_ioctx_t *io, const char *oid)
{
	char dir[PATH_MAX];
	obj_dir(io, oid, dir, sizeof(dir));
	/* Checks first, then mutations (all-or-nothing for the steps used). */
	int ex = exists(dir);
	for (size_t i = 0; i < op->n; i++) {
		struct step *s = &op->s[i];
		if (s->k == S_CREATE && s->excl && ex)
			return -EEXIST;
		if (s->k == S_ASSERT_EXISTS && !ex)
			return -ENOENT;
		if (s->k == S_OMAP_CMP) {
			int crc = omap_cmp_locked(dir, s->name, s->buf, s->len);
			if (crc)
				return crc;
		}
	}
	int rc = 0;
	for (size_t i = 0; !rc && i < op->n; i++) {
		struct step *s = &op->s[i];
		switch (s->k) {
		case S_CREATE:
			rc = mkobj(dir);
			break;
		case S_REMOVE:
			if (!exists(dir))
				rc = -ENOENT;
			else
				rmobj(dir);
			break;
		case S_SETXATTR:
			rc = mkobj(dir);
			if (!rc)
				rc = do_setxattr(dir, s->name, s->buf, s->len);
			break;
		case S_WRITE_FULL:
			rc = do_write(io, oid, s->buf, s->len, 0, 1);
			break;
		case S_WRITE:
			rc = do_write(io, oid, s->buf, s->len, s->off, 0);
			break;
		case S_OMAP_SET:
			rc = mkobj(dir);
			for (size_t j = 0; !rc && j < s->n; j++)
				rc = do_omap_set(dir, s->keys[j], s->vals[j], s->lens[j]);
			break;
		case S_OMAP_RM:
			for (size_t j = 0; !rc && j < s->n; j++)
				rc = do_omap_rm(dir, s->keys[j]);
			break;
		case S_ASSERT_EXISTS:
		case S_OMAP_CMP:
			break;
		default:
			rc = -EOPNOTSUPP;
		}
	}
	return rc;
}

int norn_write_op_operate(norn_write_op_t *op, norn_ioctx_t *io, const char *oid)
{
	lock(io->cl);
	int rc = op_apply(op, io, oid);
	unlock(io->cl);
	return rc;
}

/* --- async ------------------------------------------------------------------------------ */

norn_completion_t *norn_completion_create(norn_callback_t cb, void *arg)
{
	norn_completion_t *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->cb = cb;
	c->arg = arg;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	return c;
}

int norn_completion_wait(norn_completion_t *c)
{
	pthread_mutex_lock(&c->mu);
	while (!c->done)
		pthread_cond_wait(&c->cv, &c->mu);
	pthread_mutex_unlock(&c->mu);
	return (int)c->result;
}

int norn_completion_is_complete(norn_completion_t *c) { return c->done; }
ssize_t norn_completion_result(norn_completion_t *c) { return c->result; }

void norn_completion_release(norn_completion_t *c)
{
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	free(c->oid);
	free(c);
}

static void *io_thread(void *arg)
{
	struct norn_cluster *cl = arg;
	for (;;) {
		pthread_mutex_lock(&cl->mu);
		while (!cl->qhead && !cl->stop)
			pthread_cond_wait(&cl->cv, &cl->mu);
		norn_completion_t *c = cl->qhead;
		if (!c) {
			pthread_mutex_unlock(&cl->mu);
			return NULL;
		}
		cl->qhead = c->next;
		if (!cl->qhead)
			cl->qtail = NULL;
		pthread_mutex_unlock(&cl->mu);
		ssize_t r;
		unsigned k = atomic_fetch_add(&cl->nops, 1) + 1;
		if (cl->fail_every && c->kind != A_OP && k % cl->fail_every == 0) {
			r = -ETIMEDOUT;
		} else if (c->kind == A_ROP) {
			norn_read_op_t *ro = c->rop;
			r = 0;
			if (ro->have) {
				r = norn_omap_get_vals(c->io, c->oid, ro->start_after, ro->prefix, ro->max,
				                       ro->out);
				if (ro->rval)
					*ro->rval = (int)r;
			}
		} else {
			lock(cl);
			switch (c->kind) {
			case A_WRITE: r = do_write(c->io, c->oid, c->wbuf, c->len, c->off, 0); break;
			case A_WRITE_FULL: r = do_write(c->io, c->oid, c->wbuf, c->len, 0, 1); break;
			case A_READ: r = do_read(c->io, c->oid, c->rbuf, c->len, c->off); break;
			case A_REMOVE: r = do_remove(c->io, c->oid); break;
			case A_STAT: r = do_stat(c->io, c->oid, c->psize, c->pmtime); break;
			case A_OP: r = op_apply(c->op, c->io, c->oid); break;
			default: r = -EINVAL;
			}
			unlock(cl);
		}
		pthread_mutex_lock(&c->mu);
		c->result = r;
		c->done = 1;
		pthread_cond_broadcast(&c->cv);
		pthread_mutex_unlock(&c->mu);
		if (c->cb)
			c->cb(c, c->arg);
	}
}

static int enqueue(norn_ioctx_t *io, const char *oid, norn_completion_t *c, enum aio_kind k)
{
	c->kind = k;
	c->io = io;
	c->oid = strdup(oid);
	if (!c->oid)
		return -ENOMEM;
	struct norn_cluster *cl = io->cl;
	pthread_mutex_lock(&cl->mu);
	c->next = NULL;
	if (cl->qtail)
		cl->qtail->next = c;
	else
		cl->qhead = c;
	cl->qtail = c;
	pthread_cond_signal(&cl->cv);
	pthread_mutex_unlock(&cl->mu);
	return 0;
}

int norn_aio_write(norn_ioctx_t *io, const char *oid, norn_completion_t *c, const void *buf,
                   size_t len, uint64_t off)
{
	c->wbuf = buf;
	c->len = len;
	c->off = off;
	return enqueue(io, oid, c, A_WRITE);
}

int norn_aio_write_full(norn_ioctx_t *io, const char *oid, norn_completion_t *c,
                        const void *buf, size_t len)
{
	c->wbuf = buf;
	c->len = len;
	return enqueue(io, oid, c, A_WRITE_FULL);
}

int norn_aio_read(norn_ioctx_t *io, const char *oid, norn_completion_t *c, void *buf, size_t len,
                  uint64_t off)
{
	c->rbuf = buf;
	c->len = len;
	c->off = off;
	return enqueue(io, oid, c, A_READ);
}

int norn_aio_remove(norn_ioctx_t *io, const char *oid, norn_completion_t *c)
{
	return enqueue(io, oid, c, A_REMOVE);
}

int norn_aio_stat(norn_ioctx_t *io, const char *oid, norn_completion_t *c, uint64_t *size,
                  uint64_t *mtime_ns)
{
	c->psize = size;
	c->pmtime = mtime_ns;
	return enqueue(io, oid, c, A_STAT);
}

norn_read_op_t *norn_read_op_create(void) { return calloc(1, sizeof(norn_read_op_t)); }

void norn_read_op_release(norn_read_op_t *op)
{
	if (!op)
		return;
	free(op->start_after);
	free(op->prefix);
	free(op);
}

void norn_read_op_omap_get_vals(norn_read_op_t *op, const char *start_after, const char *prefix,
                                size_t max, struct norn_list *out, int *rval)
{
	op->start_after = strdup(start_after ? start_after : "");
	op->prefix = strdup(prefix ? prefix : "");
	if (!op->start_after || !op->prefix)
		abort();
	op->max = max;
	op->out = out;
	op->rval = rval;
	op->have = 1;
}

int norn_aio_read_op_operate(norn_read_op_t *op, norn_ioctx_t *io, const char *oid,
                             norn_completion_t *c)
{
	c->rop = op;
	return enqueue(io, oid, c, A_ROP);
}

int norn_aio_write_op_operate(norn_write_op_t *op, norn_ioctx_t *io, const char *oid,
                              norn_completion_t *c)
{
	/* The caller keeps @op until the completion fires. */
	c->op = op;
	return enqueue(io, oid, c, A_OP);
}
