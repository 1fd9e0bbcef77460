/* monmap and authmap: addresses, uuids, mon_host parsing, round trips,
 * truncation and corruption at every byte, caps parsing and checks. */
#include <errno.h>
#include <stdlib.h>
#include "tests/harness.h"
#include "common/map_mon.h"
#include "common/map_auth.h"
#include "common/assert.h"
#include "norn/errors.h"

static int addr_parse(const char *s, uint16_t defport, struct map_addr *a)
{
	return map_addr_parse(s, strlen(s), defport, a);
}

TEST(addr_parse_format)
{
	struct map_addr a;
	char buf[MAP_ADDR_STR_MAX];

	CHECK_EQ(addr_parse("127.0.0.1:6789", 0, &a), 0);
	CHECK_STREQ(a.host, "127.0.0.1");
	CHECK_EQ(a.port, 6789);
	CHECK(map_addr_format(&a, buf, sizeof(buf)) > 0);
	CHECK_STREQ(buf, "127.0.0.1:6789");
	CHECK_EQ(addr_parse("[::1]:7000", 0, &a), 0);
	CHECK_STREQ(a.host, "::1");
	CHECK_EQ(a.port, 7000);
	map_addr_format(&a, buf, sizeof(buf));
	CHECK_STREQ(buf, "[::1]:7000");
	CHECK_EQ(addr_parse("bld-001.lab", 6789, &a), 0);
	CHECK_EQ(a.port, 6789);
	CHECK_EQ(addr_parse("fe80::1", 6789, &a), 0);   /* bare v6 */
	CHECK_STREQ(a.host, "fe80::1");
	CHECK_EQ(addr_parse("bld-001.lab", 0, &a), -EINVAL);  /* port required */
	CHECK_EQ(addr_parse("h:0", 0, &a), -EINVAL);
	CHECK_EQ(addr_parse("h:65536", 0, &a), -EINVAL);
	CHECK_EQ(addr_parse("h:12a", 0, &a), -EINVAL);
	CHECK_EQ(addr_parse(":80", 0, &a), -EINVAL);
	CHECK_EQ(addr_parse("h:", 0, &a), -EINVAL);
	CHECK_EQ(addr_parse("[::1", 0, &a), -EINVAL);
	CHECK_EQ(addr_parse("[::1]x", 0, &a), -EINVAL);
	CHECK_EQ(addr_parse("a b:1", 0, &a), -EINVAL);
	CHECK_EQ(addr_parse("", 6789, &a), -EINVAL);
	CHECK_EQ(a.port, 0);
	CHECK_EQ(map_addr_format(&(struct map_addr){ "127.0.0.1", 1 }, buf, 5), -ENOSPC);
}

TEST(uuid)
{
	uint8_t u[16], v[16];
	char s[MAP_UUID_STR_LEN];

	for (int i = 0; i < 16; i++)
		u[i] = (uint8_t)(i * 17 + 3);
	map_uuid_format(u, s);
	CHECK_STREQ(s, "03142536-4758-697a-8b9c-adbecfe0f102");
	CHECK_EQ(map_uuid_parse(s, v), 0);
	CHECK(!memcmp(u, v, 16));
	CHECK_EQ(map_uuid_parse("03142536-4758-697A-8B9C-ADBECFE0F102", v), 0);
	CHECK(!memcmp(u, v, 16));
	CHECK_EQ(map_uuid_parse("03142536-4758-697a-8b9c-adbecfe0f10", v), -EINVAL);
	CHECK_EQ(map_uuid_parse("03142536x4758-697a-8b9c-adbecfe0f102", v), -EINVAL);
	CHECK_EQ(map_uuid_parse("g3142536-4758-697a-8b9c-adbecfe0f102", v), -EINVAL);
	memset(v, 0, 16);
	CHECK(map_uuid_is_zero(v));
	CHECK(!map_uuid_is_zero(u));
}

TEST(mon_host_parse)
{
	struct monmap m;

	CHECK_EQ(monmap_parse_mon_host(&m, "a=127.0.0.1:6789,b=127.0.0.1:6790, c=127.0.0.1:6791"), 0);
	CHECK_EQ(m.n_mons, 3);
	CHECK_STREQ(m.mons[2].name, "c");
	CHECK_EQ(m.mons[2].rank, 2);
	CHECK_EQ(m.mons[2].addr.port, 6791);
	CHECK_EQ(monmap_parse_mon_host(&m, "127.0.0.1:6789 127.0.0.2;10.0.0.1:1"), 0);
	CHECK_EQ(m.n_mons, 3);
	CHECK_STREQ(m.mons[0].name, "a");
	CHECK_STREQ(m.mons[1].name, "b");
	CHECK_EQ(m.mons[1].addr.port, MONMAP_DEFAULT_PORT);
	CHECK(monmap_find(&m, "c") && monmap_find(&m, "c")->addr.port == 1);
	CHECK(monmap_find_rank(&m, 1) == &m.mons[1]);
	CHECK(monmap_find_rank(&m, 3) == NULL);
	CHECK_EQ(monmap_parse_mon_host(&m, ""), -EINVAL);
	CHECK_EQ(monmap_parse_mon_host(&m, " , "), -EINVAL);
	CHECK_EQ(monmap_parse_mon_host(&m, "a=1.2.3.4:1,a=1.2.3.5:1"), -EINVAL);
	CHECK_EQ(monmap_parse_mon_host(&m, "1.2.3.4:1,1.2.3.4:1"), -EINVAL);
	CHECK_EQ(monmap_parse_mon_host(&m, "=1.2.3.4"), -EINVAL);
	CHECK_EQ(monmap_parse_mon_host(&m, "a=b=1.2.3.4"), -EINVAL);
	CHECK_EQ(m.n_mons, 0);
	char big[2048] = "";
	for (int i = 0; i < 20; i++) {
		char one[32];
		snprintf(one, sizeof(one), "%s10.0.0.%d", i ? "," : "", i + 1);
		strncat(big, one, sizeof(big) - strlen(big) - 1);
	}
	CHECK_EQ(monmap_parse_mon_host(&m, big), -E2BIG);
}

TEST(monmap_add_remove)
{
	struct monmap m;
	struct map_addr a;

	monmap_init(&m);
	for (int i = 0; i < 5; i++) {
		char n[8];
		snprintf(n, sizeof(n), "m%d", i);
		addr_parse("127.0.0.1:1", 0, &a);
		a.port = (uint16_t)(7000 + i);
		CHECK_EQ(monmap_add(&m, n, &a), 0);
	}
	CHECK_EQ(monmap_add(&m, "m1", &a), -EEXIST);
	CHECK_EQ(monmap_add(&m, "bad name", &a), -EINVAL);
	CHECK_EQ(monmap_remove(&m, "m1"), 0);
	CHECK_EQ(monmap_remove(&m, "m1"), -ENOENT);
	CHECK_EQ(m.n_mons, 4);
	for (uint32_t i = 0; i < m.n_mons; i++)
		CHECK_EQ(m.mons[i].rank, i);
	CHECK_STREQ(m.mons[1].name, "m2");
}

static void sample_monmap(struct monmap *m)
{
	CHECK_EQ(monmap_parse_mon_host(m, "a=127.0.0.1:6789,b=[::1]:6790,c=mon-c.lab:6791"), 0);
	m->epoch = 7;
	for (int i = 0; i < 16; i++)
		m->fsid[i] = (uint8_t)(0xa0 + i);
	m->created_ns = 1000;
	m->modified_ns = 2000;
}

TEST(monmap_roundtrip_truncation_corruption)
{
	struct monmap m, r;
	struct enc e, e2;

	sample_monmap(&m);
	enc_init(&e, 0);
	CHECK_EQ(monmap_encode(&m, &e), 0);
	CHECK_EQ(monmap_decode(&r, e.buf, e.len), 0);
	CHECK_EQ(r.epoch, 7);
	CHECK(!memcmp(r.fsid, m.fsid, 16));
	CHECK_EQ(r.created_ns, 1000);
	CHECK_EQ(r.modified_ns, 2000);
	CHECK_EQ(r.n_mons, 3);
	for (uint32_t i = 0; i < 3; i++) {
		CHECK_STREQ(r.mons[i].name, m.mons[i].name);
		CHECK(map_addr_eq(&r.mons[i].addr, &m.mons[i].addr));
		CHECK_EQ(r.mons[i].rank, i);
	}
	enc_init(&e2, 0);
	CHECK_EQ(monmap_encode(&r, &e2), 0);
	CHECK_EQ(e.len, e2.len);
	CHECK(!memcmp(e.buf, e2.buf, e.len));
	for (size_t n = 0; n < e.len; n++)
		CHECK(monmap_decode(&r, e.buf, n) != 0);
	/* flip every byte: the crc (or magic) catches it */
	for (size_t i = 0; i < e.len; i++) {
		e.buf[i] ^= 0x40;
		CHECK(monmap_decode(&r, e.buf, e.len) != 0);
		CHECK_EQ(r.n_mons, 0);
		e.buf[i] ^= 0x40;
	}
	enc_free(&e);
	enc_free(&e2);
}

TEST(monmap_decode_rejects_bad_content_with_good_crc)
{
	/* Build an encoding with a duplicate mon by hand, crc fixed up. */
	struct monmap m, r;
	struct enc e;

	sample_monmap(&m);
	m.mons[1] = m.mons[0];      /* duplicate name and address */
	m.mons[1].rank = 1;
	enc_init(&e, 0);
	CHECK_EQ(monmap_encode(&m, &e), 0);
	CHECK_EQ(monmap_decode(&r, e.buf, e.len), NORN_ECORRUPT);
	enc_free(&e);
}

TEST(caps_parse)
{
	struct auth_caps c;

	CHECK_EQ(auth_caps_parse("mon 'allow r' osd 'allow rw pool=rbd'", &c), 0);
	CHECK_EQ(c.n[AUTH_SVC_MON], 1);
	CHECK_EQ(c.grants[AUTH_SVC_MON][0].perms, AUTH_CAP_R);
	CHECK_EQ(c.n[AUTH_SVC_OSD], 1);
	CHECK_EQ(c.grants[AUTH_SVC_OSD][0].perms, AUTH_CAP_R | AUTH_CAP_W);
	CHECK_EQ(c.grants[AUTH_SVC_OSD][0].pool_kind, 1);
	CHECK_STREQ(c.grants[AUTH_SVC_OSD][0].pool, "rbd");
	CHECK_EQ(auth_caps_parse("mon \"allow *\" osd \"allow *\"", &c), 0);
	CHECK_EQ(c.grants[AUTH_SVC_OSD][0].perms, AUTH_CAP_ALL);
	CHECK_EQ(auth_caps_parse("osd 'allow rw pool=s3.data, allow r pool_id=7 ,allow x'", &c), 0);
	CHECK_EQ(c.n[AUTH_SVC_OSD], 3);
	CHECK_EQ(c.grants[AUTH_SVC_OSD][1].pool_kind, 2);
	CHECK_EQ(c.grants[AUTH_SVC_OSD][1].pool_id, 7);
	CHECK_EQ(c.grants[AUTH_SVC_OSD][2].pool_kind, 0);
	CHECK_EQ(auth_caps_parse("", &c), 0);
	CHECK_EQ(c.n[0] + c.n[1], 0);
	CHECK_EQ(auth_caps_parse("   ", &c), 0);

	const char *bad[] = {
		"mgr 'allow r'", "mon allow r", "mon 'allow r", "mon 'deny r'", "mon 'allow'",
		"mon 'allow q'", "mon 'allow rr'", "mon 'allow r*'", "osd 'allow rw pool='",
		"osd 'allow rw pool=a b'", "osd 'allow rw volume=x'", "osd 'allow rw pool_id=x'",
		"osd 'allow r,'", "osd 'allow r' osd 'allow w'", "mon 'allow r' junk",
		"osd 'allow r pool=a' extra", "mon 'allow r''",
	};
	for (size_t i = 0; i < NORN_ARRAY_SIZE(bad); i++) {
		if (auth_caps_parse(bad[i], &c) != -EINVAL) {
			fprintf(stderr, "accepted: %s\n", bad[i]);
			CHECK(0);
		}
		CHECK_EQ(c.n[0] + c.n[1], 0);
	}
	char many[AUTH_CAPS_STR_MAX];
	snprintf(many, sizeof(many), "osd '");
	for (int i = 0; i < AUTH_CAPS_MAX_GRANTS + 1; i++)
		strncat(many, i ? ",allow r" : "allow r", sizeof(many) - strlen(many) - 1);
	strncat(many, "'", sizeof(many) - strlen(many) - 1);
	CHECK_EQ(auth_caps_parse(many, &c), -EINVAL);
	char huge[AUTH_CAPS_STR_MAX + 10];
	memset(huge, ' ', sizeof(huge));
	huge[sizeof(huge) - 1] = 0;
	CHECK_EQ(auth_caps_parse(huge, &c), -EINVAL);
}

TEST(caps_allow)
{
	struct auth_caps c;

	CHECK_EQ(auth_caps_parse("mon 'allow r' osd 'allow rw pool=rbd, allow r pool=backups, "
	                         "allow w pool_id=9'", &c), 0);
	CHECK(auth_caps_allow(&c, AUTH_SVC_MON, -1, NULL, AUTH_CAP_R));
	CHECK(!auth_caps_allow(&c, AUTH_SVC_MON, -1, NULL, AUTH_CAP_W));
	CHECK(!auth_caps_allow(&c, AUTH_SVC_MON, -1, NULL, AUTH_CAP_X));
	CHECK(auth_caps_allow(&c, AUTH_SVC_OSD, 1, "rbd", AUTH_CAP_R | AUTH_CAP_W));
	CHECK(auth_caps_allow(&c, AUTH_SVC_OSD, 2, "backups", AUTH_CAP_R));
	CHECK(!auth_caps_allow(&c, AUTH_SVC_OSD, 2, "backups", AUTH_CAP_W));
	CHECK(!auth_caps_allow(&c, AUTH_SVC_OSD, 3, "other", AUTH_CAP_R));
	CHECK(!auth_caps_allow(&c, AUTH_SVC_OSD, -1, NULL, AUTH_CAP_R));
	CHECK(auth_caps_allow(&c, AUTH_SVC_OSD, 9, "nine", AUTH_CAP_W));
	CHECK(!auth_caps_allow(&c, AUTH_SVC_OSD, 9, "nine", AUTH_CAP_R));
	CHECK(!auth_caps_allow(&c, AUTH_SVC_OSD, 1, "rbd", 0));          /* nothing wanted: no */
	CHECK(!auth_caps_allow(&c, AUTH_SVC_COUNT, 1, "rbd", AUTH_CAP_R));
	CHECK_EQ(auth_caps_parse("osd 'allow *'", &c), 0);
	CHECK(auth_caps_allow(&c, AUTH_SVC_OSD, 5, "x", AUTH_CAP_ALL));
	CHECK(!auth_caps_allow(&c, AUTH_SVC_MON, -1, NULL, AUTH_CAP_R));
	/* permissions combine across grants */
	CHECK_EQ(auth_caps_parse("osd 'allow r, allow w pool=a'", &c), 0);
	CHECK(auth_caps_allow(&c, AUTH_SVC_OSD, 1, "a", AUTH_CAP_R | AUTH_CAP_W));
	CHECK(!auth_caps_allow(&c, AUTH_SVC_OSD, 2, "b", AUTH_CAP_R | AUTH_CAP_W));
}

static void sample_authmap(struct authmap *m, uint32_t n)
{
	uint8_t s[AUTH_SECRET_LEN];

	authmap_init(m);
	m->epoch = 42;
	for (uint32_t i = 0; i < n; i++) {
		char name[32];
		/* inserted out of order: the map keeps them sorted */
		snprintf(name, sizeof(name), "client.u%03u", (i * 7) % n);
		memset(s, (int)i, sizeof(s));
		CHECK_EQ(authmap_set(m, name, s, i % 2 ? "mon 'allow r' osd 'allow rw pool=rbd'" : ""), 0);
	}
	memset(s, 0xee, sizeof(s));
	CHECK_EQ(authmap_set(m, "client.admin", s, "mon 'allow *' osd 'allow *'"), 0);
	CHECK_EQ(authmap_set(m, "osd.0", s, "mon 'allow rwx' osd 'allow *'"), 0);
	CHECK_EQ(authmap_rotate(m, s, 100), 1);
	s[0] = 1;
	CHECK_EQ(authmap_rotate(m, s, 200), 2);
}

TEST(authmap_ops)
{
	struct authmap m, c;
	uint8_t s[AUTH_SECRET_LEN] = { 1 };

	sample_authmap(&m, 10);
	CHECK_EQ(m.n_entities, 12);
	for (uint32_t i = 1; i < m.n_entities; i++)
		CHECK(strcmp(m.entities[i - 1].name, m.entities[i].name) < 0);
	const struct auth_entity *a = authmap_find(&m, "client.admin");
	CHECK(a && a->secret[0] == 0xee);
	CHECK(auth_caps_allow(&a->caps, AUTH_SVC_OSD, 3, "any", AUTH_CAP_W));
	CHECK(authmap_find(&m, "client.nobody") == NULL);
	CHECK_EQ(authmap_set(&m, "client.admin", s, "mon 'allow r'"), 0);   /* replace */
	CHECK_EQ(m.n_entities, 12);
	a = authmap_find(&m, "client.admin");
	CHECK(a->secret[0] == 1 && !auth_caps_allow(&a->caps, AUTH_SVC_OSD, 3, "any", AUTH_CAP_R));
	CHECK_EQ(authmap_set(&m, "admin", s, ""), -EINVAL);
	CHECK_EQ(authmap_set(&m, "user.x", s, ""), -EINVAL);
	CHECK_EQ(authmap_set(&m, "client.", s, ""), -EINVAL);
	CHECK_EQ(authmap_set(&m, "client.x", s, "bogus"), -EINVAL);
	CHECK_EQ(authmap_set_caps(&m, "client.x", ""), -ENOENT);
	CHECK_EQ(authmap_set_caps(&m, "client.admin", "osd 'allow r'"), 0);
	CHECK_STREQ(authmap_find(&m, "client.admin")->caps_str, "osd 'allow r'");
	CHECK_EQ(authmap_set_caps(&m, "client.admin", "osd 'allow'"), -EINVAL);
	CHECK_STREQ(authmap_find(&m, "client.admin")->caps_str, "osd 'allow r'");
	CHECK_EQ(authmap_rm(&m, "client.u003"), 0);
	CHECK_EQ(authmap_rm(&m, "client.u003"), -ENOENT);
	CHECK_EQ(m.n_entities, 11);
	/* rotating keys: oldest dropped after AUTH_ROTATING_KEYS */
	CHECK_EQ(authmap_current_key(&m)->id, 2);
	CHECK(authmap_key(&m, 1) != NULL);
	authmap_rotate(&m, s, 300);
	authmap_rotate(&m, s, 400);
	CHECK_EQ(m.n_keys, AUTH_ROTATING_KEYS);
	CHECK(authmap_key(&m, 1) == NULL);
	CHECK(authmap_key(&m, 2) != NULL);
	CHECK_EQ(authmap_current_key(&m)->id, 4);
	authmap_init(&c);
	CHECK_EQ(authmap_copy(&c, &m), 0);
	CHECK_EQ(c.n_entities, m.n_entities);
	CHECK(c.entities != m.entities);
	CHECK(!memcmp(c.entities, m.entities, m.n_entities * sizeof(m.entities[0])));
	authmap_free(&m);
	authmap_free(&c);
}

TEST(authmap_roundtrip_truncation_corruption)
{
	struct authmap m, r;
	struct enc e, e2;

	sample_authmap(&m, 20);
	enc_init(&e, 0);
	CHECK_EQ(authmap_encode(&m, &e), 0);
	authmap_init(&r);
	CHECK_EQ(authmap_decode(&r, e.buf, e.len), 0);
	CHECK_EQ(r.epoch, 42);
	CHECK_EQ(r.n_entities, m.n_entities);
	CHECK_EQ(r.n_keys, 2);
	for (uint32_t i = 0; i < m.n_entities; i++) {
		CHECK_STREQ(r.entities[i].name, m.entities[i].name);
		CHECK(!memcmp(r.entities[i].secret, m.entities[i].secret, AUTH_SECRET_LEN));
		CHECK(!memcmp(&r.entities[i].caps, &m.entities[i].caps, sizeof(struct auth_caps)));
	}
	enc_init(&e2, 0);
	CHECK_EQ(authmap_encode(&r, &e2), 0);
	CHECK(e.len == e2.len && !memcmp(e.buf, e2.buf, e.len));
	for (size_t n = 0; n < e.len; n++) {
		CHECK(authmap_decode(&r, e.buf, n) != 0);
		CHECK_EQ(r.n_entities, 0);
	}
	for (size_t i = 0; i < e.len; i++) {
		e.buf[i] ^= 0x01;
		CHECK(authmap_decode(&r, e.buf, e.len) != 0);
		e.buf[i] ^= 0x01;
	}
	authmap_free(&m);
	authmap_free(&r);
	enc_free(&e);
	enc_free(&e2);
}

TEST(authmap_decode_rejects_unsorted)
{
	struct authmap m, r;
	struct enc e;

	sample_authmap(&m, 3);
	struct auth_entity t = m.entities[0];
	m.entities[0] = m.entities[1];
	m.entities[1] = t;
	enc_init(&e, 0);
	CHECK_EQ(authmap_encode(&m, &e), 0);
	authmap_init(&r);
	CHECK_EQ(authmap_decode(&r, e.buf, e.len), NORN_ECORRUPT);
	authmap_free(&m);
	enc_free(&e);
}

static void check_json(struct enc *e)
{
	enc_u8(e, 0);
	FILE *f = popen("/usr/bin/python3 -c 'import json,sys; json.load(sys.stdin)' 2>/dev/null", "w");
	if (f) {
		fputs((const char *)e->buf, f);
		int st = pclose(f);
		CHECK(st == 0 || WEXITSTATUS(st) == 127);
	}
}

TEST(json_dumps)
{
	struct monmap m;
	struct authmap am;
	struct enc e;

	sample_monmap(&m);
	enc_init(&e, 0);
	CHECK_EQ(monmap_dump_json(&m, &e), 0);
	check_json(&e);
	CHECK(strstr((char *)e.buf, "{\"rank\":1,\"name\":\"b\",\"addr\":\"[::1]:6790\"}"));
	CHECK(strstr((char *)e.buf, "\"fsid\":\"a0a1a2a3-a4a5-a6a7-a8a9-aaabacadaeaf\""));
	enc_reset(&e);
	sample_authmap(&am, 2);
	CHECK_EQ(authmap_dump_json(&am, 0, &e), 0);
	check_json(&e);
	CHECK(strstr((char *)e.buf, "\"entity\":\"client.admin\",\"caps\":\"mon 'allow *' osd 'allow *'\"}"));
	CHECK(!strstr((char *)e.buf, "\"key\""));
	CHECK(strstr((char *)e.buf, "\"rotating_key_ids\":[1,2]"));
	enc_reset(&e);
	CHECK_EQ(authmap_dump_json(&am, 1, &e), 0);
	check_json(&e);
	CHECK(strstr((char *)e.buf, "\"key\":\"eeeeeeee"));
	authmap_free(&am);
	enc_free(&e);
}

TEST_MAIN(TEST_ENTRY(json_dumps), TEST_ENTRY(addr_parse_format), TEST_ENTRY(uuid), TEST_ENTRY(mon_host_parse),
          TEST_ENTRY(monmap_add_remove), TEST_ENTRY(monmap_roundtrip_truncation_corruption),
          TEST_ENTRY(monmap_decode_rejects_bad_content_with_good_crc), TEST_ENTRY(caps_parse),
          TEST_ENTRY(caps_allow), TEST_ENTRY(authmap_ops),
          TEST_ENTRY(authmap_roundtrip_truncation_corruption),
          TEST_ENTRY(authmap_decode_rejects_unsorted))
