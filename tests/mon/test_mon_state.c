/* Unit tests of the mon's replicated state machine (mon_state.c,
 * mon_cmd.c): genesis, write commands applied from JSON entries, read
 * commands, determinism across two replicas, snapshot round trips and
 * corrupt snapshots, the incremental history. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "common/assert.h"
#include "common/auth.h"
#include "crush/crush.h"
#include "mon/mon_state.h"
#include "norn/errors.h"
#include "tests/harness.h"

static const uint8_t FSID[16] = { 1, 2, 3, 4, 5, 6, 0x47, 8, 0x89, 10, 11, 12, 13, 14, 15, 16 };

static void genesis(struct mon_state *st)
{
	struct monmap mm;
	const char *ents[2] = { "client.admin", "mon.a" };
	uint8_t keys[2][AUTH_SECRET_LEN];

	memset(keys, 7, sizeof(keys));
	mon_state_init(st);
	NORN_ASSERT(monmap_parse_mon_host(&mm, "a=127.0.0.1:6789,b=127.0.0.1:6790,c=127.0.0.1:6791") == 0);
	NORN_ASSERT(mon_state_genesis(st, FSID, &mm, 2, ents, (const uint8_t (*)[AUTH_SECRET_LEN])keys) == 0);
}

/* Apply @json (leader-prepared with a fixed time) and return rc. */
static int apply(struct mon_state *st, const char *json, struct mon_result *res)
{
	json_error_t e;
	json_t *j = json_loads(json, 0, &e);
	NORN_ASSERT(j);
	NORN_ASSERT(mon_cmd_prepare(j, 1700000000000000000ull) == 0);
	char *s = json_dumps(j, JSON_COMPACT);
	mon_result_init(res);
	mon_state_apply(st, s, strlen(s), res);
	free(s);
	json_decref(j);
	return res->rc;
}

static int apply1(struct mon_state *st, const char *json)
{
	struct mon_result r;
	int rc = apply(st, json, &r);
	mon_result_free(&r);
	return rc;
}

static char *read_cmd(const struct mon_state *st, const char *json, int want_json, int *rc)
{
	json_error_t e;
	json_t *j = json_loads(json, 0, &e);
	struct mon_result r;
	NORN_ASSERT(j);
	mon_result_init(&r);
	int handled = mon_state_read(st, json_string_value(json_object_get(j, "prefix")), j, want_json, &r);
	json_decref(j);
	*rc = handled ? r.rc : -ENOSYS;
	enc_u8(&r.out, 0);
	size_t l;
	char *out = (char *)enc_take(&r.out, &l);
	mon_result_free(&r);
	return out;
}

TEST(genesis_state)
{
	struct mon_state st;
	genesis(&st);
	CHECK_EQ(st.osdmap.epoch, 1);
	CHECK_EQ(st.monmap.epoch, 1);
	CHECK_EQ(st.monmap.n_mons, 3);
	CHECK(st.osdmap.crush != NULL);
	CHECK_EQ(crush_rule_by_name(st.osdmap.crush, "replicated_rule"), 0);
	CHECK(authmap_find(&st.authmap, "client.admin") != NULL);
	CHECK(!memcmp(st.osdmap.fsid, FSID, 16));
	mon_state_free(&st);
}

TEST(pool_create_rules)
{
	struct mon_state st;
	struct mon_result r;
	genesis(&st);
	CHECK_EQ(apply(&st, "{\"prefix\":\"pool create\",\"pool\":\"rbd\",\"pg_num\":64}", &r), 0);
	CHECK(r.osdmap_changed);
	mon_result_free(&r);
	CHECK_EQ(st.osdmap.epoch, 2);
	const struct osdmap_pool *p = osdmap_pool_by_name(&st.osdmap, "rbd");
	CHECK(p && p->size == 3 && p->min_size == 2 && p->pg_num == 64 && p->id == 1);
	/* same again: idempotent, no new epoch */
	CHECK_EQ(apply1(&st, "{\"prefix\":\"pool create\",\"pool\":\"rbd\",\"pg_num\":64}"), 0);
	CHECK_EQ(st.osdmap.epoch, 2);
	/* same name, other settings: refused */
	CHECK_EQ(apply1(&st, "{\"prefix\":\"pool create\",\"pool\":\"rbd\",\"pg_num\":8}"), -EEXIST);
	/* out of range */
	CHECK_EQ(apply1(&st, "{\"prefix\":\"pool create\",\"pool\":\"x\",\"pg_num\":8,\"size\":17}"), -EINVAL);
	CHECK_EQ(apply1(&st, "{\"prefix\":\"pool create\",\"pool\":\"x\",\"pg_num\":0}"), -EINVAL);
	CHECK_EQ(apply1(&st, "{\"prefix\":\"pool create\",\"pool\":\"x\",\"pg_num\":8,\"size\":2,\"min_size\":3}"),
	         -EINVAL);
	CHECK_EQ(apply1(&st, "{\"prefix\":\"pool create\",\"pool\":\"x\",\"pg_num\":8,\"rule\":\"nope\"}"), -ENOENT);
	CHECK_EQ(apply1(&st, "{\"prefix\":\"pool create\",\"pool\":\"bad name!\",\"pg_num\":8}"), -EINVAL);
	CHECK_EQ(st.osdmap.epoch, 2);
	/* set / get / rm */
	CHECK_EQ(apply1(&st, "{\"prefix\":\"pool set\",\"pool\":\"rbd\",\"var\":\"size\",\"val\":\"2\"}"), 0);
	p = osdmap_pool_by_name(&st.osdmap, "rbd");
	CHECK(p->size == 2 && p->min_size == 2);
	CHECK_EQ(apply1(&st, "{\"prefix\":\"pool set\",\"pool\":\"rbd\",\"var\":\"size\",\"val\":\"1\"}"), 0);
	p = osdmap_pool_by_name(&st.osdmap, "rbd");
	CHECK(p->size == 1 && p->min_size == 1);
	CHECK_EQ(apply1(&st, "{\"prefix\":\"pool set\",\"pool\":\"rbd\",\"var\":\"bogus\",\"val\":\"1\"}"), -EINVAL);
	int rc;
	char *out = read_cmd(&st, "{\"prefix\":\"pool get\",\"pool\":\"rbd\",\"var\":\"size\"}", 0, &rc);
	CHECK_EQ(rc, 0);
	CHECK_STREQ(out, "size: 1\n");
	free(out);
	CHECK_EQ(apply1(&st, "{\"prefix\":\"pool rm\",\"pool\":\"rbd\"}"), -EPERM);
	CHECK_EQ(apply1(&st, "{\"prefix\":\"pool rm\",\"pool\":\"rbd\",\"yes_i_really_mean_it\":true}"), 0);
	CHECK(osdmap_pool_by_name(&st.osdmap, "rbd") == NULL);
	CHECK_EQ(apply1(&st, "{\"prefix\":\"pool rm\",\"pool\":\"rbd\",\"yes_i_really_mean_it\":true}"), -ENOENT);
	mon_state_free(&st);
}

TEST(osd_lifecycle)
{
	struct mon_state st;
	struct mon_result r;
	genesis(&st);
	CHECK_EQ(apply(&st, "{\"prefix\":\"osd create\",\"uuid\":\"11111111-2222-4333-8444-555555555555\"}", &r), 0);
	CHECK(strstr((char *)r.out.buf, "\"osd\":0") != NULL);
	mon_result_free(&r);
	CHECK(authmap_find(&st.authmap, "osd.0") != NULL);
	CHECK_EQ(apply1(&st, "{\"prefix\":\"osd create\"}"), 0);
	CHECK(osdmap_osd_exists(&st.osdmap, 1));
	/* boot: up, in, under host h1 in CRUSH */
	CHECK_EQ(apply1(&st, "{\"prefix\":\"osd boot\",\"id\":0,\"addr\":\"127.0.0.1:7000\",\"host\":\"h1\","
	                     "\"uuid\":\"11111111-2222-4333-8444-555555555555\",\"capacity\":1000000000000}"), 0);
	CHECK(osdmap_osd_is_up(&st.osdmap, 0));
	CHECK(osdmap_osd_is_in(&st.osdmap, 0));
	int hid;
	CHECK_EQ(crush_item_by_name(st.osdmap.crush, "h1", &hid), 0);
	CHECK_EQ(crush_item_weight(st.osdmap.crush, 0), CRUSH_WEIGHT_ONE);
	uint64_t ep = st.osdmap.epoch;
	/* the same boot again changes nothing */
	CHECK_EQ(apply1(&st, "{\"prefix\":\"osd boot\",\"id\":0,\"addr\":\"127.0.0.1:7000\",\"host\":\"h1\"}"), 0);
	CHECK_EQ(st.osdmap.epoch, ep);
	/* wrong uuid refused */
	CHECK_EQ(apply1(&st, "{\"prefix\":\"osd boot\",\"id\":0,\"addr\":\"127.0.0.1:7000\",\"host\":\"h1\","
	                     "\"uuid\":\"99999999-2222-4333-8444-555555555555\"}"), -EINVAL);
	/* up_thru: only forward, only up to the current epoch */
	char ut[128];
	snprintf(ut, sizeof(ut), "{\"prefix\":\"osd up-thru\",\"id\":0,\"epoch\":%llu}",
	         (unsigned long long)st.osdmap.epoch);
	CHECK_EQ(apply1(&st, ut), 0);
	CHECK_EQ(osdmap_osd(&st.osdmap, 0)->up_thru, st.osdmap.epoch - 1);
	CHECK_EQ(apply1(&st, "{\"prefix\":\"osd up-thru\",\"id\":0,\"epoch\":999}"), -EINVAL);
	CHECK_EQ(apply1(&st, "{\"prefix\":\"osd up-thru\",\"id\":1,\"epoch\":1}"), -EINVAL);
	/* placement works with one host for a size-1 pool */
	CHECK_EQ(apply1(&st, "{\"prefix\":\"pool create\",\"pool\":\"one\",\"pg_num\":8,\"size\":1}"), 0);
	int32_t up[OSDMAP_MAX_POOL_SIZE], prim;
	uint32_t n;
	CHECK_EQ(osdmap_pg_to_up_acting(&st.osdmap, 1, 3, up, &n, &prim), 0);
	CHECK_EQ(n, 1);
	CHECK_EQ(prim, 0);
	/* down, auto out, boot brings it back in */
	CHECK_EQ(apply1(&st, "{\"prefix\":\"osd down\",\"ids\":[0]}"), 0);
	CHECK(!osdmap_osd_is_up(&st.osdmap, 0));
	CHECK_EQ(apply1(&st, "{\"prefix\":\"osd rm\",\"ids\":[5]}"), -ENOENT);
	CHECK_EQ(apply1(&st, "{\"prefix\":\"osd out\",\"ids\":[0],\"auto\":true}"), 0);
	CHECK(!osdmap_osd_is_in(&st.osdmap, 0));
	CHECK_EQ(apply1(&st, "{\"prefix\":\"osd boot\",\"id\":0,\"addr\":\"127.0.0.1:7001\",\"host\":\"h1\"}"), 0);
	CHECK(osdmap_osd_is_in(&st.osdmap, 0) && osdmap_osd_is_up(&st.osdmap, 0));
	/* operator out sticks across a reboot */
	CHECK_EQ(apply1(&st, "{\"prefix\":\"osd out\",\"ids\":[0]}"), 0);
	CHECK_EQ(apply1(&st, "{\"prefix\":\"osd down\",\"ids\":[0]}"), 0);
	CHECK_EQ(apply1(&st, "{\"prefix\":\"osd boot\",\"id\":0,\"addr\":\"127.0.0.1:7002\",\"host\":\"h1\"}"), 0);
	CHECK(!osdmap_osd_is_in(&st.osdmap, 0));
	CHECK_EQ(apply1(&st, "{\"prefix\":\"osd reweight\",\"id\":0,\"weight\":0.5}"), 0);
	CHECK_EQ(osdmap_osd(&st.osdmap, 0)->weight, 0x8000);
	CHECK_EQ(apply1(&st, "{\"prefix\":\"osd reweight\",\"id\":0,\"weight\":1.5}"), -EINVAL);
	/* rm needs down */
	CHECK_EQ(apply1(&st, "{\"prefix\":\"osd rm\",\"ids\":[0]}"), -EBUSY);
	CHECK_EQ(apply1(&st, "{\"prefix\":\"osd down\",\"ids\":[0]}"), 0);
	CHECK_EQ(apply1(&st, "{\"prefix\":\"osd rm\",\"ids\":[0]}"), 0);
	CHECK(!osdmap_osd_exists(&st.osdmap, 0));
	CHECK(authmap_find(&st.authmap, "osd.0") == NULL);
	CHECK(!crush_item_exists(st.osdmap.crush, 0));
	/* flags */
	CHECK_EQ(apply1(&st, "{\"prefix\":\"osd set\",\"key\":\"noout\"}"), 0);
	CHECK(st.osdmap.flags & OSDMAP_FLAG_NOOUT);
	CHECK_EQ(apply1(&st, "{\"prefix\":\"osd set\",\"key\":\"nosuchflag\"}"), -EINVAL);
	CHECK_EQ(apply1(&st, "{\"prefix\":\"osd unset\",\"key\":\"noout\"}"), 0);
	CHECK(!(st.osdmap.flags & OSDMAP_FLAG_NOOUT));
	mon_state_free(&st);
}

TEST(crush_and_auth_commands)
{
	struct mon_state st;
	genesis(&st);
	CHECK_EQ(apply1(&st, "{\"prefix\":\"crush add-bucket\",\"name\":\"rack1\",\"type\":\"rack\"}"), 0);
	CHECK_EQ(apply1(&st, "{\"prefix\":\"crush add-bucket\",\"name\":\"rack2\",\"type\":\"nosuch\"}"), -EINVAL);
	CHECK_EQ(apply1(&st, "{\"prefix\":\"crush move\",\"name\":\"rack1\",\"loc\":\"root=default\"}"), 0);
	int rid, root;
	CHECK_EQ(crush_item_by_name(st.osdmap.crush, "rack1", &rid), 0);
	CHECK_EQ(crush_item_by_name(st.osdmap.crush, "default", &root), 0);
	CHECK_EQ(crush_bucket_get(st.osdmap.crush, rid)->parent, root);
	CHECK_EQ(apply1(&st, "{\"prefix\":\"crush set-weight\",\"name\":\"osd.9\",\"weight\":\"1.5\"}"), -ENOENT);
	/* auth */
	CHECK_EQ(apply1(&st, "{\"prefix\":\"auth add\",\"entity\":\"client.s3\",\"caps\":\"mon 'allow r' osd 'allow rw pool=rbd'\"}"), 0);
	CHECK(authmap_find(&st.authmap, "client.s3") != NULL);
	CHECK_EQ(apply1(&st, "{\"prefix\":\"auth add\",\"entity\":\"client.bad\",\"caps\":\"mgr 'allow r'\"}"), -EINVAL);
	CHECK_EQ(apply1(&st, "{\"prefix\":\"auth caps\",\"entity\":\"client.s3\",\"caps\":\"mon 'allow rw'\"}"), 0);
	CHECK_STREQ(authmap_find(&st.authmap, "client.s3")->caps_str, "mon 'allow rw'");
	int rc;
	char *out = read_cmd(&st, "{\"prefix\":\"auth get\",\"entity\":\"client.s3\"}", 1, &rc);
	CHECK_EQ(rc, 0);
	CHECK(strstr(out, "\"key\"") != NULL);
	free(out);
	CHECK_EQ(apply1(&st, "{\"prefix\":\"auth rm\",\"entity\":\"client.s3\"}"), 0);
	CHECK_EQ(apply1(&st, "{\"prefix\":\"auth rm\",\"entity\":\"client.s3\"}"), -ENOENT);
	/* config keys */
	CHECK_EQ(apply1(&st, "{\"prefix\":\"config-key set\",\"key\":\"k\",\"val\":\"v1\"}"), 0);
	CHECK_STREQ(mon_state_kv_get(&st, "k"), "v1");
	CHECK_EQ(apply1(&st, "{\"prefix\":\"config-key rm\",\"key\":\"k\"}"), 0);
	CHECK(mon_state_kv_get(&st, "k") == NULL);
	/* malformed */
	CHECK_EQ(apply1(&st, "{\"prefix\":\"no such\"}"), -EINVAL);
	struct mon_result r;
	mon_result_init(&r);
	mon_state_apply(&st, "{not json", 9, &r);
	CHECK_EQ(r.rc, -EINVAL);
	mon_result_free(&r);
	out = read_cmd(&st, "{\"prefix\":\"osd tree\"}", 0, &rc);
	CHECK_EQ(rc, 0);
	CHECK(strstr(out, "rack rack1") != NULL);
	free(out);
	mon_state_free(&st);
}

/* Two replicas applying the same entries reach identical encodings; the
 * snapshot round-trips; every corruption of it is refused. */
TEST(determinism_and_snapshot)
{
	struct mon_state a, b, c;
	struct enc ea, eb, ec;
	const char *cmds[] = {
		"{\"prefix\":\"pool create\",\"pool\":\"p1\",\"pg_num\":16,\"_now_ns\":5}",
		"{\"prefix\":\"osd create\",\"key\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\",\"_now_ns\":6}",
		"{\"prefix\":\"osd boot\",\"id\":0,\"addr\":\"127.0.0.1:7000\",\"host\":\"h9\",\"_now_ns\":7}",
		"{\"prefix\":\"config-key set\",\"key\":\"a\",\"val\":\"b\",\"_now_ns\":8}",
		"{\"prefix\":\"osd out\",\"ids\":[0],\"auto\":true,\"_now_ns\":9}",
		"{\"prefix\":\"auth rotate\",\"key\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\",\"expires_ns\":99}",
	};
	genesis(&a);
	genesis(&b);
	for (size_t i = 0; i < NORN_ARRAY_SIZE(cmds); i++) {
		struct mon_result r1, r2;
		mon_result_init(&r1);
		mon_result_init(&r2);
		mon_state_apply(&a, cmds[i], strlen(cmds[i]), &r1);
		mon_state_apply(&b, cmds[i], strlen(cmds[i]), &r2);
		CHECK_EQ(r1.rc, 0);
		CHECK_EQ(r1.rc, r2.rc);
		mon_result_free(&r1);
		mon_result_free(&r2);
	}
	enc_init(&ea, 1024);
	enc_init(&eb, 1024);
	CHECK_EQ(mon_state_encode(&a, &ea), 0);
	CHECK_EQ(mon_state_encode(&b, &eb), 0);
	CHECK_EQ(ea.len, eb.len);
	CHECK(!memcmp(ea.buf, eb.buf, ea.len));
	mon_state_init(&c);
	CHECK_EQ(mon_state_decode(&c, ea.buf, ea.len), 0);
	enc_init(&ec, 1024);
	CHECK_EQ(mon_state_encode(&c, &ec), 0);
	CHECK(ec.len == ea.len && !memcmp(ec.buf, ea.buf, ea.len));
	CHECK_EQ(c.n_auto_out, 1);
	CHECK_STREQ(mon_state_kv_get(&c, "a"), "b");
	/* history: epochs 2.. are there as incrementals */
	size_t l;
	CHECK(mon_state_hist(&a, a.osdmap.epoch, &l) != NULL);
	CHECK(mon_state_hist(&a, 1, &l) == NULL);
	/* corruptions: every byte flip and every truncation is refused */
	for (size_t i = 0; i < ea.len; i += 7) {
		ea.buf[i] ^= 0x5a;
		CHECK(mon_state_decode(&c, ea.buf, ea.len) != 0);
		ea.buf[i] ^= 0x5a;
	}
	for (size_t cut = 0; cut < ea.len; cut += 13)
		CHECK(mon_state_decode(&c, ea.buf, cut) != 0);
	CHECK_EQ(mon_state_decode(&c, ea.buf, ea.len), 0);
	enc_free(&ea);
	enc_free(&eb);
	enc_free(&ec);
	mon_state_free(&a);
	mon_state_free(&b);
	mon_state_free(&c);
}

TEST(history_ring_is_bounded)
{
	struct mon_state st;
	genesis(&st);
	for (int i = 0; i < MON_STATE_HIST + 50; i++) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "{\"prefix\":\"osd %s\",\"key\":\"noout\"}", i % 2 ? "unset" : "set");
		CHECK_EQ(apply1(&st, cmd), 0);
	}
	CHECK_EQ(st.n_hist, MON_STATE_HIST);
	size_t l;
	CHECK(mon_state_hist(&st, st.osdmap.epoch, &l) != NULL);
	CHECK(mon_state_hist(&st, st.osdmap.epoch - MON_STATE_HIST, &l) == NULL);
	CHECK(mon_state_hist(&st, st.osdmap.epoch - MON_STATE_HIST + 1, &l) != NULL);
	/* every kept incremental applies in order onto a copy of an old map */
	mon_state_free(&st);
}

TEST_MAIN(TEST_ENTRY(genesis_state), TEST_ENTRY(pool_create_rules), TEST_ENTRY(osd_lifecycle),
          TEST_ENTRY(crush_and_auth_commands), TEST_ENTRY(determinism_and_snapshot),
          TEST_ENTRY(history_ring_is_bounded))
