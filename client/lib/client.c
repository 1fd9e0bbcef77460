/* libnorn: the cluster handle, its I/O thread, and the object calls.
 *
 * Threading. norn_connect() starts one I/O thread running a private libuv
 * loop. That thread alone owns the mon client (monc: maps, tickets, mon
 * commands), the messenger that holds one connection per OSD, and every
 * in-flight operation. API calls from any thread build a struct cl_op and
 * hand it over through a mutex-protected queue and a uv_async_t; a
 * synchronous call then waits on a completion (mutex + condvar). What
 * other threads may read (osdmap epoch, pool names, connect state) is a
 * small snapshot under cl->mu, refreshed by the I/O thread on every map.
 *
 * Backpressure. At most client_max_inflight_ops operations and
 * client_max_inflight_bytes payload bytes are in flight per cluster
 * handle; a submitting thread blocks until there is room. Callbacks run
 * on the I/O thread, which never blocks: an async call made from a
 * callback is always accepted (it may overshoot the limit by the number
 * of callbacks in progress), and a synchronous call made there fails with
 * -EDEADLK instead of hanging.
 *
 * The life of an op (all on the I/O thread):
 *   queued -> assigned a tid, put on the in-flight list (tid order) and in
 *   the tid hash -> targeted: object -> PG -> acting primary from the
 *   current osdmap -> sent on that OSD's session. It is resent, with the
 *   same reqid and OSD_OPF_RETRY, when
 *     - a new osdmap moves its PG to another primary, or takes its OSD
 *       down or to a new address (the session is closed);
 *     - the OSD answers NORN_ESTALE: we wait for its epoch, or retry
 *       shortly if we are already newer (the OSD is catching up);
 *     - the connection broke after the request reached the socket (a
 *       request still queued goes out after the reconnect by itself).
 *   Replies are matched by tid and accepted only from the session of the
 *   op's current attempt. An op without an answer after
 *   client_op_timeout_ms fails with -ETIMEDOUT. The OSD detects resends by
 *   reqid, so a write is applied once however often it is sent.
 *
 * Zero copy. A large last data step is not copied into the message (see
 * cl_msg_encode): the messenger references the caller's buffer until its
 * free callback. So an op is only finalized (caller told, buffers
 * released) once every send of it has been freed; an op that times out
 * while its bytes still sit in a stuck connection's queue closes that
 * connection to get them back.
 */
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "client/lib/client_int.h"
#include "common/assert.h"
#include "common/config.h"
#include "common/env.h"
#include "common/log.h"
#include "common/map_osd.h"
#include "common/monc.h"
#include "common/msg.h"
#include "common/tls.h"

#define CL_HASH_BITS 12
#define CL_HASH_SIZE (1u << CL_HASH_BITS)
#define CL_TICK_MS 20
#define CL_PARK_RETRY_NS (200ull * 1000000)    /* no primary / no ticket: retry this often */
#define CL_STALE_RETRY_NS (50ull * 1000000)    /* OSD behind us: retry after this */
#define CL_AUTH_FAILS_MAX 10                     /* in a row, before the session's ops fail NORN_EAUTH */
#define CL_AUTH_BACKOFF_NS (250ull * 1000000)    /* times the failures so far, at most 8 of them */
#define CL_MON_CMD_TIMEOUT_MS 30000

struct cl_pool_info {
	int64_t id;
	char name[OSDMAP_POOL_NAME_MAX];
	uint32_t pg_num;
	uint32_t flags;
};

struct cl_sess {
	int32_t osd;
	struct msgr_conn *conn;     /* NULL: not connected */
	struct map_addr addr;
	uint64_t up_from;
	int up;
	int auth_fails;             /* refusals in a row (a booting OSD may not know the service key yet) */
	uint64_t retry_at_ns;       /* no new connection before this */
};

struct cl_op {
	struct cl_op *qnext;        /* submit queue (under cl->mu) */
	struct cl_op *prev, *next;  /* in-flight list, tid order (I/O thread) */
	struct cl_op *hnext;        /* tid hash chain */
	struct cl_op *io_prev, *io_next; /* ioctx list (under io->mu) */
	norn_cluster_t *cl;
	norn_ioctx_t *io;
	norn_completion_t *c;
	int64_t pool;
	int pg_op;                  /* addressed to pg_seed, not an object */
	uint32_t pg_seed;
	char *oid;
	size_t oid_len;
	uint64_t tid;
	uint64_t io_seq;
	uint64_t deadline_ns;
	uint64_t resend_at_ns;
	uint64_t wait_epoch;        /* resend only with a map at least this new */
	uint64_t bytes;             /* accounted against client_max_inflight_bytes */
	int32_t osd;                /* target of the current attempt (OSD_NONE: parked) */
	struct cl_sess *sess;
	uint32_t attempt;
	int pending_sends;
	int written;
	int need_resend;
	int done;
	int in_list;
	int shallow;                /* steps borrowed from a write op: do not free them */
	int is_write;
	int fills_only;             /* writes that only delete/trim: allowed when full */
	ssize_t result;
	enum cl_result_kind kind;
	uint32_t res_step;
	uint64_t snap_seq;          /* the ioctx's snapshot context when queued */
	uint32_t n_snaps;
	uint8_t *snaps;             /* owned: n_snaps little-endian u64s */
	uint64_t read_snap;
	uint32_t n_steps;
	struct cl_step steps[];
};

struct cl_send {
	struct cl_op *op;
	uint32_t attempt;
	uint8_t *buf;
};

struct cl_ctrl {
	struct cl_ctrl *next;
	void (*fn)(norn_cluster_t *cl, struct cl_ctrl *x);
	int done;
	int rc;
	/* mon command */
	const char *json;
	char *out;
	size_t out_len;
	char *status;
	/* locate */
	int64_t pool;
	const char *oid;            /* NULL: by seed */
	uint32_t seed;
	struct norn_pg_location *loc;
	norn_cluster_t *cl;
};

struct norn_cluster {
	struct norn_config cfg;
	int cfg_inited;
	char entity[AUTH_ENTITY_NAME_MAX];
	uint64_t inc;
	uint64_t op_timeout_ns;
	uint64_t max_ops;
	uint64_t max_bytes;
	uint64_t max_read;          /* one READ's reply must fit in a frame: longer reads come back short */
	struct monc_opts mopts;
	struct msgr_opts msgr_o;

	/* shared with API threads, under mu */
	pthread_mutex_t mu;
	pthread_cond_t cv;          /* maps, connect state, ctrl results, throttle */
	uint64_t epoch;
	uint32_t map_flags;
	struct cl_pool_info *pools;
	uint32_t n_pools;
	int connect_state;          /* 0 connecting, 1 connected, < 0 failed */
	int have_ticket;
	struct cl_op *subq_head, *subq_tail;
	struct cl_ctrl *ctrlq;
	uint64_t n_ops, n_bytes;
	int stopping;

	/* I/O thread */
	pthread_t thread;
	int thread_started;
	uv_loop_t loop;
	int loop_inited;
	uv_async_t wake;
	uv_check_t kick_check;      /* ops submitted on the I/O thread: drained after this poll */
	uv_idle_t kick_idle;        /* ... and the loop does not block before that */
	int kick_active;
	uv_timer_t timer;
	struct monc *mc;
	struct msgr *msgr;
	struct cl_sess **sess;
	uint32_t n_sess;
	struct cl_op *ops_head, *ops_tail;
	struct cl_op *hash[CL_HASH_SIZE];
	uint64_t next_tid;
	uint8_t ticket[AUTH_TICKET_MAX];
	size_t ticket_len;
	uint8_t ticket_key[AUTH_KEY_LEN];
	int closing;
	int close_pending;
	uint64_t renew_at_ns;       /* ESTALE storms ask the mon for maps at most this often */
};

struct norn_ioctx {
	norn_cluster_t *cl;
	int64_t pool;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct cl_op *head, *tail;
	uint64_t next_seq;
	uint64_t n_ops;
	/* snapshot context (under mu) */
	uint64_t snap_seq;
	uint32_t n_snaps;
	uint8_t *snaps;
	uint64_t read_snap;
};

static uint64_t now_ns(void) { return norn_mono_ns(); }

static int on_io_thread(const norn_cluster_t *cl)
{
	return cl->thread_started && pthread_equal(pthread_self(), cl->thread);
}

/* ---- op bookkeeping (I/O thread) ---------------------------------------------- */

static void hash_add(norn_cluster_t *cl, struct cl_op *op)
{
	uint32_t h = (uint32_t)op->tid & (CL_HASH_SIZE - 1);
	op->hnext = cl->hash[h];
	cl->hash[h] = op;
}

static void hash_del(norn_cluster_t *cl, struct cl_op *op)
{
	struct cl_op **pp = &cl->hash[(uint32_t)op->tid & (CL_HASH_SIZE - 1)];
	while (*pp && *pp != op)
		pp = &(*pp)->hnext;
	NORN_ASSERT(*pp == op);
	*pp = op->hnext;
}

static struct cl_op *hash_find(norn_cluster_t *cl, uint64_t tid)
{
	for (struct cl_op *op = cl->hash[(uint32_t)tid & (CL_HASH_SIZE - 1)]; op; op = op->hnext)
		if (op->tid == tid)
			return op;
	return NULL;
}

static void op_free(struct cl_op *op)
{
	if (!op->shallow)
		for (uint32_t i = 0; i < op->n_steps; i++)
			cl_step_free(&op->steps[i]);
	free(op->snaps);
	free(op->oid);
	free(op);
}

static void io_unlink(struct cl_op *op)
{
	norn_ioctx_t *io = op->io;
	pthread_mutex_lock(&io->mu);
	if (op->io_prev)
		op->io_prev->io_next = op->io_next;
	else
		io->head = op->io_next;
	if (op->io_next)
		op->io_next->io_prev = op->io_prev;
	else
		io->tail = op->io_prev;
	NORN_ASSERT(io->n_ops > 0);
	io->n_ops--;
	pthread_cond_broadcast(&io->cv);
	pthread_mutex_unlock(&io->mu);
}

/* Tell the caller and free the op. Only when done and no send is left. */
static void op_finalize(struct cl_op *op)
{
	norn_cluster_t *cl = op->cl;
	norn_completion_t *c = op->c;
	ssize_t res = op->result;

	NORN_ASSERT(op->done && op->pending_sends == 0);
	if (op->in_list) {
		if (op->prev)
			op->prev->next = op->next;
		else
			cl->ops_head = op->next;
		if (op->next)
			op->next->prev = op->prev;
		else
			cl->ops_tail = op->prev;
		hash_del(cl, op);
		op->in_list = 0;
	}
	/* The callback runs before the op leaves its ioctx, so norn_flush()
	 * returns only after the callbacks of the ops it waited for. */
	cl_completion_finish(c, res);
	io_unlink(op);
	pthread_mutex_lock(&cl->mu);
	NORN_ASSERT(cl->n_ops > 0 && cl->n_bytes >= op->bytes);
	cl->n_ops--;
	cl->n_bytes -= op->bytes;
	pthread_cond_broadcast(&cl->cv);
	pthread_mutex_unlock(&cl->mu);
	op_free(op);
}

static void op_complete(struct cl_op *op, ssize_t res)
{
	if (op->done)
		return;
	op->done = 1;
	op->result = res;
	op->need_resend = 0;
	if (op->pending_sends == 0)
		op_finalize(op);
}

/* ---- sessions ------------------------------------------------------------------- */

static struct cl_sess *sess_get(norn_cluster_t *cl, int32_t osd, int create)
{
	if (osd < 0 || osd >= OSDMAP_MAX_OSD)
		return NULL;
	if ((uint32_t)osd >= cl->n_sess) {
		if (!create)
			return NULL;
		uint32_t n = NORN_MAX((uint32_t)osd + 1, cl->n_sess * 2);
		struct cl_sess **s = realloc(cl->sess, n * sizeof(*s));
		if (!s)
			return NULL;
		memset(s + cl->n_sess, 0, (n - cl->n_sess) * sizeof(*s));
		cl->sess = s;
		cl->n_sess = n;
	}
	if (!cl->sess[osd] && create) {
		cl->sess[osd] = calloc(1, sizeof(struct cl_sess));
		if (cl->sess[osd])
			cl->sess[osd]->osd = osd;
	}
	return cl->sess[osd];
}

/* Every op aimed at @s must be targeted again. */
static void sess_detach_ops(norn_cluster_t *cl, struct cl_sess *s)
{
	for (struct cl_op *op = cl->ops_head; op; op = op->next)
		if (op->sess == s && !op->done) {
			op->sess = NULL;
			op->osd = OSD_NONE;
			op->need_resend = 1;
			op->resend_at_ns = 0;
		}
}

/* Close @s's connection (queued sends come back with -ECANCELED, which can
 * finalize ops: never call this while walking the op list). */
static void sess_reset(norn_cluster_t *cl, struct cl_sess *s)
{
	sess_detach_ops(cl, s);
	if (s->conn) {
		struct msgr_conn *c = s->conn;
		s->conn = NULL;
		s->up = 0;
		msgr_conn_set_user(c, NULL);
		msgr_conn_close(c, NULL, NULL);
	}
}

static int sess_connect(norn_cluster_t *cl, struct cl_sess *s)
{
	const struct osdmap *m = monc_osdmap(cl->mc);
	const struct osdmap_osd *o = osdmap_osd(m, s->osd);
	struct msgr_cred cred;
	int rc;

	if (!o || !o->up || !map_addr_valid(&o->addr) || !cl->ticket_len || now_ns() < s->retry_at_ns)
		return -EAGAIN;
	memset(&cred, 0, sizeof(cred));
	snprintf(cred.entity, sizeof(cred.entity), "%s", cl->entity);
	memcpy(cred.key, cl->ticket_key, AUTH_KEY_LEN);
	cred.ticket = cl->ticket;
	cred.ticket_len = cl->ticket_len;
	rc = msgr_connect(cl->msgr, o->addr.host, o->addr.port, &cred, &s->conn);
	if (rc) {
		s->conn = NULL;
		return rc;
	}
	s->addr = o->addr;
	s->up_from = o->up_from;
	s->up = 0;
	msgr_conn_set_user(s->conn, s);
	NLOG(CLIENT, DEBUG, "connecting to osd.%d at %s:%u", s->osd, o->addr.host, o->addr.port);
	return 0;
}

/* ---- sending --------------------------------------------------------------------- */

static void send_done(void *arg, int status)
{
	struct cl_send *rec = arg;
	struct cl_op *op = rec->op;

	free(rec->buf);
	NORN_ASSERT(op->pending_sends > 0);
	op->pending_sends--;
	if (!op->done) {
		if (rec->attempt == op->attempt) {
			if (status == 0) {
				op->written = 1;
			} else {
				op->need_resend = 1;
				op->resend_at_ns = now_ns() + CL_STALE_RETRY_NS;
			}
		}
	} else if (op->pending_sends == 0) {
		op_finalize(op);
	}
	free(rec);
}

/* Writes that add data are refused when the cluster or pool is full. */
static int op_blocked_full(const struct cl_op *op, uint32_t map_flags, uint32_t pool_flags)
{
	if (!op->is_write || op->fills_only)
		return 0;
	return (map_flags & OSDMAP_FLAG_FULL) || (pool_flags & POOL_FLAG_FULL);
}

/* Where does @op go now? 0 and *osd and *seed; -ENOENT (pool gone), NORN_ENOSPC
 * (full), or -EAGAIN (no map, no primary or paused: park). */
static int op_target(norn_cluster_t *cl, struct cl_op *op, int32_t *osd, uint32_t *seed)
{
	const struct osdmap *m = monc_osdmap(cl->mc);
	const struct osdmap_pool *p;
	int32_t acting[OSDMAP_MAX_POOL_SIZE];
	uint32_t n;
	int32_t primary;
	int rc;

	if (!m->epoch)
		return -EAGAIN;
	p = osdmap_pool(m, op->pool);
	if (!p)
		return -ENOENT;
	if (op_blocked_full(op, m->flags, p->flags))
		return NORN_ENOSPC;
	if ((op->is_write && (m->flags & OSDMAP_FLAG_PAUSEWR)) ||
	    (!op->is_write && (m->flags & OSDMAP_FLAG_PAUSERD)))
		return -EAGAIN;
	if (op->pg_op) {
		if (op->pg_seed >= p->pg_num)
			return -ENOENT;
		*seed = op->pg_seed;
	} else {
		*seed = osdmap_object_to_pg(p, op->oid, op->oid_len).seed;
	}
	rc = osdmap_pg_to_up_acting(m, op->pool, *seed, acting, &n, &primary);
	if (rc == -ENOMEM)
		return -EAGAIN;
	if (rc)
		return -ENOENT;
	if (primary == OSD_NONE)
		return -EAGAIN;
	*osd = primary;
	return 0;
}

static void op_park(struct cl_op *op)
{
	op->sess = NULL;
	op->osd = OSD_NONE;
	op->need_resend = 1;
	op->resend_at_ns = now_ns() + CL_PARK_RETRY_NS;
}

/* (Re)send @op to the primary of its PG. Never finalizes @op synchronously
 * except through op_complete() on a definite error. */
static void op_send(norn_cluster_t *cl, struct cl_op *op)
{
	int32_t osd = OSD_NONE;
	uint32_t seed = 0;
	struct cl_sess *s;
	struct cl_msg_args a;
	struct cl_send *rec;
	const uint8_t *tail;
	size_t tail_len;
	struct iovec iov[2];
	int rc;

	NORN_ASSERT(!op->done);
	rc = op_target(cl, op, &osd, &seed);
	if (rc == -EAGAIN) {
		op_park(op);
		return;
	}
	if (rc) {
		op_complete(op, rc);
		return;
	}
	s = sess_get(cl, osd, 1);
	if (!s) {
		op_park(op);
		return;
	}
	if (!s->conn && sess_connect(cl, s)) {
		op_park(op);
		return;
	}
	op->osd = osd;
	op->pg_seed = seed;
	op->sess = s;
	op->attempt++;
	op->written = 0;
	op->need_resend = 0;
	op->wait_epoch = 0;

	memset(&a, 0, sizeof(a));
	a.epoch = monc_osdmap(cl->mc)->epoch;
	a.pool = op->pool;
	a.pg_seed = seed;
	a.oid = op->oid;
	a.oid_len = op->oid_len;
	a.entity = cl->entity;
	a.inc = cl->inc;
	a.tid = op->tid;
	a.flags = cl_steps_flags(op->steps, op->n_steps) | (op->pg_op ? OSD_OPF_PG_OP : 0) |
	          (op->attempt > 1 ? OSD_OPF_RETRY : 0);
	a.snap_seq = op->snap_seq;
	a.n_snaps = op->n_snaps;
	a.snaps = op->snaps;
	a.read_snap = op->read_snap;
	a.n_steps = op->n_steps;
	a.steps = op->steps;
	rec = calloc(1, sizeof(*rec));
	if (!rec) {
		op_complete(op, -ENOMEM);
		return;
	}
	rc = cl_msg_encode(&a, &rec->buf, &iov[0].iov_len, &tail, &tail_len);
	if (rc) {
		free(rec);
		op_complete(op, rc);
		return;
	}
	iov[0].iov_base = rec->buf;
	iov[1].iov_base = (void *)(uintptr_t)tail;
	iov[1].iov_len = tail_len;
	rec->op = op;
	rec->attempt = op->attempt;
	op->pending_sends++;
	rc = msgr_send(s->conn, MSG_T_OSD_OP, op->tid, a.epoch, iov, tail ? 2 : 1, send_done, rec);
	if (rc) {
		op->pending_sends--;
		free(rec->buf);
		free(rec);
		if (rc == -EMSGSIZE || rc == -EINVAL) {
			op_complete(op, rc == -EMSGSIZE ? -EMSGSIZE : -EINVAL);
		} else {
			/* NORN_EAGAIN: the connection's queue is full, on_writable
			 * retries; -ENOTCONN: the tick reconnects. */
			op->need_resend = 1;
			op->resend_at_ns = now_ns() + (rc == NORN_EAGAIN ? CL_STALE_RETRY_NS : 0);
		}
	}
}

/* ---- messenger callbacks ---------------------------------------------------------- */

static void on_osd_message(struct msgr_conn *c, struct msg_in *m, void *user)
{
	norn_cluster_t *cl = user;
	struct cl_sess *s = msgr_conn_user(c);
	struct osd_op_reply *r;
	struct cl_op *op;
	ssize_t res;
	int rc;

	if (m->hdr.type != MSG_T_OSD_OP_REPLY || !s)
		return;
	op = hash_find(cl, m->hdr.tid);
	if (!op || op->done || op->sess != s)
		return;              /* late answer to an earlier attempt */
	r = malloc(sizeof(*r));
	if (!r)
		return;              /* the op times out or is resent */
	rc = osd_op_reply_decode(r, m->payload, m->len);
	if (rc || r->reqid.tid != op->tid) {
		NLOG(CLIENT, WARN, "osd.%d sent a malformed reply for tid %" PRIu64 ": %s", s->osd,
		     m->hdr.tid, norn_strerror(rc ? rc : NORN_ECORRUPT));
		free(r);
		op_complete(op, NORN_ECORRUPT);
		return;
	}
	if (r->result == NORN_ESTALE || r->result == NORN_EAGAIN) {
		uint64_t ours = monc_osdmap(cl->mc)->epoch;
		op->sess = NULL;
		op->osd = OSD_NONE;
		op->need_resend = 1;
		if (r->result == NORN_ESTALE && r->epoch > ours) {
			op->wait_epoch = r->epoch;
			op->resend_at_ns = 0;
			if (now_ns() >= cl->renew_at_ns) {
				cl->renew_at_ns = now_ns() + CL_STALE_RETRY_NS;
				monc_renew_subs(cl->mc);
			}
		} else {
			op->resend_at_ns = now_ns() + CL_STALE_RETRY_NS;
		}
		NLOG(CLIENT, DEBUG, "tid %" PRIu64 ": osd.%d says %s (its epoch %" PRIu64 ", ours %" PRIu64 ")",
		     op->tid, s->osd, norn_strerror(r->result), r->epoch, ours);
		free(r);
		return;
	}
	res = cl_reply_apply(r, op->steps, op->n_steps, op->kind, op->res_step);
	free(r);
	op_complete(op, res);
}

static void on_osd_conn_state(struct msgr_conn *c, enum msgr_conn_state st, void *user)
{
	norn_cluster_t *cl = user;
	struct cl_sess *s = msgr_conn_user(c);
	struct cl_op *op, *next;

	if (!s || s->conn != c)
		return;
	switch (st) {
	case MSGR_CONN_UP:
		s->up = 1;
		s->auth_fails = 0;
		for (op = cl->ops_head; op; op = next) {
			next = op->next;
			if (op->sess == s && op->need_resend && !op->done && !op->wait_epoch)
				op_send(cl, op);
		}
		break;
	case MSGR_CONN_DOWN:
		s->up = 0;
		/* requests that reached the socket may be lost: send them
		 * again after the reconnect; queued ones go out by themselves */
		for (op = cl->ops_head; op; op = op->next)
			if (op->sess == s && !op->done && op->written) {
				op->need_resend = 1;
				op->resend_at_ns = 0;
			}
		break;
	case MSGR_CONN_AUTH_FAILED:
		s->auth_fails++;
		s->retry_at_ns = now_ns() + CL_AUTH_BACKOFF_NS * (uint64_t)NORN_MIN(s->auth_fails, 8);
		NLOG(CLIENT, WARN, "osd.%d refused our ticket (%d time%s)", s->osd, s->auth_fails,
		     s->auth_fails == 1 ? "" : "s");
		if (s->auth_fails >= CL_AUTH_FAILS_MAX) {
			for (op = cl->ops_head; op; op = next) {
				next = op->next;
				if (op->sess == s && !op->done) {
					op->sess = NULL;
					op_complete(op, NORN_EAUTH);
				}
			}
		}
		/* a fresh ticket may help (the service key rotated) */
		monc_want_ticket(cl->mc);
		sess_reset(cl, s);
		break;
	}
}

static void on_osd_writable(struct msgr_conn *c, void *user)
{
	norn_cluster_t *cl = user;
	struct cl_sess *s = msgr_conn_user(c);
	struct cl_op *op, *next;

	if (!s)
		return;
	for (op = cl->ops_head; op; op = next) {
		next = op->next;
		if (op->sess == s && op->need_resend && !op->done && !op->wait_epoch &&
		    msgr_conn_is_up(c))
			op_send(cl, op);
	}
}

/* ---- monc callbacks ----------------------------------------------------------------- */

static void publish_map(norn_cluster_t *cl, const struct osdmap *m)
{
	struct cl_pool_info *pi = calloc(m->n_pools ? m->n_pools : 1, sizeof(*pi));

	pthread_mutex_lock(&cl->mu);
	if (pi) {
		for (uint32_t i = 0; i < m->n_pools; i++) {
			pi[i].id = m->pools[i].id;
			snprintf(pi[i].name, sizeof(pi[i].name), "%s", m->pools[i].name);
			pi[i].pg_num = m->pools[i].pg_num;
			pi[i].flags = m->pools[i].flags;
		}
		free(cl->pools);
		cl->pools = pi;
		cl->n_pools = m->n_pools;
	}
	cl->epoch = m->epoch;
	cl->map_flags = m->flags;
	if (cl->connect_state == 0 && cl->have_ticket && m->epoch)
		cl->connect_state = 1;
	pthread_cond_broadcast(&cl->cv);
	pthread_mutex_unlock(&cl->mu);
}

static void on_osdmap(struct monc *mc, const struct osdmap *m, void *user)
{
	norn_cluster_t *cl = user;
	struct cl_op *op, *next;
	(void)mc;

	publish_map(cl, m);
	/* sessions whose OSD went down or moved */
	for (uint32_t i = 0; i < cl->n_sess; i++) {
		struct cl_sess *s = cl->sess[i];
		const struct osdmap_osd *o;
		if (!s || !s->conn)
			continue;
		o = osdmap_osd(m, s->osd);
		if (!o || !o->up || !map_addr_eq(&o->addr, &s->addr) || o->up_from != s->up_from) {
			NLOG(CLIENT, DEBUG, "osd.%d is down or moved in e%" PRIu64 ": closing its session",
			     s->osd, m->epoch);
			sess_reset(cl, s);
		}
	}
	/* resend ops whose primary changed, and parked ones */
	for (op = cl->ops_head; op; op = next) {
		int32_t osd = OSD_NONE;
		uint32_t seed = 0;
		next = op->next;
		if (op->done)
			continue;
		if (op->wait_epoch && m->epoch < op->wait_epoch)
			continue;
		if (op->need_resend || !op->sess) {
			op_send(cl, op);
			continue;
		}
		int rc = op_target(cl, op, &osd, &seed);
		if (rc == -ENOENT || rc == NORN_ENOSPC)
			op_complete(op, rc);
		else if (rc || osd != op->osd || seed != op->pg_seed)
			op_send(cl, op);
	}
}

static void on_ticket(struct monc *mc, const struct monc_ticket *t, void *user)
{
	norn_cluster_t *cl = user;
	(void)mc;

	if (t->ticket_len > sizeof(cl->ticket))
		return;
	memcpy(cl->ticket, t->ticket, t->ticket_len);
	cl->ticket_len = t->ticket_len;
	memcpy(cl->ticket_key, t->session_key, AUTH_KEY_LEN);
	pthread_mutex_lock(&cl->mu);
	cl->have_ticket = 1;
	if (cl->connect_state == 0 && cl->epoch)
		cl->connect_state = 1;
	pthread_cond_broadcast(&cl->cv);
	pthread_mutex_unlock(&cl->mu);
}

static void on_auth_failed(struct monc *mc, void *user)
{
	norn_cluster_t *cl = user;
	(void)mc;
	pthread_mutex_lock(&cl->mu);
	if (cl->connect_state == 0)
		cl->connect_state = NORN_EAUTH;
	pthread_cond_broadcast(&cl->cv);
	pthread_mutex_unlock(&cl->mu);
}

/* ---- timer ---------------------------------------------------------------------------- */

static void on_tick(uv_timer_t *t)
{
	norn_cluster_t *cl = t->data;
	uint64_t now = now_ns();
	uint64_t epoch = monc_osdmap(cl->mc)->epoch;
	struct cl_sess *stuck[16];
	int n_stuck = 0;
	struct cl_op *op, *next;

	for (op = cl->ops_head; op; op = next) {
		next = op->next;
		if (op->done)
			continue;
		if (now >= op->deadline_ns) {
			NLOG(CLIENT, INFO, "tid %" PRIu64 " on osd.%d timed out", op->tid, op->osd);
			if (op->pending_sends && op->sess && n_stuck < (int)NORN_ARRAY_SIZE(stuck)) {
				int dup = 0;
				for (int i = 0; i < n_stuck; i++)
					dup |= stuck[i] == op->sess;
				if (!dup)
					stuck[n_stuck++] = op->sess;
			}
			op_complete(op, -ETIMEDOUT);
			continue;
		}
		if (!op->need_resend || now < op->resend_at_ns)
			continue;
		if (op->wait_epoch && epoch < op->wait_epoch)
			continue;
		if (op->sess && op->sess->conn && !msgr_conn_is_up(op->sess->conn))
			continue;    /* resent on MSGR_CONN_UP */
		op_send(cl, op);
	}
	/* a timed-out op whose bytes never left the queue: take them back */
	for (int i = 0; i < n_stuck; i++)
		sess_reset(cl, stuck[i]);
}

/* ---- submission ------------------------------------------------------------------------ */

static void drain_queues(norn_cluster_t *cl)
{
	struct cl_op *q;
	struct cl_ctrl *x;

	pthread_mutex_lock(&cl->mu);
	q = cl->subq_head;
	cl->subq_head = cl->subq_tail = NULL;
	x = cl->ctrlq;
	cl->ctrlq = NULL;
	pthread_mutex_unlock(&cl->mu);

	/* ctrl requests were pushed LIFO; order does not matter between them */
	while (x) {
		struct cl_ctrl *nx = x->next;
		x->fn(cl, x);
		x = nx;
	}
	while (q) {
		struct cl_op *op = q;
		q = q->qnext;
		op->tid = cl->next_tid++;
		op->deadline_ns = now_ns() + cl->op_timeout_ns;
		op->osd = OSD_NONE;
		op->prev = cl->ops_tail;
		op->next = NULL;
		if (cl->ops_tail)
			cl->ops_tail->next = op;
		else
			cl->ops_head = op;
		cl->ops_tail = op;
		op->in_list = 1;
		hash_add(cl, op);
		if (cl->closing)
			op_complete(op, -ESHUTDOWN);
		else
			op_send(cl, op);
	}
}

static void on_close_step(void *arg)
{
	norn_cluster_t *cl = arg;
	cl->close_pending--;
}

static void on_handle_closed(uv_handle_t *h)
{
	on_close_step(h->data);
}

static void start_close(norn_cluster_t *cl)
{
	struct cl_op *op, *next;

	cl->closing = 1;
	for (op = cl->ops_head; op; op = next) {
		next = op->next;
		op_complete(op, -ESHUTDOWN);
	}
	for (uint32_t i = 0; i < cl->n_sess; i++)
		if (cl->sess[i])
			sess_reset(cl, cl->sess[i]);
	cl->close_pending = 6;
	msgr_close(cl->msgr, on_close_step, cl);
	monc_close(cl->mc, on_close_step, cl);
	uv_timer_stop(&cl->timer);
	uv_close((uv_handle_t *)&cl->timer, on_handle_closed);
	uv_close((uv_handle_t *)&cl->wake, on_handle_closed);
	cl->kick_active = 0;
	uv_close((uv_handle_t *)&cl->kick_check, on_handle_closed);
	uv_close((uv_handle_t *)&cl->kick_idle, on_handle_closed);
}

static void on_wake(uv_async_t *a)
{
	norn_cluster_t *cl = a->data;
	int stop;

	if (cl->closing)
		return;
	drain_queues(cl);
	pthread_mutex_lock(&cl->mu);
	stop = cl->stopping;
	pthread_mutex_unlock(&cl->mu);
	if (stop)
		start_close(cl);
}

/* Ops submitted from the I/O thread itself (completion callbacks that
 * issue the next op, the common pattern of a loaded client) need no
 * wakeup through the async handle -- an eventfd write, a poll wakeup and
 * an eventfd read per op. They are drained from a check handle right
 * after the current poll's callbacks, with an idle handle keeping the
 * loop from blocking first when the submit came from a timer. */
static void kick_run(norn_cluster_t *cl)
{
	if (!cl->kick_active)
		return;
	cl->kick_active = 0;
	uv_check_stop(&cl->kick_check);
	uv_idle_stop(&cl->kick_idle);
	on_wake(&cl->wake);
}

static void on_kick_check(uv_check_t *h)
{
	kick_run(h->data);
}

static void on_kick_idle(uv_idle_t *h)
{
	kick_run(h->data);
}

static void kick_io_thread(norn_cluster_t *cl)
{
	if (cl->kick_active || cl->closing)
		return;
	cl->kick_active = 1;
	uv_check_start(&cl->kick_check, on_kick_check);
	uv_idle_start(&cl->kick_idle, on_kick_idle);
}

static void *io_thread(void *arg)
{
	norn_cluster_t *cl = arg;
	uv_run(&cl->loop, UV_RUN_DEFAULT);
	return NULL;
}

/* Queue @op with completion @c (a reference is taken). Blocks for room
 * unless called on the I/O thread. */
static int op_submit(struct cl_op *op, norn_completion_t *c)
{
	norn_cluster_t *cl = op->cl;
	norn_ioctx_t *io = op->io;
	int io_thread_caller = on_io_thread(cl);

	for (uint32_t i = 0; i < op->n_steps; i++) {
		op->bytes += op->steps[i].data_len;
		if (op->steps[i].code == OSD_OP_READ)
			op->bytes += op->steps[i].len;
	}
	op->is_write = (cl_steps_flags(op->steps, op->n_steps) & OSD_OPF_WRITE) != 0;
	op->fills_only = 1;
	for (uint32_t i = 0; i < op->n_steps; i++) {
		uint16_t k = op->steps[i].code;
		if (osd_op_is_write(k) && k != OSD_OP_DELETE && k != OSD_OP_TRUNCATE &&
		    k != OSD_OP_ZERO && k != OSD_OP_RMXATTR && k != OSD_OP_OMAP_RM_KEYS &&
		    k != OSD_OP_OMAP_CLEAR)
			op->fills_only = 0;
	}
	pthread_mutex_lock(&cl->mu);
	if (!io_thread_caller) {
		while (!cl->stopping && cl->n_ops > 0 &&
		       (cl->n_ops >= cl->max_ops || cl->n_bytes + op->bytes > cl->max_bytes))
			pthread_cond_wait(&cl->cv, &cl->mu);
	}
	if (cl->stopping) {
		pthread_mutex_unlock(&cl->mu);
		return -ESHUTDOWN;
	}
	cl->n_ops++;
	cl->n_bytes += op->bytes;
	cl_completion_get(c);
	op->c = c;
	pthread_mutex_lock(&io->mu);
	op->io_seq = ++io->next_seq;
	op->io_prev = io->tail;
	op->io_next = NULL;
	if (io->tail)
		io->tail->io_next = op;
	else
		io->head = op;
	io->tail = op;
	io->n_ops++;
	pthread_mutex_unlock(&io->mu);
	op->qnext = NULL;
	if (cl->subq_tail)
		cl->subq_tail->qnext = op;
	else
		cl->subq_head = op;
	cl->subq_tail = op;
	pthread_mutex_unlock(&cl->mu);
	if (io_thread_caller)
		kick_io_thread(cl);
	else
		uv_async_send(&cl->wake);
	return 0;
}

/* Submit and wait. Consumes @op. */
static ssize_t op_run(struct cl_op *op)
{
	norn_completion_t *c;
	ssize_t r;
	int rc;

	if (on_io_thread(op->cl)) {
		op_free(op);
		return -EDEADLK;
	}
	c = norn_completion_create(NULL, NULL);
	if (!c) {
		op_free(op);
		return -ENOMEM;
	}
	rc = op_submit(op, c);
	if (rc) {
		op_free(op);
		norn_completion_release(c);
		return rc;
	}
	norn_completion_wait(c);
	r = norn_completion_result(c);
	norn_completion_release(c);
	return r;
}

static int op_run_async(struct cl_op *op, norn_completion_t *c)
{
	int rc;
	if (!c) {
		op_free(op);
		return -EINVAL;
	}
	rc = op_submit(op, c);
	if (rc)
		op_free(op);
	return rc;
}

static int oid_ok(const char *oid)
{
	size_t n;
	if (!oid)
		return 0;
	n = strnlen(oid, NORN_OBJ_NAME_MAX + 1);
	return n > 0 && n <= NORN_OBJ_NAME_MAX;
}

/* A new op on @io for @oid (NULL: a PG op) with room for @n steps. */
static struct cl_op *op_new(norn_ioctx_t *io, const char *oid, uint32_t n)
{
	struct cl_op *op;

	NORN_ASSERT(n <= OSD_OP_MAX_STEPS);
	op = calloc(1, sizeof(*op) + n * sizeof(struct cl_step));
	if (!op)
		return NULL;
	op->cl = io->cl;
	op->io = io;
	op->pool = io->pool;
	op->n_steps = n;
	if (oid) {
		op->oid_len = strlen(oid);
		op->oid = malloc(op->oid_len + 1);
		if (!op->oid) {
			free(op);
			return NULL;
		}
		memcpy(op->oid, oid, op->oid_len + 1);
	}
	pthread_mutex_lock(&io->mu);
	op->snap_seq = io->snap_seq;
	op->read_snap = io->read_snap;
	if (io->n_snaps && (op->snaps = malloc((size_t)io->n_snaps * 8)) != NULL) {
		memcpy(op->snaps, io->snaps, (size_t)io->n_snaps * 8);
		op->n_snaps = io->n_snaps;
	}
	pthread_mutex_unlock(&io->mu);
	if (io->n_snaps && !op->snaps) {
		free(op->oid);
		free(op);
		return NULL;
	}
	return op;
}

int norn_ioctx_set_write_snap_context(norn_ioctx_t *io, uint64_t seq, const uint64_t *snaps,
                                      size_t n)
{
	uint8_t *b = NULL;

	if (!io || n > OSD_OP_MAX_SNAPS || (n && !snaps))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (snaps[i] > seq || (i && snaps[i] >= snaps[i - 1]))
			return -EINVAL;    /* newest first, none newer than seq */
	if (n && !(b = malloc(n * 8)))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		norn_put_le64(b + i * 8, snaps[i]);
	pthread_mutex_lock(&io->mu);
	free(io->snaps);
	io->snaps = b;
	io->n_snaps = (uint32_t)n;
	io->snap_seq = seq;
	pthread_mutex_unlock(&io->mu);
	return 0;
}

void norn_ioctx_set_read_snap(norn_ioctx_t *io, uint64_t snapid)
{
	pthread_mutex_lock(&io->mu);
	io->read_snap = snapid;
	pthread_mutex_unlock(&io->mu);
}

/* ---- control requests (run on the I/O thread) --------------------------------------- */

static void ctrl_done(norn_cluster_t *cl, struct cl_ctrl *x, int rc)
{
	pthread_mutex_lock(&cl->mu);
	x->rc = rc;
	x->done = 1;
	pthread_cond_broadcast(&cl->cv);
	pthread_mutex_unlock(&cl->mu);
}

static int ctrl_run(norn_cluster_t *cl, struct cl_ctrl *x)
{
	if (on_io_thread(cl))
		return -EDEADLK;
	pthread_mutex_lock(&cl->mu);
	if (cl->stopping) {
		pthread_mutex_unlock(&cl->mu);
		return -ESHUTDOWN;
	}
	x->next = cl->ctrlq;
	cl->ctrlq = x;
	pthread_mutex_unlock(&cl->mu);
	uv_async_send(&cl->wake);
	pthread_mutex_lock(&cl->mu);
	while (!x->done)
		pthread_cond_wait(&cl->cv, &cl->mu);
	pthread_mutex_unlock(&cl->mu);
	return x->rc;
}

static void mon_cmd_cb(int result, const char *status, const uint8_t *out, size_t out_len, void *arg)
{
	struct cl_ctrl *x = arg;
	norn_cluster_t *cl = x->cl;

	x->status = strdup(status ? status : "");
	x->out = malloc(out_len + 1);
	if (x->out) {
		if (out_len)
			memcpy(x->out, out, out_len);
		x->out[out_len] = 0;
		x->out_len = out_len;
	}
	ctrl_done(cl, x, result == -EACCES ? NORN_EAUTH : result);
}

static void ctrl_mon_cmd(norn_cluster_t *cl, struct cl_ctrl *x)
{
	x->cl = cl;
	int rc = monc_command(cl->mc, x->json, strlen(x->json), CL_MON_CMD_TIMEOUT_MS, mon_cmd_cb, x);
	if (rc)
		ctrl_done(cl, x, rc);
}

static void ctrl_locate(norn_cluster_t *cl, struct cl_ctrl *x)
{
	const struct osdmap *m = monc_osdmap(cl->mc);
	const struct osdmap_pool *p = osdmap_pool(m, x->pool);
	struct osdmap_pg_mapping map;
	struct norn_pg_location *l = x->loc;
	int rc;

	if (!p) {
		ctrl_done(cl, x, -ENOENT);
		return;
	}
	memset(l, 0, sizeof(*l));
	l->pool = x->pool;
	l->epoch = m->epoch;
	l->pg_num = p->pg_num;
	l->size = p->size;
	l->min_size = p->min_size;
	if (x->oid) {
		l->pg_seed = osdmap_object_to_pg(p, x->oid, strlen(x->oid)).seed;
		l->object_hash = osdmap_str_hash(x->oid, strlen(x->oid));
	} else {
		l->pg_seed = x->seed;
		if (l->pg_seed >= p->pg_num) {
			ctrl_done(cl, x, -ENOENT);
			return;
		}
	}
	rc = osdmap_pg_mapping(m, x->pool, l->pg_seed, &map);
	if (rc) {
		ctrl_done(cl, x, rc);
		return;
	}
	l->n_up = map.up_n;
	memcpy(l->up, map.up, sizeof(l->up));
	l->up_primary = map.up_primary;
	l->n_acting = map.acting_n;
	memcpy(l->acting, map.acting, sizeof(l->acting));
	l->acting_primary = map.acting_primary;
	ctrl_done(cl, x, 0);
}

/* ---- connection --------------------------------------------------------------------------- */

static void cluster_free(norn_cluster_t *cl)
{
	for (uint32_t i = 0; i < cl->n_sess; i++)
		free(cl->sess[i]);
	free(cl->sess);
	free(cl->pools);
	if (cl->mopts.tls)
		tls_ctx_free(cl->mopts.tls);
	if (cl->cfg_inited)
		norn_config_free(&cl->cfg);
	pthread_mutex_destroy(&cl->mu);
	pthread_cond_destroy(&cl->cv);
	free(cl);
}

static void stop_thread(norn_cluster_t *cl)
{
	pthread_mutex_lock(&cl->mu);
	cl->stopping = 1;
	pthread_cond_broadcast(&cl->cv);
	pthread_mutex_unlock(&cl->mu);
	uv_async_send(&cl->wake);
	pthread_join(cl->thread, NULL);
	cl->thread_started = 0;
	/* everything closed: run the loop dry and close it */
	uv_run(&cl->loop, UV_RUN_NOWAIT);
	NORN_ASSERT(uv_loop_close(&cl->loop) == 0);
}

int norn_connect2(const char *conf_path, const char *entity, const char *keyring_path,
                  const char *const *overrides, int n_overrides, norn_cluster_t **out)
{
	norn_cluster_t *cl;
	char err[512], kpath[1100];
	struct timespec ts;
	int rc;

	*out = NULL;
	if (!entity)
		entity = "client.admin";
	if (!conf_path)
		conf_path = getenv("NORN_CONF");
	if (!conf_path)
		conf_path = "norn.conf";
	if (!auth_entity_name_valid(entity) || strlen(entity) >= OSD_OP_ENTITY_MAX || n_overrides < 0)
		return -EINVAL;
	cl = calloc(1, sizeof(*cl));
	if (!cl)
		return -ENOMEM;
	pthread_mutex_init(&cl->mu, NULL);
	pthread_cond_init(&cl->cv, NULL);
	snprintf(cl->entity, sizeof(cl->entity), "%s", entity);
	rc = norn_config_init(&cl->cfg, entity);
	if (rc)
		goto fail;
	cl->cfg_inited = 1;
	rc = norn_config_load_file(&cl->cfg, conf_path, err, sizeof(err));
	if (rc) {
		NLOG(CLIENT, ERR, "config %s: %s", conf_path, rc == -EINVAL ? err : strerror(-rc));
		goto fail;
	}
	for (int i = 0; i < n_overrides; i++) {
		const char *eq = overrides[i] ? strchr(overrides[i], '=') : NULL;
		char name[128];
		if (!eq || (size_t)(eq - overrides[i]) >= sizeof(name)) {
			NLOG(CLIENT, ERR, "bad override '%s' (want name=value)", overrides[i] ? overrides[i] : "");
			rc = -EINVAL;
			goto fail;
		}
		memcpy(name, overrides[i], (size_t)(eq - overrides[i]));
		name[eq - overrides[i]] = 0;
		rc = norn_config_set(&cl->cfg, name, eq + 1, err, sizeof(err));
		if (rc) {
			NLOG(CLIENT, ERR, "override %s: %s", overrides[i], err);
			rc = -EINVAL;
			goto fail;
		}
	}
	if (keyring_path)
		snprintf(kpath, sizeof(kpath), "%s", keyring_path);
	else if (cl->cfg.keyring && cl->cfg.keyring[0])
		snprintf(kpath, sizeof(kpath), "%s", cl->cfg.keyring);
	else {
		char tmp[1024];
		snprintf(tmp, sizeof(tmp), "%s", conf_path);
		snprintf(kpath, sizeof(kpath), "%s/norn.keyring", dirname(tmp));
	}
	rc = monc_opts_from_config(&cl->mopts, &cl->cfg, kpath, err, sizeof(err));
	if (rc) {
		NLOG(CLIENT, ERR, "%s", err);
		goto fail;
	}
	cl->op_timeout_ns = cl->cfg.client_op_timeout_ms * 1000000ull;
	cl->max_ops = (uint64_t)cl->cfg.client_max_inflight_ops;
	cl->max_bytes = cl->cfg.client_max_inflight_bytes;
	cl->max_read = cl->cfg.msg_max_frame_bytes > (2u << 20) ? cl->cfg.msg_max_frame_bytes - (1u << 20)
	                                                       : (1u << 20);
	if (norn_random_bytes(&cl->inc, sizeof(cl->inc))) {
		rc = NORN_EFAILED;
		goto fail;
	}
	cl->next_tid = 1;
	msgr_opts_init(&cl->msgr_o, &cl->cfg);
	cl->msgr_o.tls = cl->mopts.tls;

	if (uv_loop_init(&cl->loop)) {
		rc = -ENOMEM;
		goto fail;
	}
	cl->loop_inited = 1;
	uv_async_init(&cl->loop, &cl->wake, on_wake);
	cl->wake.data = cl;
	uv_check_init(&cl->loop, &cl->kick_check);
	cl->kick_check.data = cl;
	uv_idle_init(&cl->loop, &cl->kick_idle);
	cl->kick_idle.data = cl;
	uv_timer_init(&cl->loop, &cl->timer);
	cl->timer.data = cl;
	uv_timer_start(&cl->timer, on_tick, CL_TICK_MS, CL_TICK_MS);

	cl->mopts.subscribe = MONC_SUB_OSDMAP;
	cl->mopts.on_osdmap = on_osdmap;
	cl->mopts.on_ticket = on_ticket;
	cl->mopts.on_auth_failed = on_auth_failed;
	cl->mopts.user = cl;
	rc = monc_create(&cl->loop, &cl->mopts, &cl->msgr_o, &cl->mc);
	if (rc)
		goto fail_loop;
	monc_want_ticket(cl->mc);
	{
		struct msgr_opts mo = cl->msgr_o;
		snprintf(mo.entity, sizeof(mo.entity), "%s", entity);
		memcpy(mo.fsid, cl->mopts.fsid, MSG_FSID_LEN);
		snprintf(mo.cred.entity, sizeof(mo.cred.entity), "%s", entity);
		mo.cb.on_message = on_osd_message;
		mo.cb.on_conn_state = on_osd_conn_state;
		mo.cb.on_writable = on_osd_writable;
		mo.cb.get_key = NULL;
		mo.cb.user = cl;
		rc = msgr_create(&cl->loop, &mo, &cl->msgr);
		if (rc)
			goto fail_monc;
	}
	rc = pthread_create(&cl->thread, NULL, io_thread, cl);
	if (rc) {
		rc = -rc;
		goto fail_msgr;
	}
	cl->thread_started = 1;

	clock_gettime(CLOCK_REALTIME, &ts);
	{
		uint64_t ns = (uint64_t)ts.tv_nsec + cl->cfg.client_mount_timeout_ms * 1000000ull;
		ts.tv_sec += (time_t)(ns / 1000000000ull);
		ts.tv_nsec = (long)(ns % 1000000000ull);
	}
	pthread_mutex_lock(&cl->mu);
	while (cl->connect_state == 0)
		if (pthread_cond_timedwait(&cl->cv, &cl->mu, &ts) == ETIMEDOUT)
			break;
	rc = cl->connect_state;
	pthread_mutex_unlock(&cl->mu);
	if (rc != 1) {
		if (rc == 0) {
			NLOG(CLIENT, ERR, "no monitor quorum / osdmap / ticket within %" PRIu64 " ms",
			     cl->cfg.client_mount_timeout_ms);
			rc = NORN_ENOQUORUM;
		}
		stop_thread(cl);
		cluster_free(cl);
		return rc;
	}
	*out = cl;
	return 0;

fail_msgr:
	msgr_close(cl->msgr, NULL, NULL);
fail_monc:
	monc_close(cl->mc, NULL, NULL);
fail_loop:
	uv_timer_stop(&cl->timer);
	uv_close((uv_handle_t *)&cl->timer, NULL);
	uv_close((uv_handle_t *)&cl->wake, NULL);
	uv_close((uv_handle_t *)&cl->kick_check, NULL);
	uv_close((uv_handle_t *)&cl->kick_idle, NULL);
	uv_run(&cl->loop, UV_RUN_DEFAULT);
	uv_loop_close(&cl->loop);
fail:
	cluster_free(cl);
	return rc;
}

int norn_connect(const char *conf_path, const char *entity, const char *keyring_path,
                 norn_cluster_t **out)
{
	return norn_connect2(conf_path, entity, keyring_path, NULL, 0, out);
}

void norn_shutdown(norn_cluster_t *cl)
{
	struct timespec ts;

	if (!cl)
		return;
	NORN_ASSERT(!on_io_thread(cl));
	clock_gettime(CLOCK_REALTIME, &ts);
	{
		uint64_t ns = (uint64_t)ts.tv_nsec + cl->op_timeout_ns;
		ts.tv_sec += (time_t)(ns / 1000000000ull);
		ts.tv_nsec = (long)(ns % 1000000000ull);
	}
	pthread_mutex_lock(&cl->mu);
	while (cl->n_ops > 0)
		if (pthread_cond_timedwait(&cl->cv, &cl->mu, &ts) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&cl->mu);
	stop_thread(cl);
	cluster_free(cl);
}

uint64_t norn_osdmap_epoch(norn_cluster_t *cl)
{
	uint64_t e;
	pthread_mutex_lock(&cl->mu);
	e = cl->epoch;
	pthread_mutex_unlock(&cl->mu);
	return e;
}

int norn_wait_for_epoch(norn_cluster_t *cl, uint64_t epoch, int timeout_ms)
{
	struct timespec ts;
	int rc = 0;

	if (timeout_ms < 0)
		return -EINVAL;
	clock_gettime(CLOCK_REALTIME, &ts);
	{
		uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)timeout_ms * 1000000ull;
		ts.tv_sec += (time_t)(ns / 1000000000ull);
		ts.tv_nsec = (long)(ns % 1000000000ull);
	}
	pthread_mutex_lock(&cl->mu);
	while (cl->epoch < epoch && !cl->stopping)
		if (pthread_cond_timedwait(&cl->cv, &cl->mu, &ts) == ETIMEDOUT) {
			rc = cl->epoch >= epoch ? 0 : -ETIMEDOUT;
			break;
		}
	pthread_mutex_unlock(&cl->mu);
	return rc;
}

int norn_mon_command(norn_cluster_t *cl, const char *json_cmd, char **out, size_t *out_len,
                     char **status)
{
	struct cl_ctrl x;
	int rc;

	if (out)
		*out = NULL;
	if (out_len)
		*out_len = 0;
	if (status)
		*status = NULL;
	if (!json_cmd)
		return -EINVAL;
	memset(&x, 0, sizeof(x));
	x.fn = ctrl_mon_cmd;
	x.json = json_cmd;
	rc = ctrl_run(cl, &x);
	if (out)
		*out = x.out;
	else
		free(x.out);
	if (out_len)
		*out_len = x.out_len;
	if (status)
		*status = x.status;
	else
		free(x.status);
	return rc;
}

/* ---- pools ------------------------------------------------------------------------------ */

static int pool_find(norn_cluster_t *cl, const char *name, int64_t *id, uint32_t *pg_num)
{
	int rc = -ENOENT;
	pthread_mutex_lock(&cl->mu);
	for (uint32_t i = 0; i < cl->n_pools; i++)
		if (!strcmp(cl->pools[i].name, name)) {
			*id = cl->pools[i].id;
			if (pg_num)
				*pg_num = cl->pools[i].pg_num;
			rc = 0;
			break;
		}
	pthread_mutex_unlock(&cl->mu);
	return rc;
}

static int pool_pg_num(norn_cluster_t *cl, int64_t id, uint32_t *pg_num)
{
	int rc = -ENOENT;
	pthread_mutex_lock(&cl->mu);
	for (uint32_t i = 0; i < cl->n_pools; i++)
		if (cl->pools[i].id == id) {
			*pg_num = cl->pools[i].pg_num;
			rc = 0;
			break;
		}
	pthread_mutex_unlock(&cl->mu);
	return rc;
}

/* The pool may have been created after our last map: ask the mon for its
 * current epoch and wait for that map before saying -ENOENT. */
static int refresh_map(norn_cluster_t *cl)
{
	char *out = NULL;
	const char *p;
	uint64_t e = 0;
	int rc = norn_mon_command(cl, "{\"prefix\":\"osd dump\",\"format\":\"json\"}", &out, NULL, NULL);
	if (rc) {
		free(out);
		return rc;
	}
	p = out ? strstr(out, "\"epoch\":") : NULL;
	if (p)
		e = strtoull(p + 8, NULL, 10);
	free(out);
	if (!e)
		return -EINVAL;
	return norn_wait_for_epoch(cl, e, (int)NORN_MIN(cl->cfg.client_mount_timeout_ms, 60000));
}

int norn_pool_lookup(norn_cluster_t *cl, const char *name, int64_t *id)
{
	if (!name || !id)
		return -EINVAL;
	if (pool_find(cl, name, id, NULL) == 0)
		return 0;
	if (refresh_map(cl))
		return -ENOENT;
	return pool_find(cl, name, id, NULL);
}

int norn_ioctx_create(norn_cluster_t *cl, const char *pool_name, norn_ioctx_t **out)
{
	norn_ioctx_t *io;
	int64_t id;
	int rc;

	*out = NULL;
	rc = norn_pool_lookup(cl, pool_name, &id);
	if (rc)
		return rc;
	io = calloc(1, sizeof(*io));
	if (!io)
		return -ENOMEM;
	io->cl = cl;
	io->pool = id;
	pthread_mutex_init(&io->mu, NULL);
	pthread_cond_init(&io->cv, NULL);
	*out = io;
	return 0;
}

void norn_ioctx_destroy(norn_ioctx_t *io)
{
	if (!io)
		return;
	NORN_ASSERT(!on_io_thread(io->cl) || io->n_ops == 0);
	pthread_mutex_lock(&io->mu);
	while (io->n_ops > 0)
		pthread_cond_wait(&io->cv, &io->mu);
	pthread_mutex_unlock(&io->mu);
	pthread_mutex_destroy(&io->mu);
	pthread_cond_destroy(&io->cv);
	free(io->snaps);
	free(io);
}

int64_t norn_ioctx_pool_id(norn_ioctx_t *io)
{
	return io->pool;
}

int norn_ioctx_dup(norn_ioctx_t *io, norn_ioctx_t **out)
{
	norn_ioctx_t *n;

	*out = NULL;
	if (!io)
		return -EINVAL;
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->cl = io->cl;
	n->pool = io->pool;
	pthread_mutex_init(&n->mu, NULL);
	pthread_cond_init(&n->cv, NULL);
	*out = n;
	return 0;
}

int norn_flush(norn_ioctx_t *io)
{
	uint64_t target;

	if (on_io_thread(io->cl))
		return -EDEADLK;
	pthread_mutex_lock(&io->mu);
	target = io->next_seq;
	while (io->head && io->head->io_seq <= target)
		pthread_cond_wait(&io->cv, &io->mu);
	pthread_mutex_unlock(&io->mu);
	return 0;
}

int norn_object_locate(norn_ioctx_t *io, const char *oid, struct norn_pg_location *out)
{
	struct cl_ctrl x;

	if (!oid_ok(oid) || !out)
		return -EINVAL;
	memset(&x, 0, sizeof(x));
	x.fn = ctrl_locate;
	x.pool = io->pool;
	x.oid = oid;
	x.loc = out;
	return ctrl_run(io->cl, &x);
}

int norn_pg_locate(norn_ioctx_t *io, uint32_t pg_seed, struct norn_pg_location *out)
{
	struct cl_ctrl x;

	if (!out)
		return -EINVAL;
	memset(&x, 0, sizeof(x));
	x.fn = ctrl_locate;
	x.pool = io->pool;
	x.seed = pg_seed;
	x.loc = out;
	return ctrl_run(io->cl, &x);
}

/* ---- object calls -------------------------------------------------------------------------- */

#define STEP(op, i, code, flags, off, len, name, data, dlen)                                        \
	cl_step_set(&(op)->steps[i], code, flags, off, len, name, (name) ? strlen(name) : 0, NULL, 0, \
	            data, dlen, 0)

/* One-step op on @oid; returns the op or NULL with *rc set. */
static struct cl_op *simple_op(norn_ioctx_t *io, const char *oid, uint16_t code, uint16_t flags,
                               uint64_t off, uint64_t len, const char *name, const void *data,
                               size_t dlen, int *rc)
{
	struct cl_op *op;

	if (!io || !oid_ok(oid) || (dlen && !data) ||
	    (name && (!name[0] || strlen(name) >= NORN_XATTR_NAME_MAX))) {
		*rc = -EINVAL;
		return NULL;
	}
	op = op_new(io, oid, 1);
	if (!op) {
		*rc = -ENOMEM;
		return NULL;
	}
	*rc = STEP(op, 0, code, flags, off, len, name, data, dlen);
	if (*rc) {
		op_free(op);
		return NULL;
	}
	return op;
}

static ssize_t run_simple(norn_ioctx_t *io, const char *oid, uint16_t code, uint64_t off,
                          uint64_t len, const char *name, const void *data, size_t dlen)
{
	int rc;
	struct cl_op *op = simple_op(io, oid, code, 0, off, len, name, data, dlen, &rc);
	if (!op)
		return rc;
	return op_run(op);
}

int norn_write_full(norn_ioctx_t *io, const char *oid, const void *buf, size_t len)
{
	return (int)run_simple(io, oid, OSD_OP_WRITE_FULL, 0, len, NULL, buf, len);
}

int norn_write(norn_ioctx_t *io, const char *oid, const void *buf, size_t len, uint64_t off)
{
	return (int)run_simple(io, oid, OSD_OP_WRITE, off, len, NULL, buf, len);
}

int norn_append(norn_ioctx_t *io, const char *oid, const void *buf, size_t len)
{
	return (int)run_simple(io, oid, OSD_OP_APPEND, 0, len, NULL, buf, len);
}

ssize_t norn_read(norn_ioctx_t *io, const char *oid, void *buf, size_t len, uint64_t off)
{
	int rc;
	struct cl_op *op;

	if (len && !buf)
		return -EINVAL;
	if (len == 0) {
		/* a READ of length 0 means "to the end" on the wire */
		rc = norn_stat(io, oid, NULL, NULL);
		return rc < 0 ? rc : 0;
	}
	if (io && len > io->cl->max_read)
		len = (size_t)io->cl->max_read;
	op = simple_op(io, oid, OSD_OP_READ, 0, off, len, NULL, NULL, 0, &rc);
	if (!op)
		return rc;
	op->steps[0].out.buf = buf;
	op->steps[0].out.cap = len;
	op->kind = CL_RES_BYTES;
	return op_run(op);
}

int norn_stat(norn_ioctx_t *io, const char *oid, uint64_t *size, uint64_t *mtime_ns)
{
	int rc;
	struct cl_op *op = simple_op(io, oid, OSD_OP_STAT, 0, 0, 0, NULL, NULL, 0, &rc);
	if (!op)
		return rc;
	op->steps[0].out.u1 = size;
	op->steps[0].out.u2 = mtime_ns;
	return (int)op_run(op);
}

int norn_remove(norn_ioctx_t *io, const char *oid)
{
	return (int)run_simple(io, oid, OSD_OP_DELETE, 0, 0, NULL, NULL, 0);
}

int norn_truncate(norn_ioctx_t *io, const char *oid, uint64_t size)
{
	return (int)run_simple(io, oid, OSD_OP_TRUNCATE, size, 0, NULL, NULL, 0);
}

int norn_zero(norn_ioctx_t *io, const char *oid, uint64_t off, uint64_t len)
{
	return (int)run_simple(io, oid, OSD_OP_ZERO, off, len, NULL, NULL, 0);
}

int norn_setxattr(norn_ioctx_t *io, const char *oid, const char *name, const void *val, size_t len)
{
	if (!name)
		return -EINVAL;
	return (int)run_simple(io, oid, OSD_OP_SETXATTR, 0, 0, name, val, len);
}

ssize_t norn_getxattr(norn_ioctx_t *io, const char *oid, const char *name, void **val)
{
	int rc;
	struct cl_op *op;

	if (!name || !val)
		return -EINVAL;
	*val = NULL;
	op = simple_op(io, oid, OSD_OP_GETXATTR, 0, 0, 0, name, NULL, 0, &rc);
	if (!op)
		return rc;
	op->steps[0].out.valp = val;
	op->kind = CL_RES_BYTES;
	return op_run(op);
}

int norn_rmxattr(norn_ioctx_t *io, const char *oid, const char *name)
{
	if (!name)
		return -EINVAL;
	return (int)run_simple(io, oid, OSD_OP_RMXATTR, 0, 0, name, NULL, 0);
}

/* A one-step op whose data is an encoded list we hand over. */
static int run_owned_data(norn_ioctx_t *io, const char *oid, uint16_t code, uint8_t *buf, size_t len)
{
	int rc;
	struct cl_op *op = simple_op(io, oid, code, 0, 0, 0, NULL, NULL, 0, &rc);
	if (!op) {
		free(buf);
		return rc;
	}
	op->steps[0].data_owned = buf;
	op->steps[0].data = buf;
	op->steps[0].data_len = len;
	return (int)op_run(op);
}

int norn_omap_set(norn_ioctx_t *io, const char *oid, const char *const *keys,
                  const void *const *vals, const size_t *val_lens, size_t n)
{
	uint8_t *buf;
	size_t len;
	int rc = cl_encode_kv(keys, vals, val_lens, n, &buf, &len);
	if (rc)
		return rc;
	return run_owned_data(io, oid, OSD_OP_OMAP_SET, buf, len);
}

int norn_omap_rm_keys(norn_ioctx_t *io, const char *oid, const char *const *keys, size_t n)
{
	uint8_t *buf;
	size_t len;
	int rc = cl_encode_keys(keys, n, &buf, &len);
	if (rc)
		return rc;
	return run_owned_data(io, oid, OSD_OP_OMAP_RM_KEYS, buf, len);
}

int norn_omap_clear(norn_ioctx_t *io, const char *oid)
{
	return (int)run_simple(io, oid, OSD_OP_OMAP_CLEAR, 0, 0, NULL, NULL, 0);
}

int norn_omap_get_vals(norn_ioctx_t *io, const char *oid, const char *start_after,
                       const char *prefix, size_t max, struct norn_list *out)
{
	struct cl_op *op;
	int rc;

	if (!out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (!start_after)
		start_after = "";
	if (!prefix)
		prefix = "";
	if (!io || !oid_ok(oid) || strlen(start_after) > NORN_OMAP_KEY_MAX ||
	    strlen(prefix) > NORN_OMAP_KEY_MAX)
		return -EINVAL;
	op = op_new(io, oid, 1);
	if (!op)
		return -ENOMEM;
	rc = cl_step_set(&op->steps[0], OSD_OP_OMAP_GET_VALS, 0, 0, 0, start_after, strlen(start_after),
	                 prefix, strlen(prefix), NULL, 0, 0);
	if (rc) {
		op_free(op);
		return rc;
	}
	op->steps[0].max = (uint32_t)NORN_MIN(max, CL_LIST_PAGE_MAX);
	op->steps[0].out.list = out;
	return (int)op_run(op);
}

ssize_t norn_omap_get(norn_ioctx_t *io, const char *oid, const char *key, void **val)
{
	struct norn_list l;
	uint8_t *buf;
	size_t len;
	struct cl_op *op;
	int rc;

	if (!key || !val)
		return -EINVAL;
	*val = NULL;
	rc = cl_encode_keys(&key, 1, &buf, &len);
	if (rc)
		return rc;
	op = simple_op(io, oid, OSD_OP_OMAP_GET_BY_KEYS, 0, 0, 0, NULL, NULL, 0, &rc);
	if (!op) {
		free(buf);
		return rc;
	}
	memset(&l, 0, sizeof(l));
	op->steps[0].data_owned = buf;
	op->steps[0].data = buf;
	op->steps[0].data_len = len;
	op->steps[0].out.list = &l;
	op->steps[0].out.valp = val;
	op->kind = CL_RES_OMAP_ONE;
	return op_run(op);
}

/* ---- listing ------------------------------------------------------------------------------------ */

int norn_list_objects(norn_ioctx_t *io, char **cursor, size_t max, struct norn_list *out)
{
	uint32_t seed, pg_num;
	const char *after;
	char *after_own = NULL;
	struct norn_list acc = { 0 };
	size_t cap = 0, bytes = 0;
	char **names = NULL;
	size_t *lens = NULL;
	int rc, more = 0;

	if (!io || !cursor || !out || max == 0)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	rc = cl_cursor_parse(*cursor, &seed, &after);
	if (rc)
		return rc;
	after_own = strdup(after);
	if (!after_own)
		return -ENOMEM;
	rc = pool_pg_num(io->cl, io->pool, &pg_num);
	if (rc)
		goto done;
	while (seed < pg_num && acc.n < max) {
		struct norn_list page;
		struct cl_op *op = op_new(io, NULL, 1);
		if (!op) {
			rc = -ENOMEM;
			goto done;
		}
		op->pg_op = 1;
		op->pg_seed = seed;
		rc = cl_step_set(&op->steps[0], OSD_OP_PG_LIST, 0, 0, 0, after_own, strlen(after_own), NULL,
		                 0, NULL, 0, 0);
		if (rc) {
			op_free(op);
			goto done;
		}
		op->steps[0].max = (uint32_t)NORN_MIN(max - acc.n, CL_LIST_PAGE_MAX);
		memset(&page, 0, sizeof(page));
		op->steps[0].out.list = &page;
		rc = (int)op_run(op);
		if (rc == -ENOENT) {
			/* the PG holds nothing yet */
			memset(&page, 0, sizeof(page));
			rc = 0;
		}
		if (rc < 0)
			goto done;
		rc = 0;
		for (size_t i = 0; i < page.n; i++) {
			if (acc.n == cap) {
				size_t nc = cap ? cap * 2 : 64;
				char **nn = realloc(names, nc * sizeof(*nn));
				size_t *nl = nn ? realloc(lens, nc * sizeof(*nl)) : NULL;
				if (nn)
					names = nn;
				if (!nn || !nl) {
					norn_list_free(&page);
					rc = -ENOMEM;
					goto done;
				}
				lens = nl;
				cap = nc;
			}
			lens[acc.n] = strlen(page.items[i].key);
			names[acc.n] = strdup(page.items[i].key);
			if (!names[acc.n]) {
				norn_list_free(&page);
				rc = -ENOMEM;
				goto done;
			}
			bytes += lens[acc.n] + 1;
			acc.n++;
		}
		if (page.more && page.n) {
			free(after_own);
			after_own = strdup(page.items[page.n - 1].key);
			norn_list_free(&page);
			if (!after_own) {
				rc = -ENOMEM;
				goto done;
			}
			more = 1;
			continue;     /* same PG, next page (the loop stops if full) */
		}
		norn_list_free(&page);
		seed++;
		after_own[0] = 0;
		more = seed < pg_num;
	}
	if (seed >= pg_num)
		more = 0;
	{
		/* one block: items, then names */
		uint8_t *blk = malloc(acc.n * sizeof(struct norn_kv) + bytes + 1);
		char *cur;
		if (!blk) {
			rc = -ENOMEM;
			goto done;
		}
		out->items = (struct norn_kv *)(void *)blk;
		uint8_t *w = blk + acc.n * sizeof(struct norn_kv);
		for (size_t i = 0; i < acc.n; i++) {
			memcpy(w, names[i], lens[i] + 1);
			out->items[i].key = (char *)w;
			out->items[i].val = NULL;
			out->items[i].val_len = 0;
			w += lens[i] + 1;
		}
		out->n = acc.n;
		out->more = more;
		cur = cl_cursor_make(seed, after_own, strlen(after_own));
		if (!cur) {
			norn_list_free(out);
			rc = -ENOMEM;
			goto done;
		}
		free(*cursor);
		*cursor = cur;
	}
done:
	for (size_t i = 0; i < acc.n; i++)
		free(names[i]);
	free(names);
	free(lens);
	free(after_own);
	return rc;
}

/* ---- compound ops ------------------------------------------------------------------------------- */

static struct cl_op *wop_to_op(norn_write_op_t *wop, norn_ioctx_t *io, const char *oid, int deep,
                               int *rc)
{
	struct cl_op *op;

	if (!wop || !io || !oid_ok(oid)) {
		*rc = -EINVAL;
		return NULL;
	}
	if (wop->err) {
		*rc = wop->err;
		return NULL;
	}
	if (wop->n == 0) {
		*rc = -EINVAL;
		return NULL;
	}
	op = op_new(io, oid, wop->n);
	if (!op) {
		*rc = -ENOMEM;
		return NULL;
	}
	for (uint32_t i = 0; i < wop->n; i++) {
		const struct cl_step *s = &wop->steps[i];
		if (!deep) {
			op->steps[i] = *s;
			memset(&op->steps[i].out, 0, sizeof(op->steps[i].out));
			continue;
		}
		*rc = cl_step_set(&op->steps[i], s->code, s->flags, s->off, s->len, s->name, s->name_len,
		                  s->name2, s->name2_len, s->data, s->data_len, 1);
		if (*rc) {
			op->n_steps = i;
			op_free(op);
			return NULL;
		}
		op->steps[i].max = s->max;
	}
	op->shallow = !deep;
	return op;
}

int norn_write_op_operate(norn_write_op_t *wop, norn_ioctx_t *io, const char *oid)
{
	int rc;
	struct cl_op *op = wop_to_op(wop, io, oid, 0, &rc);
	if (!op)
		return rc;
	return (int)op_run(op);
}

int norn_aio_write_op_operate(norn_write_op_t *wop, norn_ioctx_t *io, const char *oid,
                              norn_completion_t *c)
{
	int rc;
	struct cl_op *op = wop_to_op(wop, io, oid, 1, &rc);
	if (!op)
		return rc;
	return op_run_async(op, c);
}

static struct cl_op *rop_to_op(norn_read_op_t *rop, norn_ioctx_t *io, const char *oid, int *rc)
{
	struct cl_op *op;

	if (!rop || !io || !oid_ok(oid)) {
		*rc = -EINVAL;
		return NULL;
	}
	if (rop->err || rop->n == 0) {
		*rc = rop->err ? rop->err : -EINVAL;
		return NULL;
	}
	op = op_new(io, oid, rop->n);
	if (!op) {
		*rc = -ENOMEM;
		return NULL;
	}
	/* borrowed steps, outputs included: the read op outlives the request */
	for (uint32_t i = 0; i < rop->n; i++)
		op->steps[i] = rop->steps[i];
	op->shallow = 1;
	return op;
}

int norn_read_op_operate(norn_read_op_t *rop, norn_ioctx_t *io, const char *oid)
{
	int rc;
	struct cl_op *op = rop_to_op(rop, io, oid, &rc);
	if (!op)
		return rc;
	return (int)op_run(op);
}

int norn_aio_read_op_operate(norn_read_op_t *rop, norn_ioctx_t *io, const char *oid,
                             norn_completion_t *c)
{
	int rc;
	struct cl_op *op = rop_to_op(rop, io, oid, &rc);
	if (!op)
		return rc;
	return op_run_async(op, c);
}

/* ---- async ---------------------------------------------------------------------------------------- */

static int aio_simple(norn_ioctx_t *io, const char *oid, norn_completion_t *c, uint16_t code,
                      uint64_t off, uint64_t len, const void *data, size_t dlen)
{
	int rc;
	struct cl_op *op = simple_op(io, oid, code, 0, off, len, NULL, data, dlen, &rc);
	if (!op)
		return rc;
	return op_run_async(op, c);
}

int norn_aio_write(norn_ioctx_t *io, const char *oid, norn_completion_t *c, const void *buf,
                   size_t len, uint64_t off)
{
	return aio_simple(io, oid, c, OSD_OP_WRITE, off, len, buf, len);
}

int norn_aio_write_full(norn_ioctx_t *io, const char *oid, norn_completion_t *c, const void *buf,
                        size_t len)
{
	return aio_simple(io, oid, c, OSD_OP_WRITE_FULL, 0, len, buf, len);
}

int norn_aio_read(norn_ioctx_t *io, const char *oid, norn_completion_t *c, void *buf, size_t len,
                  uint64_t off)
{
	int rc;
	struct cl_op *op;

	if (len && !buf)
		return -EINVAL;
	/* a READ of length 0 means "to the end" on the wire: ask for a stat
	 * instead (0 bytes, or the error) */
	if (io && len > io->cl->max_read)
		len = (size_t)io->cl->max_read;
	op = simple_op(io, oid, len ? OSD_OP_READ : OSD_OP_STAT, 0, off, len, NULL, NULL, 0, &rc);
	if (!op)
		return rc;
	op->steps[0].out.buf = buf;
	op->steps[0].out.cap = len;
	op->kind = CL_RES_BYTES;
	return op_run_async(op, c);
}

int norn_aio_remove(norn_ioctx_t *io, const char *oid, norn_completion_t *c)
{
	return aio_simple(io, oid, c, OSD_OP_DELETE, 0, 0, NULL, 0);
}

int norn_aio_stat(norn_ioctx_t *io, const char *oid, norn_completion_t *c, uint64_t *size,
                  uint64_t *mtime_ns)
{
	int rc;
	struct cl_op *op = simple_op(io, oid, OSD_OP_STAT, 0, 0, 0, NULL, NULL, 0, &rc);
	if (!op)
		return rc;
	op->steps[0].out.u1 = size;
	op->steps[0].out.u2 = mtime_ns;
	return op_run_async(op, c);
}
