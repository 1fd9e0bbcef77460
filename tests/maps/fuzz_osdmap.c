/* libFuzzer target over every map decoder.
 *
 * The first input byte picks the decoder (low 2 bits) and whether to
 * repair the trailing crc32c (bit 7 clear: repair, so the fuzzer gets past
 * the checksum and into the structure; set: keep, to exercise the check):
 *   0  osdmap_decode; on success re-encode (must decode to the same bytes)
 *      and compute placement for a few PGs of every pool
 *   1  osdmap_inc_decode; on success apply to the fixture map (must either
 *      succeed or leave it unchanged)
 *   2  monmap_decode (+ re-encode check)
 *   3  authmap_decode (+ re-encode check)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "common/crc32c.h"
#include "common/map_auth.h"
#include "common/map_mon.h"
#include "tests/maps/fixture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same_bytes(const struct enc *a, const struct enc *b)
{
	return a->len == b->len && memcmp(a->buf, b->buf, a->len) == 0;
}

static void placement(const struct osdmap *m)
{
	for (uint32_t i = 0; i < m->n_pools; i++) {
		const struct osdmap_pool *p = &m->pools[i];

		for (uint32_t s = 0; s < p->pg_num && s < 4; s++) {
			int32_t up[OSDMAP_MAX_POOL_SIZE], primary;
			uint32_t n;

			if (osdmap_pg_to_up_acting(m, p->id, s, up, &n, &primary) == 0)
				NORN_ASSERT(n <= p->size);
		}
	}
}

static void fuzz_osdmap(const uint8_t *b, size_t n)
{
	struct osdmap m;
	struct enc e1, e2;

	osdmap_init(&m);
	if (osdmap_decode(&m, b, n) == 0) {
		struct osdmap r;

		enc_init(&e1, 0);
		NORN_ASSERT(osdmap_encode(&m, &e1) == 0);
		osdmap_init(&r);
		NORN_ASSERT(osdmap_decode(&r, e1.buf, e1.len) == 0);
		enc_init(&e2, 0);
		NORN_ASSERT(osdmap_encode(&r, &e2) == 0);
		NORN_ASSERT(same_bytes(&e1, &e2));
		placement(&m);
		enc_free(&e1);
		enc_free(&e2);
		osdmap_free(&r);
	}
	osdmap_free(&m);
}

static void fuzz_inc(const uint8_t *b, size_t n)
{
	static struct osdmap base;
	static int have_base;
	struct osdmap_inc inc;

	if (!have_base) {
		make_map(&base);
		have_base = 1;
	}
	memset(&inc, 0, sizeof(inc));
	if (osdmap_inc_decode(&inc, b, n) == 0) {
		struct osdmap m;
		struct enc before, after;

		osdmap_init(&m);
		NORN_ASSERT(osdmap_copy(&m, &base) == 0);
		inc.epoch = m.epoch + 1;          /* reach the changes */
		memcpy(inc.fsid, m.fsid, MAP_UUID_LEN);
		enc_init(&before, 0);
		NORN_ASSERT(osdmap_encode(&m, &before) == 0);
		if (osdmap_apply_incremental(&m, &inc) == 0) {
			placement(&m);
		} else {
			enc_init(&after, 0);
			NORN_ASSERT(osdmap_encode(&m, &after) == 0);
			NORN_ASSERT(same_bytes(&before, &after));
			enc_free(&after);
		}
		enc_free(&before);
		osdmap_free(&m);
	}
	osdmap_inc_free(&inc);
}

static void fuzz_monmap(const uint8_t *b, size_t n)
{
	struct monmap m;

	if (monmap_decode(&m, b, n) == 0) {
		struct enc e;

		struct monmap r;
		struct enc e2;

		/* Not byte-identical to the input (a newer struct version's
		 * extra fields are skipped), but a fixed point after one trip. */
		enc_init(&e, 0);
		NORN_ASSERT(monmap_encode(&m, &e) == 0);
		NORN_ASSERT(monmap_decode(&r, e.buf, e.len) == 0);
		enc_init(&e2, 0);
		NORN_ASSERT(monmap_encode(&r, &e2) == 0);
		NORN_ASSERT(same_bytes(&e, &e2));
		enc_free(&e);
		enc_free(&e2);
	}
}

static void fuzz_authmap(const uint8_t *b, size_t n)
{
	struct authmap m;

	authmap_init(&m);
	if (authmap_decode(&m, b, n) == 0) {
		struct enc e;

		struct authmap r;
		struct enc e2;

		enc_init(&e, 0);
		NORN_ASSERT(authmap_encode(&m, &e) == 0);
		authmap_init(&r);
		NORN_ASSERT(authmap_decode(&r, e.buf, e.len) == 0);
		enc_init(&e2, 0);
		NORN_ASSERT(authmap_encode(&r, &e2) == 0);
		NORN_ASSERT(same_bytes(&e, &e2));
		authmap_free(&r);
		enc_free(&e2);
		for (uint32_t i = 0; i < m.n_entities; i++)
			(void)auth_caps_allow(&m.entities[i].caps, AUTH_SVC_OSD, 1, "rbd", AUTH_CAP_R);
		enc_free(&e);
	}
	authmap_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *b;
	size_t n;

	if (size < 1 || size > (4u << 20))
		return 0;
	n = size - 1;
	b = malloc(n ? n : 1);
	if (!b)
		return 0;
	memcpy(b, data + 1, n);
	if (!(data[0] & 0x80) && n >= 8)
		norn_put_le32(b + n - 4, norn_crc32c(0, b, n - 4));
	switch (data[0] & 3) {
	case 0: fuzz_osdmap(b, n); break;
	case 1: fuzz_inc(b, n); break;
	case 2: fuzz_monmap(b, n); break;
	case 3: fuzz_authmap(b, n); break;
	}
	free(b);
	return 0;
}
