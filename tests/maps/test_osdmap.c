/* osdmap: round trips, truncation/corruption at every byte, incrementals
 * (apply == expected full map, bad ones leave the map unchanged), deep
 * copy, placement (golden values, down/out handling, pool size, EC
 * positions, distribution), stable_mod, pgids, dumps. */
#include <errno.h>
#include <stdlib.h>
#include "tests/harness.h"
#include "common/map_osd.h"
#include "common/assert.h"
#include "crush/crush.h"
#include "norn/errors.h"

#include "tests/maps/fixture.h"

/* Golden values (regenerate with NORN_PRINT_GOLDEN=1 only for a deliberate,
 * versioned change of the placement function). */
struct golden_hash { const char *s; uint32_t h; };
static const struct golden_hash GOLDEN_HASH[] = {
	{ "", 0x46af06ce },
	{ "a", 0xb4f1001c },
	{ "foo", 0xdffe2690 },
	{ "rbd_data.1234.0000000000000001", 0xccd7838c },
	{ "bucket/key/with/slashes.txt", 0xdd2962c5 },
};
struct golden_up { uint32_t seed; int32_t up[3]; };
static const struct golden_up GOLDEN_UP[] = {
	{ 0, { 0, 9, 3 } },
	{ 1, { 11, 6, 4 } },
	{ 2, { 6, 11, 5 } },
	{ 3, { 9, 6, 4 } },
	{ 4, { 0, 4, 8 } },
	{ 5, { 6, 10, 4 } },
	{ 6, { 8, 5, 2 } },
	{ 7, { 5, 8, 9 } },
};

static void encode(const struct osdmap *m, struct enc *e)
{
	enc_init(e, 0);
	CHECK_EQ(osdmap_encode(m, e), 0);
}

static int same_encoding(const struct osdmap *a, const struct osdmap *b)
{
	struct enc ea, eb;
	int same;

	encode(a, &ea);
	encode(b, &eb);
	same = ea.len == eb.len && !memcmp(ea.buf, eb.buf, ea.len);
	enc_free(&ea);
	enc_free(&eb);
	return same;
}

TEST(build_and_roundtrip)
{
	struct osdmap m, r;
	struct enc e, e2;
	uint32_t ne, nu, ni;

	make_map(&m);
	osdmap_osd_counts(&m, &ne, &nu, &ni);
	CHECK_EQ(ne, NOSD);
	CHECK_EQ(nu, NOSD);
	CHECK_EQ(ni, NOSD);
	CHECK(osdmap_pool_by_name(&m, "rbd") == osdmap_pool(&m, 0));
	CHECK(osdmap_pool(&m, 7) == NULL);
	CHECK_EQ(osdmap_pool(&m, 0)->pg_num_mask, 63);
	CHECK_EQ(osdmap_pool(&m, 0)->created_epoch, 1);
	CHECK_EQ(m.created_ns, 1000);
	CHECK_EQ(m.modified_ns, 2000);
	encode(&m, &e);
	osdmap_init(&r);
	CHECK_EQ(osdmap_decode(&r, e.buf, e.len), 0);
	CHECK(crush_map_equal(m.crush, r.crush));
	CHECK_EQ(r.epoch, 2);
	CHECK_EQ(r.max_osd, NOSD);
	CHECK_STREQ(r.osds[5].host, "h1");
	CHECK_EQ(r.osds[5].addr.port, 6805);
	CHECK_EQ(r.pools[1].ec_k, 2);
	CHECK_EQ(r.pools[1].pg_num_mask, 31);
	encode(&r, &e2);
	CHECK(e.len == e2.len && !memcmp(e.buf, e2.buf, e.len));
	enc_free(&e2);
	enc_free(&e);
	osdmap_free(&m);
	osdmap_free(&r);
}

TEST(truncation_and_corruption)
{
	struct osdmap m, r;
	struct enc e, e2;

	make_map(&m);
	encode(&m, &e);
	osdmap_init(&r);
	for (size_t n = 0; n < e.len; n++) {
		CHECK(osdmap_decode(&r, e.buf, n) != 0);
		CHECK_EQ(r.epoch, 0);
	}
	CHECK(osdmap_decode(&r, e.buf, e.len) == 0);
	encode(&r, &e2);
	/* flip bytes: the crc or magic catches every one */
	for (size_t i = 0; i < e.len; i += 3) {
		e.buf[i] ^= 0x10;
		CHECK(osdmap_decode(&r, e.buf, e.len) != 0);
		e.buf[i] ^= 0x10;
	}
	/* a failed decode left r as it was */
	struct enc e3;
	encode(&r, &e3);
	CHECK(e3.len == e2.len && !memcmp(e3.buf, e2.buf, e2.len));
	enc_free(&e);
	enc_free(&e2);
	enc_free(&e3);
	osdmap_free(&m);
	osdmap_free(&r);
}

TEST(copy_is_deep)
{
	struct osdmap m, c;

	make_map(&m);
	osdmap_init(&c);
	CHECK_EQ(osdmap_copy(&c, &m), 0);
	CHECK(c.osds != m.osds && c.pools != m.pools && c.crush != m.crush);
	CHECK(same_encoding(&m, &c));
	c.osds[0].weight = 0;
	CHECK(m.osds[0].weight == OSDMAP_WEIGHT_IN);
	osdmap_free(&m);
	CHECK_EQ(c.max_osd, NOSD);
	osdmap_free(&c);
}

/* Apply a bundle of changes through an incremental and compare with the
 * same changes made by hand on a copy. */
TEST(incremental_equals_expected_full_map)
{
	struct osdmap m, want;
	struct osdmap_inc inc, dec_inc;
	struct osdmap_pool p;
	struct map_addr a = { "10.0.0.9", 7000 };
	struct enc ie;

	make_map(&m);
	osdmap_init(&want);
	CHECK_EQ(osdmap_copy(&want, &m), 0);

	osdmap_inc_init(&inc, &m, 3000);
	CHECK_EQ(osdmap_inc_osd_down(&inc, 3), 0);
	CHECK_EQ(osdmap_inc_osd_weight(&inc, 4, 0), 0);
	CHECK_EQ(osdmap_inc_osd_weight(&inc, 5, 0x8000), 0);
	CHECK_EQ(osdmap_inc_osd_up_thru(&inc, 6, 3), 0);
	CHECK_EQ(osdmap_inc_osd_last_clean(&inc, 7, 1, 2), 0);
	CHECK_EQ(osdmap_inc_osd_host(&inc, 8, "h2b"), 0);
	CHECK_EQ(osdmap_inc_osd_down(&inc, 9), 0);
	CHECK_EQ(osdmap_inc_osd_up(&inc, 9, &a), 0);     /* down then up again: new addr */
	CHECK_EQ(osdmap_inc_flags_set(&inc, OSDMAP_FLAG_NOOUT | OSDMAP_FLAG_NOSCRUB), 0);
	CHECK_EQ(osdmap_inc_flags_unset(&inc, OSDMAP_FLAG_NOSCRUB), 0);
	CHECK_EQ(osdmap_inc_pool_set(&inc, 0, POOL_FIELD_SIZE, 2), 0);
	CHECK_EQ(osdmap_inc_pool_set(&inc, 0, POOL_FIELD_MIN_SIZE, 1), 0);
	CHECK_EQ(osdmap_inc_pool_set(&inc, 0, POOL_FIELD_PG_NUM, 100), 0);
	CHECK_EQ(osdmap_inc_pool_set(&inc, 0, POOL_FIELD_QUOTA_MAX_BYTES, 1ull << 40), 0);
	CHECK_EQ(osdmap_inc_pool_rename(&inc, 1, "ecpool"), 0);
	CHECK_EQ(osdmap_inc_pool_app(&inc, 1, "s3"), 0);
	osdmap_pool_defaults(&p, "s3.data", 8);
	p.id = 2;
	CHECK_EQ(osdmap_inc_pool_create(&inc, &p), 0);
	CHECK_EQ(osdmap_inc_max_osd(&inc, NOSD + 2), 0);
	CHECK_EQ(osdmap_inc_new_osd(&inc, NOSD + 1, FSID, "h9"), 0);

	/* the same incremental through its encoding */
	enc_init(&ie, 0);
	CHECK_EQ(osdmap_inc_encode(&inc, &ie), 0);
	memset(&dec_inc, 0, sizeof(dec_inc));
	CHECK_EQ(osdmap_inc_decode(&dec_inc, ie.buf, ie.len), 0);
	CHECK_EQ(dec_inc.n, inc.n);
	for (size_t n = 0; n < ie.len; n++) {
		struct osdmap_inc t;
		memset(&t, 0, sizeof(t));
		CHECK(osdmap_inc_decode(&t, ie.buf, n) != 0);
		CHECK_EQ(t.n, 0);
	}
	enc_free(&ie);
	CHECK_EQ(osdmap_apply_incremental(&m, &dec_inc), 0);
	osdmap_inc_free(&dec_inc);
	osdmap_inc_free(&inc);

	/* by hand */
	want.epoch = 3;
	want.modified_ns = 3000;
	want.osds[3].up = 0;
	want.osds[3].down_at = 3;
	want.osds[4].weight = 0;
	want.osds[5].weight = 0x8000;
	want.osds[6].up_thru = 3;
	want.osds[7].last_clean_begin = 1;
	want.osds[7].last_clean_end = 2;
	snprintf(want.osds[8].host, sizeof(want.osds[8].host), "h2b");
	want.osds[9].down_at = 3;
	want.osds[9].up_from = 3;
	want.osds[9].addr = a;
	want.flags = OSDMAP_FLAG_NOOUT;
	want.pools[0].size = 2;
	want.pools[0].min_size = 1;
	want.pools[0].pg_num = 100;
	want.pools[0].quota_max_bytes = 1ull << 40;
	snprintf(want.pools[1].name, sizeof(want.pools[1].name), "ecpool");
	snprintf(want.pools[1].application, sizeof(want.pools[1].application), "s3");
	p.created_epoch = 3;
	osdmap_pool_calc_masks(&p);
	want.pools = realloc(want.pools, 3 * sizeof(p));
	want.pools[2] = p;
	want.n_pools = want.cap_pools = 3;
	want.next_pool_id = 3;
	CHECK_EQ(osdmap_set_max_osd(&want, NOSD + 2), 0);
	want.osds[NOSD + 1].exists = 1;
	memcpy(want.osds[NOSD + 1].uuid, FSID, 16);
	snprintf(want.osds[NOSD + 1].host, sizeof(want.osds[0].host), "h9");
	CHECK(same_encoding(&m, &want));
	CHECK_EQ(m.pools[0].pg_num_mask, 127);
	osdmap_free(&m);
	osdmap_free(&want);
}

/* Each bad incremental is refused with the expected error and leaves the
 * map byte-for-byte unchanged, even when valid changes precede the bad
 * one. */
TEST(bad_incrementals_leave_map_unchanged)
{
	struct osdmap m, before;
	struct osdmap_inc inc;
	struct osdmap_pool p;
	struct map_addr a = { "10.0.0.9", 7000 };
	uint8_t junk[64];

	make_map(&m);
	osdmap_init(&before);
	CHECK_EQ(osdmap_copy(&before, &m), 0);
	memset(junk, 0x5a, sizeof(junk));

	for (int k = 0; k < 17; k++) {
		int want = -EINVAL, rc;

		osdmap_inc_init(&inc, &m, 9999);
		/* valid changes first, to prove all-or-nothing */
		CHECK_EQ(osdmap_inc_osd_down(&inc, 0), 0);
		CHECK_EQ(osdmap_inc_flags_set(&inc, OSDMAP_FLAG_FULL), 0);
		switch (k) {
		case 0: inc.epoch = m.epoch + 2; want = NORN_ESTALE; break;
		case 1: inc.epoch = m.epoch; want = NORN_ESTALE; break;
		case 2: inc.fsid[3] ^= 1; break;
		case 3: osdmap_inc_osd_down(&inc, 0); break;              /* already down */
		case 4: osdmap_inc_osd_up(&inc, 1, &a); break;            /* already up */
		case 5: osdmap_inc_osd_weight(&inc, NOSD + 5, 0); break;  /* no such osd */
		case 6: osdmap_inc_new_osd(&inc, 2, FSID, "x"); break;    /* exists */
		case 7: osdmap_inc_rm_osd(&inc, 1); break;                /* still up */
		case 8: osdmap_inc_pool_rm(&inc, 9); break;               /* unknown pool */
		case 9: osdmap_inc_pool_set(&inc, 1, POOL_FIELD_SIZE, 4); break; /* EC size */
		case 10: osdmap_inc_pool_set(&inc, 0, POOL_FIELD_PGP_NUM, 65); break; /* > pg_num */
		case 11: osdmap_inc_pool_set(&inc, 0, POOL_FIELD_CRUSH_RULE, 7); break; /* no rule */
		case 12:
			osdmap_pool_defaults(&p, "rbd", 8);           /* duplicate name */
			p.id = m.next_pool_id;
			osdmap_inc_pool_create(&inc, &p);
			break;
		case 13:
			osdmap_pool_defaults(&p, "new", 8);           /* wrong id */
			p.id = m.next_pool_id + 1;
			osdmap_inc_pool_create(&inc, &p);
			break;
		case 14:
			CHECK_EQ(osdmap_inc_crush_blob(&inc, junk, sizeof(junk)), 0);
			want = NORN_ECORRUPT;
			break;
		case 15: osdmap_inc_max_osd(&inc, 3); break;               /* shrink over osds */
		case 16: osdmap_inc_osd_up_thru(&inc, 1, m.epoch + 5); break; /* future */
		}
		rc = osdmap_apply_incremental(&m, &inc);
		if (rc != want) {
			fprintf(stderr, "case %d: rc %d want %d\n", k, rc, want);
			CHECK(0);
		}
		CHECK(same_encoding(&m, &before));
		osdmap_inc_free(&inc);
	}
	/* a CRUSH map without the rule pool 1 uses is refused as a whole */
	{
		struct crush_map *c;
		struct crush_rule_step steps[] = { { CRUSH_OP_TAKE, -1, 0 }, { CRUSH_OP_EMIT, 0, 0 } };

		CHECK_EQ(crush_create(&c), 0);
		CHECK_EQ(crush_add_bucket(c, -1, 10, "default", NULL), 0);
		CHECK_EQ(crush_add_rule(c, 0, "r", CRUSH_RULE_REPLICATED, steps, 2, NULL), 0);
		osdmap_inc_init(&inc, &m, 1);
		CHECK_EQ(osdmap_inc_crush(&inc, c), 0);
		crush_destroy(c);
		CHECK_EQ(osdmap_apply_incremental(&m, &inc), -EINVAL);
		CHECK(same_encoding(&m, &before));
		osdmap_inc_free(&inc);
	}
	/* builders refuse values that can never be valid */
	osdmap_inc_init(&inc, &m, 1);
	CHECK_EQ(osdmap_inc_osd_weight(&inc, 0, 0x10001), -EINVAL);
	CHECK_EQ(osdmap_inc_osd_up(&inc, 0, &(struct map_addr){ "", 0 }), -EINVAL);
	CHECK_EQ(osdmap_inc_osd_down(&inc, -1), -EINVAL);
	CHECK_EQ(osdmap_inc_pool_rename(&inc, 0, "bad name"), -EINVAL);
	CHECK_EQ(osdmap_inc_flags_set(&inc, 1u << 30), -EINVAL);
	CHECK_EQ(inc.n, 0);
	osdmap_inc_free(&inc);
	osdmap_free(&m);
	osdmap_free(&before);
}

TEST(rm_osd_and_pool)
{
	struct osdmap m;
	struct osdmap_inc inc;

	make_map(&m);
	osdmap_inc_init(&inc, &m, 1);
	CHECK_EQ(osdmap_inc_osd_down(&inc, NOSD - 1), 0);
	CHECK_EQ(osdmap_inc_rm_osd(&inc, NOSD - 1), 0);
	CHECK_EQ(osdmap_inc_pool_rm(&inc, 0), 0);
	must_apply(&m, &inc);
	CHECK(!osdmap_osd_exists(&m, NOSD - 1));
	CHECK(osdmap_pool(&m, 0) == NULL);
	CHECK(osdmap_pool(&m, 1) != NULL);
	CHECK_EQ(m.next_pool_id, 2);    /* ids are never reused */
	/* NODELETE protects a pool */
	osdmap_inc_init(&inc, &m, 1);
	CHECK_EQ(osdmap_inc_pool_set(&inc, 1, POOL_FIELD_FLAGS, POOL_FLAG_NODELETE), 0);
	must_apply(&m, &inc);
	osdmap_inc_init(&inc, &m, 1);
	CHECK_EQ(osdmap_inc_pool_rm(&inc, 1), 0);
	CHECK_EQ(osdmap_apply_incremental(&m, &inc), -EINVAL);
	osdmap_inc_free(&inc);
	osdmap_free(&m);
}

TEST(flags_names)
{
	uint32_t f;
	char buf[128];

	CHECK_EQ(osdmap_flag_parse("noout", &f), 0);
	CHECK_EQ(f, OSDMAP_FLAG_NOOUT);
	CHECK_EQ(osdmap_flag_parse("pause", &f), 0);
	CHECK_EQ(f, OSDMAP_FLAG_PAUSERD | OSDMAP_FLAG_PAUSEWR);
	CHECK_EQ(osdmap_flag_parse("nosuch", &f), -EINVAL);
	CHECK_STREQ(osdmap_flag_name(OSDMAP_FLAG_NOBACKFILL), "nobackfill");
	CHECK_EQ(osdmap_flags_format(OSDMAP_FLAG_NOOUT | OSDMAP_FLAG_FULL, buf, sizeof(buf)), 10);
	CHECK_STREQ(buf, "noout,full");
	CHECK_EQ(osdmap_flags_format(OSDMAP_FLAG_ALL, buf, 8), -ENOSPC);
	enum osdmap_pool_field pf;
	CHECK_EQ(osdmap_pool_field_parse("pgp_num", &pf), 0);
	CHECK_EQ(pf, POOL_FIELD_PGP_NUM);
	CHECK_STREQ(osdmap_pool_field_name(POOL_FIELD_MIN_SIZE), "min_size");
	CHECK_EQ(osdmap_pool_field_parse("colour", &pf), -EINVAL);
}

TEST(pgid_text)
{
	struct pg_id pg = { 1, 0x2f }, r;
	char buf[PGID_STR_MAX];

	CHECK_EQ(pgid_format(&pg, buf, sizeof(buf)), 4);
	CHECK_STREQ(buf, "1.2f");
	CHECK_EQ(pgid_parse("1.2f", &r), 0);
	CHECK(pgid_eq(&pg, &r));
	CHECK_EQ(pgid_parse("12.FFFFFFFF", &r), 0);
	CHECK_EQ(r.pool, 12);
	CHECK_EQ(r.seed, 0xffffffffu);
	const char *bad[] = { "", "1", "1.", ".2", "1.2g", "a.1", "1.123456789", "-1.2", "1.2 ",
	                      "99999999999999999999.1" };
	for (size_t i = 0; i < NORN_ARRAY_SIZE(bad); i++)
		CHECK_EQ(pgid_parse(bad[i], &r), -EINVAL);
}

TEST(str_hash_golden)
{
	/* Pinned: changing these moves every object in every cluster. */
	const struct golden_hash *g = GOLDEN_HASH;
	int print = getenv("NORN_PRINT_GOLDEN") != NULL;

	for (size_t i = 0; i < NORN_ARRAY_SIZE(GOLDEN_HASH); i++) {
		uint32_t h = osdmap_str_hash(g[i].s, strlen(g[i].s));
		if (print)
			printf("{ \"%s\", 0x%08x },\n", g[i].s, h);
		else
			CHECK_EQ(h, g[i].h);
	}
	/* embedded NULs count */
	CHECK(osdmap_str_hash("a\0b", 3) != osdmap_str_hash("a", 1));
	/* low bits well mixed: 4096 sequential names over 16 buckets */
	int cnt[16] = { 0 };
	for (int i = 0; i < 4096; i++) {
		char n[32];
		int len = snprintf(n, sizeof(n), "obj%d", i);
		cnt[osdmap_str_hash(n, (size_t)len) & 15]++;
	}
	for (int i = 0; i < 16; i++)
		CHECK(cnt[i] > 256 - 80 && cnt[i] < 256 + 80);
}

TEST(stable_mod_properties)
{
	struct osdmap_pool p;

	for (uint32_t b = 1; b <= 300; b++) {
		osdmap_pool_defaults(&p, "x", b);
		uint32_t m = p.pg_num_mask;
		CHECK(m + 1 >= b && m + 1 < 2 * b + (b == 1));
		struct osdmap_pool q;
		osdmap_pool_defaults(&q, "x", b + 1);
		for (uint32_t x = 0; x < 5000; x++) {
			uint32_t h = x * 2654435761u;
			uint32_t r = osdmap_stable_mod(h, b, m);
			CHECK(r < b);
			if ((b & (b - 1)) == 0)
				CHECK_EQ(r, h & (b - 1));
			/* growing pg_num by one: an object stays or moves to the new PG */
			uint32_t r2 = osdmap_stable_mod(h, b + 1, q.pg_num_mask);
			CHECK(r2 == r || r2 == b);
		}
	}
}

/* ---- placement ---- */

static void up_set(const struct osdmap *m, int64_t pool, uint32_t seed, int32_t *up,
                   uint32_t *n, int32_t *primary)
{
	CHECK_EQ(osdmap_pg_to_up_acting(m, pool, seed, up, n, primary), 0);
}

static int host_of(int32_t osd) { return osd / PER_HOST; }

TEST(placement_basic_and_golden)
{
	struct osdmap m;
	int32_t up[OSDMAP_MAX_POOL_SIZE], primary;
	uint32_t n;
	int print = getenv("NORN_PRINT_GOLDEN") != NULL;

	make_map(&m);
	for (uint32_t s = 0; s < 64; s++) {
		up_set(&m, 0, s, up, &n, &primary);
		CHECK_EQ(n, 3);
		CHECK_EQ(primary, up[0]);
		/* distinct hosts (chooseleaf host) */
		CHECK(host_of(up[0]) != host_of(up[1]) && host_of(up[0]) != host_of(up[2]) &&
		      host_of(up[1]) != host_of(up[2]));
		if (print && s < 8)
			printf("{ %u, { %d, %d, %d } },\n", s, up[0], up[1], up[2]);
	}
	CHECK_EQ(osdmap_pg_to_up_acting(&m, 0, 64, up, &n, &primary), -EINVAL);
	CHECK_EQ(osdmap_pg_to_up_acting(&m, 5, 0, up, &n, &primary), -ENOENT);
	/* Golden: pins the whole chain (pps hash + CRUSH). */
	for (size_t i = 0; i < NORN_ARRAY_SIZE(GOLDEN_UP) && !print; i++) {
		up_set(&m, 0, GOLDEN_UP[i].seed, up, &n, &primary);
		CHECK_EQ(n, 3);
		for (int j = 0; j < 3; j++)
			CHECK_EQ(up[j], GOLDEN_UP[i].up[j]);
	}
	/* object locate == object_to_pg + pg_to_up_acting */
	for (int i = 0; i < 100; i++) {
		char name[32];
		int len = snprintf(name, sizeof(name), "obj-%d", i);
		struct pg_id pg;
		int32_t o2[OSDMAP_MAX_POOL_SIZE], p2;
		uint32_t n2;

		CHECK_EQ(osdmap_object_locate(&m, 0, name, (size_t)len, &pg, up, &n, &primary), 0);
		CHECK_EQ(pg.pool, 0);
		CHECK(pg.seed < 64);
		CHECK_EQ(pg.seed, osdmap_object_to_pg(osdmap_pool(&m, 0), name, (size_t)len).seed);
		up_set(&m, 0, pg.seed, o2, &n2, &p2);
		CHECK(n == n2 && primary == p2 && !memcmp(up, o2, n * sizeof(up[0])));
	}
	osdmap_free(&m);
}

TEST(placement_down_and_out)
{
	struct osdmap m;
	struct osdmap_inc inc;
	int32_t up[OSDMAP_MAX_POOL_SIZE], raw[OSDMAP_MAX_POOL_SIZE], primary;
	uint32_t n, rn;
	int32_t before[64][3];
	int hits = 0;

	make_map(&m);
	for (uint32_t s = 0; s < 64; s++) {
		up_set(&m, 0, s, up, &n, &primary);
		memcpy(before[s], up, sizeof(before[s]));
	}
	/* osd.4 down (still in): it leaves every up set, the others shift left,
	 * the raw (CRUSH) set still has it, nothing else moves. */
	osdmap_inc_init(&inc, &m, 1);
	CHECK_EQ(osdmap_inc_osd_down(&inc, 4), 0);
	must_apply(&m, &inc);
	for (uint32_t s = 0; s < 64; s++) {
		int had = before[s][0] == 4 || before[s][1] == 4 || before[s][2] == 4;
		uint32_t k = 0;

		up_set(&m, 0, s, up, &n, &primary);
		CHECK_EQ(osdmap_pg_to_raw(&m, 0, s, raw, &rn), 0);
		CHECK_EQ(rn, 3);
		CHECK(!memcmp(raw, before[s], sizeof(before[s])));
		CHECK_EQ(n, had ? 2u : 3u);
		for (int j = 0; j < 3; j++)
			if (before[s][j] != 4)
				CHECK_EQ(up[k++], before[s][j]);
		for (uint32_t j = 0; j < n; j++)
			CHECK(up[j] != 4);
		CHECK_EQ(primary, up[0]);
		hits += had;
	}
	CHECK(hits > 0);
	/* osd.4 out: it gets no PG at all, every PG is whole again */
	osdmap_inc_init(&inc, &m, 1);
	CHECK_EQ(osdmap_inc_osd_weight(&inc, 4, 0), 0);
	must_apply(&m, &inc);
	int moved = 0;
	for (uint32_t s = 0; s < 64; s++) {
		up_set(&m, 0, s, up, &n, &primary);
		CHECK_EQ(n, 3);
		for (uint32_t j = 0; j < n; j++)
			CHECK(up[j] != 4);
		moved += memcmp(up, before[s], sizeof(before[s])) != 0;
	}
	/* only the PGs that had osd.4 move (CRUSH moves the minimum) */
	CHECK(moved <= hits + 3);
	osdmap_free(&m);
}

TEST(placement_ec_keeps_positions)
{
	struct osdmap m;
	struct osdmap_inc inc;
	int32_t up[OSDMAP_MAX_POOL_SIZE], primary;
	int32_t before[32][3];
	uint32_t n;

	make_map(&m);
	for (uint32_t s = 0; s < 32; s++) {
		up_set(&m, 1, s, up, &n, &primary);
		CHECK_EQ(n, 3);
		memcpy(before[s], up, sizeof(before[s]));
	}
	osdmap_inc_init(&inc, &m, 1);
	CHECK_EQ(osdmap_inc_osd_down(&inc, 7), 0);
	must_apply(&m, &inc);
	int holes = 0;
	for (uint32_t s = 0; s < 32; s++) {
		up_set(&m, 1, s, up, &n, &primary);
		CHECK_EQ(n, 3);
		for (int j = 0; j < 3; j++) {
			if (before[s][j] == 7) {
				CHECK_EQ(up[j], OSD_NONE);
				holes++;
			} else {
				CHECK_EQ(up[j], before[s][j]);
			}
		}
		CHECK_EQ(primary, up[0] != OSD_NONE ? up[0] : up[1]);
	}
	CHECK(holes > 0);
	osdmap_free(&m);
}

TEST(placement_size_and_distribution)
{
	struct osdmap m;
	struct osdmap_inc inc;
	int32_t up[OSDMAP_MAX_POOL_SIZE], primary;
	uint32_t n;
	int count[NOSD] = { 0 };

	make_map(&m);
	osdmap_inc_init(&inc, &m, 1);
	CHECK_EQ(osdmap_inc_pool_set(&inc, 0, POOL_FIELD_PG_NUM, 1024), 0);
	CHECK_EQ(osdmap_inc_pool_set(&inc, 0, POOL_FIELD_PGP_NUM, 1024), 0);
	must_apply(&m, &inc);
	for (uint32_t s = 0; s < 1024; s++) {
		up_set(&m, 0, s, up, &n, &primary);
		CHECK_EQ(n, 3);
		for (uint32_t j = 0; j < n; j++)
			count[up[j]]++;
	}
	/* 3072 placements over 12 equal OSDs: 256 each, allow +-30% */
	for (int i = 0; i < NOSD; i++)
		CHECK(count[i] > 180 && count[i] < 335);
	/* size 2 and size 4 (4 hosts) */
	for (int size = 1; size <= 4; size++) {
		osdmap_inc_init(&inc, &m, 1);
		CHECK_EQ(osdmap_inc_pool_set(&inc, 0, POOL_FIELD_MIN_SIZE, 1), 0);
		CHECK_EQ(osdmap_inc_pool_set(&inc, 0, POOL_FIELD_SIZE, (uint64_t)size), 0);
		must_apply(&m, &inc);
		for (uint32_t s = 0; s < 64; s++) {
			up_set(&m, 0, s, up, &n, &primary);
			CHECK_EQ(n, (uint32_t)size);
		}
	}
	/* size 5 with only 4 hosts: firstn returns what it can (4) */
	osdmap_inc_init(&inc, &m, 1);
	CHECK_EQ(osdmap_inc_pool_set(&inc, 0, POOL_FIELD_SIZE, 5), 0);
	must_apply(&m, &inc);
	up_set(&m, 0, 0, up, &n, &primary);
	CHECK_EQ(n, 4);
	osdmap_free(&m);
}

static void apply_via_encoding(struct osdmap *m, struct osdmap_inc *inc, int want)
{
	struct enc e;
	struct osdmap_inc d;

	enc_init(&e, 0);
	CHECK_EQ(osdmap_inc_encode(inc, &e), 0);
	memset(&d, 0, sizeof(d));
	CHECK_EQ(osdmap_inc_decode(&d, e.buf, e.len), 0);
	CHECK_EQ(osdmap_apply_incremental(m, &d), want);
	osdmap_inc_free(&d);
	osdmap_inc_free(inc);
	enc_free(&e);
}

TEST(crush_edits_and_intervals)
{
	struct osdmap m, prev;
	struct osdmap_inc inc;
	struct map_addr a = { "127.0.0.1", 6899 };
	int id, h0;

	make_map(&m);
	osdmap_init(&prev);
	CHECK_EQ(osdmap_copy(&prev, &m), 0);
	/* boot a new OSD on a new host in one incremental */
	osdmap_inc_init(&inc, &m, 1);
	CHECK_EQ(osdmap_inc_max_osd(&inc, NOSD + 1), 0);
	CHECK_EQ(osdmap_inc_new_osd(&inc, NOSD, FSID, "h4"), 0);
	CHECK_EQ(osdmap_inc_crush_set_osd(&inc, NOSD, "h4", 0x10000), 0);
	CHECK_EQ(osdmap_inc_osd_up(&inc, NOSD, &a), 0);
	CHECK_EQ(osdmap_inc_osd_weight(&inc, NOSD, OSDMAP_WEIGHT_IN), 0);
	apply_via_encoding(&m, &inc, 0);
	CHECK_EQ(crush_item_by_name(m.crush, "h4", &id), 0);
	CHECK(id < 0);
	CHECK_EQ(crush_item_weight(m.crush, NOSD), 0x10000);
	CHECK_EQ(m.crush->devices[NOSD].parent, id);
	int changed = 0, has_new = 0;
	for (uint32_t s = 0; s < 64; s++) {
		int32_t up[OSDMAP_MAX_POOL_SIZE], p1;
		uint32_t n;
		int c = osdmap_pg_interval_changed(&prev, &m, 0, s);

		CHECK(c == 0 || c == 1);
		changed += c;
		up_set(&m, 0, s, up, &n, &p1);
		for (uint32_t j = 0; j < n; j++)
			has_new += up[j] == NOSD;
		CHECK_EQ(osdmap_pg_interval_changed(&m, &m, 0, s), 0);
	}
	/* the new OSD takes its share (~1/5 of 64 PGs), and only PGs that
	 * moved start a new interval */
	CHECK(has_new > 0);
	CHECK(changed >= has_new && changed < 40);
	CHECK_EQ(osdmap_pg_interval_changed(&prev, &m, 7, 0), 0);   /* no such pool in either */
	/* move it to host h0 with weight 2 */
	osdmap_inc_init(&inc, &m, 1);
	CHECK_EQ(osdmap_inc_crush_set_osd(&inc, NOSD, "h0", 0x20000), 0);
	apply_via_encoding(&m, &inc, 0);
	CHECK_EQ(crush_item_by_name(m.crush, "h0", &h0), 0);
	CHECK_EQ(m.crush->devices[NOSD].parent, h0);
	CHECK_EQ(crush_item_weight(m.crush, h0), 0x50000);
	CHECK_EQ(crush_item_weight(m.crush, id), 0);
	/* a non-host bucket is refused, map unchanged */
	osdmap_inc_init(&inc, &m, 1);
	CHECK_EQ(osdmap_inc_crush_set_osd(&inc, NOSD, "default", 0x10000), 0);
	apply_via_encoding(&m, &inc, -EINVAL);
	CHECK_EQ(m.crush->devices[NOSD].parent, h0);
	/* retire it: down, out, out of CRUSH, removed */
	osdmap_inc_init(&inc, &m, 1);
	CHECK_EQ(osdmap_inc_osd_down(&inc, NOSD), 0);
	CHECK_EQ(osdmap_inc_osd_weight(&inc, NOSD, 0), 0);
	CHECK_EQ(osdmap_inc_crush_rm_osd(&inc, NOSD), 0);
	CHECK_EQ(osdmap_inc_rm_osd(&inc, NOSD), 0);
	apply_via_encoding(&m, &inc, 0);
	CHECK(!crush_item_exists(m.crush, NOSD));
	CHECK(!osdmap_osd_exists(&m, NOSD));
	CHECK_EQ(crush_item_weight(m.crush, h0), 0x30000);
	osdmap_inc_init(&inc, &m, 1);
	CHECK_EQ(osdmap_inc_crush_rm_osd(&inc, NOSD), 0);
	apply_via_encoding(&m, &inc, -EINVAL);
	osdmap_inc_init(&inc, &m, 1);
	CHECK_EQ(osdmap_inc_crush_set_osd(&inc, 1, "bad host", 1), -EINVAL);
	CHECK_EQ(osdmap_inc_crush_set_osd(&inc, 1, "h1", OSDMAP_CRUSH_WEIGHT_MAX + 1), -EINVAL);
	osdmap_inc_free(&inc);
	osdmap_free(&m);
	osdmap_free(&prev);
}

TEST(pg_temp)
{
	struct osdmap m, prev, r;
	struct osdmap_inc inc;
	struct osdmap_pg_mapping pm, pm0;
	struct enc e;
	int32_t acting[OSDMAP_MAX_POOL_SIZE], pr;
	uint32_t n;

	make_map(&m);
	osdmap_init(&prev);
	CHECK_EQ(osdmap_copy(&prev, &m), 0);
	CHECK_EQ(osdmap_pg_mapping(&m, 0, 0, &pm0), 0);
	CHECK(!memcmp(pm0.up, pm0.acting, sizeof(pm0.up)) && pm0.up_primary == pm0.acting_primary);
	/* pin PG 0.0 to three OSDs other than its up set, on distinct hosts */
	int32_t pin[3], k = 0;
	for (int32_t o = 0; o < NOSD && k < 3; o++) {
		int clash = 0;
		for (int j = 0; j < 3; j++)
			clash |= pm0.up[j] == o;
		for (int j = 0; j < k; j++)
			clash |= host_of(pin[j]) == host_of(o);
		if (!clash)
			pin[k++] = o;
	}
	CHECK_EQ(k, 3);
	int32_t ec_pin[3] = { 1, OSD_NONE, 5 };
	osdmap_inc_init(&inc, &m, 1);
	CHECK_EQ(osdmap_inc_pg_temp(&inc, 0, 0, pin, 3), 0);
	CHECK_EQ(osdmap_inc_pg_temp(&inc, 1, 3, ec_pin, 3), 0);
	apply_via_encoding(&m, &inc, 0);
	CHECK_EQ(m.n_pg_temp, 2);
	CHECK(osdmap_pg_temp_get(&m, 0, 0) != NULL);
	CHECK(osdmap_pg_temp_get(&m, 0, 1) == NULL);
	CHECK_EQ(osdmap_pg_mapping(&m, 0, 0, &pm), 0);
	CHECK(!memcmp(pm.up, pm0.up, sizeof(pm.up)));        /* up unchanged */
	CHECK_EQ(pm.acting_n, 3);
	CHECK(!memcmp(pm.acting, pin, sizeof(pin)));
	CHECK_EQ(pm.acting_primary, pin[0]);
	CHECK_EQ(osdmap_pg_to_up_acting(&m, 0, 0, acting, &n, &pr), 0);
	CHECK(n == 3 && pr == pin[0] && !memcmp(acting, pin, sizeof(pin)));
	CHECK_EQ(osdmap_pg_interval_changed(&prev, &m, 0, 0), 1);
	CHECK_EQ(osdmap_pg_interval_changed(&prev, &m, 0, 1), 0);
	/* EC positions: OSD_NONE kept, primary is the first real one */
	CHECK_EQ(osdmap_pg_mapping(&m, 1, 3, &pm), 0);
	CHECK(pm.acting_n == 3 && pm.acting[1] == OSD_NONE && pm.acting_primary == 1);
	/* full map round trip keeps pg_temp */
	encode(&m, &e);
	osdmap_init(&r);
	CHECK_EQ(osdmap_decode(&r, e.buf, e.len), 0);
	CHECK(same_encoding(&m, &r));
	CHECK_EQ(r.n_pg_temp, 2);
	enc_reset(&e);
	CHECK_EQ(osdmap_dump_json(&m, &e), 0);
	enc_u8(&e, 0);
	CHECK(strstr((char *)e.buf, "\"pg_temp\":[{\"pgid\":\"0.0\",\"osds\":["));
	CHECK(strstr((char *)e.buf, "{\"pgid\":\"1.3\",\"osds\":[1,-1,5]}]"));
	enc_free(&e);
	osdmap_free(&r);
	/* pinned primary down: acting shifts left; all pinned down: back to up */
	osdmap_inc_init(&inc, &m, 1);
	CHECK_EQ(osdmap_inc_osd_down(&inc, pin[0]), 0);
	apply_via_encoding(&m, &inc, 0);
	CHECK_EQ(osdmap_pg_mapping(&m, 0, 0, &pm), 0);
	CHECK(pm.acting_n == 2 && pm.acting[0] == pin[1] && pm.acting_primary == pin[1]);
	osdmap_inc_init(&inc, &m, 1);
	CHECK_EQ(osdmap_inc_osd_down(&inc, pin[1]), 0);
	CHECK_EQ(osdmap_inc_osd_down(&inc, pin[2]), 0);
	apply_via_encoding(&m, &inc, 0);
	CHECK_EQ(osdmap_pg_mapping(&m, 0, 0, &pm), 0);
	CHECK(!memcmp(pm.acting, pm.up, sizeof(pm.up)) && pm.acting_primary == pm.up_primary);
	/* bad pins are refused */
	int32_t dup[2] = { 1, 1 }, ghost[1] = { NOSD + 3 }, none[2] = { OSD_NONE, 2 }, four[4] = { 0, 3, 6, 9 };
	int32_t allnone[3] = { OSD_NONE, OSD_NONE, OSD_NONE };
	struct { int64_t pool; uint32_t seed; const int32_t *o; uint32_t n; } bad[] = {
		{ 0, 1, dup, 2 }, { 0, 1, ghost, 1 }, { 0, 1, none, 2 }, { 0, 1, four, 4 },
		{ 0, 64, pin, 3 }, { 9, 0, pin, 3 }, { 0, 5, NULL, 0 }, { 1, 0, allnone, 3 },
	};
	for (size_t i = 0; i < NORN_ARRAY_SIZE(bad); i++) {
		osdmap_inc_init(&inc, &m, 1);
		CHECK_EQ(osdmap_inc_pg_temp(&inc, bad[i].pool, bad[i].seed, bad[i].o, bad[i].n), 0);
		apply_via_encoding(&m, &inc, -EINVAL);
	}
	/* clearing works; removing an OSD or a pool prunes its entries */
	osdmap_inc_init(&inc, &m, 1);
	CHECK_EQ(osdmap_inc_pg_temp(&inc, 0, 0, NULL, 0), 0);
	CHECK_EQ(osdmap_inc_pg_temp(&inc, 0, 7, &ec_pin[2], 1), 0);   /* pins osd.5 */
	apply_via_encoding(&m, &inc, 0);
	CHECK(osdmap_pg_temp_get(&m, 0, 0) == NULL);
	CHECK_EQ(m.n_pg_temp, 2);
	osdmap_inc_init(&inc, &m, 1);
	CHECK_EQ(osdmap_inc_osd_down(&inc, 5), 0);
	CHECK_EQ(osdmap_inc_rm_osd(&inc, 5), 0);
	apply_via_encoding(&m, &inc, 0);
	CHECK_EQ(m.n_pg_temp, 0);     /* both named osd.5 */
	osdmap_inc_init(&inc, &m, 1);
	CHECK_EQ(osdmap_inc_pg_temp(&inc, 1, 3, ec_pin, 2), 0);
	CHECK_EQ(osdmap_inc_pg_temp(&inc, 0, 63, ec_pin, 1), 0);
	apply_via_encoding(&m, &inc, 0);
	CHECK_EQ(m.n_pg_temp, 2);
	osdmap_inc_init(&inc, &m, 1);
	CHECK_EQ(osdmap_inc_pool_rm(&inc, 1), 0);
	CHECK_EQ(osdmap_inc_pool_set(&inc, 0, POOL_FIELD_PGP_NUM, 32), 0);
	CHECK_EQ(osdmap_inc_pool_set(&inc, 0, POOL_FIELD_PG_NUM, 32), 0);  /* 0.3f goes */
	apply_via_encoding(&m, &inc, 0);
	CHECK_EQ(m.n_pg_temp, 0);
	osdmap_free(&m);
	osdmap_free(&prev);
}

TEST(dumps)
{
	struct osdmap m;
	struct enc e;

	make_map(&m);
	enc_init(&e, 0);
	CHECK_EQ(osdmap_dump_json(&m, &e), 0);
	enc_u8(&e, 0);
	const char *s = (const char *)e.buf;
	CHECK(strstr(s, "\"epoch\":2,"));
	CHECK(strstr(s, "\"fsid\":\"6e6f726e-0102-0304-0506-0708090a0b0c\""));
	CHECK(strstr(s, "{\"osd\":11,"));
	CHECK(strstr(s, "\"name\":\"rbd\""));
	CHECK(strstr(s, "\"type\":\"erasure\""));
	CHECK(strstr(s, "\"addr\":\"127.0.0.1:6800\""));
	int depth = 0;
	for (const char *p = s; *p; p++) {
		depth += (*p == '{' || *p == '[') - (*p == '}' || *p == ']');
		CHECK(depth >= 0);
	}
	CHECK_EQ(depth, 0);
	/* validate with a real JSON parser when python3 is there */
	FILE *f = popen("/usr/bin/python3 -c 'import json,sys; json.load(sys.stdin)' 2>/dev/null", "w");
	if (f) {
		fputs(s, f);
		int st = pclose(f);
		CHECK(st == 0 || WEXITSTATUS(st) == 127);
	}
	enc_reset(&e);
	CHECK_EQ(osdmap_dump_text(&m, &e), 0);
	enc_u8(&e, 0);
	CHECK(strstr((const char *)e.buf, "pool 0 'rbd' replicated size 3 min_size 2"));
	CHECK(strstr((const char *)e.buf, "osd.3 up in weight 1.00000"));
	enc_free(&e);
	osdmap_free(&m);
}

TEST_MAIN(TEST_ENTRY(build_and_roundtrip), TEST_ENTRY(truncation_and_corruption),
          TEST_ENTRY(copy_is_deep), TEST_ENTRY(incremental_equals_expected_full_map),
          TEST_ENTRY(bad_incrementals_leave_map_unchanged), TEST_ENTRY(rm_osd_and_pool),
          TEST_ENTRY(flags_names), TEST_ENTRY(pgid_text), TEST_ENTRY(str_hash_golden),
          TEST_ENTRY(stable_mod_properties), TEST_ENTRY(placement_basic_and_golden),
          TEST_ENTRY(placement_down_and_out), TEST_ENTRY(placement_ec_keeps_positions),
          TEST_ENTRY(placement_size_and_distribution), TEST_ENTRY(crush_edits_and_intervals),
          TEST_ENTRY(pg_temp),
          TEST_ENTRY(dumps))
