/* An in-memory libnorn for the volume unit tests.
 *
 * It implements the part of include/norn/norn.h that client/vol and the
 * NBD volume backend use, over one process-wide object table, with the
 * semantics the header promises: compound write ops applied atomically
 * (all steps or none; assert/compare steps fail with -ENOENT, -EEXIST,
 * -ECANCELED), reads of missing objects -ENOENT, short reads at the end,
 * -ENODATA for a missing xattr, omap listing in key order with paging.
 * Async ops run on FAKE_THREADS worker threads, so completions arrive out
 * of order and concurrently, like the real library's I/O thread but
 * harsher. Tests can pause the workers (an OSD that went away: requests
 * wait) and inject an error into the next N ops.
 *
 * This is a test double for unit tests only; the integration tests run
 * the real libnorn against real daemons.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "norn/norn.h"
#include "tests/vol/fake_norn.h"

#define FAKE_THREADS 2
#define FAKE_MAX_XATTRS 16

struct kv {
	char *key;
	uint8_t *val;
	size_t len;
};

struct fobj {
	char *name;
	uint8_t *data;
	size_t size;
	struct kv xattrs[FAKE_MAX_XATTRS];
	unsigned n_xattrs;
	struct kv *omap;
	size_t n_omap;
	struct fobj *next;
};

struct norn_ioctx {
	int unused;
};
static struct norn_ioctx g_io;

norn_ioctx_t *fake_norn_ioctx(void)
{
	return &g_io;
}

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static struct fobj *g_objs;
static bool g_paused;
static int g_fail_err;
static unsigned g_fail_count;
static uint64_t g_ops;

/* ---- object table (g_mu held) --------------------------------------------- */

static struct fobj *find(const char *name)
{
	for (struct fobj *o = g_objs; o; o = o->next)
		if (!strcmp(o->name, name))
			return o;
	return NULL;
}

static void kv_free(struct kv *k)
{
	free(k->key);
	free(k->val);
}

static void obj_free(struct fobj *o)
{
	free(o->name);
	free(o->data);
	for (unsigned i = 0; i < o->n_xattrs; i++)
		kv_free(&o->xattrs[i]);
	for (size_t i = 0; i < o->n_omap; i++)
		kv_free(&o->omap[i]);
	free(o->omap);
	free(o);
}

static void unlink_obj(struct fobj *o)
{
	for (struct fobj **pp = &g_objs; *pp; pp = &(*pp)->next)
		if (*pp == o) {
			*pp = o->next;
			return;
		}
}

static void *dupmem(const void *p, size_t n)
{
	void *q = malloc(n ? n : 1);
	if (q && n)
		memcpy(q, p, n);
	return q;
}

static struct fobj *obj_clone(const struct fobj *o)
{
	struct fobj *c = calloc(1, sizeof(*c));
	c->name = strdup(o->name);
	c->data = dupmem(o->data, o->size);
	c->size = o->size;
	c->n_xattrs = o->n_xattrs;
	for (unsigned i = 0; i < o->n_xattrs; i++) {
		c->xattrs[i].key = strdup(o->xattrs[i].key);
		c->xattrs[i].val = dupmem(o->xattrs[i].val, o->xattrs[i].len);
		c->xattrs[i].len = o->xattrs[i].len;
	}
	c->n_omap = o->n_omap;
	c->omap = calloc(o->n_omap ? o->n_omap : 1, sizeof(struct kv));
	for (size_t i = 0; i < o->n_omap; i++) {
		c->omap[i].key = strdup(o->omap[i].key);
		c->omap[i].val = dupmem(o->omap[i].val, o->omap[i].len);
		c->omap[i].len = o->omap[i].len;
	}
	return c;
}

static struct fobj *obj_new(const char *name)
{
	struct fobj *o = calloc(1, sizeof(*o));
	o->name = strdup(name);
	o->omap = calloc(1, sizeof(struct kv));
	return o;
}

static void obj_resize(struct fobj *o, size_t size)
{
	if (size > o->size) {
		o->data = realloc(o->data, size);
		memset(o->data + o->size, 0, size - o->size);
	}
	o->size = size;
}

static struct kv *xattr_find(struct fobj *o, const char *name)
{
	for (unsigned i = 0; i < o->n_xattrs; i++)
		if (!strcmp(o->xattrs[i].key, name))
			return &o->xattrs[i];
	return NULL;
}

static void xattr_set(struct fobj *o, const char *name, const void *v, size_t n)
{
	struct kv *k = xattr_find(o, name);
	if (!k) {
		if (o->n_xattrs >= FAKE_MAX_XATTRS)
			abort();
		k = &o->xattrs[o->n_xattrs++];
		k->key = strdup(name);
	} else {
		free(k->val);
	}
	k->val = dupmem(v, n);
	k->len = n;
}

static void xattr_rm(struct fobj *o, const char *name)
{
	struct kv *k = xattr_find(o, name);
	if (!k)
		return;
	kv_free(k);
	*k = o->xattrs[--o->n_xattrs];
}

static void omap_set1(struct fobj *o, const char *key, const void *v, size_t n)
{
	size_t i = 0;
	while (i < o->n_omap && strcmp(o->omap[i].key, key) < 0)
		i++;
	if (i < o->n_omap && !strcmp(o->omap[i].key, key)) {
		free(o->omap[i].val);
	} else {
		o->omap = realloc(o->omap, (o->n_omap + 1) * sizeof(struct kv));
		memmove(&o->omap[i + 1], &o->omap[i], (o->n_omap - i) * sizeof(struct kv));
		o->n_omap++;
		o->omap[i].key = strdup(key);
	}
	o->omap[i].val = dupmem(v, n);
	o->omap[i].len = n;
}

static void omap_rm1(struct fobj *o, const char *key)
{
	for (size_t i = 0; i < o->n_omap; i++)
		if (!strcmp(o->omap[i].key, key)) {
			kv_free(&o->omap[i]);
			memmove(&o->omap[i], &o->omap[i + 1], (o->n_omap - i - 1) * sizeof(struct kv));
			o->n_omap--;
			return;
		}
}

/* Injected failure for this op? (g_mu held) */
static int injected(void)
{
	g_ops++;
	if (g_fail_count) {
		g_fail_count--;
		return g_fail_err;
	}
	return 0;
}

/* ---- test controls ---------------------------------------------------------- */

void fake_norn_reset(void)
{
	pthread_mutex_lock(&g_mu);
	while (g_objs) {
		struct fobj *o = g_objs;
		g_objs = o->next;
		obj_free(o);
	}
	g_fail_count = 0;
	g_paused = false;
	pthread_cond_broadcast(&g_cv);
	pthread_mutex_unlock(&g_mu);
}

void fake_norn_pause(bool paused)
{
	pthread_mutex_lock(&g_mu);
	g_paused = paused;
	pthread_cond_broadcast(&g_cv);
	pthread_mutex_unlock(&g_mu);
}

void fake_norn_fail_next(unsigned n, int err)
{
	pthread_mutex_lock(&g_mu);
	g_fail_count = n;
	g_fail_err = err;
	pthread_mutex_unlock(&g_mu);
}

size_t fake_norn_count_prefix(const char *prefix, uint64_t *bytes)
{
	size_t n = 0;
	uint64_t b = 0;

	pthread_mutex_lock(&g_mu);
	for (struct fobj *o = g_objs; o; o = o->next)
		if (!strncmp(o->name, prefix, strlen(prefix))) {
			n++;
			b += o->size;
		}
	pthread_mutex_unlock(&g_mu);
	if (bytes)
		*bytes = b;
	return n;
}

bool fake_norn_exists(const char *oid)
{
	pthread_mutex_lock(&g_mu);
	bool r = find(oid) != NULL;
	pthread_mutex_unlock(&g_mu);
	return r;
}

/* ---- sync ops ------------------------------------------------------------------ */

static ssize_t do_read(const char *oid, void *buf, size_t len, uint64_t off)
{
	pthread_mutex_lock(&g_mu);
	int inj = injected();
	struct fobj *o = find(oid);
	ssize_t r;
	if (inj)
		r = inj;
	else if (!o)
		r = -ENOENT;
	else if (off >= o->size)
		r = 0;
	else {
		size_t n = o->size - off < len ? o->size - off : len;
		memcpy(buf, o->data + off, n);
		r = (ssize_t)n;
	}
	pthread_mutex_unlock(&g_mu);
	return r;
}

ssize_t norn_read(norn_ioctx_t *io, const char *oid, void *buf, size_t len, uint64_t off)
{
	(void)io;
	return do_read(oid, buf, len, off);
}

static int do_remove(const char *oid)
{
	pthread_mutex_lock(&g_mu);
	int r = injected();
	struct fobj *o = find(oid);
	if (!r && !o)
		r = -ENOENT;
	if (!r) {
		unlink_obj(o);
		obj_free(o);
	}
	pthread_mutex_unlock(&g_mu);
	return r;
}

int norn_remove(norn_ioctx_t *io, const char *oid)
{
	(void)io;
	return do_remove(oid);
}

static int do_stat(const char *oid, uint64_t *size, uint64_t *mtime)
{
	pthread_mutex_lock(&g_mu);
	int r = injected();
	struct fobj *o = find(oid);
	if (!r && !o)
		r = -ENOENT;
	if (!r) {
		if (size)
			*size = o->size;
		if (mtime)
			*mtime = 0;
	}
	pthread_mutex_unlock(&g_mu);
	return r;
}

int norn_stat(norn_ioctx_t *io, const char *oid, uint64_t *size, uint64_t *mtime_ns)
{
	(void)io;
	return do_stat(oid, size, mtime_ns);
}

ssize_t norn_getxattr(norn_ioctx_t *io, const char *oid, const char *name, void **val)
{
	(void)io;
	pthread_mutex_lock(&g_mu);
	ssize_t r = injected();
	struct fobj *o = find(oid);
	struct kv *k = o ? xattr_find(o, name) : NULL;
	if (!r && !o)
		r = -ENOENT;
	else if (!r && !k)
		r = -ENODATA;
	else if (!r) {
		*val = dupmem(k->val, k->len);
		r = (ssize_t)k->len;
	}
	pthread_mutex_unlock(&g_mu);
	return r;
}

int norn_omap_set(norn_ioctx_t *io, const char *oid, const char *const *keys,
                  const void *const *vals, const size_t *val_lens, size_t n)
{
	(void)io;
	pthread_mutex_lock(&g_mu);
	int r = injected();
	if (!r) {
		struct fobj *o = find(oid);
		if (!o) {
			o = obj_new(oid);
			o->next = g_objs;
			g_objs = o;
		}
		for (size_t i = 0; i < n; i++)
			omap_set1(o, keys[i], vals[i], val_lens[i]);
	}
	pthread_mutex_unlock(&g_mu);
	return r;
}

int norn_omap_rm_keys(norn_ioctx_t *io, const char *oid, const char *const *keys, size_t n)
{
	(void)io;
	pthread_mutex_lock(&g_mu);
	int r = injected();
	struct fobj *o = find(oid);
	if (!r && !o)
		r = -ENOENT;
	if (!r)
		for (size_t i = 0; i < n; i++)
			omap_rm1(o, keys[i]);
	pthread_mutex_unlock(&g_mu);
	return r;
}

void norn_list_free(struct norn_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->items[i].key);
		free(l->items[i].val);
	}
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

int norn_omap_get_vals(norn_ioctx_t *io, const char *oid, const char *start_after,
                       const char *prefix, size_t max, struct norn_list *out)
{
	(void)io;
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&g_mu);
	int r = injected();
	struct fobj *o = find(oid);
	if (!r && !o)
		r = -ENOENT;
	if (!r) {
		out->items = calloc(max ? max : 1, sizeof(struct norn_kv));
		for (size_t i = 0; i < o->n_omap; i++) {
			struct kv *k = &o->omap[i];
			if (strcmp(k->key, start_after) <= 0 || strncmp(k->key, prefix, strlen(prefix)))
				continue;
			if (out->n == max) {
				out->more = 1;
				break;
			}
			out->items[out->n].key = strdup(k->key);
			out->items[out->n].val = dupmem(k->val, k->len);
			out->items[out->n].val_len = k->len;
			out->n++;
		}
	}
	pthread_mutex_unlock(&g_mu);
	return r;
}

/* ---- write ops ------------------------------------------------------------------- */

enum step_code { S_CREATE, S_ASSERT, S_CMPX, S_WRITE, S_WRITE_FULL, S_TRUNC, S_ZERO, S_REMOVE,
                 S_SETX, S_RMX, S_OMAP_SET, S_OMAP_RM };

struct step {
	enum step_code code;
	int excl;
	char *name;
	uint8_t *data;
	size_t len;
	uint64_t off, n;
};

struct norn_write_op {
	struct step steps[32];
	unsigned n;
};

norn_write_op_t *norn_write_op_create(void)
{
	return calloc(1, sizeof(norn_write_op_t));
}

void norn_write_op_release(norn_write_op_t *op)
{
	if (!op)
		return;
	for (unsigned i = 0; i < op->n; i++) {
		free(op->steps[i].name);
		free(op->steps[i].data);
	}
	free(op);
}

static struct step *add(norn_write_op_t *op, enum step_code code)
{
	if (op->n >= 32)
		abort();
	struct step *s = &op->steps[op->n++];
	memset(s, 0, sizeof(*s));
	s->code = code;
	return s;
}

void norn_write_op_create_obj(norn_write_op_t *op, int exclusive) { add(op, S_CREATE)->excl = exclusive; }
void norn_write_op_assert_exists(norn_write_op_t *op) { add(op, S_ASSERT); }
void norn_write_op_cmpxattr(norn_write_op_t *op, const char *name, const void *val, size_t len)
{
	struct step *s = add(op, S_CMPX);
	s->name = strdup(name);
	s->data = dupmem(val, len);
	s->len = len;
}
void norn_write_op_write(norn_write_op_t *op, const void *buf, size_t len, uint64_t off)
{
	struct step *s = add(op, S_WRITE);
	s->data = dupmem(buf, len);
	s->len = len;
	s->off = off;
}
void norn_write_op_write_full(norn_write_op_t *op, const void *buf, size_t len)
{
	struct step *s = add(op, S_WRITE_FULL);
	s->data = dupmem(buf, len);
	s->len = len;
}
void norn_write_op_truncate(norn_write_op_t *op, uint64_t size) { add(op, S_TRUNC)->off = size; }
void norn_write_op_zero(norn_write_op_t *op, uint64_t off, uint64_t len)
{
	struct step *s = add(op, S_ZERO);
	s->off = off;
	s->n = len;
}
void norn_write_op_remove(norn_write_op_t *op) { add(op, S_REMOVE); }
void norn_write_op_setxattr(norn_write_op_t *op, const char *name, const void *val, size_t len)
{
	struct step *s = add(op, S_SETX);
	s->name = strdup(name);
	s->data = dupmem(val, len);
	s->len = len;
}
void norn_write_op_rmxattr(norn_write_op_t *op, const char *name) { add(op, S_RMX)->name = strdup(name); }

/* Apply @op to @oid atomically (g_mu held): work on a clone, swap it in on
 * success. */
static int apply(const norn_write_op_t *op, const char *oid)
{
	struct fobj *cur = find(oid);
	struct fobj *w = cur ? obj_clone(cur) : NULL;
	bool exists = cur != NULL, removed = false;
	int r = injected();

	for (unsigned i = 0; i < op->n && !r; i++) {
		const struct step *s = &op->steps[i];
		if (s->code == S_CREATE) {
			if (exists && s->excl)
				r = -EEXIST;
			continue;
		}
		if (s->code == S_ASSERT) {
			if (!exists)
				r = -ENOENT;
			continue;
		}
		if (s->code == S_CMPX) {
			struct kv *k = w ? xattr_find(w, s->name) : NULL;
			size_t have = k ? k->len : 0;
			if (have != s->len || (have && memcmp(k->val, s->data, have)))
				r = -ECANCELED;
			continue;
		}
		if (s->code == S_REMOVE) {
			if (!exists) {
				r = -ENOENT;
				continue;
			}
			obj_free(w);
			w = NULL;
			exists = false;
			removed = true;
			continue;
		}
		if (!w) {
			w = obj_new(oid);
			exists = true;
		}
		switch (s->code) {
		case S_WRITE:
			if (s->off + s->len > w->size)
				obj_resize(w, s->off + s->len);
			memcpy(w->data + s->off, s->data, s->len);
			break;
		case S_WRITE_FULL:
			obj_resize(w, 0);
			obj_resize(w, s->len);
			memcpy(w->data, s->data, s->len);
			break;
		case S_TRUNC:
			obj_resize(w, s->off);
			break;
		case S_ZERO:
			if (s->off < w->size) {
				uint64_t n = s->off + s->n > w->size ? w->size - s->off : s->n;
				memset(w->data + s->off, 0, n);
			}
			break;
		case S_SETX: xattr_set(w, s->name, s->data, s->len); break;
		case S_RMX: xattr_rm(w, s->name); break;
		default: break;
		}
	}
	if (r) {
		if (w)
			obj_free(w);
		return r;
	}
	if (cur) {
		unlink_obj(cur);
		obj_free(cur);
	}
	if (w) {
		w->next = g_objs;
		g_objs = w;
	}
	(void)removed;
	return 0;
}

int norn_write_op_operate(norn_write_op_t *op, norn_ioctx_t *io, const char *oid)
{
	(void)io;
	pthread_mutex_lock(&g_mu);
	int r = apply(op, oid);
	pthread_mutex_unlock(&g_mu);
	return r;
}

int norn_write(norn_ioctx_t *io, const char *oid, const void *buf, size_t len, uint64_t off)
{
	norn_write_op_t *op = norn_write_op_create();
	norn_write_op_write(op, buf, len, off);
	int r = norn_write_op_operate(op, io, oid);
	norn_write_op_release(op);
	return r;
}

/* ---- completions and the worker threads --------------------------------------- */

enum job_kind { J_READ, J_WRITE, J_REMOVE, J_STAT, J_OP };

struct norn_completion {
	norn_callback_t cb;
	void *arg;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	ssize_t result;
	/* the job */
	enum job_kind kind;
	char *oid;
	void *buf;
	size_t len;
	uint64_t off;
	uint64_t *size_out, *mtime_out;
	norn_write_op_t *op;
	struct norn_completion *next;
};

static struct norn_completion *q_head, *q_tail;
static pthread_t g_threads[FAKE_THREADS];
static bool g_started;

static void *worker(void *unused)
{
	(void)unused;
	for (;;) {
		pthread_mutex_lock(&g_mu);
		while (!q_head || g_paused)
			pthread_cond_wait(&g_cv, &g_mu);
		struct norn_completion *c = q_head;
		q_head = c->next;
		if (!q_head)
			q_tail = NULL;
		pthread_mutex_unlock(&g_mu);

		ssize_t r = 0;
		switch (c->kind) {
		case J_READ: r = do_read(c->oid, c->buf, c->len, c->off); break;
		case J_REMOVE: r = do_remove(c->oid); break;
		case J_STAT: r = do_stat(c->oid, c->size_out, c->mtime_out); break;
		case J_WRITE: {
			norn_write_op_t *op = norn_write_op_create();
			norn_write_op_write(op, c->buf, c->len, c->off);
			pthread_mutex_lock(&g_mu);
			r = apply(op, c->oid);
			pthread_mutex_unlock(&g_mu);
			norn_write_op_release(op);
			break;
		}
		case J_OP:
			pthread_mutex_lock(&g_mu);
			r = apply(c->op, c->oid);
			pthread_mutex_unlock(&g_mu);
			break;
		}
		free(c->oid);
		c->oid = NULL;
		norn_callback_t cb = c->cb;
		void *arg = c->arg;
		pthread_mutex_lock(&c->mu);
		c->result = r;
		c->done = true;
		pthread_cond_broadcast(&c->cv);
		pthread_mutex_unlock(&c->mu);
		/* After this the callback may release @c. */
		if (cb)
			cb(c, arg);
	}
	return NULL;
}

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

int norn_completion_is_complete(norn_completion_t *c)
{
	pthread_mutex_lock(&c->mu);
	int d = c->done;
	pthread_mutex_unlock(&c->mu);
	return d;
}

ssize_t norn_completion_result(norn_completion_t *c)
{
	return c->result;
}

void norn_completion_release(norn_completion_t *c)
{
	if (!c)
		return;
	/* A waiter may still hold the mutex for a moment after done. */
	pthread_mutex_lock(&c->mu);
	pthread_mutex_unlock(&c->mu);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	free(c);
}

static int enqueue(norn_completion_t *c, enum job_kind kind, const char *oid)
{
	c->kind = kind;
	c->oid = strdup(oid);
	pthread_mutex_lock(&g_mu);
	if (!g_started) {
		for (int i = 0; i < FAKE_THREADS; i++)
			pthread_create(&g_threads[i], NULL, worker, NULL);
		g_started = true;
	}
	c->next = NULL;
	if (q_tail)
		q_tail->next = c;
	else
		q_head = c;
	q_tail = c;
	pthread_cond_signal(&g_cv);
	pthread_mutex_unlock(&g_mu);
	return 0;
}

int norn_aio_read(norn_ioctx_t *io, const char *oid, norn_completion_t *c, void *buf, size_t len,
                  uint64_t off)
{
	(void)io;
	c->buf = buf;
	c->len = len;
	c->off = off;
	return enqueue(c, J_READ, oid);
}

int norn_aio_write(norn_ioctx_t *io, const char *oid, norn_completion_t *c, const void *buf,
                   size_t len, uint64_t off)
{
	(void)io;
	c->buf = (void *)buf;
	c->len = len;
	c->off = off;
	return enqueue(c, J_WRITE, oid);
}

int norn_aio_remove(norn_ioctx_t *io, const char *oid, norn_completion_t *c)
{
	(void)io;
	return enqueue(c, J_REMOVE, oid);
}

int norn_aio_stat(norn_ioctx_t *io, const char *oid, norn_completion_t *c, uint64_t *size,
                  uint64_t *mtime_ns)
{
	(void)io;
	c->size_out = size;
	c->mtime_out = mtime_ns;
	return enqueue(c, J_STAT, oid);
}

int norn_aio_write_op_operate(norn_write_op_t *op, norn_ioctx_t *io, const char *oid,
                              norn_completion_t *c)
{
	(void)io;
	c->op = op;
	return enqueue(c, J_OP, oid);
}

/* ---- pools: the fake has one, "rbd" ------------------------------------------- */

int norn_ioctx_create(norn_cluster_t *cl, const char *pool_name, norn_ioctx_t **out)
{
	(void)cl;
	if (strcmp(pool_name, "rbd"))
		return -ENOENT;
	*out = &g_io;
	return 0;
}

void norn_ioctx_destroy(norn_ioctx_t *io)
{
	(void)io;
}

/* ---- snapshots: the fake keeps no clones (snapshot semantics are tested
 * against a real cluster in tests/vol_integ); these keep the volume code
 * linkable and its header bookkeeping testable. */

static uint64_t g_snap_seq;

int norn_ioctx_dup(norn_ioctx_t *io, norn_ioctx_t **out)
{
	(void)io;
	*out = &g_io;
	return 0;
}

int norn_ioctx_set_write_snap_context(norn_ioctx_t *io, uint64_t seq, const uint64_t *snaps,
                                      size_t n)
{
	(void)io;
	for (size_t i = 0; i < n; i++)
		if (snaps[i] > seq || (i && snaps[i] >= snaps[i - 1]))
			return -EINVAL;
	return 0;
}

void norn_ioctx_set_read_snap(norn_ioctx_t *io, uint64_t snapid)
{
	(void)io;
	(void)snapid;
}

int norn_ioctx_selfmanaged_snap_create(norn_ioctx_t *io, uint64_t *snapid)
{
	(void)io;
	pthread_mutex_lock(&g_mu);
	*snapid = ++g_snap_seq;
	pthread_mutex_unlock(&g_mu);
	return 0;
}

void norn_write_op_rollback(norn_write_op_t *op, uint64_t snapid)
{
	(void)snapid;
	add(op, S_ASSERT);   /* the fake has no clones: a rollback is a no-op on an existing object */
}

int norn_setxattr(norn_ioctx_t *io, const char *oid, const char *name, const void *val, size_t len)
{
	norn_write_op_t *op = norn_write_op_create();
	int rc;
	if (!op)
		return -ENOMEM;
	norn_write_op_setxattr(op, name, val, len);
	rc = norn_write_op_operate(op, io, oid);
	norn_write_op_release(op);
	return rc;
}
