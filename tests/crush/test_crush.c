/* Unit tests for crush/: hash and logarithm, golden mappings, determinism,
 * failure domains, utilization against weights, data movement on map
 * changes against the minimum, indep position stability, the binary codec
 * under truncation and corruption, the text format round trip, builder
 * errors. Run `test_crush dump` to print the golden values (only ever to
 * re-pin them for a deliberate new CRUSH_BEHAVIOR). */
#include <errno.h>
#include <math.h>
#include "tests/harness.h"
#include "crush/crush.h"
#include "crush/crush_int.h"

/* GOLDEN-BEGIN (printed by `test_crush dump`, pasted here) */
#define GOLD_HASH2 0xf4a519d2u
#define GOLD_HASH3 0xd125b4edu
#define GOLD_REP { { 25, 9, 15 }, { 17, 20, 31 }, { 25, 20, 16 }, { 15, 31, 11 }, { 37, 23, 13 }, { 29, 6, 23 }, { 38, 1, 5 }, { 7, 30, 11 } }
#define GOLD_EC { { 25, 8, 11, 15, 23, 20 }, { 17, 8, 22, 19, 28, 7 }, { 25, 20, 3, 1, 8, 17 }, { 15, 20, 26, 8, 6, 23 }, { 37, 22, 3, 1, 7, 21 }, { 29, 22, 16, 9, 11, 20 }, { 38, 20, 8, 18, 17, 11 }, { 7, 19, 20, 28, 16, 8 } }
#define GOLD_FNV_REP 0x4ae38a81d99520ebull
#define GOLD_FNV_EC 0x4e0944642fd30f50ull
#define GOLD_FNV_REP_OUT 0x09b1c3a4cf271dd8ull
#define GOLD_FNV_EC_OUT 0x99eb91e5c8edb686ull
/* GOLDEN-END */

#ifndef NORN_SRC_DIR
#define NORN_SRC_DIR "."
#endif

static char *read_file(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	CHECK(fp != NULL);
	fseek(fp, 0, SEEK_END);
	long n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	char *buf = malloc((size_t)n + 1);
	CHECK(buf && fread(buf, 1, (size_t)n, fp) == (size_t)n);
	fclose(fp);
	buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}

static struct crush_map *load_asgard(void)
{
	size_t len;
	char *text = read_file(NORN_SRC_DIR "/examples/asgard.crush", &len);
	struct crush_map *m = NULL;
	char err[256];
	int rc = crush_compile(text, len, &m, err, sizeof(err));
	if (rc)
		fprintf(stderr, "compile: %s\n", err);
	CHECK_EQ(rc, 0);
	free(text);
	return m;
}

/* A flat weight vector with every device in. */
static uint32_t g_in[4096];

static void all_in(void)
{
	for (size_t i = 0; i < 4096; i++)
		g_in[i] = CRUSH_WEIGHT_ONE;
}

/* Map x = 0..nx-1 into res[nx][nrep]; short results are padded with -1. */
static void map_all(const struct crush_map *m, int rule, int nrep, uint32_t nx, const uint32_t *w,
                    int wmax, int *res)
{
	void *scr = malloc(crush_scratch_size(m, nrep));
	CHECK(scr != NULL);
	for (uint32_t x = 0; x < nx; x++) {
		int *r = res + (size_t)x * nrep;
		int n = crush_do_rule(m, rule, x, r, nrep, w, wmax, scr);
		CHECK(n >= 0 && n <= nrep);
		for (int i = n; i < nrep; i++)
			r[i] = -1;
	}
	free(scr);
}

/* Moved placements and the minimum that had to move (sum of per-device
 * gains), as the `norn crush diff` command counts them. */
static void movement(const int *a, const int *b, uint32_t nx, int nrep, int indep,
                     uint64_t *moved, uint64_t *min)
{
	static int64_t delta[4096];
	memset(delta, 0, sizeof(delta));
	*moved = 0;
	for (uint32_t x = 0; x < nx; x++) {
		const int *ra = a + (size_t)x * nrep, *rb = b + (size_t)x * nrep;
		for (int i = 0; i < nrep; i++) {
			if (rb[i] < 0 || rb[i] == CRUSH_ITEM_NONE)
				continue;
			int found = 0;
			if (indep)
				found = ra[i] == rb[i];
			else
				for (int k = 0; k < nrep && !found; k++)
					found = ra[k] == rb[i];
			*moved += !found;
		}
		for (int i = 0; i < nrep; i++) {
			if (ra[i] >= 0 && ra[i] != CRUSH_ITEM_NONE)
				delta[ra[i]]--;
			if (rb[i] >= 0 && rb[i] != CRUSH_ITEM_NONE)
				delta[rb[i]]++;
		}
	}
	*min = 0;
	for (int d = 0; d < 4096; d++)
		if (delta[d] > 0)
			*min += (uint64_t)delta[d];
}

/* hosts x per_host devices under root "default"; device weight in 16.16
 * from wfn; rules: 0 = chooseleaf firstn 0 host, 1 = chooseleaf indep 0
 * host, 2 = chooseleaf firstn 1 host. */
static struct crush_map *gen_map(int hosts, int per_host, uint32_t (*wfn)(int host, int dev))
{
	struct crush_map *m;
	int root, dev = 0;
	char name[32];
	CHECK_EQ(crush_create(&m), 0);
	CHECK_EQ(crush_add_bucket(m, 0, 10, "default", &root), 0);
	for (int h = 0; h < hosts; h++) {
		int hid;
		snprintf(name, sizeof(name), "host%d", h);
		CHECK_EQ(crush_add_bucket(m, 0, 1, name, &hid), 0);
		for (int k = 0; k < per_host; k++, dev++) {
			CHECK_EQ(crush_add_device(m, dev, NULL), 0);
			CHECK_EQ(crush_bucket_add_item(m, hid, dev, wfn(h, k)), 0);
		}
		CHECK_EQ(crush_bucket_add_item(m, root, hid, 0), 0);
	}
	struct crush_rule_step rs[3] = {
		{ CRUSH_OP_TAKE, root, 0 }, { CRUSH_OP_CHOOSELEAF_FIRSTN, 0, 1 }, { CRUSH_OP_EMIT, 0, 0 }
	};
	CHECK_EQ(crush_add_rule(m, 0, "rep", CRUSH_RULE_REPLICATED, rs, 3, NULL), 0);
	rs[1].op = CRUSH_OP_CHOOSELEAF_INDEP;
	CHECK_EQ(crush_add_rule(m, 1, "ec", CRUSH_RULE_ERASURE, rs, 3, NULL), 0);
	rs[1].op = CRUSH_OP_CHOOSELEAF_FIRSTN;
	rs[1].arg1 = 1;
	CHECK_EQ(crush_add_rule(m, 2, "one", CRUSH_RULE_REPLICATED, rs, 3, NULL), 0);
	return m;
}

static uint32_t w_mixed(int host, int dev)
{
	/* 0.5, 1, 1.5, 2 TB disks, varying by host */
	return (uint32_t)(((host + dev) % 4) + 1) * (CRUSH_WEIGHT_ONE / 2);
}

static uint32_t w_even(int host, int dev)
{
	(void)host;
	return (uint32_t)(dev + 1) * CRUSH_WEIGHT_ONE;
}

static uint64_t fnv_results(const int *res, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++) {
		h ^= (uint32_t)res[i];
		h *= 1099511628211ull;
	}
	return h;
}

/* ---------------------------------------------------------------- tests */

TEST(hash_and_log)
{
	CHECK_EQ(crush_neglog2(0xffffffffu), 0);
	CHECK_EQ(crush_neglog2(0), 32ull << 58);
	CHECK_EQ(crush_neglog2(0x7fffffffu), 1ull << 58);
	CHECK_EQ(crush_neglog2(0x3fffffffu), 2ull << 58);
	/* accuracy against libm, and monotone, on a sweep */
	uint64_t prev = crush_neglog2(0);
	double maxerr = 0;
	for (uint64_t u = 1; u <= 0xffffffffull; u += 4099) {
		uint64_t v = crush_neglog2((uint32_t)u);
		CHECK(v < prev);
		prev = v;
		CHECK(crush__neglog2_lower((uint32_t)u) <= v);
		long double exact = -log2l(((long double)u + 1) / 4294967296.0L);
		double err = fabs((double)(exact - (long double)v / (long double)(1ull << 58)));
		if (err > maxerr)
			maxerr = err;
	}
	CHECK(maxerr < 1e-13);
	for (uint32_t u = 0xfff00000u; u != 0; u++) {  /* the winners' end, densely */
		CHECK(crush__neglog2_lower(u) <= crush_neglog2(u));
		if (u > 0xfff00000u)
			CHECK(crush_neglog2(u) < crush_neglog2(u - 1));
	}
	/* pinned hash values: the hash is part of CRUSH_BEHAVIOR_V1 */
	CHECK_EQ(crush_hash32_2(1, 2), GOLD_HASH2);
	CHECK_EQ(crush_hash32_3(1, 2, 3), GOLD_HASH3);
	/* avalanche: flipping one input bit flips about half the output bits */
	uint64_t flips = 0, trials = 0;
	for (uint32_t i = 0; i < 2000; i++) {
		uint32_t a = i * 2654435761u, b = i ^ 0x5bd1e995u, c = i * 7;
		uint32_t h = crush_hash32_3(a, b, c);
		for (int bit = 0; bit < 32; bit++) {
			flips += (uint64_t)__builtin_popcount(h ^ crush_hash32_3(a ^ (1u << bit), b, c));
			flips += (uint64_t)__builtin_popcount(h ^ crush_hash32_3(a, b, c ^ (1u << bit)));
			trials += 2;
		}
	}
	double avg = (double)flips / (double)trials;
	CHECK(avg > 15.8 && avg < 16.2);
}

/* Golden mappings: computed once and pasted; any change to hashing, the
 * logarithm, the mapper or the asgard file fails here. */
static const int gold_rep[8][3] = GOLD_REP;
static const int gold_ec[8][6] = GOLD_EC;

TEST(golden_mappings)
{
	struct crush_map *m = load_asgard();
	all_in();
	int rep = crush_rule_by_name(m, "replicated_host");
	int ec = crush_rule_by_name(m, "ec_host");
	CHECK(rep >= 0 && ec >= 0);
	static int res[10000 * 6];
	map_all(m, rep, 3, 8, g_in, 4096, res);
	for (int x = 0; x < 8; x++)
		for (int i = 0; i < 3; i++)
			CHECK_EQ(res[x * 3 + i], gold_rep[x][i]);
	map_all(m, ec, 6, 8, g_in, 4096, res);
	for (int x = 0; x < 8; x++)
		for (int i = 0; i < 6; i++)
			CHECK_EQ(res[x * 6 + i] == CRUSH_ITEM_NONE ? -2 : res[x * 6 + i], gold_ec[x][i]);
	map_all(m, rep, 3, 10000, g_in, 4096, res);
	CHECK_EQ(fnv_results(res, 30000), GOLD_FNV_REP);
	map_all(m, ec, 6, 2000, g_in, 4096, res);
	CHECK_EQ(fnv_results(res, 12000), GOLD_FNV_EC);
	/* and with some devices out and one half in */
	uint32_t w[64];
	for (int i = 0; i < 64; i++)
		w[i] = CRUSH_WEIGHT_ONE;
	w[3] = 0;
	w[25] = 0;
	w[8] = CRUSH_WEIGHT_ONE / 2;
	map_all(m, rep, 3, 10000, w, 39, res);
	CHECK_EQ(fnv_results(res, 30000), GOLD_FNV_REP_OUT);
	map_all(m, ec, 6, 2000, w, 39, res);
	CHECK_EQ(fnv_results(res, 12000), GOLD_FNV_EC_OUT);
	crush_destroy(m);
}

TEST(determinism_and_roundtrips)
{
	struct crush_map *m = load_asgard();
	all_in();
	static int a[5000 * 3], b[5000 * 3], c[5000 * 3];
	map_all(m, 0, 3, 5000, g_in, 4096, a);
	map_all(m, 0, 3, 5000, g_in, 4096, b);
	CHECK(!memcmp(a, b, sizeof(a)));
	/* binary round trip */
	size_t len;
	CHECK_EQ(crush_encode(m, NULL, 0, &len), -ERANGE);
	uint8_t *buf = malloc(len);
	CHECK_EQ(crush_encode(m, buf, len, &len), 0);
	struct crush_map *m2;
	CHECK_EQ(crush_decode(&m2, buf, len), 0);
	CHECK(crush_map_equal(m, m2));
	map_all(m2, 0, 3, 5000, g_in, 4096, c);
	CHECK(!memcmp(a, c, sizeof(a)));
	/* text round trip */
	char *text;
	CHECK_EQ(crush_decompile(m, &text), 0);
	struct crush_map *m3;
	char err[256];
	CHECK_EQ(crush_compile(text, strlen(text), &m3, err, sizeof(err)), 0);
	CHECK(crush_map_equal(m, m3));
	map_all(m3, 0, 3, 5000, g_in, 4096, c);
	CHECK(!memcmp(a, c, sizeof(a)));
	/* scratch alignment does not matter */
	uint8_t *scr = malloc(crush_scratch_size(m, 3) + 8);
	for (int off = 0; off < 8; off++) {
		int r[3];
		for (uint32_t x = 0; x < 100; x++) {
			CHECK_EQ(crush_do_rule(m, 0, x, r, 3, g_in, 4096, scr + off), 3);
			CHECK(!memcmp(r, &a[x * 3], sizeof(r)));
		}
	}
	free(scr);
	free(text);
	free(buf);
	crush_destroy(m);
	crush_destroy(m2);
	crush_destroy(m3);
}

TEST(asgard_text_exact)
{
	size_t len;
	char *file = read_file(NORN_SRC_DIR "/examples/asgard.crush", &len);
	struct crush_map *m;
	char err[256];
	CHECK_EQ(crush_compile(file, len, &m, err, sizeof(err)), 0);
	char *text;
	CHECK_EQ(crush_decompile(m, &text), 0);
	/* the file is its documentation header followed by exactly the
	 * decompiled text */
	const char *body = strstr(file, "# begin crush map\n");
	CHECK(body != NULL);
	CHECK_STREQ(body, text);
	/* decompile is a fixed point */
	struct crush_map *m2;
	CHECK_EQ(crush_compile(text, strlen(text), &m2, err, sizeof(err)), 0);
	char *text2;
	CHECK_EQ(crush_decompile(m2, &text2), 0);
	CHECK_STREQ(text, text2);
	/* what the file promises */
	CHECK_EQ(m->max_devices, 39);
	int id;
	CHECK_EQ(crush_item_by_name(m, "bld-002", &id), 0);
	CHECK_EQ(crush_item_weight(m, id), 0);
	CHECK_EQ(crush_item_by_name(m, "mimir", &id), 0);
	CHECK_EQ(crush_item_weight(m, id), 15 * CRUSH_WEIGHT_ONE);
	CHECK_EQ(crush_item_by_name(m, "bld-001", &id), 0);
	uint32_t w146;
	CHECK_EQ(crush_parse_weight("0.146", 5, &w146), 0);
	CHECK_EQ(crush_item_weight(m, id), 2 * w146);
	free(file);
	free(text);
	free(text2);
	crush_destroy(m);
	crush_destroy(m2);
}

static void check_distinct_hosts(const struct crush_map *m, int rule, int nrep, uint32_t nx,
                                 const uint32_t *w, int wmax)
{
	int host_type = crush_type_by_name(m, "host");
	CHECK(host_type > 0);
	void *scr = malloc(crush_scratch_size(m, nrep));
	for (uint32_t x = 0; x < nx; x++) {
		int r[CRUSH_MAX_RESULT], hosts[CRUSH_MAX_RESULT];
		int n = crush_do_rule(m, rule, x, r, nrep, w, wmax, scr);
		CHECK(n >= 0);
		for (int i = 0; i < n; i++) {
			hosts[i] = 0;
			if (r[i] == CRUSH_ITEM_NONE)
				continue;
			CHECK(r[i] >= 0 && r[i] < wmax);
			CHECK(w[r[i]] > 0); /* never an out device */
			CHECK_EQ(crush_item_ancestor(m, r[i], host_type, &hosts[i]), 0);
			for (int k = 0; k < i; k++)
				CHECK(hosts[k] != hosts[i]);
		}
	}
	free(scr);
}

TEST(one_replica_per_host)
{
	struct crush_map *m = load_asgard();
	all_in();
	check_distinct_hosts(m, 0, 3, 20000, g_in, 39);
	check_distinct_hosts(m, 1, 6, 3000, g_in, 39);
	uint32_t w[39];
	for (int i = 0; i < 39; i++)
		w[i] = (i % 5 == 0) ? 0 : CRUSH_WEIGHT_ONE;
	check_distinct_hosts(m, 0, 3, 20000, w, 39);
	check_distinct_hosts(m, 1, 6, 3000, w, 39);
	/* 13 hosts with disks: asking for 13 finds all of them, 14 cannot */
	void *scr = malloc(crush_scratch_size(m, 14));
	int r[14];
	CHECK_EQ(crush_do_rule(m, 0, 7, r, 13, g_in, 39, scr), 13);
	CHECK_EQ(crush_do_rule(m, 0, 7, r, 14, g_in, 39, scr), 13);
	CHECK_EQ(crush_do_rule(m, 1, 7, r, 14, g_in, 39, scr), 14);
	int none = 0;
	for (int i = 0; i < 14; i++)
		none += r[i] == CRUSH_ITEM_NONE;
	CHECK_EQ(none, 1);
	free(scr);
	crush_destroy(m);
}

TEST(utilization_matches_weights)
{
	all_in();
	/* one replica, mixed weights: each device's share is exactly w/W */
	struct crush_map *m = gen_map(12, 4, w_mixed);
	enum { NX = 100000 };
	static int res[NX * 3];
	static uint64_t count[64];
	map_all(m, 2, 1, NX, g_in, 4096, res);
	memset(count, 0, sizeof(count));
	for (int i = 0; i < NX; i++)
		count[res[i]]++;
	uint64_t total_w = crush_item_weight(m, -1);
	for (int d = 0; d < 48; d++) {
		double p = (double)crush_item_weight(m, d) / (double)total_w;
		double expect = p * NX, sigma = sqrt(NX * p * (1 - p));
		if (fabs((double)count[d] - expect) > 5 * sigma)
			fprintf(stderr, "  osd.%d: %llu vs %.0f (sigma %.1f)\n", d,
				(unsigned long long)count[d], expect, sigma);
		CHECK(fabs((double)count[d] - expect) <= 5 * sigma);
	}
	crush_destroy(m);
	/* three replicas over identical hosts: each host holds 3/10 of the
	 * mappings, split inside by device weight (1, 2, 3) */
	m = gen_map(10, 3, w_even);
	map_all(m, 0, 3, NX, g_in, 4096, res);
	memset(count, 0, sizeof(count));
	for (int i = 0; i < NX * 3; i++)
		count[res[i]]++;
	for (int d = 0; d < 30; d++) {
		double p = 0.3 * (double)(d % 3 + 1) / 6.0;
		double expect = p * NX, sigma = sqrt(NX * p * (1 - p));
		CHECK(fabs((double)count[d] - expect) <= 5 * sigma);
	}
	crush_destroy(m);
}

static void check_ratio_max(const char *what, const int *a, const int *b, uint32_t nx, int nrep,
                            int indep, double max_ratio)
{
	uint64_t moved, min;
	movement(a, b, nx, nrep, indep, &moved, &min);
	fprintf(stderr, "  %-36s moved %6llu min %6llu ratio %.3f\n", what,
		(unsigned long long)moved, (unsigned long long)min, min ? (double)moved / (double)min : 0);
	CHECK(min > 0);
	CHECK((double)moved <= max_ratio * (double)min);
}

static void check_ratio(const char *what, const int *a, const int *b, uint32_t nx, int nrep,
                        int indep)
{
	check_ratio_max(what, a, b, nx, nrep, indep, 1.1);
}

/* indep after an edit of the map itself (not the in/out vector): phase 1
 * of choose_indep sees the edit, and positions that had waited a round
 * for a free domain can shift; measured 1.3-1.6 x, bounded here at 2.5 x
 * (a known limitation, see docs/BENCHMARKS.md "CRUSH"). */
#define INDEP_EDIT_MAX 2.5

/* Remove a device, crush-reweight one, add a host, mark one out: each time
 * at most 1.1 x the minimum movement, for firstn and indep. */
static void movement_suite(struct crush_map *(*make)(void), int rep_rule, int ec_rule,
                           int nrep, int nec, int victim, int victim2, const char *host_for_new)
{
	enum { NX = 12000 };
	static int base_r[NX * 8], base_e[NX * 8], r[NX * 8];
	all_in();
	struct crush_map *m = make();
	map_all(m, rep_rule, nrep, NX, g_in, 4096, base_r);
	map_all(m, ec_rule, nec, NX, g_in, 4096, base_e);
	crush_destroy(m);

	m = make();
	CHECK_EQ(crush_remove_device(m, victim), 0);
	map_all(m, rep_rule, nrep, NX, g_in, 4096, r);
	check_ratio("firstn: one device removed", base_r, r, NX, nrep, 0);
	map_all(m, ec_rule, nec, NX, g_in, 4096, r);
	check_ratio_max("indep: one device removed", base_e, r, NX, nec, 1, INDEP_EDIT_MAX);
	crush_destroy(m);

	m = make();
	CHECK_EQ(crush_adjust_item_weight(m, victim2, crush_item_weight(m, victim2) / 2), 0);
	map_all(m, rep_rule, nrep, NX, g_in, 4096, r);
	check_ratio("firstn: one device weight halved", base_r, r, NX, nrep, 0);
	map_all(m, ec_rule, nec, NX, g_in, 4096, r);
	check_ratio_max("indep: one device weight halved", base_e, r, NX, nec, 1, INDEP_EDIT_MAX);
	crush_destroy(m);

	m = make();
	int root, hid;
	CHECK_EQ(crush_item_by_name(m, "default", &root), 0);
	CHECK_EQ(crush_add_bucket(m, 0, 1, host_for_new, &hid), 0);
	for (int k = 0; k < 3; k++) {
		int dev = (int)m->max_devices;
		CHECK_EQ(crush_add_device(m, dev, NULL), 0);
		CHECK_EQ(crush_bucket_add_item(m, hid, dev, CRUSH_WEIGHT_ONE), 0);
	}
	CHECK_EQ(crush_bucket_add_item(m, root, hid, 0), 0);
	map_all(m, rep_rule, nrep, NX, g_in, 4096, r);
	check_ratio("firstn: host with 3 x 1.0 added", base_r, r, NX, nrep, 0);
	map_all(m, ec_rule, nec, NX, g_in, 4096, r);
	check_ratio_max("indep: host with 3 x 1.0 added", base_e, r, NX, nec, 1, INDEP_EDIT_MAX);
	crush_destroy(m);

	m = make();
	static uint32_t w[4096];
	memcpy(w, g_in, sizeof(w));
	w[victim] = 0;
	map_all(m, rep_rule, nrep, NX, w, 4096, r);
	check_ratio("firstn: one device marked out", base_r, r, NX, nrep, 0);
	map_all(m, ec_rule, nec, NX, w, 4096, r);
	check_ratio("indep: one device marked out", base_e, r, NX, nec, 1);
	w[victim] = CRUSH_WEIGHT_ONE / 2;
	map_all(m, rep_rule, nrep, NX, w, 4096, r);
	check_ratio("firstn: one device reweighted 0.5", base_r, r, NX, nrep, 0);
	crush_destroy(m);
}

static struct crush_map *make_gen(void)
{
	return gen_map(10, 4, w_mixed);
}

TEST(movement_near_minimum_generated)
{
	movement_suite(make_gen, 0, 1, 3, 6, 5, 17, "hostnew");
}

TEST(movement_near_minimum_asgard)
{
	/* osd.3 is in bld-003 (2 disks), osd.30 in mimir (15 disks) */
	movement_suite(load_asgard, 0, 1, 3, 6, 3, 30, "bld-017");
}

TEST(indep_keeps_surviving_positions)
{
	enum { NX = 3000, NEC = 6 };
	static int base[NX * NEC], r[NX * NEC], back[NX * NEC];
	struct crush_map *m = load_asgard();
	static uint32_t w[39];
	for (int victim = 1; victim < 39; victim += 6) {
		for (int i = 0; i < 39; i++)
			w[i] = CRUSH_WEIGHT_ONE;
		map_all(m, 1, NEC, NX, w, 39, base);
		w[victim] = 0;
		map_all(m, 1, NEC, NX, w, 39, r);
		for (int i = 0; i < NX * NEC; i++) {
			if (base[i] != victim)
				CHECK_EQ(r[i], base[i]);
			else
				CHECK(r[i] != victim);
		}
		/* a second device out on top: every position whose device is
		 * still in keeps it (the two replacements may trade places) */
		int victim2 = (victim + 21) % 39;
		w[victim2] = 0;
		map_all(m, 1, NEC, NX, w, 39, back);
		for (int i = 0; i < NX * NEC; i++) {
			if (base[i] != victim && base[i] != victim2)
				CHECK_EQ(back[i], base[i]);
			CHECK(back[i] != victim && back[i] != victim2);
		}
		/* back in: everything returns */
		w[victim] = w[victim2] = CRUSH_WEIGHT_ONE;
		map_all(m, 1, NEC, NX, w, 39, back);
		CHECK(!memcmp(back, base, sizeof(base)));
	}
	crush_destroy(m);
}

static void check_decoded_is_sane(struct crush_map *d)
{
	/* whatever decodes must map without trouble and re-encode stably */
	void *scr = malloc(crush_scratch_size(d, 8));
	int r[8];
	for (uint32_t rule = 0; rule < d->max_rules; rule++) {
		if (!d->rules[rule])
			continue;
		for (uint32_t x = 0; x < 20; x++)
			CHECK(crush_do_rule(d, (int)rule, x, r, 8, g_in, 4096, scr) >= 0);
	}
	free(scr);
	size_t len;
	crush_encode(d, NULL, 0, &len);
	uint8_t *buf = malloc(len);
	CHECK_EQ(crush_encode(d, buf, len, &len), 0);
	struct crush_map *d2;
	CHECK_EQ(crush_decode(&d2, buf, len), 0);
	CHECK(crush_map_equal(d, d2));
	crush_destroy(d2);
	free(buf);
}

TEST(decode_rejects_truncation_and_corruption)
{
	struct crush_map *m = load_asgard();
	all_in();
	size_t len;
	crush_encode(m, NULL, 0, &len);
	uint8_t *buf = malloc(len), *cp = malloc(len + 16);
	CHECK_EQ(crush_encode(m, buf, len, &len), 0);
	struct crush_map *d;
	for (size_t cut = 0; cut < len; cut++) {
		d = (struct crush_map *)1;
		CHECK(crush_decode(&d, buf, cut) < 0);
		CHECK(d == NULL);
	}
	/* trailing garbage is refused too */
	memcpy(cp, buf, len);
	cp[len] = 0;
	CHECK(crush_decode(&d, cp, len + 1) < 0);
	/* corrupt every byte a few ways: never a crash; a survivor is a
	 * valid map */
	static const uint8_t xors[] = { 0x01, 0x80, 0xff, 0x10 };
	unsigned survivors = 0;
	for (size_t i = 0; i < len; i++) {
		for (size_t k = 0; k < sizeof(xors); k++) {
			memcpy(cp, buf, len);
			cp[i] ^= xors[k];
			int rc = crush_decode(&d, cp, len);
			if (rc == 0) {
				survivors++;
				check_decoded_is_sane(d);
				crush_destroy(d);
			} else {
				CHECK(rc == -EBADMSG || rc == -ENOTSUP);
			}
		}
	}
	fprintf(stderr, "  %u of %zu corruptions decoded (to valid maps)\n", survivors,
		len * sizeof(xors));
	/* a newer compat version is refused as unsupported */
	memcpy(cp, buf, len);
	cp[5] = 2;
	cp[4] = 2;
	CHECK_EQ(crush_decode(&d, cp, len), -ENOTSUP);
	/* a newer minor version with an extra field is read, the field skipped */
	memcpy(cp, buf, len);
	cp[4] = 2;
	uint32_t body = (uint32_t)(len - 10 + 4);
	memcpy(cp + 6, &body, 4);
	memset(cp + len, 0xab, 4);
	CHECK_EQ(crush_decode(&d, cp, len + 4), 0);
	CHECK(crush_map_equal(d, m));
	crush_destroy(d);
	free(buf);
	free(cp);
	crush_destroy(m);
}

static void expect_compile_error(const char *text, const char *needle)
{
	struct crush_map *m = (struct crush_map *)1;
	char err[256];
	int rc = crush_compile(text, strlen(text), &m, err, sizeof(err));
	if (rc == 0 || !strstr(err, needle))
		fprintf(stderr, "  text: %s\n  err: %s\n", text, err);
	CHECK(rc < 0);
	CHECK(m == NULL);
	CHECK(strstr(err, needle) != NULL);
}

TEST(compile_errors_name_the_line)
{
	expect_compile_error("device 0 osd.0\nhost h {\n item osd.0\n}\n", "line 3: device item");
	expect_compile_error("device 0 osd.0\ndevice 0 osd.1\n", "line 2:");
	expect_compile_error("\n\nfrob x {\n}\n", "line 3: unknown keyword or type 'frob'");
	expect_compile_error("host h {\n item nope weight 1\n}\n", "line 2: unknown item 'nope'");
	expect_compile_error("device 0 osd.0\nhost h {\n item osd.0 weight 1.2.3\n}\n", "line 3: bad weight");
	expect_compile_error("device 0 osd.0\nhost h {\n item osd.0 weight 70000\n}\n", "line 3: bad weight");
	expect_compile_error("device 0 osd.0\nhost a {\n item osd.0 weight 1\n}\nhost b {\n item osd.0 weight 1\n}\n",
			     "line 6: item 'osd.0' is already in bucket 'a'");
	expect_compile_error("host a {\n}\nroot r {\n item a\n item a\n}\n", "line 5:");
	expect_compile_error("rule r {\n step take nowhere\n}\n", "line 2: unknown item");
	expect_compile_error("host a {\n}\nrule r {\n step take a\n step chooseleaf sideways 0 type host\n}\n",
			     "line 5: expected firstn or indep");
	expect_compile_error("host a {\n}\nrule r {\n step take a\n step choose firstn 0 type planet\n}\n",
			     "line 5: unknown type 'planet'");
	expect_compile_error("host a {\n", "expected '}'");
	expect_compile_error("host a {\n}\ntype 0 osd\n", "line 3: type lines must come before");
	expect_compile_error("tunable choose_total_tries 0\n", "line 1: choose_total_tries");
	expect_compile_error("host a {\n id 5\n}\n", "line 2: bucket id");
	expect_compile_error("host a\x01 {\n}\n", "line 1: bad bucket name");
	expect_compile_error("type 1 host\n", "type 0");
	/* a NUL byte inside the text */
	struct crush_map *m;
	char err[128];
	CHECK(crush_compile("device 0 osd.0\n\0", 16, &m, err, sizeof(err)) < 0);
	CHECK(strstr(err, "line 2: NUL") != NULL);
	/* the minimal valid map, with defaults */
	CHECK_EQ(crush_compile("", 0, &m, err, sizeof(err)), 0);
	CHECK_STREQ(crush_type_name(m, 1), "host");
	crush_destroy(m);
}

TEST(builder_errors)
{
	struct crush_map *m;
	int root, h1, h2;
	CHECK_EQ(crush_create(&m), 0);
	CHECK_EQ(crush_add_bucket(m, 0, 10, "root", &root), 0);
	CHECK_EQ(root, -1);
	CHECK_EQ(crush_add_bucket(m, 0, 1, "h1", &h1), 0);
	CHECK_EQ(crush_add_bucket(m, -7, 1, "h2", &h2), 0);
	CHECK_EQ(h2, -7);
	CHECK_EQ(crush_add_bucket(m, -7, 1, "h3", NULL), -EEXIST);
	CHECK_EQ(crush_add_bucket(m, 0, 1, "h1", NULL), -EEXIST);
	CHECK_EQ(crush_add_bucket(m, 0, 1, "bad name", NULL), -EINVAL);
	CHECK_EQ(crush_add_bucket(m, 0, 9, "h9", NULL), -ENOENT); /* type 9 undefined */
	CHECK_EQ(crush_add_bucket(m, 0, 0, "h0", NULL), -EINVAL);
	CHECK_EQ(crush_add_bucket(m, -(int)CRUSH_MAX_BUCKETS - 1, 1, "hx", NULL), -ERANGE);
	CHECK_EQ(crush_add_device(m, 0, NULL), 0);
	CHECK_STREQ(crush_item_name(m, 0), "osd.0");
	CHECK_EQ(crush_add_device(m, 1, "osd.0"), -EEXIST);
	CHECK_EQ(crush_add_device(m, 0, "x"), -EEXIST);
	CHECK_EQ(crush_add_device(m, (int)CRUSH_MAX_DEVICES, NULL), -ERANGE);
	CHECK_EQ(crush_add_device(m, 1, "h1"), -EEXIST); /* names shared with buckets */
	CHECK_EQ(crush_add_device(m, 1, NULL), 0);
	CHECK_EQ(crush_bucket_add_item(m, h1, 0, 0xffff0000u), 0);
	CHECK_EQ(crush_bucket_add_item(m, h1, 1, 0x20000u), -ERANGE); /* overflow */
	CHECK_EQ(crush_bucket_add_item(m, h1, 0, 1), -EEXIST);
	CHECK_EQ(crush_bucket_add_item(m, h1, 1, 0x10000u), -ERANGE);
	CHECK_EQ(crush_adjust_item_weight(m, 0, 0x10000u), 0);
	CHECK_EQ(crush_bucket_add_item(m, h1, 1, 0x10000u), 0);
	CHECK_EQ(crush_item_weight(m, h1), 0x20000u);
	CHECK_EQ(crush_bucket_add_item(m, root, h1, 0), 0);
	CHECK_EQ(crush_item_weight(m, root), 0x20000u);
	CHECK_EQ(crush_bucket_add_item(m, h1, root, 0), -ELOOP);  /* cycle */
	CHECK_EQ(crush_bucket_add_item(m, h1, h1, 0), -EEXIST);   /* has a parent */
	CHECK_EQ(crush_move_item(m, h1, h1), -ELOOP);
	CHECK_EQ(crush_move_item(m, 1, h2), 0);
	CHECK_EQ(crush_item_weight(m, root), 0x10000u);
	CHECK_EQ(crush_item_weight(m, h2), 0x10000u);
	CHECK_EQ(crush_bucket_add_item(m, root, h2, 0), 0);
	CHECK_EQ(crush_item_weight(m, root), 0x20000u);
	CHECK_EQ(crush_adjust_item_weight(m, 1, 0x30000u), 0);
	CHECK_EQ(crush_item_weight(m, root), 0x40000u);
	CHECK_EQ(crush_adjust_item_weight(m, h1, 1), -EINVAL);
	int anc;
	CHECK_EQ(crush_item_ancestor(m, 1, 1, &anc), 0);
	CHECK_EQ(anc, h2);
	CHECK_EQ(crush_item_ancestor(m, 1, 10, &anc), 0);
	CHECK_EQ(anc, root);
	CHECK_EQ(crush_item_ancestor(m, 0, 3, &anc), -ENOENT);
	/* depth bound: a chain of CRUSH_MAX_DEPTH buckets is the limit */
	int prev = 0;
	char name[32];
	for (unsigned i = 0; i < CRUSH_MAX_DEPTH + 1; i++) {
		int b;
		snprintf(name, sizeof(name), "chain%u", i);
		CHECK_EQ(crush_add_bucket(m, 0, 2, name, &b), 0);
		if (prev) {
			int rc = crush_bucket_add_item(m, b, prev, 0);
			CHECK_EQ(rc, i < CRUSH_MAX_DEPTH ? 0 : -ELOOP);
		}
		prev = b;
	}
	/* rules */
	struct crush_rule_step st[3] = {
		{ CRUSH_OP_TAKE, root, 0 }, { CRUSH_OP_CHOOSELEAF_FIRSTN, 0, 1 }, { CRUSH_OP_EMIT, 0, 0 }
	};
	int rn;
	CHECK_EQ(crush_add_rule(m, -1, "r", CRUSH_RULE_REPLICATED, st, 3, &rn), 0);
	CHECK_EQ(rn, 0);
	CHECK_EQ(crush_add_rule(m, -1, "r", CRUSH_RULE_REPLICATED, st, 3, NULL), -EEXIST);
	st[1].arg2 = 9;
	CHECK_EQ(crush_add_rule(m, -1, "r2", CRUSH_RULE_REPLICATED, st, 3, NULL), -ENOENT);
	st[1].arg2 = 1;
	st[1].op = 99;
	CHECK_EQ(crush_add_rule(m, -1, "r2", CRUSH_RULE_REPLICATED, st, 3, NULL), -EINVAL);
	CHECK_EQ(crush_rule_by_name(m, "r"), 0);
	CHECK_EQ(crush_remove_bucket(m, root), -ENOTEMPTY);
	CHECK_EQ(crush_set_type_name(m, 1, NULL), -EBUSY);
	CHECK_EQ(crush_set_type_name(m, 12, "rule"), -EINVAL);
	CHECK_EQ(crush_set_type_name(m, 12, "host"), -EEXIST);
	CHECK_EQ(crush_set_type_name(m, 12, "pod"), 0);
	/* do_rule argument checks */
	void *scr = malloc(crush_scratch_size(m, 3));
	int r[3];
	CHECK_EQ(crush_do_rule(m, 5, 1, r, 3, g_in, 2, scr), -EINVAL);
	CHECK_EQ(crush_do_rule(m, 0, 1, r, 0, g_in, 2, scr), -EINVAL);
	CHECK_EQ(crush_do_rule(m, 0, 1, r, 3, NULL, 2, scr), -EINVAL);
	CHECK_EQ(crush_scratch_size(m, 0), 0);
	CHECK_EQ(crush_scratch_size(m, CRUSH_MAX_RESULT + 1), 0);
	all_in();
	CHECK_EQ(crush_do_rule(m, 0, 1, r, 3, g_in, 2, scr), 2);
	/* devices beyond weight_max are out */
	CHECK_EQ(crush_do_rule(m, 0, 1, r, 3, g_in, 1, scr), 1);
	CHECK_EQ(r[0], 0);
	free(scr);
	/* removing */
	CHECK_EQ(crush_remove_device(m, 1), 0);
	CHECK_EQ(crush_item_weight(m, root), 0x10000u);
	CHECK_EQ(crush_item_weight(m, h2), 0);
	CHECK_EQ(crush_remove_bucket(m, h2), 0);
	CHECK_EQ(crush_item_by_name(m, "h2", NULL), -ENOENT);
	CHECK_EQ(crush_item_by_name(m, "osd.1", NULL), -ENOENT);
	CHECK_EQ(crush_remove_bucket(m, root), -ENOTEMPTY);
	CHECK_EQ(m->max_devices, 1);
	crush_destroy(m);
}

TEST(weights_text_roundtrip)
{
	char buf[32];
	uint32_t back;
	for (uint32_t w = 0; w < (1u << 20); w++) {
		crush_format_weight(w, buf, sizeof(buf));
		CHECK_EQ(crush_parse_weight(buf, strlen(buf), &back), 0);
		CHECK_EQ(back, w);
	}
	for (uint32_t i = 0; i < 200000; i++) {
		uint32_t w = crush_hash32_2(i, 99);
		crush_format_weight(w, buf, sizeof(buf));
		CHECK_EQ(crush_parse_weight(buf, strlen(buf), &back), 0);
		CHECK_EQ(back, w);
	}
	crush_format_weight(9568, buf, sizeof(buf));
	CHECK_STREQ(buf, "0.146");
	crush_format_weight(15 * CRUSH_WEIGHT_ONE, buf, sizeof(buf));
	CHECK_STREQ(buf, "15.000");
	crush_format_weight(0xffffffffu, buf, sizeof(buf));
	CHECK_STREQ(buf, "65535.99998");
	CHECK_EQ(crush_parse_weight("65536", 5, &back), -ERANGE);
	CHECK_EQ(crush_parse_weight("1.", 2, &back), -EINVAL);
	CHECK_EQ(crush_parse_weight(".5", 2, &back), -EINVAL);
	CHECK_EQ(crush_parse_weight("-1", 2, &back), -EINVAL);
}

static void dump_golden(void)
{
	struct crush_map *m = load_asgard();
	all_in();
	static int res[10000 * 6];
	printf("#define GOLD_HASH2 0x%08xu\n#define GOLD_HASH3 0x%08xu\n", crush_hash32_2(1, 2),
	       crush_hash32_3(1, 2, 3));
	map_all(m, 0, 3, 8, g_in, 4096, res);
	printf("#define GOLD_REP {");
	for (int x = 0; x < 8; x++)
		printf("%s{ %d, %d, %d }", x ? ", " : " ", res[x * 3], res[x * 3 + 1], res[x * 3 + 2]);
	printf(" }\n#define GOLD_EC {");
	map_all(m, 1, 6, 8, g_in, 4096, res);
	for (int x = 0; x < 8; x++) {
		printf("%s{", x ? ", " : " ");
		for (int i = 0; i < 6; i++)
			printf("%s%d", i ? ", " : " ", res[x * 6 + i] == CRUSH_ITEM_NONE ? -2 : res[x * 6 + i]);
		printf(" }");
	}
	printf(" }\n");
	map_all(m, 0, 3, 10000, g_in, 4096, res);
	printf("#define GOLD_FNV_REP 0x%016llxull\n", (unsigned long long)fnv_results(res, 30000));
	map_all(m, 1, 6, 2000, g_in, 4096, res);
	printf("#define GOLD_FNV_EC 0x%016llxull\n", (unsigned long long)fnv_results(res, 12000));
	uint32_t w[64];
	for (int i = 0; i < 64; i++)
		w[i] = CRUSH_WEIGHT_ONE;
	w[3] = 0;
	w[25] = 0;
	w[8] = CRUSH_WEIGHT_ONE / 2;
	map_all(m, 0, 3, 10000, w, 39, res);
	printf("#define GOLD_FNV_REP_OUT 0x%016llxull\n", (unsigned long long)fnv_results(res, 30000));
	map_all(m, 1, 6, 2000, w, 39, res);
	printf("#define GOLD_FNV_EC_OUT 0x%016llxull\n", (unsigned long long)fnv_results(res, 12000));
	crush_destroy(m);
}

static const struct test_case k_tests[] = {
	TEST_ENTRY(hash_and_log),
	TEST_ENTRY(golden_mappings),
	TEST_ENTRY(determinism_and_roundtrips),
	TEST_ENTRY(asgard_text_exact),
	TEST_ENTRY(one_replica_per_host),
	TEST_ENTRY(utilization_matches_weights),
	TEST_ENTRY(movement_near_minimum_generated),
	TEST_ENTRY(movement_near_minimum_asgard),
	TEST_ENTRY(indep_keeps_surviving_positions),
	TEST_ENTRY(decode_rejects_truncation_and_corruption),
	TEST_ENTRY(compile_errors_name_the_line),
	TEST_ENTRY(builder_errors),
	TEST_ENTRY(weights_text_roundtrip),
};

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "dump")) {
		dump_golden();
		return 0;
	}
	return test_run_main(k_tests, sizeof(k_tests) / sizeof(k_tests[0]), argc, argv, 120);
}
