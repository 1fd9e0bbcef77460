/* Unit tests for mon/raft_store.c: persistence round trips, truncation,
 * snapshots, restart of a raft instance from its store, corruption
 * detection, and compaction keeping the LMDB file bounded. */
#include <errno.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "tests/harness.h"
#include "mon/raft.h"
#include "mon/raft_store.h"
#include "common/encode.h"
#include "norn/errors.h"

static char *mkdir_tmp(void)
{
	static char path[64];

	snprintf(path, sizeof(path), "/tmp/norn_raft_store_XXXXXX");
	CHECK(mkdtemp(path) != NULL);
	return path;
}

static void rm_dir(const char *d)
{
	char p[128];

	snprintf(p, sizeof(p), "%s/data.mdb", d);
	unlink(p);
	snprintf(p, sizeof(p), "%s/lock.mdb", d);
	unlink(p);
	rmdir(d);
}

static struct raft_entry mk(uint64_t index, uint64_t term, const char *s)
{
	struct raft_entry e = { .term = term, .index = index, .type = RAFT_ENTRY_NORMAL,
	                        .len = (uint32_t)strlen(s), .data = (const uint8_t *)s };
	return e;
}

TEST(roundtrip_and_truncate)
{
	char *dir = mkdir_tmp();
	struct raft_store *s;
	struct raft_store_loaded l;
	struct raft_ready rd;
	struct raft_entry e[10];
	char bufs[10][16];

	CHECK_EQ(raft_store_open(dir, 0, &s), 0);
	CHECK_EQ(raft_store_load(s, &l), 0);
	CHECK_EQ(l.boot.n_entries, 0);
	CHECK_EQ(l.boot.hs.term, 0);
	raft_store_loaded_free(&l);

	for (int i = 0; i < 10; i++) {
		snprintf(bufs[i], sizeof(bufs[i]), "e%d", i + 1);
		e[i] = mk((uint64_t)i + 1, 1, bufs[i]);
	}
	memset(&rd, 0, sizeof(rd));
	rd.entries = e;
	rd.n_entries = 10;
	rd.hs_changed = 1;
	rd.hs.term = 1; rd.hs.vote = 2; rd.hs.commit = 4;
	CHECK_EQ(raft_store_apply_ready(s, &rd), 0);
	/* A new leader overwrites 6.. with two entries of term 2. */
	e[5] = mk(6, 2, "x6");
	e[6] = mk(7, 2, "x7");
	memset(&rd, 0, sizeof(rd));
	rd.entries = &e[5];
	rd.n_entries = 2;
	CHECK_EQ(raft_store_apply_ready(s, &rd), 0);
	raft_store_close(s);

	CHECK_EQ(raft_store_open(dir, 0, &s), 0);
	CHECK_EQ(raft_store_load(s, &l), 0);
	CHECK_EQ(l.boot.hs.term, 1);
	CHECK_EQ(l.boot.hs.vote, 2);
	CHECK_EQ(l.boot.hs.commit, 4);
	CHECK_EQ(l.boot.n_entries, 7);
	CHECK_EQ(l.boot.entries[6].index, 7);
	CHECK_EQ(l.boot.entries[6].term, 2);
	CHECK(memcmp(l.boot.entries[6].data, "x7", 2) == 0);
	CHECK(memcmp(l.boot.entries[4].data, "e5", 2) == 0);
	raft_store_loaded_free(&l);

	/* A snapshot at 5 drops entries 1..5. */
	struct raft_snapshot_meta m = { .index = 5, .term = 1, .conf = { .n = 1, .ids = { 9 } } };
	CHECK_EQ(raft_store_save_snapshot(s, &m, "SNAP", 4), 0);
	CHECK_EQ(raft_store_load(s, &l), 0);
	CHECK_EQ(l.boot.snap.index, 5);
	CHECK_EQ(l.boot.snap.conf.ids[0], 9);
	CHECK_EQ(l.boot.snap_len, 4);
	CHECK(memcmp(l.boot.snap_data, "SNAP", 4) == 0);
	CHECK_EQ(l.boot.n_entries, 2);
	CHECK_EQ(l.boot.entries[0].index, 6);
	raft_store_loaded_free(&l);

	/* A received snapshot (in a ready) replaces everything. */
	m.index = 50; m.term = 3;
	memset(&rd, 0, sizeof(rd));
	rd.snapshot = &m;
	rd.snapshot_data = (const uint8_t *)"BIG";
	rd.snapshot_len = 3;
	rd.hs_changed = 1;
	rd.hs.term = 3; rd.hs.commit = 50;
	CHECK_EQ(raft_store_apply_ready(s, &rd), 0);
	CHECK_EQ(raft_store_load(s, &l), 0);
	CHECK_EQ(l.boot.snap.index, 50);
	CHECK_EQ(l.boot.n_entries, 0);
	raft_store_loaded_free(&l);
	raft_store_close(s);
	rm_dir(dir);
}

TEST(corruption_detected)
{
	char *dir = mkdir_tmp();
	struct raft_store *s;
	struct raft_store_loaded l;
	struct raft_ready rd;
	struct raft_entry e[3] = { mk(1, 1, "a"), mk(2, 1, "b"), mk(3, 1, "c") };
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	uint8_t key[8] = { 0, 0, 0, 0, 0, 0, 0, 2 };
	MDB_val k = { 8, key }, v;

	CHECK_EQ(raft_store_open(dir, 0, &s), 0);
	memset(&rd, 0, sizeof(rd));
	rd.entries = e;
	rd.n_entries = 3;
	CHECK_EQ(raft_store_apply_ready(s, &rd), 0);
	raft_store_close(s);

	/* Flip one byte of entry 2 behind the store's back. */
	CHECK_EQ(mdb_env_create(&env), 0);
	CHECK_EQ(mdb_env_set_maxdbs(env, 4), 0);
	CHECK_EQ(mdb_env_open(env, dir, 0, 0600), 0);
	CHECK_EQ(mdb_txn_begin(env, NULL, 0, &txn), 0);
	CHECK_EQ(mdb_dbi_open(txn, "log", 0, &dbi), 0);
	CHECK_EQ(mdb_get(txn, dbi, &k, &v), 0);
	{
		uint8_t copy[256];
		MDB_val nv = { v.mv_size, copy };

		CHECK(v.mv_size <= sizeof(copy));
		memcpy(copy, v.mv_data, v.mv_size);
		copy[8] ^= 1;
		CHECK_EQ(mdb_put(txn, dbi, &k, &nv, 0), 0);
	}
	CHECK_EQ(mdb_txn_commit(txn), 0);
	mdb_env_close(env);

	CHECK_EQ(raft_store_open(dir, 0, &s), 0);
	CHECK_EQ(raft_store_load(s, &l), NORN_ECORRUPT);
	raft_store_close(s);
	rm_dir(dir);
}

static uint64_t n_commits, commit_ns;

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Persist and apply every ready, like the mon's raft loop. */
static void drain(struct raft *r, struct raft_store *s, uint64_t *applied, uint64_t *sum)
{
	struct raft_ready rd;

	while (raft_ready_get(r, &rd)) {
		uint64_t t0 = mono_ns();

		CHECK_EQ(raft_store_apply_ready(s, &rd), 0);
		commit_ns += mono_ns() - t0;
		n_commits++;
		for (size_t i = 0; i < rd.n_committed; i++) {
			CHECK_EQ(rd.committed[i].index, *applied + 1);
			*applied = rd.committed[i].index;
			if (rd.committed[i].type == RAFT_ENTRY_NORMAL)
				*sum += norn_get_le64(rd.committed[i].data);
		}
		raft_ready_advance(r, &rd);
	}
}

/* Drive a single-node raft through its store like the mon will: persist
 * each ready, restart from disk now and then, snapshot every @every
 * entries. Returns the store's used bytes at the end. */
static uint64_t run_node(const char *dir, uint64_t proposals, uint64_t every, uint64_t base_sum,
                         uint64_t *last_out)
{
	struct raft_config boot = { .n = 1, .ids = { 1 } };
	struct raft_opts o = { .id = 1, .election_ticks = 5, .heartbeat_ticks = 1,
	                       .rand_seed = 1, .bootstrap = &boot };
	struct raft_store *s;
	struct raft_store_loaded l;
	struct raft *r = NULL;
	struct raft_store_stat st;
	uint64_t applied = 0, sum = 0, proposed = 0;
	uint8_t payload[200];

	memset(payload, 0xab, sizeof(payload));
	CHECK_EQ(raft_store_open(dir, 64u << 20, &s), 0);
	for (uint64_t round = 0; proposed < proposals; round++) {
		if (!r) {
			/* (Re)start from disk; the state machine restarts from the
			 * snapshot blob (the running sum) like a real mon would. */
			CHECK_EQ(raft_store_load(s, &l), 0);
			CHECK_EQ(raft_create(&o, &l.boot, &r), 0);
			applied = l.boot.snap.index;
			sum = l.boot.snap_len == 8 ? norn_get_le64(l.boot.snap_data) : 0;
			raft_store_loaded_free(&l);
			for (int t = 0; t < 20 && raft_role(r) != RAFT_LEADER; t++) {
				raft_tick(r);
				drain(r, s, &applied, &sum);
			}
			CHECK_EQ(raft_role(r), RAFT_LEADER);
		}
		for (int k = 0; k < 50; k++) {
			norn_put_le64(payload, ++proposed);
			CHECK_EQ(raft_propose(r, payload, sizeof(payload), NULL), 0);
		}
		drain(r, s, &applied, &sum);
		if (applied >= raft_snapshot_meta(r)->index + every) {
			uint8_t blob[8];

			norn_put_le64(blob, sum);
			CHECK_EQ(raft_compact(r, applied, blob, 8), 0);
			CHECK_EQ(raft_store_save_snapshot(s, raft_snapshot_meta(r), blob, 8), 0);
		}
		if (round % 7 == 3) {   /* restart: everything comes back from LMDB */
			raft_destroy(r);
			r = NULL;
		}
	}
	/* Every entry applied exactly once across all the restarts. */
	CHECK_EQ(sum, base_sum + proposed * (proposed + 1) / 2);
	CHECK_EQ(raft_store_stat(s, &st), 0);
	CHECK(st.n_entries <= every + 60);
	*last_out = raft_last_index(r);
	raft_destroy(r);
	raft_store_close(s);
	return st.used_bytes;
}

TEST(restart_reload_and_compaction_bounds_size)
{
	char *dir = mkdir_tmp();
	uint64_t small, big, last1, last2;
	struct raft_store *s;
	struct raft_store_loaded l;

	small = run_node(dir, 2000, 300, 0, &last1);
	/* Keep going on the same store for 10x longer. */
	big = run_node(dir, 20000, 300, 2000ull * 2001 / 2, &last2);
	CHECK(last2 > last1 + 19000);
	fprintf(stderr, "  store used bytes: %llu after 2k entries, %llu after 22k\n",
	        (unsigned long long)small, (unsigned long long)big);
	fprintf(stderr, "  %llu fsynced ready commits (50 x 200-byte entries each), mean %.2f ms\n",
	        (unsigned long long)n_commits, n_commits ? commit_ns / 1e6 / (double)n_commits : 0.0);
	/* Bounded: 10x the entries, not 10x the bytes. */
	CHECK(big < small * 2 + (256u << 10));
	CHECK_EQ(raft_store_open(dir, 0, &s), 0);
	CHECK_EQ(raft_store_load(s, &l), 0);
	CHECK_EQ(l.boot.snap.index + l.boot.n_entries, last2);
	raft_store_loaded_free(&l);
	raft_store_close(s);
	rm_dir(dir);
}

TEST(open_errors)
{
	struct raft_store *s;

	CHECK_EQ(raft_store_open("/nonexistent/dir/x", 0, &s), -ENOENT);
	CHECK(s == NULL);
}

TEST_MAIN(TEST_ENTRY(roundtrip_and_truncate), TEST_ENTRY(corruption_detected),
          TEST_ENTRY(restart_reload_and_compaction_bounds_size), TEST_ENTRY(open_errors))
