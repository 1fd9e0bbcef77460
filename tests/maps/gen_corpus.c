/* Writes the seed corpus of fuzz_osdmap into the directory given as
 * argv[1]: valid encodings of each map kind, prefixed by the selector byte
 * fuzz_osdmap.c expects. Run by hand when the formats change:
 *   build/tests/maps/gen_map_corpus tests/fuzz/corpus/fuzz_osdmap */
#include <stdio.h>
#include <stdlib.h>
#include "common/map_auth.h"
#include "common/map_mon.h"
#include "tests/maps/fixture.h"

static void put(const char *dir, const char *name, uint8_t sel, const struct enc *e)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	NORN_ASSERT(f);
	NORN_ASSERT(fwrite(&sel, 1, 1, f) == 1);
	NORN_ASSERT(fwrite(e->buf, 1, e->len, f) == e->len);
	NORN_ASSERT(fclose(f) == 0);
}

int main(int argc, char **argv)
{
	struct osdmap m;
	struct osdmap_inc inc;
	struct monmap mm;
	struct authmap am;
	struct enc e;
	uint8_t secret[AUTH_SECRET_LEN] = { 1, 2, 3 };
	struct map_addr a = { "127.0.0.1", 6900 };

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	make_map(&m);
	enc_init(&e, 0);
	NORN_ASSERT(osdmap_encode(&m, &e) == 0);
	put(argv[1], "osdmap_full", 0, &e);
	{
		struct osdmap t;
		int32_t pin[3] = { 0, 4, 8 }, ecpin[3] = { 1, OSD_NONE, 5 };

		osdmap_init(&t);
		NORN_ASSERT(osdmap_copy(&t, &m) == 0);
		osdmap_inc_init(&inc, &t, 3);
		osdmap_inc_pg_temp(&inc, 0, 1, pin, 3);
		osdmap_inc_pg_temp(&inc, 1, 2, ecpin, 3);
		osdmap_inc_flags_set(&inc, OSDMAP_FLAG_NOOUT | OSDMAP_FLAG_NOSCRUB);
		osdmap_inc_osd_down(&inc, 7);
		NORN_ASSERT(osdmap_apply_incremental(&t, &inc) == 0);
		osdmap_inc_free(&inc);
		enc_reset(&e);
		NORN_ASSERT(osdmap_encode(&t, &e) == 0);
		put(argv[1], "osdmap_full_pg_temp", 0, &e);
		osdmap_free(&t);
	}

	osdmap_inc_init(&inc, &m, 5);
	osdmap_inc_osd_down(&inc, 1);
	osdmap_inc_osd_weight(&inc, 2, 0);
	osdmap_inc_osd_up_thru(&inc, 3, 3);
	osdmap_inc_flags_set(&inc, OSDMAP_FLAG_NOOUT);
	osdmap_inc_pool_set(&inc, 0, POOL_FIELD_PG_NUM, 128);
	osdmap_inc_pool_rename(&inc, 1, "ec2");
	osdmap_inc_max_osd(&inc, 20);
	osdmap_inc_new_osd(&inc, 15, FSID, "h5");
	osdmap_inc_osd_up(&inc, 15, &a);
	osdmap_inc_crush_set_osd(&inc, 15, "h5", 0x18000);
	osdmap_inc_crush_rm_osd(&inc, 11);
	{
		int32_t pin[3] = { 0, 4, 8 }, ecpin[3] = { 1, OSD_NONE, 5 };

		osdmap_inc_pg_temp(&inc, 0, 1, pin, 3);
		osdmap_inc_pg_temp(&inc, 1, 2, ecpin, 3);
	}
	enc_reset(&e);
	NORN_ASSERT(osdmap_inc_encode(&inc, &e) == 0);
	put(argv[1], "osdmap_inc", 1, &e);
	osdmap_inc_free(&inc);

	osdmap_inc_init(&inc, &m, 5);
	osdmap_inc_crush(&inc, m.crush);
	osdmap_inc_pool_rm(&inc, 0);
	osdmap_inc_pool_app(&inc, 1, "s3");
	enc_reset(&e);
	NORN_ASSERT(osdmap_inc_encode(&inc, &e) == 0);
	put(argv[1], "osdmap_inc_crush", 1, &e);
	osdmap_inc_free(&inc);

	NORN_ASSERT(monmap_parse_mon_host(&mm, "a=127.0.0.1:6789,b=[::1]:6790,c=host-c") == 0);
	enc_reset(&e);
	NORN_ASSERT(monmap_encode(&mm, &e) == 0);
	put(argv[1], "monmap", 2, &e);

	authmap_init(&am);
	NORN_ASSERT(authmap_set(&am, "client.admin", secret, "mon 'allow *' osd 'allow *'") == 0);
	NORN_ASSERT(authmap_set(&am, "client.s3", secret,
	                        "mon 'allow r' osd 'allow rw pool=s3.data, allow r pool_id=3'") == 0);
	NORN_ASSERT(authmap_set(&am, "osd.0", secret, "mon 'allow rwx'") == 0);
	authmap_rotate(&am, secret, 100);
	enc_reset(&e);
	NORN_ASSERT(authmap_encode(&am, &e) == 0);
	put(argv[1], "authmap", 3, &e);

	authmap_free(&am);
	enc_free(&e);
	osdmap_free(&m);
	return 0;
}
