/* Self-managed snapshots in norn-osd: clone on first write, reads as of a
 * snapshot, rollback, and trimming of clones no snapshot needs.
 *
 * Model (the client side is libnorn's write snap context: seq = newest
 * snapshot id the writer knows, snaps = the snapshots that still exist,
 * newest first). Every object ("head") may carry a snapset in its xattr
 * SNAP_XATTR: seq (the newest snap context seq that wrote it) and a list of
 * clones, each with its id (the snap context seq when it was made), the
 * head's size then, and the snapshot ids it stands for.
 *
 *   - A write whose snap seq is newer than the snapset's first clones the
 *     head to "\xff" "c.<oid>.<id hex16>" (if the head exists and some
 *     existing snapshot lies in (snapset.seq, seq]), then applies the
 *     steps; the snapset is updated in the same store transaction (and the
 *     replicas do exactly the same: the REPOP carries the snap context).
 *   - A read as of snapshot S uses the head when S > snapset.seq (nothing
 *     changed since S), else the clone whose snapshot list holds S; no
 *     such clone means the object did not exist at S (-ENOENT).
 *   - Deleting a head that has clones keeps them: the snapset moves to a
 *     "snapdir" object "\xff" "d.<oid>" until the head is written again or
 *     the last clone goes.
 *   - ROLLBACK(S) makes the head a copy of its state at S (a clone, the
 *     unchanged head, or deleted if it did not exist at S).
 *   - Trim: a write whose snap context is at least as new as the snapset
 *     drops, from every clone, the snapshot ids <= its seq that are not in
 *     its snaps (removed snapshots), and removes clones left with none. A
 *     ROLLBACK to snap 0 is a no-op step that does just that: `norn vol
 *     snap rm` sends it to every data object so removed snapshots free
 *     their clones at once, also those of deleted heads (the step then
 *     leaves the head deleted and its snapdir holds what is left).
 *
 * Internal objects start with byte 0xff and are hidden from PG listings.
 */
#ifndef NORN_OSD_SNAP_H
#define NORN_OSD_SNAP_H

#include <stddef.h>
#include <stdint.h>

#include "common/proto_osd.h"
#include "osd/store/store.h"

#define SNAP_XATTR "_ss"
#define SNAP_MAX_CLONES 256u          /* clones per object */
#define SNAP_MAX_IDS 4096u            /* snapshot ids over all clones of one object */
#define SNAP_HIDDEN_BYTE 0xff

struct snap_clone {
	uint64_t id;
	uint64_t size;
	uint32_t first;                   /* index of its first id in snapset.ids */
	uint32_t n;
};

struct snapset {
	uint64_t seq;
	uint32_t n_clones;
	uint32_t n_ids;
	struct snap_clone clones[SNAP_MAX_CLONES];   /* oldest first */
	uint64_t ids[SNAP_MAX_IDS];
};

/* Encode @ss (versioned) into @e. */
void snapset_encode(struct enc *e, const struct snapset *ss);
/* Decode and validate. Returns 0, NORN_ECORRUPT or NORN_EVERSION. */
int snapset_decode(struct snapset *ss, const void *buf, size_t len);

/* The clone / snapdir names of @oid into @out (STORE_OID_MAX + 1 bytes).
 * Return 0 or -ENAMETOOLONG. */
int snap_clone_name(char *out, const char *oid, uint64_t id);
int snap_dir_name(char *out, const char *oid);
/* 1 if @name is an internal (hidden) object. */
int snap_is_hidden(const char *name);

/* Drop hidden names from a listing (they sort last). */
void snap_filter_names(struct store_names *names);

/* Write path, run identically by the primary and the replicas around the
 * resolved steps of one transaction:
 *   rc = snap_write_begin(store, t, cid, oid, m, &st);   (clone, trim)
 *   if (!rc) rc = <apply the steps>;
 *   rc = snap_write_end(t, cid, oid, deleted_at_end, st, rc); (snapset)
 * @m supplies the snap context. *@st is NULL when there is nothing to do;
 * snap_write_end() always frees it and returns @rc if non-zero. */
struct snap_wstate;
int snap_write_begin(struct store *s, struct store_txn *t, const char *cid, const char *oid,
                     const struct osd_op_msg *m, struct snap_wstate **st);
int snap_write_end(struct store_txn *t, const char *cid, const char *oid, int deleted_at_end,
                   struct snap_wstate *st, int rc);

/* Resolve a ROLLBACK step to snapshot @snapid (the step's off) on the
 * primary: *@x becomes the resolved step (code 0: nothing to do;
 * OSD_OP_ROLLBACK with name = the clone in @namebuf (STORE_OID_MAX + 1
 * bytes, or an empty name: no data change, the step only applies the snap
 * context); OSD_OP_DELETE when the object did not exist at @snapid).
 * *@exists and *@size are updated. Returns 0, -ENOENT (@snapid is not in
 * the op's snap context) or a store error. */
int snap_rollback_resolve(struct store *s, const char *cid, const char *oid,
                          const struct osd_op_msg *m, uint64_t snapid, int *exists,
                          uint64_t *size, struct osd_op_step *x, char *namebuf);
/* Apply a resolved ROLLBACK step (primary and replicas). */
int snap_apply_rollback(struct store_txn *t, const char *cid, const char *oid,
                        const struct osd_op_step *x);

/* Reads: for @read_snap != 0, replace @oid (a buffer of STORE_OID_MAX + 1
 * bytes) by the object that holds its state as of that snapshot. Returns
 * 0 or -ENOENT. An empty @oid (PG ops) is left alone. */
int snap_read_redirect(struct store *s, const char *cid, char *oid, uint64_t read_snap);

#endif
