/* Map benchmark on the reference blade rack of DESIGN.md (39 OSDs on 13
 * hosts, 146 GB to 1 TB disks): placement rate, full map size and decode
 * time, incremental apply time, PG distribution against capacity, and data
 * moved when one OSD is marked out compared with the minimum. Run by
 * tests/bench/maps.sh (`make bench`). Prints one figure per line. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "common/assert.h"
#include "common/map_osd.h"
#include "crush/crush.h"

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

struct host { const char *name; int n; uint32_t gb[15]; };

static const struct host RACK[] = {
	{ "bld-001", 2, { 146, 146 } }, { "bld-003", 2, { 300, 300 } },
	{ "bld-005", 2, { 146, 300 } }, { "bld-006", 2, { 300, 300 } },
	{ "bld-007", 2, { 900, 900 } }, { "bld-008", 2, { 300, 300 } },
	{ "bld-010", 2, { 300, 300 } }, { "bld-011", 2, { 300, 300 } },
	{ "bld-012", 2, { 300, 300 } }, { "bld-015", 2, { 300, 300 } },
	{ "oden", 2, { 900, 900 } }, { "loke", 2, { 900, 900 } },
	{ "mimir", 15, { 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000,
	                 1000, 1000, 1000 } },
};

#define PGS 4096
#define MAXO 64

int main(int argc, char **argv)
{
	struct osdmap m;
	struct osdmap_inc inc;
	struct crush_map *c;
	struct osdmap_pool p;
	int root, nosd = 0;
	double cap_gb[MAXO] = { 0 }, total_gb = 0;
	static int32_t before[PGS][3];
	uint32_t count[MAXO] = { 0 };
	int32_t up[OSDMAP_MAX_POOL_SIZE], pr;
	uint32_t n;
	double t0, t1;
	long k = 0;
	int secs = argc > 1 ? atoi(argv[1]) : 1;

	osdmap_init(&m);
	NORN_ASSERT(crush_create(&c) == 0);
	NORN_ASSERT(crush_add_bucket(c, 0, 10, "default", &root) == 0);
	struct crush_rule_step rep[] = { { CRUSH_OP_TAKE, root, 0 },
	                                 { CRUSH_OP_CHOOSELEAF_FIRSTN, 0, 1 }, { CRUSH_OP_EMIT, 0, 0 } };
	NORN_ASSERT(crush_add_rule(c, 0, "replicated", CRUSH_RULE_REPLICATED, rep, 3, NULL) == 0);
	struct crush_rule_step rep_osd[] = { { CRUSH_OP_TAKE, root, 0 },
	                                     { CRUSH_OP_CHOOSE_FIRSTN, 0, 0 }, { CRUSH_OP_EMIT, 0, 0 } };
	NORN_ASSERT(crush_add_rule(c, 1, "by_osd", CRUSH_RULE_REPLICATED, rep_osd, 3, NULL) == 0);
	osdmap_inc_init(&inc, &m, 1);
	inc.fsid[0] = 1;
	NORN_ASSERT(osdmap_inc_max_osd(&inc, 39) == 0);
	NORN_ASSERT(osdmap_inc_crush(&inc, c) == 0);
	crush_destroy(c);
	for (size_t h = 0; h < sizeof(RACK) / sizeof(RACK[0]); h++) {
		for (int i = 0; i < RACK[h].n; i++, nosd++) {
			struct map_addr a = { "10.0.0.1", (uint16_t)(6800 + nosd) };
			uint32_t w = (uint32_t)((uint64_t)RACK[h].gb[i] * 0x10000 / 1000);

			cap_gb[nosd] = RACK[h].gb[i];
			total_gb += RACK[h].gb[i];
			NORN_ASSERT(osdmap_inc_new_osd(&inc, nosd, NULL, RACK[h].name) == 0);
			NORN_ASSERT(osdmap_inc_crush_set_osd(&inc, nosd, RACK[h].name, w) == 0);
			NORN_ASSERT(osdmap_inc_osd_up(&inc, nosd, &a) == 0);
			NORN_ASSERT(osdmap_inc_osd_weight(&inc, nosd, OSDMAP_WEIGHT_IN) == 0);
		}
	}
	osdmap_pool_defaults(&p, "rbd", PGS);
	p.id = 0;
	NORN_ASSERT(osdmap_inc_pool_create(&inc, &p) == 0);
	osdmap_pool_defaults(&p, "flat", PGS);
	p.id = 1;
	p.crush_rule = 1;
	NORN_ASSERT(osdmap_inc_pool_create(&inc, &p) == 0);
	NORN_ASSERT(osdmap_apply_incremental(&m, &inc) == 0);
	osdmap_inc_free(&inc);

	t0 = now_s();
	do {
		for (uint32_t s = 0; s < PGS; s++, k++)
			NORN_ASSERT(osdmap_pg_to_up_acting(&m, 0, s, up, &n, &pr) == 0 && n == 3);
		t1 = now_s();
	} while (t1 - t0 < secs);
	printf("placement: %.0f PG mappings/s (%.2f us each; 39 OSDs, 13 hosts, size 3)\n",
	       (double)k / (t1 - t0), (t1 - t0) / (double)k * 1e6);

	for (uint32_t s = 0; s < PGS; s++) {
		NORN_ASSERT(osdmap_pg_to_up_acting(&m, 0, s, up, &n, &pr) == 0);
		for (int j = 0; j < 3; j++) {
			before[s][j] = up[j];
			count[up[j]]++;
		}
	}
	double worst_hi = 0, worst_lo = 1e9;
	for (int i = 0; i < nosd; i++) {
		double ratio = count[i] / (3.0 * PGS * cap_gb[i] / total_gb);
		if (ratio > worst_hi)
			worst_hi = ratio;
		if (ratio < worst_lo)
			worst_lo = ratio;
	}
	printf("distribution, host failure domain: PG replicas per OSD / capacity share: min %.2f "
	       "max %.2f (mimir holds 58%% of the capacity but at most 1/3 of the replicas)\n",
	       worst_lo, worst_hi);
	{
		uint32_t cnt[MAXO] = { 0 };
		double hi = 0, lo = 1e9;

		for (uint32_t s = 0; s < PGS; s++) {
			NORN_ASSERT(osdmap_pg_to_up_acting(&m, 1, s, up, &n, &pr) == 0 && n == 3);
			for (int j = 0; j < 3; j++)
				cnt[up[j]]++;
		}
		for (int i = 0; i < nosd; i++) {
			double ratio = cnt[i] / (3.0 * PGS * cap_gb[i] / total_gb);
			hi = ratio > hi ? ratio : hi;
			lo = ratio < lo ? ratio : lo;
		}
		printf("distribution, OSD failure domain: min %.2f max %.2f (1.00 = exact)\n", lo, hi);
	}

	struct enc e;
	enc_init(&e, 0);
	NORN_ASSERT(osdmap_encode(&m, &e) == 0);
	int reps = 0;
	t0 = now_s();
	do {
		struct osdmap r;

		osdmap_init(&r);
		NORN_ASSERT(osdmap_decode(&r, e.buf, e.len) == 0);
		osdmap_free(&r);
		reps++;
		t1 = now_s();
	} while (t1 - t0 < secs / 2.0);
	printf("full map: %zu bytes, decode %.1f us\n", e.len, (t1 - t0) / reps * 1e6);
	enc_free(&e);

	reps = 0;
	t0 = now_s();
	do {
		osdmap_inc_init(&inc, &m, 2);
		NORN_ASSERT(osdmap_inc_osd_up_thru(&inc, reps % nosd, m.epoch + 1) == 0);
		NORN_ASSERT(osdmap_apply_incremental(&m, &inc) == 0);
		osdmap_inc_free(&inc);
		reps++;
		t1 = now_s();
	} while (t1 - t0 < secs / 2.0);
	printf("apply one-change incremental: %.1f us\n", (t1 - t0) / reps * 1e6);

	/* Mark a 300 GB OSD (osd.2 on bld-003) out: the minimum movement is
	 * its own replicas. */
	osdmap_inc_init(&inc, &m, 3);
	NORN_ASSERT(osdmap_inc_osd_weight(&inc, 2, 0) == 0);
	NORN_ASSERT(osdmap_apply_incremental(&m, &inc) == 0);
	osdmap_inc_free(&inc);
	long moved = 0;
	for (uint32_t s = 0; s < PGS; s++) {
		NORN_ASSERT(osdmap_pg_to_up_acting(&m, 0, s, up, &n, &pr) == 0);
		for (int j = 0; j < 3; j++) {
			int found = 0;
			for (int q = 0; q < 3; q++)
				found |= before[s][j] == up[q];
			moved += !found;
		}
	}
	printf("osd.2 out: %ld PG replicas moved, minimum %u (%.2fx)\n", moved, count[2],
	       count[2] ? (double)moved / count[2] : 0.0);
	osdmap_free(&m);
	return 0;
}
