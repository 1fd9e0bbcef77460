/* Raft consensus as a pure state machine (the monitors' replication core).
 *
 * This module decides; it never does anything. It reads no clock, opens no
 * file or socket and keeps no global state. Its inputs are:
 *   - raft_step()      a message from a peer (decoded with raft_msg_decode),
 *   - raft_tick()      one logical tick (the host calls it every mon_tick_ms),
 *   - raft_propose()   a new entry from the local state machine (leader only),
 *   - raft_propose_conf() a single-server membership change (add/remove),
 *   - raft_transfer_leader() hand leadership to a caught-up peer,
 *   - raft_compact()   "here is a snapshot of my state machine at index I".
 * Its outputs accumulate inside the instance and are drained by the host
 * through a struct raft_ready (raft_ready_get / raft_ready_advance).
 *
 * THE HOST CONTRACT (what the mon daemon and the simulator both follow):
 *
 *   while (raft_ready_get(r, &rd)) {
 *     1. Persist, in ONE durable transaction (fsync/LMDB commit):
 *          a. rd.snapshot, if non-NULL: replace the stored snapshot and
 *             delete every stored log entry (raft_store_apply_ready does it);
 *          b. rd.entries[0..n_entries): first delete every stored entry with
 *             index >= rd.entries[0].index, then write these entries;
 *          c. rd.hs (term, vote, commit) if rd.hs_changed.
 *        If persisting fails, the node must stop (durability errors are
 *        fatal): do NOT send the messages and do NOT call advance.
 *     2. Only after step 1 is durable, send rd.msgs[0..n_msgs) (encode each
 *        with raft_msg_encode). Vote grants and append acknowledgements in
 *        there promise that step 1 happened; sending them earlier can elect
 *        two leaders or lose committed entries after a crash.
 *     3. If rd.snapshot: reset the state machine from rd.snapshot_data.
 *        Then apply rd.committed[0..n_committed) in order.
 *     4. raft_ready_advance(r, &rd).
 *   }
 * Between raft_ready_get() and raft_ready_advance() the host must not call
 * any other non-const raft function: every pointer in the ready (entries,
 * message entries, snapshot data) points into the raft instance and stays
 * valid exactly until raft_ready_advance().
 *
 * Snapshots the host takes itself (raft_compact) are not in a ready: the
 * host persists them directly (raft_store_save_snapshot) with the meta
 * from raft_snapshot_meta().
 *
 * Bootstrap: the founding mons (mkfs) call raft_init() with opts.bootstrap
 * pointing at the initial configuration and an empty boot state; raft
 * then writes entry 1 (term 1, a CONF entry) with commit 1, identical on
 * every founder. A mon added later starts empty with opts.bootstrap NULL
 * and learns everything from the leader (entries or a snapshot).
 *
 * Safety rules implemented here (Raft paper and Ongaro's thesis): election
 * restriction (votes only for an up-to-date log), pre-vote (a candidate
 * must win a pre-vote round before bumping its term), leader lease for
 * votes (a node that heard from a leader within the minimum election
 * timeout ignores vote requests), check-quorum (a leader that has not
 * heard from a majority within two election timeouts steps down), commit
 * only by counting replicas of an entry of the current term (§5.4.2),
 * single-server membership changes that take effect when appended, at
 * most one uncommitted at a time and only after the leader committed an
 * entry of its own term; a leader removed from the configuration steps
 * down when the removal commits.
 *
 * Threading: an instance is used by one thread. Allocation: entries are
 * copied into the instance's log (malloc); the log and the outbox are
 * bounded by the constants below and by the host's snapshot cadence.
 */
#ifndef NORN_RAFT_H
#define NORN_RAFT_H

#include <stddef.h>
#include <stdint.h>
#include "common/env.h"

/* ---- bounds ------------------------------------------------------------ */

#define RAFT_NONE 0u                    /* "no node": node ids are non-zero */
#define RAFT_MAX_PEERS 16               /* voters in a configuration */
#define RAFT_MAX_APPEND_ENTRIES 64      /* entries in one append message */
#define RAFT_MAX_APPEND_BYTES (1u << 20) /* soft cap on entry bytes per append */
#define RAFT_MAX_ENTRY_BYTES (4u << 20) /* one entry's payload */
#define RAFT_MAX_SNAPSHOT_BYTES (64u << 20) /* snapshot blob (sent in one msg) */
#define RAFT_MAX_MSG_BYTES (RAFT_MAX_SNAPSHOT_BYTES + 4096u) /* one encoded msg */
#define RAFT_MAX_OUTBOX 256             /* messages pending in one ready */
#define RAFT_MAX_UNCOMMITTED 1024       /* leader refuses proposals beyond */
#define RAFT_MAX_INFLIGHT 4             /* pipelined appends per follower */
#define RAFT_MAX_LOG_ENTRIES 65536      /* leader refuses proposals beyond */

/* ---- plain types -------------------------------------------------------- */

enum raft_role {
	RAFT_FOLLOWER = 0,
	RAFT_PRECANDIDATE = 1,
	RAFT_CANDIDATE = 2,
	RAFT_LEADER = 3,
};

enum raft_entry_type {
	RAFT_ENTRY_NORMAL = 1,   /* opaque state-machine command */
	RAFT_ENTRY_NOOP = 2,     /* appended by every new leader; no payload */
	RAFT_ENTRY_CONF = 3,     /* a configuration (raft_conf_decode) + ctx */
};

/* One log entry. In a ready or a decoded message @data points into the
 * raft instance or the message buffer respectively (see their lifetimes). */
struct raft_entry {
	uint64_t term;
	uint64_t index;
	uint8_t type;            /* enum raft_entry_type */
	uint32_t len;
	const uint8_t *data;
};

/* A configuration: the set of voting members (distinct non-zero ids). */
struct raft_config {
	uint32_t n;
	uint64_t ids[RAFT_MAX_PEERS];
};

/* What must be durable before messages are sent. */
struct raft_hardstate {
	uint64_t term;
	uint64_t vote;           /* RAFT_NONE or the id voted for in @term */
	uint64_t commit;
};

struct raft_snapshot_meta {
	uint64_t index;          /* last index covered (0: no snapshot) */
	uint64_t term;           /* term of that entry */
	struct raft_config conf; /* configuration as of @index */
};

enum raft_msg_type {
	RAFT_MSG_APPEND = 1,       /* AppendEntries (also the heartbeat) */
	RAFT_MSG_APPEND_RESP = 2,
	RAFT_MSG_VOTE = 3,         /* RequestVote */
	RAFT_MSG_VOTE_RESP = 4,
	RAFT_MSG_PREVOTE = 5,      /* pre-vote: term is the one it would use */
	RAFT_MSG_PREVOTE_RESP = 6,
	RAFT_MSG_SNAPSHOT = 7,     /* InstallSnapshot (whole blob) */
	RAFT_MSG_TIMEOUT_NOW = 8,  /* leader transfer: "campaign now" */
	RAFT_MSG_TYPE_MAX = 8,
};

/* A message. Which fields matter depends on @type:
 *  APPEND: prev_index, prev_term, commit, entries/n_entries
 *  APPEND_RESP: reject; on success index = last index known to match the
 *      leader; on reject index = the rejected prev_index and hint_index =
 *      where the leader should retry (first index of the conflicting term
 *      or our last index + 1)
 *  VOTE/PREVOTE: index/log_term = candidate's last index and its term;
 *      force = 1 for a leader transfer (voters skip the leader lease)
 *  VOTE_RESP/PREVOTE_RESP: reject
 *  SNAPSHOT: snap (meta), snap_data/snap_len
 */
struct raft_msg {
	uint8_t type;
	uint8_t reject;
	uint8_t force;
	uint64_t from, to, term;
	uint64_t index, log_term;  /* prev_index/prev_term in APPEND */
	uint64_t commit;
	uint64_t hint_index;
	uint32_t n_entries;
	const struct raft_entry *entries;
	struct raft_snapshot_meta snap;
	const uint8_t *snap_data;
	uint32_t snap_len;
};

/* The host's to-do list; see the contract at the top of this file. */
struct raft_ready {
	int hs_changed;
	struct raft_hardstate hs;
	const struct raft_snapshot_meta *snapshot; /* received snapshot, or NULL */
	const uint8_t *snapshot_data;
	uint32_t snapshot_len;
	const struct raft_entry *entries;  /* to persist (indexes consecutive) */
	size_t n_entries;
	const struct raft_entry *committed; /* to apply, in index order */
	size_t n_committed;
	const struct raft_msg *msgs;       /* to send after persisting */
	size_t n_msgs;
};

struct raft_opts {
	uint64_t id;                       /* this node, != RAFT_NONE */
	uint32_t election_ticks;           /* base election timeout (>= 3) */
	uint32_t heartbeat_ticks;          /* < election_ticks */
	uint64_t rand_seed;                /* seeds this node's timeout jitter */
	const struct raft_config *bootstrap; /* founders only, see above */
	/* Deliberately broken modes for checking the simulator's checkers.
	 * Never set outside tests. */
	int unsafe_commit_old_terms;       /* ignore §5.4.2 */
	int unsafe_vote_any_log;           /* ignore the election restriction */
};

/* What a restarting node loaded from its store. The raft instance copies
 * everything; the caller keeps ownership. Entries must be consecutive and
 * start at snap.index + 1. */
struct raft_boot {
	struct raft_hardstate hs;
	struct raft_snapshot_meta snap;
	const void *snap_data;
	size_t snap_len;
	const struct raft_entry *entries;
	size_t n_entries;
};

struct raft;   /* opaque */

/* ---- lifecycle ---------------------------------------------------------- */

/* Create an instance from @opts and persisted state @boot (NULL or zeroed
 * for a brand-new node). Returns 0 and sets *@out, or -EINVAL (bad
 * options, boot state inconsistent: entries not consecutive, commit beyond
 * the log, vote without term), -ENOMEM. */
int raft_create(const struct raft_opts *opts, const struct raft_boot *boot,
                struct raft **out);
/* Free everything. NULL is allowed. Pointers from readies die with it. */
void raft_destroy(struct raft *r);

/* ---- inputs ------------------------------------------------------------- */

/* Advance logical time by one tick: election timeouts (randomised in
 * [election_ticks, 2*election_ticks) from the seeded generator),
 * heartbeats and check-quorum. */
void raft_tick(struct raft *r);

/* Feed one message addressed to this node. Returns 0 (handled or ignored
 * as stale), -EINVAL if the message is malformed for its type (wrong
 * recipient, from == to, entries not consecutive; the host should log it
 * and may drop the connection), -EPROTO if a peer claims to lead this
 * leader's own term (a broken or hostile peer), -ENOMEM (copying entries
 * failed; nothing was acknowledged, the leader will retry). */
int raft_step(struct raft *r, const struct raft_msg *m);

/* Append a NORMAL entry with a copy of @data (@len bytes) to the leader's
 * log. Returns 0 and the entry's index in *@index_out (may be NULL),
 * NORN_ENOTLEADER (forward to raft_leader()), -EMSGSIZE (len >
 * RAFT_MAX_ENTRY_BYTES), NORN_EAGAIN (too many uncommitted entries or the
 * log is full until the host compacts), -ENOMEM. An index is not a
 * promise: the entry may still be lost if leadership changes; the host
 * learns the outcome when an entry at that index is applied. */
int raft_propose(struct raft *r, const void *data, size_t len, uint64_t *index_out);

enum raft_conf_op { RAFT_CONF_ADD = 1, RAFT_CONF_REMOVE = 2 };

/* Propose adding or removing one voter. @ctx (@ctx_len bytes, e.g. the new
 * monmap) rides along in the CONF entry for the host's state machine.
 * Returns 0 (and the index), NORN_ENOTLEADER, NORN_EAGAIN (a configuration
 * change is still uncommitted, or the leader has not yet committed an
 * entry of its term), -EEXIST (add of a member), -ENOENT (remove of a
 * non-member), -E2BIG (RAFT_MAX_PEERS), -EINVAL (id RAFT_NONE, or removing
 * the last member), -EMSGSIZE, -ENOMEM. */
int raft_propose_conf(struct raft *r, enum raft_conf_op op, uint64_t node_id,
                      const void *ctx, size_t ctx_len, uint64_t *index_out);

/* Leader transfer (e.g. before a mon shuts down for maintenance): bring
 * @target's log up to date, then tell it to campaign at once (its votes
 * bypass the leader lease). New proposals get NORN_EAGAIN meanwhile. The
 * transfer is abandoned after one election timeout. Returns 0 (started;
 * success shows as a leader change), NORN_ENOTLEADER, -EINVAL (@target is
 * this node or not a voter). */
int raft_transfer_leader(struct raft *r, uint64_t target);

/* The host took a snapshot of its state machine reflecting every entry up
 * to and including @index (which must be applied, i.e. <= the last
 * committed index handed out and advanced) and hands the blob over.
 * Raft records (index, term, config as of index), keeps a copy of the blob
 * to send to lagging followers and frees its log up to @index. The host
 * then persists it with raft_snapshot_meta() (raft_store_save_snapshot).
 * Returns 0, -EINVAL (index not applied or not beyond the current
 * snapshot), -EMSGSIZE (len > RAFT_MAX_SNAPSHOT_BYTES), -ENOMEM. */
int raft_compact(struct raft *r, uint64_t index, const void *data, size_t len);

/* ---- outputs ------------------------------------------------------------ */

/* Returns 1 and fills @rd if there is anything to persist, send or apply,
 * else 0. Calling it twice without advance returns the same work. */
int raft_ready_get(struct raft *r, struct raft_ready *rd);
/* The host finished the ready @rd (persisted, sent, applied). */
void raft_ready_advance(struct raft *r, const struct raft_ready *rd);

/* ---- queries (const, callable any time) ---------------------------------- */

enum raft_role raft_role(const struct raft *r);
uint64_t raft_id(const struct raft *r);
uint64_t raft_term(const struct raft *r);
/* The leader this node follows in the current term, RAFT_NONE if unknown
 * (forward writes there). */
uint64_t raft_leader(const struct raft *r);
uint64_t raft_commit_index(const struct raft *r);
uint64_t raft_applied_index(const struct raft *r);
uint64_t raft_first_index(const struct raft *r); /* snapshot index + 1 */
uint64_t raft_last_index(const struct raft *r);
/* The latest configuration in the log (in effect now). Pointer into @r. */
const struct raft_config *raft_config(const struct raft *r);
const struct raft_snapshot_meta *raft_snapshot_meta(const struct raft *r);
/* The current snapshot blob (NULL if none). Valid until the next
 * non-const call. */
const uint8_t *raft_snapshot_data(const struct raft *r, uint32_t *len_out);
/* Copy out the entry at @index (data points into @r, valid until the next
 * non-const call). Returns 0 or -ENOENT (compacted or beyond the log). */
int raft_entry_at(const struct raft *r, uint64_t index, struct raft_entry *out);
/* Term of the entry at @index (the snapshot's term at its index, 0 at
 * index 0); -ENOENT if unknown. */
int raft_term_at(const struct raft *r, uint64_t index, uint64_t *term_out);
/* Returns non-zero if @id is a voter in @c. */
int raft_config_has(const struct raft_config *c, uint64_t id);
const char *raft_role_name(enum raft_role role);

/* ---- encodings ---------------------------------------------------------- */

struct enc;
struct dec;

/* Wire format of a message: u32 magic "NRFT", a versioned struct, u32
 * crc32c of everything before it. Appends to @e; returns 0 or the
 * encoder's error (-ENOMEM, -EMSGSIZE if larger than RAFT_MAX_MSG_BYTES). */
int raft_msg_encode(const struct raft_msg *m, struct enc *e);

/* Decode exactly @len bytes. Entries are written to @ents (capacity
 * @ents_cap, RAFT_MAX_APPEND_ENTRIES is always enough) and m->entries
 * points there; entry and snapshot data point into @buf, so @buf must
 * outlive the message. Validates magic, crc, version, type, counts,
 * lengths, id ranges and entry consecutiveness. Returns 0,
 * NORN_ECORRUPT, NORN_ECRC or NORN_EVERSION; *@m is zeroed on error. */
int raft_msg_decode(const void *buf, size_t len, struct raft_msg *m,
                    struct raft_entry *ents, uint32_t ents_cap);
/* The same without the magic/crc framing (the body the crc covers): used
 * by the fuzzer to reach past the crc. */
int raft_msg_decode_body(struct dec *d, struct raft_msg *m,
                         struct raft_entry *ents, uint32_t ents_cap);

/* Configurations and CONF entry payloads. */
void raft_config_encode(struct enc *e, const struct raft_config *c);
/* Validates n <= RAFT_MAX_PEERS, ids non-zero and distinct. */
void raft_config_decode(struct dec *d, struct raft_config *c);
/* Split a CONF entry's payload into the configuration and the host's
 * @ctx blob (pointer into @data). Returns 0 or NORN_ECORRUPT. */
int raft_conf_entry_decode(const uint8_t *data, size_t len, struct raft_config *c,
                           const uint8_t **ctx, size_t *ctx_len);

#endif
