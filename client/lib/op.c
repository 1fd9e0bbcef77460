/* libnorn operations without I/O: building steps (compound write ops copy
 * their arguments), encoding an OSD_OP message (zero copy for a large last
 * data step), turning a reply into the caller's outputs, completions, and
 * the list/cursor formats. See client_int.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/lib/client_int.h"
#include "common/assert.h"

/* ---- completions ------------------------------------------------------------ */

norn_completion_t *norn_completion_create(norn_callback_t cb, void *arg)
{
	norn_completion_t *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	c->refs = 1;
	c->cb = cb;
	c->arg = arg;
	return c;
}

void cl_completion_get(norn_completion_t *c)
{
	pthread_mutex_lock(&c->mu);
	NORN_ASSERT(c->refs > 0);
	c->refs++;
	pthread_mutex_unlock(&c->mu);
}

void cl_completion_put(norn_completion_t *c)
{
	int left;
	pthread_mutex_lock(&c->mu);
	NORN_ASSERT(c->refs > 0);
	left = --c->refs;
	pthread_mutex_unlock(&c->mu);
	if (left == 0) {
		pthread_mutex_destroy(&c->mu);
		pthread_cond_destroy(&c->cv);
		free(c);
	}
}

void cl_completion_finish(norn_completion_t *c, ssize_t result)
{
	pthread_mutex_lock(&c->mu);
	NORN_ASSERT(!c->done);
	c->result = result;
	c->done = 1;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	/* The op still holds its reference, so a callback may release the
	 * user's reference (the usual pattern) without freeing under us. */
	if (c->cb)
		c->cb(c, c->arg);
	cl_completion_put(c);
}

int norn_completion_wait(norn_completion_t *c)
{
	ssize_t r;
	pthread_mutex_lock(&c->mu);
	while (!c->done)
		pthread_cond_wait(&c->cv, &c->mu);
	r = c->result;
	pthread_mutex_unlock(&c->mu);
	return r > INT32_MAX ? INT32_MAX : (int)r;
}

int norn_completion_is_complete(norn_completion_t *c)
{
	int d;
	pthread_mutex_lock(&c->mu);
	d = c->done;
	pthread_mutex_unlock(&c->mu);
	return d;
}

ssize_t norn_completion_result(norn_completion_t *c)
{
	ssize_t r;
	pthread_mutex_lock(&c->mu);
	r = c->done ? c->result : -EINPROGRESS;
	pthread_mutex_unlock(&c->mu);
	return r;
}

void norn_completion_release(norn_completion_t *c)
{
	if (c)
		cl_completion_put(c);
}

/* ---- steps ------------------------------------------------------------------- */

static char *dup_bytes(const void *p, size_t n)
{
	char *d = malloc(n + 1);
	if (!d)
		return NULL;
	if (n)
		memcpy(d, p, n);
	d[n] = 0;
	return d;
}

int cl_step_set(struct cl_step *s, uint16_t code, uint16_t flags, uint64_t off, uint64_t len,
                const char *name, size_t name_len, const char *name2, size_t name2_len,
                const void *data, size_t data_len, int copy)
{
	memset(s, 0, sizeof(*s));
	if (name_len > OSD_OP_NAME_MAX || name2_len > OSD_OP_NAME_MAX || data_len > UINT32_MAX)
		return -EINVAL;
	s->code = code;
	s->flags = flags;
	s->off = off;
	s->len = len;
	if (name_len && !(s->name = dup_bytes(name, name_len)))
		goto nomem;
	s->name_len = name_len;
	if (name2_len && !(s->name2 = dup_bytes(name2, name2_len)))
		goto nomem;
	s->name2_len = name2_len;
	if (data_len && copy) {
		if (!(s->data_owned = malloc(data_len)))
			goto nomem;
		memcpy(s->data_owned, data, data_len);
		s->data = s->data_owned;
	} else if (data_len) {
		s->data = data;
	}
	s->data_len = data_len;
	return 0;
nomem:
	cl_step_free(s);
	return -ENOMEM;
}

void cl_step_free(struct cl_step *s)
{
	free(s->name);
	free(s->name2);
	free(s->data_owned);
	memset(s, 0, sizeof(*s));
}

norn_write_op_t *norn_write_op_create(void)
{
	return calloc(1, sizeof(norn_write_op_t));
}

void norn_write_op_release(norn_write_op_t *op)
{
	if (!op)
		return;
	for (uint32_t i = 0; i < op->n; i++)
		cl_step_free(&op->steps[i]);
	free(op);
}

struct cl_step *cl_write_op_add(norn_write_op_t *op, uint16_t code, uint16_t flags,
                                uint64_t off, uint64_t len, const char *name,
                                const void *data, size_t data_len)
{
	struct cl_step *s;
	int rc;

	if (op->err)
		return NULL;
	if (op->n >= OSD_OP_MAX_STEPS) {
		op->err = -E2BIG;
		return NULL;
	}
	if (data_len && !data) {
		op->err = -EINVAL;
		return NULL;
	}
	s = &op->steps[op->n];
	rc = cl_step_set(s, code, flags, off, len, name, name ? strlen(name) : 0, NULL, 0, data,
	                 data_len, 1);
	if (rc) {
		op->err = rc;
		return NULL;
	}
	op->n++;
	return s;
}

void norn_write_op_create_obj(norn_write_op_t *op, int exclusive)
{
	cl_write_op_add(op, OSD_OP_CREATE, exclusive ? OSD_OP_F_EXCL : 0, 0, 0, NULL, NULL, 0);
}

void norn_write_op_assert_exists(norn_write_op_t *op)
{
	cl_write_op_add(op, OSD_OP_ASSERT_EXISTS, 0, 0, 0, NULL, NULL, 0);
}

void norn_write_op_cmpxattr(norn_write_op_t *op, const char *name, const void *val, size_t len)
{
	if (!name || strlen(name) >= NORN_XATTR_NAME_MAX) {
		if (!op->err)
			op->err = -EINVAL;
		return;
	}
	cl_write_op_add(op, OSD_OP_CMPXATTR, 0, 0, 0, name, val, len);
}

void norn_write_op_omap_cmp(norn_write_op_t *op, const char *key, const void *val, size_t len)
{
	if (!key || !key[0] || strlen(key) > NORN_OMAP_KEY_MAX) {
		if (!op->err)
			op->err = -EINVAL;
		return;
	}
	cl_write_op_add(op, OSD_OP_OMAP_CMP, 0, 0, 0, key, val, len);
}

void norn_write_op_write(norn_write_op_t *op, const void *buf, size_t len, uint64_t off)
{
	cl_write_op_add(op, OSD_OP_WRITE, 0, off, len, NULL, buf, len);
}

void norn_write_op_write_full(norn_write_op_t *op, const void *buf, size_t len)
{
	cl_write_op_add(op, OSD_OP_WRITE_FULL, 0, 0, len, NULL, buf, len);
}

void norn_write_op_append(norn_write_op_t *op, const void *buf, size_t len)
{
	cl_write_op_add(op, OSD_OP_APPEND, 0, 0, len, NULL, buf, len);
}

void norn_write_op_truncate(norn_write_op_t *op, uint64_t size)
{
	cl_write_op_add(op, OSD_OP_TRUNCATE, 0, size, 0, NULL, NULL, 0);
}

void norn_write_op_zero(norn_write_op_t *op, uint64_t off, uint64_t len)
{
	cl_write_op_add(op, OSD_OP_ZERO, 0, off, len, NULL, NULL, 0);
}

void norn_write_op_remove(norn_write_op_t *op)
{
	cl_write_op_add(op, OSD_OP_DELETE, 0, 0, 0, NULL, NULL, 0);
}

void norn_write_op_setxattr(norn_write_op_t *op, const char *name, const void *val, size_t len)
{
	if (!name || !name[0] || strlen(name) >= NORN_XATTR_NAME_MAX) {
		if (!op->err)
			op->err = -EINVAL;
		return;
	}
	cl_write_op_add(op, OSD_OP_SETXATTR, 0, 0, 0, name, val, len);
}

void norn_write_op_rmxattr(norn_write_op_t *op, const char *name)
{
	if (!name || !name[0] || strlen(name) >= NORN_XATTR_NAME_MAX) {
		if (!op->err)
			op->err = -EINVAL;
		return;
	}
	cl_write_op_add(op, OSD_OP_RMXATTR, 0, 0, 0, name, NULL, 0);
}

void norn_write_op_omap_set(norn_write_op_t *op, const char *const *keys,
                            const void *const *vals, const size_t *val_lens, size_t n)
{
	uint8_t *buf;
	size_t len;
	struct cl_step *s;
	int rc;

	if (op->err)
		return;
	rc = cl_encode_kv(keys, vals, val_lens, n, &buf, &len);
	if (rc) {
		op->err = rc;
		return;
	}
	/* hand the encoded list to the step without a second copy */
	s = cl_write_op_add(op, OSD_OP_OMAP_SET, 0, 0, 0, NULL, NULL, 0);
	if (!s) {
		free(buf);
		return;
	}
	s->data_owned = buf;
	s->data = buf;
	s->data_len = len;
}

void norn_write_op_omap_rm_keys(norn_write_op_t *op, const char *const *keys, size_t n)
{
	uint8_t *buf;
	size_t len;
	struct cl_step *s;
	int rc;

	if (op->err)
		return;
	rc = cl_encode_keys(keys, n, &buf, &len);
	if (rc) {
		op->err = rc;
		return;
	}
	s = cl_write_op_add(op, OSD_OP_OMAP_RM_KEYS, 0, 0, 0, NULL, NULL, 0);
	if (!s) {
		free(buf);
		return;
	}
	s->data_owned = buf;
	s->data = buf;
	s->data_len = len;
}

void norn_write_op_omap_clear(norn_write_op_t *op)
{
	cl_write_op_add(op, OSD_OP_OMAP_CLEAR, 0, 0, 0, NULL, NULL, 0);
}

/* ---- kv / key lists ------------------------------------------------------------ */

int cl_encode_kv(const char *const *keys, const void *const *vals, const size_t *val_lens,
                 size_t n, uint8_t **out, size_t *out_len)
{
	struct enc e;

	*out = NULL;
	*out_len = 0;
	if (n > UINT32_MAX || (n && (!keys || !val_lens)))
		return -EINVAL;
	enc_init(&e, 64 + n * 32);
	osd_kv_list_begin(&e, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		size_t kl = keys[i] ? strlen(keys[i]) : 0;
		if (!keys[i] || kl > NORN_OMAP_KEY_MAX || (val_lens[i] && (!vals || !vals[i])) ||
		    val_lens[i] > UINT32_MAX) {
			enc_free(&e);
			return -EINVAL;
		}
		osd_kv_list_add(&e, keys[i], kl, val_lens[i] ? vals[i] : "", val_lens[i]);
	}
	if (enc_error(&e)) {
		enc_free(&e);
		return -ENOMEM;
	}
	*out = enc_take(&e, out_len);
	return 0;
}

int cl_encode_keys(const char *const *keys, size_t n, uint8_t **out, size_t *out_len)
{
	struct enc e;

	*out = NULL;
	*out_len = 0;
	if (n > UINT32_MAX || (n && !keys))
		return -EINVAL;
	enc_init(&e, 64 + n * 32);
	enc_u32(&e, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		if (!keys[i] || strlen(keys[i]) > NORN_OMAP_KEY_MAX) {
			enc_free(&e);
			return -EINVAL;
		}
		enc_blob(&e, keys[i], strlen(keys[i]));
	}
	if (enc_error(&e)) {
		enc_free(&e);
		return -ENOMEM;
	}
	*out = enc_take(&e, out_len);
	return 0;
}

/* ---- messages ------------------------------------------------------------------- */

uint32_t cl_steps_flags(const struct cl_step *steps, uint32_t n)
{
	uint32_t f = 0;
	for (uint32_t i = 0; i < n; i++)
		f |= osd_op_is_write(steps[i].code) ? OSD_OPF_WRITE : OSD_OPF_READ;
	return f;
}

int cl_msg_encode(const struct cl_msg_args *a, uint8_t **buf, size_t *len,
                  const uint8_t **tail, size_t *tail_len)
{
	struct osd_op_msg *m;
	struct enc e;
	int split, rc;
	size_t hint = 256 + a->oid_len;

	*buf = NULL;
	*len = 0;
	*tail = NULL;
	*tail_len = 0;
	if (a->n_steps > OSD_OP_MAX_STEPS || a->oid_len > OSD_OP_NAME_MAX ||
	    strlen(a->entity) >= OSD_OP_ENTITY_MAX || a->n_snaps > OSD_OP_MAX_SNAPS)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->epoch = a->epoch;
	m->pool = a->pool;
	m->pg_seed = a->pg_seed;
	m->oid = a->oid;
	m->oid_len = a->oid_len;
	snprintf(m->reqid.entity, sizeof(m->reqid.entity), "%s", a->entity);
	m->reqid.inc = a->inc;
	m->reqid.tid = a->tid;
	m->flags = a->flags;
	m->snap_seq = a->snap_seq;
	m->n_snaps = a->n_snaps;
	m->snaps = a->snaps;
	m->read_snap = a->read_snap;
	m->n_steps = a->n_steps;
	for (uint32_t i = 0; i < a->n_steps; i++) {
		const struct cl_step *s = &a->steps[i];
		struct osd_op_step *d = &m->steps[i];
		d->code = s->code;
		d->flags = s->flags;
		d->off = s->off;
		d->len = s->len;
		d->max = s->max;
		d->name = s->name;
		d->name_len = s->name_len;
		d->name2 = s->name2;
		d->name2_len = s->name2_len;
		d->data = s->data;
		d->data_len = s->data_len;
		hint += 64 + s->name_len + s->name2_len;
		if (i + 1 < a->n_steps || s->data_len < CL_ZERO_COPY_MIN)
			hint += s->data_len;
	}
	split = a->n_steps && a->steps[a->n_steps - 1].data_len >= CL_ZERO_COPY_MIN;
	enc_init(&e, hint);
	if (split)
		rc = osd_op_encode_split(&e, m, tail, tail_len);
	else
		rc = osd_op_encode(&e, m);
	free(m);
	if (rc) {
		enc_free(&e);
		*tail = NULL;
		*tail_len = 0;
		return rc == -ENOMEM ? -ENOMEM : -EINVAL;
	}
	*buf = enc_take(&e, len);
	return 0;
}

/* ---- lists ------------------------------------------------------------------------ */

void norn_list_free(struct norn_list *l)
{
	if (!l)
		return;
	free(l->items);
	l->items = NULL;
	l->n = 0;
	l->more = 0;
}

/* One block: items[n], then each key (NUL-terminated) and value. Two
 * passes over the encoded list: size, then fill. */
static int parse_list(const uint8_t *p, size_t len, int with_vals, int has_more,
                      struct norn_list *out)
{
	struct dec d;
	uint32_t n, left;
	size_t total, i;
	const void *k, *v;
	size_t kl, vl;
	uint8_t *blk, *w;

	memset(out, 0, sizeof(*out));
	dec_init(&d, p, len);
	n = dec_count(&d, UINT32_MAX, with_vals ? 8 : 4);
	if (d.err)
		return NORN_ECORRUPT;
	total = (size_t)n * sizeof(struct norn_kv);
	left = n;
	for (;;) {
		int r;
		if (with_vals) {
			r = osd_kv_list_next(&d, &left, &k, &kl, &v, &vl);
		} else {
			if (!left) {
				r = 0;
			} else {
				k = dec_blob(&d, &kl);
				vl = 0;
				r = d.err ? d.err : 1;
				left--;
			}
		}
		if (r < 0)
			return NORN_ECORRUPT;
		if (r == 0)
			break;
		total += kl + 1 + vl;
	}
	if (has_more) {
		out->more = dec_u8(&d) != 0;
		if (d.err)
			return NORN_ECORRUPT;
	}
	if (dec_left(&d))
		return NORN_ECORRUPT;
	blk = malloc(total ? total : 1);
	if (!blk)
		return -ENOMEM;
	out->items = (struct norn_kv *)(void *)blk;
	w = blk + (size_t)n * sizeof(struct norn_kv);
	dec_init(&d, p, len);
	dec_u32(&d);
	left = n;
	for (i = 0; i < n; i++) {
		if (with_vals) {
			osd_kv_list_next(&d, &left, &k, &kl, &v, &vl);
		} else {
			k = dec_blob(&d, &kl);
			v = NULL;
			vl = 0;
		}
		out->items[i].key = (char *)w;
		memcpy(w, k, kl);
		w[kl] = 0;
		w += kl + 1;
		if (with_vals) {
			out->items[i].val = w;
			if (vl)
				memcpy(w, v, vl);
			w += vl;
		} else {
			out->items[i].val = NULL;
		}
		out->items[i].val_len = vl;
	}
	NORN_ASSERT(!d.err);
	out->n = n;
	return 0;
}

int cl_parse_name_list(const uint8_t *p, size_t len, struct norn_list *out)
{
	return parse_list(p, len, 0, 1, out);
}

int cl_parse_kv_list(const uint8_t *p, size_t len, int has_more, struct norn_list *out)
{
	return parse_list(p, len, 1, has_more, out);
}

int cl_cursor_parse(const char *cur, uint32_t *seed, const char **after)
{
	char *end;
	unsigned long v;

	if (!cur || !cur[0]) {
		*seed = 0;
		*after = "";
		return 0;
	}
	if (cur[0] == '-' || cur[0] == '+' || cur[0] == ' ')
		return -EINVAL;
	v = strtoul(cur, &end, 16);
	if (end == cur || *end != '/' || v > UINT32_MAX)
		return -EINVAL;
	*seed = (uint32_t)v;
	*after = end + 1;
	return 0;
}

char *cl_cursor_make(uint32_t seed, const char *after, size_t after_len)
{
	char *s = malloc(after_len + 16);
	if (!s)
		return NULL;
	int n = snprintf(s, 16, "%" PRIx32 "/", seed);
	memcpy(s + n, after, after_len);
	s[(size_t)n + after_len] = 0;
	return s;
}

/* ---- replies ------------------------------------------------------------------------ */

static int apply_step(const struct osd_op_step_reply *sr, struct cl_step *s)
{
	struct cl_out *o = &s->out;
	int rc;

	if (o->rval)
		*o->rval = sr->rval;
	if (sr->rval < 0)
		return 0;
	switch (s->code) {
	case OSD_OP_READ:
		if (sr->out_len > s->len || (o->buf == NULL && sr->out_len))
			return NORN_ECORRUPT;
		if (sr->out_len)
			memcpy(o->buf, sr->out, sr->out_len);
		o->produced = sr->out_len;
		if (o->producedp)
			*o->producedp = sr->out_len;
		return 0;
	case OSD_OP_STAT:
		if (sr->out_len < 16)
			return NORN_ECORRUPT;
		if (o->u1)
			*o->u1 = norn_get_le64(sr->out);
		if (o->u2)
			*o->u2 = norn_get_le64(sr->out + 8);
		return 0;
	case OSD_OP_GETXATTR:
		if (o->valp) {
			void *v = malloc(sr->out_len ? sr->out_len : 1);
			if (!v)
				return -ENOMEM;
			if (sr->out_len)
				memcpy(v, sr->out, sr->out_len);
			*o->valp = v;
		}
		o->produced = sr->out_len;
		if (o->producedp)
			*o->producedp = sr->out_len;
		return 0;
	case OSD_OP_GETXATTRS:
		if (o->list && (rc = cl_parse_kv_list(sr->out, sr->out_len, 0, o->list)))
			return rc;
		return 0;
	case OSD_OP_OMAP_GET_VALS:
		if (o->list && (rc = cl_parse_kv_list(sr->out, sr->out_len, 1, o->list)))
			return rc;
		return 0;
	case OSD_OP_OMAP_GET_BY_KEYS:
		if (o->list && (rc = cl_parse_kv_list(sr->out, sr->out_len, 0, o->list)))
			return rc;
		return 0;
	case OSD_OP_PG_LIST:
		if (o->list && (rc = cl_parse_name_list(sr->out, sr->out_len, o->list)))
			return rc;
		return 0;
	default:
		return 0;
	}
}

ssize_t cl_reply_apply(const struct osd_op_reply *r, struct cl_step *steps, uint32_t n_steps,
                       enum cl_result_kind kind, uint32_t res_step)
{
	int rc;

	if (r->result < 0) {
		/* a failed op: the reply may stop at the failing step */
		for (uint32_t i = 0; i < n_steps; i++)
			if (steps[i].out.rval)
				*steps[i].out.rval = i < r->n_steps ? r->steps[i].rval : r->result;
		return r->result;
	}
	if (r->n_steps != n_steps)
		return NORN_ECORRUPT;
	for (uint32_t i = 0; i < n_steps; i++) {
		rc = apply_step(&r->steps[i], &steps[i]);
		if (rc) {
			/* release what earlier steps allocated: the caller sees an error */
			for (uint32_t j = 0; j <= i; j++) {
				struct cl_out *o = &steps[j].out;
				if (o->list)
					norn_list_free(o->list);
				if (o->valp && r->steps[j].rval >= 0 && j < i) {
					free(*o->valp);
					*o->valp = NULL;
				}
			}
			return rc;
		}
	}
	switch (kind) {
	case CL_RES_BYTES:
		NORN_ASSERT(res_step < n_steps);
		return (ssize_t)steps[res_step].out.produced;
	case CL_RES_OMAP_ONE: {
		struct cl_out *o = &steps[res_step].out;
		NORN_ASSERT(res_step < n_steps && o->list && o->valp);
		if (o->list->n == 0) {
			norn_list_free(o->list);
			return -ENOENT;
		}
		void *v = malloc(o->list->items[0].val_len ? o->list->items[0].val_len : 1);
		ssize_t len = (ssize_t)o->list->items[0].val_len;
		if (!v) {
			norn_list_free(o->list);
			return -ENOMEM;
		}
		memcpy(v, o->list->items[0].val, (size_t)len);
		*o->valp = v;
		norn_list_free(o->list);
		return len;
	}
	default:
		return r->result;
	}
}

/* ---- read ops ------------------------------------------------------------------------- */

norn_read_op_t *norn_read_op_create(void)
{
	return calloc(1, sizeof(norn_read_op_t));
}

void norn_read_op_release(norn_read_op_t *op)
{
	if (!op)
		return;
	for (uint32_t i = 0; i < op->n; i++)
		cl_step_free(&op->steps[i]);
	free(op);
}

static struct cl_step *read_op_add(norn_read_op_t *op, uint16_t code, uint64_t off, uint64_t len,
                                   const char *name, const char *name2, const void *data,
                                   size_t dlen, int *rval)
{
	struct cl_step *s;
	int rc;

	if (op->err)
		return NULL;
	if (op->n >= OSD_OP_MAX_STEPS) {
		op->err = -E2BIG;
		return NULL;
	}
	if ((dlen && !data) || (name && strlen(name) > OSD_OP_NAME_MAX) ||
	    (name2 && strlen(name2) > OSD_OP_NAME_MAX)) {
		op->err = -EINVAL;
		return NULL;
	}
	s = &op->steps[op->n];
	rc = cl_step_set(s, code, 0, off, len, name, name ? strlen(name) : 0, name2,
	                 name2 ? strlen(name2) : 0, data, dlen, 1);
	if (rc) {
		op->err = rc;
		return NULL;
	}
	s->out.rval = rval;
	op->n++;
	return s;
}

void norn_read_op_assert_exists(norn_read_op_t *op)
{
	read_op_add(op, OSD_OP_ASSERT_EXISTS, 0, 0, NULL, NULL, NULL, 0, NULL);
}

void norn_read_op_cmpxattr(norn_read_op_t *op, const char *name, const void *val, size_t len)
{
	if (!name || !name[0] || strlen(name) >= NORN_XATTR_NAME_MAX) {
		if (!op->err)
			op->err = -EINVAL;
		return;
	}
	read_op_add(op, OSD_OP_CMPXATTR, 0, 0, name, NULL, val, len, NULL);
}

void norn_read_op_stat(norn_read_op_t *op, uint64_t *size, uint64_t *mtime_ns, int *rval)
{
	struct cl_step *s = read_op_add(op, OSD_OP_STAT, 0, 0, NULL, NULL, NULL, 0, rval);
	if (s) {
		s->out.u1 = size;
		s->out.u2 = mtime_ns;
	}
}

void norn_read_op_read(norn_read_op_t *op, uint64_t off, size_t len, void *buf,
                       size_t *bytes_read, int *rval)
{
	struct cl_step *s;
	if (len == 0 || !buf) {
		/* a READ of length 0 means "to the end" on the wire */
		if (!op->err)
			op->err = -EINVAL;
		return;
	}
	s = read_op_add(op, OSD_OP_READ, off, len, NULL, NULL, NULL, 0, rval);
	if (s) {
		s->out.buf = buf;
		s->out.cap = len;
		s->out.producedp = bytes_read;
	}
}

void norn_read_op_getxattr(norn_read_op_t *op, const char *name, void **val, size_t *len,
                           int *rval)
{
	struct cl_step *s;
	if (!name || !name[0] || strlen(name) >= NORN_XATTR_NAME_MAX || !val) {
		if (!op->err)
			op->err = -EINVAL;
		return;
	}
	*val = NULL;
	s = read_op_add(op, OSD_OP_GETXATTR, 0, 0, name, NULL, NULL, 0, rval);
	if (s) {
		s->out.valp = val;
		s->out.producedp = len;
	}
}

void norn_read_op_getxattrs(norn_read_op_t *op, struct norn_list *out, int *rval)
{
	struct cl_step *s;
	if (!out) {
		if (!op->err)
			op->err = -EINVAL;
		return;
	}
	memset(out, 0, sizeof(*out));
	s = read_op_add(op, OSD_OP_GETXATTRS, 0, 0, NULL, NULL, NULL, 0, rval);
	if (s)
		s->out.list = out;
}

void norn_read_op_omap_get_vals(norn_read_op_t *op, const char *start_after, const char *prefix,
                                size_t max, struct norn_list *out, int *rval)
{
	struct cl_step *s;
	if (!out) {
		if (!op->err)
			op->err = -EINVAL;
		return;
	}
	memset(out, 0, sizeof(*out));
	s = read_op_add(op, OSD_OP_OMAP_GET_VALS, 0, 0, start_after ? start_after : "",
	                prefix ? prefix : "", NULL, 0, rval);
	if (s) {
		s->max = (uint32_t)(max < CL_LIST_PAGE_MAX ? max : CL_LIST_PAGE_MAX);
		s->out.list = out;
	}
}
