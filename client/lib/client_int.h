/* libnorn internals shared by the files of client/lib (prefix cl_) and its
 * unit tests: operation building and encoding (op.c), reply decoding into
 * the caller's output buffers, completions.
 *
 * An operation (struct cl_op) is what one OSD_OP message carries: one
 * object (or one PG for PG_LIST), an ordered list of steps and, per step,
 * where its output goes. Ops built by the simple calls (norn_write(),
 * norn_read()...) reference the caller's buffers (zero copy: they stay
 * valid until the op completes); compound write ops copy every argument.
 * Nothing in op.c touches the network or the I/O thread, so it is tested
 * without a cluster.
 */
#ifndef NORN_CLIENT_INT_H
#define NORN_CLIENT_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/encode.h"
#include "common/proto_osd.h"
#include "norn/norn.h"

/* Below this many bytes a step's data is copied into the message buffer;
 * at or above it the last step's data travels as its own iovec. */
#define CL_ZERO_COPY_MIN 16384
/* Largest page of names or omap entries asked for in one step. */
#define CL_LIST_PAGE_MAX 4096

/* How the op's overall result is computed from the reply. */
enum cl_result_kind {
	CL_RES_PLAIN = 0,       /* reply.result */
	CL_RES_BYTES,           /* bytes produced by step res_step (reads, getxattr) */
	CL_RES_OMAP_ONE,        /* value length of the single key asked for, -ENOENT if absent */
};

/* Where one step's output goes (all optional). */
struct cl_out {
	void *buf;              /* READ: copy up to cap bytes here */
	size_t cap;
	uint64_t *u1, *u2;      /* STAT: size, mtime_ns */
	void **valp;            /* GETXATTR, OMAP_GET_BY_KEYS (one key): malloc()ed value */
	struct norn_list *list; /* OMAP_GET_VALS, PG_LIST, GETXATTRS: a page */
	int *rval;              /* the step's own result */
	size_t *producedp;      /* READ, GETXATTR: also store the byte count here */
	size_t produced;        /* set on completion: bytes produced */
};

struct cl_step {
	uint16_t code;
	uint16_t flags;
	uint64_t off, len;
	uint32_t max;
	char *name;             /* owned copies (may be NULL when name_len is 0) */
	size_t name_len;
	char *name2;
	size_t name2_len;
	const uint8_t *data;    /* points at data_owned or at a caller's buffer */
	size_t data_len;
	uint8_t *data_owned;
	struct cl_out out;
};

struct norn_write_op {
	uint32_t n;
	int err;                /* sticky: -E2BIG (too many steps), -ENOMEM, -EINVAL */
	struct cl_step steps[OSD_OP_MAX_STEPS];
};

/* A read op has the same shape (its steps carry output pointers). */
struct norn_read_op {
	uint32_t n;
	int err;
	struct cl_step steps[OSD_OP_MAX_STEPS];
};

/* Also declared in norn.h (added there by the vol helper): a new ioctx on
 * the same pool without the snapshot context. */
int norn_ioctx_dup(norn_ioctx_t *io, norn_ioctx_t **out);

/* ---- completions ---------------------------------------------------------- */

struct norn_completion {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int refs;               /* user + in-flight op */
	int done;
	ssize_t result;
	norn_callback_t cb;
	void *arg;
};

/* Take a reference for an op that will complete @c. */
void cl_completion_get(norn_completion_t *c);
/* Drop a reference (frees at zero). */
void cl_completion_put(norn_completion_t *c);
/* Record @result, wake waiters, run the callback (on the caller's thread),
 * then drop the op's reference. Called exactly once per queued op. */
void cl_completion_finish(norn_completion_t *c, ssize_t result);

/* ---- steps --------------------------------------------------------------- */

/* Fill @s (zeroed first). @copy: duplicate @data (else reference it).
 * Returns 0, -EINVAL (name too long) or -ENOMEM. */
int cl_step_set(struct cl_step *s, uint16_t code, uint16_t flags, uint64_t off, uint64_t len,
                const char *name, size_t name_len, const char *name2, size_t name2_len,
                const void *data, size_t data_len, int copy);
void cl_step_free(struct cl_step *s);

/* Append a step to a write op (copies everything); errors stick in op->err. */
struct cl_step *cl_write_op_add(norn_write_op_t *op, uint16_t code, uint16_t flags,
                                uint64_t off, uint64_t len, const char *name,
                                const void *data, size_t data_len);

/* Encode a kv list / key list into a freshly malloc()ed buffer. Returns 0
 * and *out and *out_len, -EINVAL (a key or count out of bounds) or -ENOMEM. */
int cl_encode_kv(const char *const *keys, const void *const *vals, const size_t *val_lens,
                 size_t n, uint8_t **out, size_t *out_len);
int cl_encode_keys(const char *const *keys, size_t n, uint8_t **out, size_t *out_len);

/* ---- messages ------------------------------------------------------------- */

/* Everything needed to encode one OSD_OP message. */
struct cl_msg_args {
	uint64_t epoch;
	int64_t pool;
	uint32_t pg_seed;
	const char *oid;
	size_t oid_len;
	const char *entity;
	uint64_t inc;
	uint64_t tid;
	uint32_t flags;         /* OSD_OPF_* */
	uint64_t snap_seq;      /* write snap context */
	uint32_t n_snaps;
	const uint8_t *snaps;   /* n_snaps little-endian u64s */
	uint64_t read_snap;
	uint32_t n_steps;
	const struct cl_step *steps;
};

/* OSD_OPF_READ / OSD_OPF_WRITE from the step codes. */
uint32_t cl_steps_flags(const struct cl_step *steps, uint32_t n);

/* Encode @a into a heap buffer *@buf (*@len bytes). When the last step's
 * data is at least CL_ZERO_COPY_MIN bytes it is not copied: *@tail and
 * *@tail_len name it (the message is buf followed by tail); otherwise
 * *@tail is NULL. Returns 0, -EINVAL or -ENOMEM. */
int cl_msg_encode(const struct cl_msg_args *a, uint8_t **buf, size_t *len,
                  const uint8_t **tail, size_t *tail_len);

/* Apply a decoded reply to the steps' outputs (copies data into caller
 * buffers, allocates lists and values) and compute the op's result.
 * Never trusts the reply: short or malformed step outputs give
 * NORN_ECORRUPT. @n_steps must equal the request's step count (a reply
 * with a different count is NORN_ECORRUPT unless it failed as a whole). */
ssize_t cl_reply_apply(const struct osd_op_reply *r, struct cl_step *steps, uint32_t n_steps,
                       enum cl_result_kind kind, uint32_t res_step);

/* Parse a name list ("u32 count, blob names, u8 more") into @out. */
int cl_parse_name_list(const uint8_t *p, size_t len, struct norn_list *out);
/* Parse a kv list (+ optional u8 more when @has_more) into @out. */
int cl_parse_kv_list(const uint8_t *p, size_t len, int has_more, struct norn_list *out);

/* List cursors: "<pg seed in hex>/<start_after>". */
int cl_cursor_parse(const char *cur, uint32_t *seed, const char **after);
char *cl_cursor_make(uint32_t seed, const char *after, size_t after_len);

#endif
