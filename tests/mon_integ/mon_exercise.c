/* mon_exercise: drives real monitors through common/monc the way OSDs and
 * clients do; used by the integration tests and the benchmark.
 *
 *   mon_exercise bench CONF KEYRING SECONDS CONCURRENCY
 *       keeps CONCURRENCY osdmap-changing commands in flight (alternating
 *       `osd set noscrub` / `osd unset noscrub`) for SECONDS and prints
 *       committed changes per second and commit latency p50 / p99.
 *   mon_exercise osd CONF KEYRING HOST SECONDS [REPORT_TARGET]
 *       a fake OSD: `osd create` (as client.admin), then as osd.N with
 *       the returned key: subscribe to osdmaps, boot (127.0.0.1:port,
 *       HOST, 100 GB), beacon every 300 ms with PG stats, ask for a
 *       service ticket; with REPORT_TARGET also report that OSD failed
 *       every 300 ms. Prints "osd N", "osdmap eE", "ticket K" lines.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "common/assert.h"
#include "common/config.h"
#include "common/env.h"
#include "common/log.h"
#include "common/monc.h"
#include "norn/errors.h"

static int load(const char *conf, const char *keyring, const char *entity, struct monc_opts *o)
{
	struct norn_config cfg;
	char err[512];
	int rc;

	norn_config_init(&cfg, entity);
	rc = norn_config_load_file(&cfg, conf, err, sizeof(err));
	if (!rc)
		rc = monc_opts_from_config(o, &cfg, keyring, err, sizeof(err));
	if (rc)
		fprintf(stderr, "mon_exercise: %s\n", err);
	norn_config_free(&cfg);
	return rc;
}

/* ---- bench ----------------------------------------------------------------- */

struct bench {
	struct monc *mc;
	uint64_t end_ns;
	uint64_t done, failed;
	uint64_t *lat;
	size_t n_lat, cap_lat;
	uint64_t seq;
	int inflight;
};

struct bench_op {
	struct bench *b;
	uint64_t start;
};

static void bench_issue(struct bench *b);

static void bench_cb(int result, const char *status, const uint8_t *out, size_t out_len, void *arg)
{
	struct bench_op *op = arg;
	struct bench *b = op->b;
	uint64_t now = norn_mono_ns();

	b->inflight--;
	if (result == 0) {
		b->done++;
		if (b->n_lat < b->cap_lat)
			b->lat[b->n_lat++] = now - op->start;
	} else if (result != -ECANCELED) {
		b->failed++;
		fprintf(stderr, "bench: %s (%s)\n", norn_strerror(result), status);
	}
	free(op);
	if (now < b->end_ns)
		bench_issue(b);
}

static void bench_issue(struct bench *b)
{
	char cmd[128];
	struct bench_op *op = malloc(sizeof(*op));
	if (!op)
		return;
	op->b = b;
	op->start = norn_mono_ns();
	int n = snprintf(cmd, sizeof(cmd), "{\"prefix\":\"osd %s\",\"key\":\"noscrub\"}",
	                 b->seq++ % 2 ? "unset" : "set");
	if (monc_command(b->mc, cmd, (size_t)n, 10000, bench_cb, op)) {
		free(op);
		return;
	}
	b->inflight++;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void bench_timer(uv_timer_t *t)
{
	struct bench *b = t->data;
	if (norn_mono_ns() >= b->end_ns && b->inflight == 0) {
		uv_timer_stop(t);
		uv_stop(t->loop);
	}
}

/* Wait for the first successful command (leader found) before timing. */
static void warm_cb(int result, const char *status, const uint8_t *out, size_t out_len, void *arg)
{
	*(int *)arg = result == 0 ? 1 : -1;
}

static int do_bench(int argc, char **argv)
{
	struct monc_opts o;
	struct bench b = { 0 };
	uv_loop_t *loop = uv_default_loop();
	uv_timer_t t;
	int warm = 0;

	if (argc != 6)
		return 2;
	double secs = atof(argv[4]);
	int conc = atoi(argv[5]);
	if (secs <= 0 || conc <= 0 || conc > 512 || load(argv[2], argv[3], "client.admin", &o))
		return 2;
	if (monc_create(loop, &o, NULL, &b.mc))
		return 1;
	const char *w = "{\"prefix\":\"osd unset\",\"key\":\"noscrub\"}";
	monc_command(b.mc, w, strlen(w), 15000, warm_cb, &warm);
	while (!warm && uv_run(loop, UV_RUN_ONCE))
		;
	if (warm < 0) {
		fprintf(stderr, "bench: no leader\n");
		return 1;
	}
	b.cap_lat = 4u << 20;
	b.lat = malloc(b.cap_lat * sizeof(uint64_t));
	if (!b.lat)
		return 1;
	uint64_t t0 = norn_mono_ns();
	b.end_ns = t0 + (uint64_t)(secs * 1e9);
	for (int i = 0; i < conc; i++)
		bench_issue(&b);
	uv_timer_init(loop, &t);
	t.data = &b;
	uv_timer_start(&t, bench_timer, 10, 10);
	uv_run(loop, UV_RUN_DEFAULT);
	double el = (double)(norn_mono_ns() - t0) / 1e9;
	qsort(b.lat, b.n_lat, sizeof(uint64_t), cmp_u64);
	double p50 = b.n_lat ? (double)b.lat[b.n_lat / 2] / 1e6 : 0;
	double p99 = b.n_lat ? (double)b.lat[(size_t)((double)b.n_lat * 0.99)] / 1e6 : 0;
	printf("concurrency %d: %" PRIu64 " committed map changes in %.2f s = %.0f/s; latency p50 %.2f ms p99 %.2f ms; %" PRIu64 " failed\n",
	       conc, b.done, el, (double)b.done / el, p50, p99, b.failed);
	free(b.lat);
	return b.failed ? 1 : 0;
}

/* ---- fake osd ---------------------------------------------------------------- */

struct fosd {
	uv_loop_t *loop;
	struct monc *mc;
	int id;
	int target;
	uv_timer_t beat;
	uint64_t end_ns;
	uint64_t last_epoch;
	int port;
};

static void on_osdmap(struct monc *mc, const struct osdmap *m, void *user)
{
	struct fosd *f = user;
	const struct osdmap_osd *me = osdmap_osd(m, f->id);
	printf("osdmap e%" PRIu64 " me %s %s\n", m->epoch, me && me->up ? "up" : "down",
	       me && me->weight ? "in" : "out");
	fflush(stdout);
}

static void on_ticket(struct monc *mc, const struct monc_ticket *t, void *user)
{
	printf("ticket %zu bytes, service key %s id %" PRIu64 "\n", t->ticket_len,
	       t->service_key ? "yes" : "no", t->service_key_id);
	fflush(stdout);
}

static void beat(uv_timer_t *t)
{
	struct fosd *f = t->data;
	struct mon_pg_stat ps[2];
	struct mon_osd_beacon b = { .osd = f->id, .epoch = monc_osdmap(f->mc)->epoch,
	                            .capacity_bytes = 100000000000ull, .used_bytes = 1000000000ull,
	                            .n_pgs = 0, .pgs = ps };
	const struct osdmap *m = monc_osdmap(f->mc);
	memset(ps, 0, sizeof(ps));
	/* report PG 1.0 / 1.1 of the first pool as active+clean when it exists */
	if (m->n_pools) {
		for (uint32_t s = 0; s < 2 && s < m->pools[0].pg_num; s++) {
			ps[s].pool = m->pools[0].id;
			ps[s].seed = s;
			ps[s].state = PG_STATE_ACTIVE | PG_STATE_CLEAN;
			ps[s].epoch = m->epoch;
			ps[s].objects = 10;
			ps[s].bytes = 4096;
		}
		b.n_pgs = NORN_MIN(2u, m->pools[0].pg_num);
	}
	monc_osd_beacon(f->mc, &b);
	if (f->target >= 0) {
		struct mon_osd_failure fr = { .target = f->target, .reporter = f->id, .epoch = m->epoch,
		                              .failed_for_ms = 5000, .still_failed = 1 };
		monc_osd_failure(f->mc, &fr);
	}
	if (norn_mono_ns() >= f->end_ns)
		uv_stop(f->loop);
}

static void create_cb(int result, const char *status, const uint8_t *out, size_t out_len, void *arg)
{
	char **dst = arg;
	*dst = result == 0 ? strdup((const char *)out) : strdup("");
}

static int do_osd(int argc, char **argv)
{
	struct monc_opts o;
	struct fosd f = { 0 };
	char *created = NULL, cmd[256];
	uint8_t uuid[16];
	char us[MAP_UUID_STR_LEN];

	if (argc != 6 && argc != 7)
		return 2;
	f.loop = uv_default_loop();
	f.target = argc == 7 ? atoi(argv[6]) : -1;
	f.end_ns = norn_mono_ns() + (uint64_t)(atof(argv[5]) * 1e9);
	if (load(argv[2], argv[3], "client.admin", &o))
		return 2;
	norn_random_bytes(uuid, sizeof(uuid));
	uuid[6] = (uint8_t)((uuid[6] & 0x0f) | 0x40);
	uuid[8] = (uint8_t)((uuid[8] & 0x3f) | 0x80);
	map_uuid_format(uuid, us);
	/* 1: osd create as the admin (what norn-osd --mkfs does) */
	struct monc *admin;
	if (monc_create(f.loop, &o, NULL, &admin))
		return 1;
	int n = snprintf(cmd, sizeof(cmd), "{\"prefix\":\"osd create\",\"uuid\":\"%s\",\"format\":\"json\"}", us);
	monc_command(admin, cmd, (size_t)n, 15000, create_cb, &created);
	while (!created && uv_run(f.loop, UV_RUN_ONCE))
		;
	monc_close(admin, NULL, NULL);
	char *ip = created ? strstr(created, "\"osd\":") : NULL;
	char *kp = created ? strstr(created, "\"key\":\"") : NULL;
	if (!ip || !kp) {
		fprintf(stderr, "osd create failed: %s\n", created ? created : "");
		return 1;
	}
	f.id = atoi(ip + 6);
	kp += 7;
	char *ke = strchr(kp, '"');
	if (!ke)
		return 1;
	*ke = 0;
	/* 2: act as osd.N with its own key */
	struct monc_opts oo = o;
	snprintf(oo.entity, sizeof(oo.entity), "osd.%d", f.id);
	if (auth_b64_decode_exact(kp, oo.key, AUTH_KEY_LEN))
		return 1;
	free(created);
	oo.subscribe = MONC_SUB_OSDMAP | MONC_SUB_MONMAP;
	oo.on_osdmap = on_osdmap;
	oo.on_ticket = on_ticket;
	oo.user = &f;
	if (monc_create(f.loop, &oo, NULL, &f.mc))
		return 1;
	printf("osd %d\n", f.id);
	fflush(stdout);
	struct mon_osd_boot b = { .osd = f.id, .capacity_bytes = 100000000000ull, .used_bytes = 1000000000ull };
	memcpy(b.uuid, uuid, 16);
	snprintf(b.addr.host, sizeof(b.addr.host), "127.0.0.1");
	b.addr.port = (uint16_t)(30000 + f.id);
	snprintf(b.host, sizeof(b.host), "%s", argv[4]);
	monc_osd_boot(f.mc, &b);
	monc_want_ticket(f.mc);
	uv_timer_init(f.loop, &f.beat);
	f.beat.data = &f;
	uv_timer_start(&f.beat, beat, 300, 300);
	uv_run(f.loop, UV_RUN_DEFAULT);
	return 0;
}

int main(int argc, char **argv)
{
	norn_log_init("exercise", stderr, getenv("NORN_CLI_DEBUG") ? NORN_LOG_DEBUG : NORN_LOG_WARN);
	if (argc >= 2 && !strcmp(argv[1], "bench"))
		return do_bench(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "osd"))
		return do_osd(argc, argv);
	fprintf(stderr, "usage: mon_exercise bench CONF KEYRING SECONDS CONCURRENCY\n"
	                "       mon_exercise osd CONF KEYRING HOST SECONDS [REPORT_TARGET]\n");
	return 2;
}
