/* Shared fixture for the map tests, the fuzzer and the corpus generator:
 * a 4-host x 3-OSD CRUSH map and an osdmap at epoch 2 with a replicated
 * and an erasure pool. Uses NORN_ASSERT so it works outside the harness. */
#ifndef NORN_TESTS_MAPS_FIXTURE_H
#define NORN_TESTS_MAPS_FIXTURE_H
#include <stdio.h>
#include <string.h>
#include "common/map_osd.h"
#include "common/assert.h"
#include "crush/crush.h"
#include "norn/errors.h"

#define FIX_OK(x, zero) NORN_ASSERT((x) == (zero))

#define HOSTS 4
#define PER_HOST 3
#define NOSD (HOSTS * PER_HOST)

static const uint8_t FSID[16] = { 0x6e, 0x6f, 0x72, 0x6e, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };

/* root default > host h0..h3 > osd.0..11 (3 per host, weight 1.0), rule 0
 * "replicated" = take default, chooseleaf firstn 0 type host, emit; rule 1
 * "ec" = take default, chooseleaf indep 0 type host, emit. */
static inline struct crush_map *make_crush(int hosts, int per_host)
{
	struct crush_map *c;
	int root, host;

	FIX_OK(crush_create(&c), 0);
	FIX_OK(crush_add_bucket(c, 0, 10, "default", &root), 0);
	for (int h = 0; h < hosts; h++) {
		char name[16];
		snprintf(name, sizeof(name), "h%d", h);
		FIX_OK(crush_add_bucket(c, 0, 1, name, &host), 0);
		FIX_OK(crush_bucket_add_item(c, root, host, 0), 0);
		for (int i = 0; i < per_host; i++) {
			int id = h * per_host + i;
			FIX_OK(crush_add_device(c, id, NULL), 0);
			FIX_OK(crush_bucket_add_item(c, host, id, CRUSH_WEIGHT_ONE), 0);
		}
	}
	struct crush_rule_step rep[] = {
		{ CRUSH_OP_TAKE, root, 0 }, { CRUSH_OP_CHOOSELEAF_FIRSTN, 0, 1 }, { CRUSH_OP_EMIT, 0, 0 },
	};
	struct crush_rule_step ec[] = {
		{ CRUSH_OP_TAKE, root, 0 }, { CRUSH_OP_CHOOSELEAF_INDEP, 0, 1 }, { CRUSH_OP_EMIT, 0, 0 },
	};
	FIX_OK(crush_add_rule(c, 0, "replicated", CRUSH_RULE_REPLICATED, rep, 3, NULL), 0);
	FIX_OK(crush_add_rule(c, 1, "ec", CRUSH_RULE_ERASURE, ec, 3, NULL), 0);
	return c;
}

static inline void must_apply(struct osdmap *m, struct osdmap_inc *inc)
{
	int rc = osdmap_apply_incremental(m, inc);
	if (rc) {
		fprintf(stderr, "apply failed: %d (%s)\n", rc, norn_strerror(rc));
		NORN_ASSERT(0);
	}
	osdmap_inc_free(inc);
}

/* Epoch 1: all OSDs created, up and in, the CRUSH map, pool 0 "rbd"
 * (replicated size 3, 64 PGs). Epoch 2: pool 1 "ec" (k=2, m=1). */
static inline void make_map(struct osdmap *m)
{
	struct osdmap_inc inc;
	struct crush_map *c = make_crush(HOSTS, PER_HOST);
	struct osdmap_pool p;

	osdmap_init(m);
	osdmap_inc_init(&inc, m, 1000);
	memcpy(inc.fsid, FSID, 16);
	FIX_OK(osdmap_inc_max_osd(&inc, NOSD), 0);
	for (int i = 0; i < NOSD; i++) {
		uint8_t uuid[16] = { (uint8_t)i, 0xaa };
		char host[16];
		struct map_addr a;

		snprintf(host, sizeof(host), "h%d", i / PER_HOST);
		FIX_OK(osdmap_inc_new_osd(&inc, i, uuid, host), 0);
		snprintf(a.host, sizeof(a.host), "127.0.0.1");
		a.port = (uint16_t)(6800 + i);
		FIX_OK(osdmap_inc_osd_up(&inc, i, &a), 0);
		FIX_OK(osdmap_inc_osd_weight(&inc, i, OSDMAP_WEIGHT_IN), 0);
	}
	FIX_OK(osdmap_inc_crush(&inc, c), 0);
	crush_destroy(c);
	osdmap_pool_defaults(&p, "rbd", 64);
	p.id = 0;
	snprintf(p.application, sizeof(p.application), "vol");
	FIX_OK(osdmap_inc_pool_create(&inc, &p), 0);
	must_apply(m, &inc);
	FIX_OK(m->epoch, 1);
	NORN_ASSERT(!memcmp(m->fsid, FSID, 16));

	osdmap_inc_init(&inc, m, 2000);
	osdmap_pool_defaults(&p, "ec", 32);
	p.id = 1;
	p.type = POOL_TYPE_ERASURE;
	p.ec_k = 2;
	p.ec_m = 1;
	p.size = 3;
	p.min_size = 2;
	p.ec_stripe_unit = 4096;
	p.crush_rule = 1;
	FIX_OK(osdmap_inc_pool_create(&inc, &p), 0);
	must_apply(m, &inc);
	FIX_OK(m->epoch, 2);
	FIX_OK(m->n_pools, 2);
	FIX_OK(m->next_pool_id, 2);
	FIX_OK(m->pools[1].created_epoch, 2);
}

#endif
