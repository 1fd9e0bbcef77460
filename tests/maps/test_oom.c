/* Allocation-failure loops (SQLite style): run decode, copy and apply with
 * the N-th allocation failing, for N = 0, 1, 2, ... until the operation
 * succeeds; each failure must return -ENOMEM and leave the target exactly
 * as it was. malloc/calloc/realloc are wrapped at link time
 * (-Wl,--wrap=...), so allocations inside norn_common and norn_crush fail
 * too. */
#include <errno.h>
#include <stdlib.h>
#include "tests/harness.h"
#include "tests/maps/fixture.h"
#include "common/map_auth.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t a, size_t b);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t a, size_t b);
void *__wrap_realloc(void *p, size_t n);

static long fail_at = -1;   /* index of the allocation to fail, -1: none */
static long n_allocs;

static int should_fail(void)
{
	return fail_at >= 0 && n_allocs++ == fail_at;
}

void *__wrap_malloc(size_t n) { return should_fail() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t a, size_t b) { return should_fail() ? NULL : __real_calloc(a, b); }
void *__wrap_realloc(void *p, size_t n) { return should_fail() ? NULL : __real_realloc(p, n); }

static void arm(long at) { n_allocs = 0; fail_at = at; }
static void disarm(void) { fail_at = -1; }

static void encode_map(const struct osdmap *m, struct enc *e)
{
	enc_init(e, 0);
	CHECK_EQ(osdmap_encode(m, e), 0);
}

static int same(const struct enc *a, const struct enc *b)
{
	return a->len == b->len && !memcmp(a->buf, b->buf, a->len);
}

/* An incremental touching every kind of allocation: CRUSH blob, CRUSH
 * edit, pool create, pg_temp insert, max_osd growth. */
static void big_inc(const struct osdmap *m, struct osdmap_inc *inc)
{
	struct osdmap_pool p;
	struct map_addr a = { "127.0.0.1", 7001 };
	int32_t pin[3] = { 0, 4, 8 };

	osdmap_inc_init(inc, m, 77);
	CHECK_EQ(osdmap_inc_crush(inc, m->crush), 0);
	CHECK_EQ(osdmap_inc_max_osd(inc, NOSD + 1), 0);
	CHECK_EQ(osdmap_inc_new_osd(inc, NOSD, FSID, "h9"), 0);
	CHECK_EQ(osdmap_inc_crush_set_osd(inc, NOSD, "h9", 0x10000), 0);
	CHECK_EQ(osdmap_inc_osd_up(inc, NOSD, &a), 0);
	osdmap_pool_defaults(&p, "new", 16);
	p.id = m->next_pool_id;
	CHECK_EQ(osdmap_inc_pool_create(inc, &p), 0);
	CHECK_EQ(osdmap_inc_pg_temp(inc, 0, 1, pin, 3), 0);
}

TEST(apply_under_alloc_failure)
{
	struct osdmap m;
	struct osdmap_inc inc;
	struct enc before, after;
	long n;
	int rc = -1;

	make_map(&m);
	big_inc(&m, &inc);
	encode_map(&m, &before);
	for (n = 0; n < 100000; n++) {
		arm(n);
		rc = osdmap_apply_incremental(&m, &inc);
		disarm();
		if (rc == 0)
			break;
		if (rc != -ENOMEM)
			fprintf(stderr, "alloc %ld: rc %d\n", n, rc);
		CHECK_EQ(rc, -ENOMEM);
		encode_map(&m, &after);
		CHECK(same(&before, &after));
		enc_free(&after);
	}
	CHECK_EQ(rc, 0);
	CHECK(n > 5);
	CHECK_EQ(m.epoch, 3);
	CHECK(osdmap_pool_by_name(&m, "new") != NULL);
	printf("apply succeeded after %ld failed allocations\n", n);
	osdmap_inc_free(&inc);
	enc_free(&before);
	osdmap_free(&m);
}

TEST(decode_and_copy_under_alloc_failure)
{
	struct osdmap m, t;
	struct osdmap_inc inc, di;
	struct enc full, ie, now;
	long n;
	int rc = -1;

	make_map(&m);
	big_inc(&m, &inc);
	encode_map(&m, &full);
	enc_init(&ie, 0);
	CHECK_EQ(osdmap_inc_encode(&inc, &ie), 0);

	osdmap_init(&t);
	for (n = 0; n < 100000; n++) {
		arm(n);
		rc = osdmap_decode(&t, full.buf, full.len);
		disarm();
		if (rc == 0)
			break;
		CHECK_EQ(rc, -ENOMEM);
		CHECK_EQ(t.epoch, 0);
	}
	CHECK_EQ(rc, 0);
	encode_map(&t, &now);
	CHECK(same(&full, &now));
	enc_free(&now);
	osdmap_free(&t);

	for (n = 0; n < 100000; n++) {
		arm(n);
		rc = osdmap_copy(&t, &m);
		disarm();
		if (rc == 0)
			break;
		CHECK_EQ(rc, -ENOMEM);
		CHECK_EQ(t.max_osd, 0);
	}
	CHECK_EQ(rc, 0);
	osdmap_free(&t);

	memset(&di, 0, sizeof(di));
	for (n = 0; n < 100000; n++) {
		arm(n);
		rc = osdmap_inc_decode(&di, ie.buf, ie.len);
		disarm();
		if (rc == 0)
			break;
		CHECK_EQ(rc, -ENOMEM);
		CHECK_EQ(di.n, 0);
	}
	CHECK_EQ(rc, 0);
	CHECK_EQ(di.n, inc.n);
	osdmap_inc_free(&di);

	/* authmap */
	struct authmap am, ad;
	uint8_t s[AUTH_SECRET_LEN] = { 9 };
	struct enc ae;
	authmap_init(&am);
	for (int i = 0; i < 20; i++) {
		char name[32];
		snprintf(name, sizeof(name), "client.c%d", i);
		CHECK_EQ(authmap_set(&am, name, s, "osd 'allow rw'"), 0);
	}
	enc_init(&ae, 0);
	CHECK_EQ(authmap_encode(&am, &ae), 0);
	authmap_init(&ad);
	for (n = 0; n < 1000; n++) {
		arm(n);
		rc = authmap_decode(&ad, ae.buf, ae.len);
		disarm();
		if (rc == 0)
			break;
		CHECK_EQ(rc, -ENOMEM);
	}
	CHECK_EQ(rc, 0);
	CHECK_EQ(ad.n_entities, 20);
	authmap_free(&ad);
	authmap_free(&am);
	enc_free(&ae);
	osdmap_inc_free(&inc);
	enc_free(&ie);
	enc_free(&full);
	osdmap_free(&m);
}

TEST_MAIN(TEST_ENTRY(apply_under_alloc_failure), TEST_ENTRY(decode_and_copy_under_alloc_failure))
