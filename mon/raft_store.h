/* Durable Raft state in LMDB: hard state, log entries, snapshot.
 *
 * The mon's half of the raft.h host contract. One LMDB environment in a
 * directory holds two databases:
 *   "meta": "hs" -> hard state (term, vote, commit)
 *           "snap" -> snapshot meta (index, term, configuration)
 *           "snapdata" -> the snapshot blob
 *   "log":  8-byte big-endian index -> one entry (term, index, type, data)
 * Every record is a versioned struct followed by a crc32c of it, checked on
 * load: a corrupt record is NORN_ECORRUPT with its location logged, never
 * an assertion. Commits use LMDB's default durability (fsync on commit, no
 * MDB_NOSYNC), so when a function here returns 0 the state is on disk and
 * the messages that depend on it may be sent.
 *
 * Durability errors are fatal and sticky (STYLE rule 5): after any failed
 * write transaction the store is marked failed and every later call
 * returns NORN_EFAILED; the mon must stop.
 *
 * Size: raft_store_save_snapshot() deletes the log prefix the snapshot
 * covers in the same transaction, and LMDB reuses freed pages, so the file
 * stays bounded by (snapshot + entries between snapshots), whatever the
 * cluster's age.
 *
 * Threading: one thread at a time per store (the mon's raft thread).
 */
#ifndef NORN_RAFT_STORE_H
#define NORN_RAFT_STORE_H

#include <stddef.h>
#include <stdint.h>
#include "mon/raft.h"

struct raft_store;   /* opaque */

/* Open (creating if needed) the store in directory @dir (which must exist)
 * with an LMDB map of @map_bytes (0: 1 GiB). Returns 0 and *@out, or a
 * negative errno (-ENOENT no directory, -ENOMEM, -EIO...) or NORN_ECORRUPT
 * if the files are not an LMDB environment. */
int raft_store_open(const char *dir, uint64_t map_bytes, struct raft_store **out);
/* Close. NULL allowed. */
void raft_store_close(struct raft_store *s);

/* What raft_store_load() read; feed &l->boot to raft_create(). All memory
 * is owned by @l until raft_store_loaded_free(). */
struct raft_store_loaded {
	struct raft_boot boot;
	struct raft_entry *ents;     /* owned copy, boot.entries points here */
	uint8_t *snap_data;          /* owned copy */
	uint8_t *arena;              /* owned: entry payloads */
};

/* Read hard state, snapshot and log. An empty store yields an all-zero
 * boot. Returns 0, NORN_ECORRUPT (bad crc, bad record, gap in the log:
 * the location is logged), NORN_EFAILED, -ENOMEM. */
int raft_store_load(struct raft_store *s, struct raft_store_loaded *l);
void raft_store_loaded_free(struct raft_store_loaded *l);

/* Persist step 1 of a ready (raft.h contract) in one fsynced transaction:
 * the received snapshot (replacing the stored one and deleting the whole
 * log), then the entries (deleting any stored entry at or after the first
 * one, i.e. a truncated suffix), then the hard state. Returns 0,
 * NORN_EFAILED (this or an earlier commit failed: stop the mon), -ENOSPC
 * (map full; also fatal). */
int raft_store_apply_ready(struct raft_store *s, const struct raft_ready *rd);

/* Persist a snapshot the host took (after raft_compact()): @meta from
 * raft_snapshot_meta(), @data the blob. Deletes every log entry with index
 * <= meta->index in the same transaction. Returns as apply_ready. */
int raft_store_save_snapshot(struct raft_store *s, const struct raft_snapshot_meta *meta,
                             const void *data, size_t len);

struct raft_store_stat {
	uint64_t n_entries;         /* log records */
	uint64_t first_index;       /* 0 if none */
	uint64_t last_index;
	uint64_t used_bytes;        /* pages in use (last_pgno * page size) */
	uint64_t file_bytes;        /* size of data.mdb on disk */
};
int raft_store_stat(struct raft_store *s, struct raft_store_stat *st);

#endif
