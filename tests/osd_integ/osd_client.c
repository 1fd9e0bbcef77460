/* osd_client: a small synchronous client for the OSD integration tests,
 * built straight on monc + the messenger + proto_osd (libnorn is tested on
 * its own).
 *
 *   osd_client CONF POOL put OBJ FILE       write_full from FILE ('-': stdin)
 *   osd_client CONF POOL get OBJ FILE       read the whole object into FILE
 *   osd_client CONF POOL stat OBJ           prints "size N"
 *   osd_client CONF POOL rm OBJ
 *   osd_client CONF POOL ls                 every object name, one a line
 *   osd_client CONF POOL append OBJ TEXT
 *   osd_client CONF POOL omapset OBJ KEY VALUE | omapget OBJ KEY | setxattr OBJ NAME VALUE
 *   osd_client CONF POOL getxattr OBJ NAME | create-excl OBJ
 *   osd_client CONF POOL writer PREFIX N SIZE LOG
 *       N writes of SIZE bytes over objects PREFIX0..PREFIX9 (round robin);
 *       after each acknowledged write appends "OBJ SEQ" to LOG (fsync'd),
 *       where the object's content is SEQ repeated; stops at the first
 *       failure (exit 1)
 *   osd_client CONF POOL verify LOG         every object's content is the
 *       last logged SEQ for it (or a newer one that was in flight)
 *   osd_client CONF POOL dup OBJ            sends one append twice with the same
 *       reqid: the object must grow once
 *   osd_client CONF POOL garbage OBJ        sends a malformed OSD_OP on one
 *       connection, checks it is closed, and that a second connection works
 *
 * Environment: NORN_CLIENT_TIMEOUT_MS (default 30000) bounds each op.
 * Exit 0 ok, 1 failure (message on stderr), 2 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "common/assert.h"
#include "common/config.h"
#include "common/env.h"
#include "common/log.h"
#include "common/monc.h"
#include "common/msg.h"
#include "common/proto_osd.h"
#include "norn/errors.h"

struct cl {
	uv_loop_t *loop;
	struct monc *mc;
	struct msgr *msgr;
	struct msgr_opts mo;
	int have_ticket;
	uint8_t ticket[AUTH_TICKET_MAX];
	size_t ticket_len;
	uint8_t session_key[AUTH_KEY_LEN];
	struct msgr_conn *conns[64];
	struct map_addr conn_addr[64];
	uint64_t inc;
	uint64_t tid;
	/* the pending reply */
	uint64_t want_tid;
	int got;
	uint8_t *reply;
	size_t reply_len;
	int closed_seen;
	struct msgr_conn *closed_conn;
	int64_t pool;
	uint64_t timeout_ms;
};

static void on_ticket(struct monc *mc, const struct monc_ticket *t, void *user)
{
	struct cl *c = user;
	(void)mc;
	if (t->ticket_len > sizeof(c->ticket))
		return;
	memcpy(c->ticket, t->ticket, t->ticket_len);
	c->ticket_len = t->ticket_len;
	memcpy(c->session_key, t->session_key, AUTH_KEY_LEN);
	c->have_ticket = 1;
}

static void on_message(struct msgr_conn *conn, struct msg_in *in, void *user)
{
	struct cl *c = user;
	(void)conn;
	if (in->hdr.type != MSG_T_OSD_OP_REPLY || in->hdr.tid != c->want_tid || c->got)
		return;
	c->reply_len = in->len;
	c->reply = msg_in_steal(in);
	c->got = 1;
}

static void on_conn_state(struct msgr_conn *conn, enum msgr_conn_state st, void *user)
{
	struct cl *c = user;
	if (st != MSGR_CONN_UP && conn == c->closed_conn)
		c->closed_seen = 1;
}

static void wake(uv_timer_t *t)
{
	(void)t;
}

static void run_until(struct cl *c, int *flag, uint64_t ms)
{
	uint64_t end = norn_mono_ns() + ms * 1000000ull;
	uv_timer_t t;
	uv_timer_init(c->loop, &t);
	while (!*flag && norn_mono_ns() < end) {
		uv_timer_start(&t, wake, 20, 0);
		uv_run(c->loop, UV_RUN_ONCE);
	}
	uv_timer_stop(&t);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(c->loop, UV_RUN_NOWAIT);
}

static int map_ready(struct cl *c)
{
	return monc_osdmap(c->mc)->epoch > 0 && c->have_ticket;
}

static int cl_init(struct cl *c, const char *conf, const char *pool_name)
{
	struct norn_config cfg;
	struct monc_opts o;
	char err[512];
	int rc;

	memset(c, 0, sizeof(*c));
	c->loop = uv_default_loop();
	const char *to = getenv("NORN_CLIENT_TIMEOUT_MS");
	c->timeout_ms = to ? strtoull(to, NULL, 10) : 30000;
	norn_config_init(&cfg, "client.admin");
	rc = norn_config_load_file(&cfg, conf, err, sizeof(err));
	char kpath[4096];
	const char *slash = strrchr(conf, '/');
	snprintf(kpath, sizeof(kpath), "%.*s/norn.keyring", slash ? (int)(slash - conf) : 1,
	         slash ? conf : ".");
	if (!rc)
		rc = monc_opts_from_config(&o, &cfg, cfg.keyring && cfg.keyring[0] ? NULL : kpath, err,
		                           sizeof(err));
	if (rc) {
		fprintf(stderr, "osd_client: %s\n", err);
		return rc;
	}
	o.subscribe = MONC_SUB_OSDMAP;
	o.on_ticket = on_ticket;
	o.user = c;
	msgr_opts_init(&c->mo, &cfg);
	snprintf(c->mo.entity, sizeof(c->mo.entity), "client.admin");
	memcpy(c->mo.fsid, o.fsid, MSG_FSID_LEN);
	c->mo.cb.on_message = on_message;
	c->mo.cb.on_conn_state = on_conn_state;
	c->mo.cb.user = c;
	c->mo.reconnect_max_ms = 500;
	norn_config_free(&cfg);
	if ((rc = monc_create(c->loop, &o, NULL, &c->mc)))
		return rc;
	monc_want_ticket(c->mc);
	int ready = 0;
	uint64_t end = norn_mono_ns() + c->timeout_ms * 1000000ull;
	while (!ready && norn_mono_ns() < end) {
		run_until(c, &ready, 50);
		ready = map_ready(c);
	}
	if (!ready) {
		fprintf(stderr, "osd_client: no map or ticket from the mons\n");
		return -ETIMEDOUT;
	}
	const struct osdmap_pool *p = osdmap_pool_by_name(monc_osdmap(c->mc), pool_name);
	for (int k = 0; !p && k < 100; k++) {
		/* a just-created pool may be in the next map */
		int f = 0;
		monc_renew_subs(c->mc);
		run_until(c, &f, 100);
		p = osdmap_pool_by_name(monc_osdmap(c->mc), pool_name);
	}
	if (!p) {
		fprintf(stderr, "osd_client: no pool %s\n", pool_name);
		return -ENOENT;
	}
	c->pool = p->id;
	if ((rc = msgr_create(c->loop, &c->mo, &c->msgr)))
		return rc;
	norn_random_bytes(&c->inc, sizeof(c->inc));
	return 0;
}

static struct msgr_conn *conn_to(struct cl *c, int32_t osd)
{
	const struct osdmap_osd *o = osdmap_osd(monc_osdmap(c->mc), osd);
	struct msgr_cred cred;

	if (!o || osd >= 64)
		return NULL;
	if (c->conns[osd] && !map_addr_eq(&c->conn_addr[osd], &o->addr)) {
		msgr_conn_close(c->conns[osd], NULL, NULL);
		c->conns[osd] = NULL;
	}
	if (c->conns[osd])
		return c->conns[osd];
	memset(&cred, 0, sizeof(cred));
	snprintf(cred.entity, sizeof(cred.entity), "client.admin");
	memcpy(cred.key, c->session_key, AUTH_KEY_LEN);
	cred.ticket = c->ticket;
	cred.ticket_len = c->ticket_len;
	if (msgr_connect(c->msgr, o->addr.host, o->addr.port, &cred, &c->conns[osd]))
		return NULL;
	c->conn_addr[osd] = o->addr;
	return c->conns[osd];
}

/* Run one op until a final reply (resending on ESTALE / timeouts with the
 * same reqid). *@r is decoded from c->reply (owned by c until the next op). */
static int do_op(struct cl *c, struct osd_op_msg *m, struct osd_op_reply *r)
{
	uint64_t end = norn_mono_ns() + c->timeout_ms * 1000000ull;
	int attempt = 0;

	m->reqid.inc = c->inc;
	m->reqid.tid = ++c->tid;
	snprintf(m->reqid.entity, sizeof(m->reqid.entity), "client.admin");
	m->pool = c->pool;
	while (norn_mono_ns() < end) {
		const struct osdmap *map = monc_osdmap(c->mc);
		struct pg_id pg;
		int32_t osds[OSDMAP_MAX_POOL_SIZE], primary;
		uint32_t n;
		m->epoch = map->epoch;
		if (m->flags & OSD_OPF_PG_OP) {
			if (osdmap_pg_to_up_acting(map, c->pool, m->pg_seed, osds, &n, &primary))
				return -ENOENT;
		} else {
			if (osdmap_object_locate(map, c->pool, m->oid, m->oid_len, &pg, osds, &n, &primary))
				return -ENOENT;
			m->pg_seed = pg.seed;
		}
		if (attempt++)
			m->flags |= OSD_OPF_RETRY;
		struct msgr_conn *conn = primary >= 0 ? conn_to(c, primary) : NULL;
		if (!conn) {
			monc_renew_subs(c->mc);
			int f = 0;
			run_until(c, &f, 300);
			continue;
		}
		struct enc e;
		enc_init(&e, 256);
		osd_op_encode(&e, m);
		if (enc_error(&e))
			return -ENOMEM;
		free(c->reply);
		c->reply = NULL;
		c->got = 0;
		c->want_tid = ++c->tid;
		struct iovec iov = { e.buf, e.len };
		int rc = msgr_send(conn, MSG_T_OSD_OP, c->want_tid, map->epoch, &iov, 1, NULL, NULL);
		if (rc) {
			enc_free(&e);
			msgr_conn_close(conn, NULL, NULL);
			c->conns[primary] = NULL;
			continue;
		}
		/* wait for the reply, but go again on a new map (the primary may have changed) */
		uint64_t ep = map->epoch;
		uint64_t t_end = norn_mono_ns() + 5000000000ull;
		while (!c->got && norn_mono_ns() < t_end && norn_mono_ns() < end) {
			run_until(c, &c->got, 50);
			if (monc_osdmap(c->mc)->epoch != ep) {
				const struct osdmap *nm = monc_osdmap(c->mc);
				int32_t np;
				if (m->flags & OSD_OPF_PG_OP)
					osdmap_pg_to_up_acting(nm, c->pool, m->pg_seed, osds, &n, &np);
				else
					osdmap_object_locate(nm, c->pool, m->oid, m->oid_len, &pg, osds, &n, &np);
				ep = nm->epoch;
				if (np != primary)
					break;
			}
		}
		enc_free(&e);
		if (!c->got)
			continue;
		if (osd_op_reply_decode(r, c->reply, c->reply_len))
			return NORN_ECORRUPT;
		if (r->result == NORN_ESTALE) {
			/* wait for a map at least as new as the OSD's */
			monc_renew_subs(c->mc);
			uint64_t w_end = norn_mono_ns() + 2000000000ull;
			while (monc_osdmap(c->mc)->epoch < r->epoch && norn_mono_ns() < w_end) {
				int f = 0;
				run_until(c, &f, 50);
			}
			if (monc_osdmap(c->mc)->epoch == map->epoch) {
				int f = 0;
				run_until(c, &f, 100);
			}
			continue;
		}
		return r->result;
	}
	return -ETIMEDOUT;
}

static void step(struct osd_op_msg *m, uint16_t code)
{
	memset(&m->steps[m->n_steps], 0, sizeof(m->steps[0]));
	m->steps[m->n_steps++].code = code;
}

static struct osd_op_step *last(struct osd_op_msg *m)
{
	return &m->steps[m->n_steps - 1];
}

static void init_msg(struct osd_op_msg *m, const char *oid)
{
	memset(m, 0, sizeof(*m));
	m->oid = oid;
	m->oid_len = strlen(oid);
}

static int read_file(const char *path, uint8_t **buf, size_t *len)
{
	int fd = strcmp(path, "-") ? open(path, O_RDONLY) : 0;
	size_t cap = 1 << 16, n = 0;
	uint8_t *b = malloc(cap);
	if (fd < 0 || !b) {
		free(b);
		return -errno;
	}
	for (;;) {
		if (n == cap) {
			uint8_t *nb = realloc(b, cap * 2);
			if (!nb) {
				free(b);
				return -ENOMEM;
			}
			b = nb;
			cap *= 2;
		}
		ssize_t r = read(fd, b + n, cap - n);
		if (r < 0) {
			free(b);
			return -errno;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (fd)
		close(fd);
	*buf = b;
	*len = n;
	return 0;
}

static int put(struct cl *c, const char *oid, const uint8_t *data, size_t len, uint64_t *ver)
{
	struct osd_op_msg *m = calloc(1, sizeof(*m));
	struct osd_op_reply r;
	int rc;
	if (!m)
		return -ENOMEM;
	init_msg(m, oid);
	m->flags = OSD_OPF_WRITE;
	step(m, OSD_OP_WRITE_FULL);
	last(m)->data = data;
	last(m)->data_len = len;
	rc = do_op(c, m, &r);
	if (!rc && ver)
		*ver = r.version;
	free(m);
	return rc;
}

static int get(struct cl *c, const char *oid, uint8_t **data, size_t *len)
{
	struct osd_op_msg *m = calloc(1, sizeof(*m));
	struct osd_op_reply r;
	int rc;
	if (!m)
		return -ENOMEM;
	init_msg(m, oid);
	m->flags = OSD_OPF_READ;
	step(m, OSD_OP_READ);
	last(m)->len = 0;
	rc = do_op(c, m, &r);
	if (!rc) {
		*data = malloc(r.steps[0].out_len + 1);
		if (!*data)
			rc = -ENOMEM;
		else {
			memcpy(*data, r.steps[0].out, r.steps[0].out_len);
			*len = r.steps[0].out_len;
		}
	}
	free(m);
	return rc;
}

static int fail(const char *what, int rc)
{
	fprintf(stderr, "osd_client: %s: %s\n", what, norn_strerror(rc));
	return 1;
}

static int cmd_writer(struct cl *c, const char *prefix, long n, long size, const char *logp)
{
	FILE *lf = fopen(logp, "a");
	uint8_t *buf = malloc((size_t)size);
	char oid[128];
	if (!lf || !buf)
		return 1;
	for (long i = 0; i < n; i++) {
		snprintf(oid, sizeof(oid), "%s%ld", prefix, i % 10);
		char seq[32];
		int sl = snprintf(seq, sizeof(seq), "%ld,", i);
		for (long k = 0; k < size; k++)
			buf[k] = (uint8_t)seq[k % sl];
		int rc = put(c, oid, buf, (size_t)size, NULL);
		if (rc) {
			fprintf(stderr, "osd_client: write %ld of %s failed: %s\n", i, oid, norn_strerror(rc));
			fclose(lf);
			free(buf);
			return 1;
		}
		fprintf(lf, "%s %ld\n", oid, i);
		fflush(lf);
		fsync(fileno(lf));
	}
	fclose(lf);
	free(buf);
	return 0;
}

static int cmd_verify(struct cl *c, const char *logp)
{
	FILE *lf = fopen(logp, "r");
	char names[64][128];
	long seqs[64];
	int nn = 0, bad = 0;
	char oid[128];
	long seq;
	if (!lf)
		return 1;
	while (fscanf(lf, "%127s %ld", oid, &seq) == 2) {
		int k;
		for (k = 0; k < nn; k++)
			if (!strcmp(names[k], oid))
				break;
		if (k == nn) {
			if (nn == 64)
				continue;
			snprintf(names[nn], sizeof(names[nn]), "%s", oid);
			nn++;
		}
		seqs[k] = seq;
	}
	fclose(lf);
	for (int k = 0; k < nn; k++) {
		uint8_t *d = NULL;
		size_t len = 0;
		int rc = get(c, names[k], &d, &len);
		if (rc) {
			fprintf(stderr, "verify: %s: %s\n", names[k], norn_strerror(rc));
			bad++;
			continue;
		}
		long got = len ? strtol((char *)d, NULL, 10) : -1;
		if (got < seqs[k]) {
			fprintf(stderr, "verify: %s holds write %ld, but %ld was acknowledged\n", names[k], got,
			        seqs[k]);
			bad++;
		}
		free(d);
	}
	printf("verified %d objects, %d bad\n", nn, bad);
	return bad ? 1 : 0;
}

static int cmd_garbage(struct cl *c, const char *oid)
{
	const struct osdmap *map = monc_osdmap(c->mc);
	struct pg_id pg;
	int32_t osds[OSDMAP_MAX_POOL_SIZE], primary;
	uint32_t n;
	if (osdmap_object_locate(map, c->pool, oid, strlen(oid), &pg, osds, &n, &primary) || primary < 0)
		return 1;
	struct msgr_conn *conn = conn_to(c, primary);
	uint8_t junk[64];
	memset(junk, 0xa5, sizeof(junk));
	struct iovec iov = { junk, sizeof(junk) };
	c->closed_conn = conn;
	c->closed_seen = 0;
	if (msgr_send(conn, MSG_T_OSD_OP, 1, map->epoch, &iov, 1, NULL, NULL))
		return fail("send", -EIO);
	run_until(c, &c->closed_seen, 5000);
	if (!c->closed_seen) {
		fprintf(stderr, "osd_client: the OSD did not close the connection on a malformed op\n");
		return 1;
	}
	msgr_conn_close(conn, NULL, NULL);
	c->conns[primary] = NULL;
	c->closed_conn = NULL;
	/* a fresh connection works */
	const char *msg = "still-serving";
	int rc = put(c, oid, (const uint8_t *)msg, strlen(msg), NULL);
	if (rc)
		return fail("put after garbage", rc);
	printf("malformed op closed its connection; the OSD still serves\n");
	return 0;
}

int main(int argc, char **argv)
{
	struct cl c;
	int rc;

	norn_log_init("client", stderr, getenv("NORN_CLIENT_DEBUG") ? NORN_LOG_DEBUG : NORN_LOG_ERR);
	if (argc < 4)
		goto usage;
	const char *cmd = argv[3];
	if (cl_init(&c, argv[1], argv[2]))
		return 1;
	if (!strcmp(cmd, "put") && argc == 6) {
		uint8_t *d = NULL;
		size_t len = 0;
		uint64_t ver = 0;
		if ((rc = read_file(argv[5], &d, &len)))
			return fail(argv[5], rc);
		rc = put(&c, argv[4], d, len, &ver);
		free(d);
		if (rc)
			return fail("put", rc);
		printf("version %" PRIu64 "\n", ver);
		return 0;
	}
	if (!strcmp(cmd, "get") && argc == 6) {
		uint8_t *d = NULL;
		size_t len = 0;
		if ((rc = get(&c, argv[4], &d, &len)))
			return fail("get", rc);
		FILE *f = strcmp(argv[5], "-") ? fopen(argv[5], "wb") : stdout;
		if (!f || fwrite(d, 1, len, f) != len)
			return fail(argv[5], -EIO);
		if (f != stdout)
			fclose(f);
		free(d);
		return 0;
	}
	if ((!strcmp(cmd, "stat") || !strcmp(cmd, "rm") || !strcmp(cmd, "create-excl")) && argc == 5) {
		struct osd_op_msg *m = calloc(1, sizeof(*m));
		struct osd_op_reply r;
		init_msg(m, argv[4]);
		m->flags = cmd[0] == 's' ? OSD_OPF_READ : OSD_OPF_WRITE;
		step(m, cmd[0] == 's' ? OSD_OP_STAT : cmd[0] == 'r' ? OSD_OP_DELETE : OSD_OP_CREATE);
		if (cmd[0] == 'c')
			last(m)->flags = OSD_OP_F_EXCL;
		rc = do_op(&c, m, &r);
		if (rc)
			return fail(cmd, rc);
		if (cmd[0] == 's' && r.steps[0].out_len >= 16)
			printf("size %" PRIu64 "\n", norn_get_le64(r.steps[0].out));
		free(m);
		return 0;
	}
	if (!strcmp(cmd, "append") && argc == 6) {
		struct osd_op_msg *m = calloc(1, sizeof(*m));
		struct osd_op_reply r;
		init_msg(m, argv[4]);
		m->flags = OSD_OPF_WRITE;
		step(m, OSD_OP_APPEND);
		last(m)->data = (const uint8_t *)argv[5];
		last(m)->data_len = strlen(argv[5]);
		rc = do_op(&c, m, &r);
		free(m);
		return rc ? fail("append", rc) : 0;
	}
	if (!strcmp(cmd, "setxattr") && argc == 7) {
		struct osd_op_msg *m = calloc(1, sizeof(*m));
		struct osd_op_reply r;
		init_msg(m, argv[4]);
		m->flags = OSD_OPF_WRITE;
		step(m, OSD_OP_SETXATTR);
		last(m)->name = argv[5];
		last(m)->name_len = strlen(argv[5]);
		last(m)->data = (const uint8_t *)argv[6];
		last(m)->data_len = strlen(argv[6]);
		rc = do_op(&c, m, &r);
		free(m);
		return rc ? fail("setxattr", rc) : 0;
	}
	if (!strcmp(cmd, "getxattr") && argc == 6) {
		struct osd_op_msg *m = calloc(1, sizeof(*m));
		struct osd_op_reply r;
		init_msg(m, argv[4]);
		m->flags = OSD_OPF_READ;
		step(m, OSD_OP_GETXATTR);
		last(m)->name = argv[5];
		last(m)->name_len = strlen(argv[5]);
		rc = do_op(&c, m, &r);
		if (rc)
			return fail("getxattr", rc);
		printf("%.*s\n", (int)r.steps[0].out_len, (const char *)r.steps[0].out);
		free(m);
		return 0;
	}
	if (!strcmp(cmd, "omapset") && argc == 7) {
		struct osd_op_msg *m = calloc(1, sizeof(*m));
		struct osd_op_reply r;
		struct enc e;
		enc_init(&e, 64);
		osd_kv_list_begin(&e, 1);
		osd_kv_list_add(&e, argv[5], strlen(argv[5]), argv[6], strlen(argv[6]));
		init_msg(m, argv[4]);
		m->flags = OSD_OPF_WRITE;
		step(m, OSD_OP_OMAP_SET);
		last(m)->data = e.buf;
		last(m)->data_len = e.len;
		rc = do_op(&c, m, &r);
		enc_free(&e);
		free(m);
		return rc ? fail("omapset", rc) : 0;
	}
	if (!strcmp(cmd, "omapget") && argc == 5) {
		struct osd_op_msg *m = calloc(1, sizeof(*m));
		struct osd_op_reply r;
		init_msg(m, argv[4]);
		m->flags = OSD_OPF_READ;
		step(m, OSD_OP_OMAP_GET_VALS);
		last(m)->max = 100;
		rc = do_op(&c, m, &r);
		if (rc)
			return fail("omapget", rc);
		struct dec d;
		dec_init(&d, r.steps[0].out, r.steps[0].out_len);
		uint32_t left = dec_u32(&d);
		const void *k, *v;
		size_t kl, vl;
		while (osd_kv_list_next(&d, &left, &k, &kl, &v, &vl) == 1)
			printf("%.*s=%.*s\n", (int)kl, (const char *)k, (int)vl, (const char *)v);
		free(m);
		return 0;
	}
	if (!strcmp(cmd, "ls") && argc == 4) {
		const struct osdmap_pool *p = osdmap_pool(monc_osdmap(c.mc), c.pool);
		uint32_t pg_num = p->pg_num;
		for (uint32_t s = 0; s < pg_num; s++) {
			char after[256] = "";
			for (int guard = 0; guard < 100000; guard++) {
				struct osd_op_msg *m = calloc(1, sizeof(*m));
				struct osd_op_reply r;
				init_msg(m, "");
				m->flags = OSD_OPF_READ | OSD_OPF_PG_OP;
				m->pg_seed = s;
				step(m, OSD_OP_PG_LIST);
				last(m)->name = after;
				last(m)->name_len = strlen(after);
				last(m)->max = 100;
				rc = do_op(&c, m, &r);
				free(m);
				if (rc)
					return fail("ls", rc);
				struct dec d;
				dec_init(&d, r.steps[0].out, r.steps[0].out_len);
				uint32_t cnt = dec_u32(&d);
				for (uint32_t i = 0; i < cnt; i++) {
					size_t nl;
					const char *nm = dec_blob(&d, &nl);
					if (!nm || nl >= sizeof(after))
						return 1;
					printf("%.*s\n", (int)nl, nm);
					memcpy(after, nm, nl);
					after[nl] = 0;
				}
				uint8_t more = dec_u8(&d);
				if (dec_error(&d))
					return fail("ls decode", dec_error(&d));
				if (!more)
					break;
			}
		}
		return 0;
	}
	if (!strcmp(cmd, "writer") && argc == 8)
		return cmd_writer(&c, argv[4], atol(argv[5]), atol(argv[6]), argv[7]);
	if (!strcmp(cmd, "verify") && argc == 5)
		return cmd_verify(&c, argv[4]);
	if (!strcmp(cmd, "garbage") && argc == 5)
		return cmd_garbage(&c, argv[4]);
	if (!strcmp(cmd, "dup") && argc == 5) {
		/* the same append twice with one reqid: applied once */
		struct osd_op_msg *m = calloc(1, sizeof(*m));
		struct osd_op_reply r;
		uint8_t *d = NULL;
		size_t before = 0, after = 0;
		if (get(&c, argv[4], &d, &before) == 0)
			free(d);
		init_msg(m, argv[4]);
		m->flags = OSD_OPF_WRITE;
		step(m, OSD_OP_APPEND);
		last(m)->data = (const uint8_t *)"0123456789";
		last(m)->data_len = 10;
		rc = do_op(&c, m, &r);
		if (rc)
			return fail("append", rc);
		uint64_t v1 = r.version;
		/* resend with the same reqid: do_op draws a new tid, so rewind */
		c.tid -= 2;
		rc = do_op(&c, m, &r);
		if (rc)
			return fail("append resend", rc);
		if ((rc = get(&c, argv[4], &d, &after)))
			return fail("get", rc);
		free(d);
		free(m);
		printf("size %zu -> %zu, versions %" PRIu64 " %" PRIu64 "\n", before, after, v1, r.version);
		return after == before + 10 && v1 == r.version ? 0 : 1;
	}
usage:
	fprintf(stderr, "usage: osd_client CONF POOL put|get|stat|rm|ls|append|writer|verify|dup|garbage ...\n");
	return 2;
}
