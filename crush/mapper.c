/* CRUSH mapping: rules over the bucket tree, straw2 selection.
 *
 * How a device is chosen. Straw2 gives every candidate d a straw
 *     cost(d) = -ln(U_d) / w_d,   U_d = (hash(x, d, r) + 1) / 2^32,
 * which is an exponential random variable of rate w_d; the smallest of
 * independent exponentials is d with probability w_d / sum(w). Ceph draws
 * one straw per child at every level of the tree (root picks a host, the
 * host picks a disk). That has a cost when one disk changes weight: its
 * host's weight changes too, so the root-level draw moves placements off
 * that host at random, including ones on the unchanged sibling disks, and a
 * disk removed from a 2-disk host moves about 1.5 times the data that had
 * to move.
 *
 * Norn instead runs one race among all devices below the rule's TAKE
 * bucket and lets a failure domain (an ancestor of the requested type) win
 * when its best device wins. The minimum of the devices' exponentials
 * inside a domain is itself exponential with the domain's total weight, so
 * domains are still picked in proportion to their weights, and within the
 * winning domain the device with the best straw is the leaf. But now a
 * device's straw depends only on (x, device, r, its own weight): a change
 * to one device only changes the placements that device wins or loses,
 * which is the minimum possible movement. The price is that a mapping
 * visits every device under TAKE (O(devices), not O(depth x fan-out));
 * a straw is one hash, one table logarithm and one 64x64->128 multiply
 * (the reciprocal weight is kept in item_inv[]), about 10 ns.
 *
 * firstn (replicas): a single race with r = 0. The result is the best
 * `numrep` distinct domains ordered by their best straw; out devices (per
 * the caller's reweight vector) simply do not take part. Removing or
 * outing a device replaces it in the sets it was in and nothing else, and
 * the primary (first) only changes where the primary itself changed.
 *
 * indep (erasure codes): position p must keep its device while that
 * device stays in, whatever happens to the others. Phase 1 ignores the
 * in/out vector: each position p in order runs its own race (r = p) among
 * devices whose domain no earlier position holds. Phase 2 replaces, in
 * order, each position whose device is out, with a fresh race (r = p +
 * numrep) avoiding every other position's phase-1 domain and the earlier
 * replacements. So marking a device out (or in again) only changes the
 * positions it held. Editing the map itself (removing a device, changing
 * a crush weight, adding a host) changes phase 1: a position whose new
 * winner is in another domain can shift the later positions, which costs
 * 1.3-1.6 x the minimum movement in the tests (firstn stays at 1.0 x).
 * No step retries: each race is one pass over the devices.
 *
 * The "in/out reweight" w in the caller's vector is applied after the
 * straw: a device keeps the placement when hash(x, d) & 0xffff < w, so a
 * device at 0.5 sheds about half of its placements, and only those move.
 *
 * No allocation, no globals, no floating point: the scratch space holds
 * the candidate lists and the working vectors between steps; the tree
 * walk uses a fixed-size stack (the builder bounds the tree depth).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include "crush/crush_int.h"

struct cand {
	crush__u128 cost;
	int32_t leaf;    /* the device whose straw this is */
	int32_t domain;  /* its failure domain: ancestor of the step's type */
};

#define SCRATCH_ALIGN 16u

size_t crush_scratch_size(const struct crush_map *map, int result_max)
{
	(void)map;
	if (result_max < 1 || result_max > (int)CRUSH_MAX_RESULT)
		return 0;
	return SCRATCH_ALIGN + (size_t)result_max * sizeof(struct cand) +
	       4u * (size_t)result_max * sizeof(int32_t);
}

/* ---------------------------------------------------------------- walk */

struct walk_frame {
	const struct crush_bucket *b;
	uint32_t i;
	int32_t domain;  /* CRUSH_ITEM_NONE until a bucket of the type is entered */
};

struct walk {
	const struct crush_map *map;
	int type;
	unsigned depth;
	struct walk_frame st[CRUSH_MAX_DEPTH + 1];
};

static inline const struct crush_bucket *get_bucket(const struct crush_map *map, int id)
{
	if (id >= 0 || id < -(int64_t)map->max_buckets)
		return NULL;
	return map->buckets[-1 - id];
}

static inline void walk_init(struct walk *w, const struct crush_map *map,
                             const struct crush_bucket *start, int type)
{
	w->map = map;
	w->type = type;
	w->depth = 1;
	w->st[0].b = start;
	w->st[0].i = 0;
	w->st[0].domain = CRUSH_ITEM_NONE;
}

/* Next device with a non-zero weight and a failure domain below the start
 * bucket, depth first in item order. Returns 0 when the walk is done. */
static inline int walk_next(struct walk *w, int32_t *leaf, uint64_t *inv, int32_t *domain)
{
	while (w->depth) {
		struct walk_frame *f = &w->st[w->depth - 1];
		if (f->i >= f->b->size) {
			w->depth--;
			continue;
		}
		uint32_t i = f->i++;
		if (!f->b->item_weights[i])
			continue;
		int32_t it = f->b->items[i];
		if (it >= 0) {
			int32_t dom = w->type == 0 ? it : f->domain;
			if (dom == CRUSH_ITEM_NONE)
				continue;
			*leaf = it;
			*inv = f->b->item_inv[i];
			*domain = dom;
			return 1;
		}
		const struct crush_bucket *cb = get_bucket(w->map, it);
		if (!cb || w->depth >= CRUSH_MAX_DEPTH + 1)
			continue; /* cannot happen in a map the builder made */
		int32_t dom = f->domain;
		if (dom == CRUSH_ITEM_NONE && w->type > 0 && cb->type == w->type)
			dom = cb->id;
		struct walk_frame *nf = &w->st[w->depth++];
		nf->b = cb;
		nf->i = 0;
		nf->domain = dom;
	}
	return 0;
}

/* Is this device out for x (per the caller's 16.16 reweight vector)? */
static inline int is_out(const uint32_t *weights, int weight_max, int32_t dev, uint32_t x)
{
	if (dev >= weight_max)
		return 1;
	uint32_t w = weights[dev];
	if (w >= CRUSH_WEIGHT_ONE)
		return 0;
	if (w == 0)
		return 1;
	return (crush__hash2(x, (uint32_t)dev) & 0xffffu) >= w;
}

/* ---------------------------------------------------------------- firstn */

/* The best `numrep` distinct domains below `start` by their best in
 * device's straw, best first, into out[]. Returns how many. `top` holds
 * numrep candidates sorted by cost, one per domain. */
static int choose_firstn(const struct crush_map *map, const struct crush_bucket *start,
                         uint32_t x, int numrep, int type, int leaf_out,
                         const uint32_t *weights, int weight_max, struct cand *top, int32_t *out)
{
	struct walk w;
	int32_t leaf, dom;
	uint64_t inv;
	int n = 0;

	walk_init(&w, map, start, type);
	while (walk_next(&w, &leaf, &inv, &dom)) {
		uint32_t u = crush__hash3(x, (uint32_t)leaf, 0);
		if (n == numrep && (crush__u128)crush__neglog2_lower(u) * inv >= top[n - 1].cost)
			continue; /* cannot beat the worst of a full list */
		crush__u128 cost = (crush__u128)crush__neglog2(u) * inv;
		if (n == numrep && cost >= top[n - 1].cost)
			continue;
		int k = 0;
		while (k < n && top[k].domain != dom)
			k++;
		if (k < n && cost >= top[k].cost)
			continue; /* its domain already has a better device */
		if (is_out(weights, weight_max, leaf, x))
			continue;
		if (k < n) {          /* better device for a listed domain */
			memmove(&top[k], &top[k + 1], sizeof(top[0]) * (size_t)(n - k - 1));
			n--;
		} else if (n == numrep) {
			n--;          /* the worst domain drops out */
		}
		int pos = n;
		while (pos > 0 && top[pos - 1].cost > cost) {
			top[pos] = top[pos - 1];
			pos--;
		}
		top[pos].cost = cost;
		top[pos].leaf = leaf;
		top[pos].domain = dom;
		n++;
	}
	for (int k = 0; k < n; k++)
		out[k] = leaf_out ? top[k].leaf : top[k].domain;
	return n;
}

/* ---------------------------------------------------------------- indep */

/* Position p's race (r = p + numrep * round) among devices whose domain
 * is not in blocked[0..nblocked), skipping out devices if skip_out. The
 * winner goes to *best; returns 0 if no device qualifies. */
static int indep_race(const struct crush_map *map, const struct crush_bucket *start,
                      uint32_t x, int type, uint32_t r, const int32_t *blocked, int nblocked,
                      int skip_out, const uint32_t *weights, int weight_max, struct cand *best)
{
	struct walk w;
	int32_t leaf, dom;
	uint64_t inv;
	int have = 0;

	walk_init(&w, map, start, type);
	while (walk_next(&w, &leaf, &inv, &dom)) {
		uint32_t u = crush__hash3(x, (uint32_t)leaf, r);
		if (have && (crush__u128)crush__neglog2_lower(u) * inv >= best->cost)
			continue; /* cannot beat the best so far */
		crush__u128 cost = (crush__u128)crush__neglog2(u) * inv;
		if (have && cost >= best->cost)
			continue;
		int taken = 0;
		for (int q = 0; q < nblocked && !taken; q++)
			taken = blocked[q] == dom;
		if (taken || (skip_out && is_out(weights, weight_max, leaf, x)))
			continue;
		best->cost = cost;
		best->leaf = leaf;
		best->domain = dom;
		have = 1;
	}
	return have;
}

/* Fill numrep positions out[0..numrep) below `start`; a position that
 * cannot be filled (fewer domains than positions) is CRUSH_ITEM_NONE.
 * odom[] and rdom[] hold numrep domains each, best one candidate.
 * Phase 1 ignores the caller's in/out vector: position p, in order, takes
 * the winner of its own race among devices whose domain no earlier
 * position holds. Phase 2 (leaf outputs only) replaces, in order, each
 * position whose device is out, with a fresh race that avoids every other
 * position's phase-1 domain and the earlier replacements' domains. So
 * the in/out state of a device never changes another position's device,
 * and when a device leaves the map, the positions after its own change
 * only if its replacement is in another domain. Each race is one pass
 * over the devices: no retries are needed. */
static void choose_indep(const struct crush_map *map, const struct crush_bucket *start,
                         uint32_t x, int numrep, int type, int leaf_out,
                         const uint32_t *weights, int weight_max, struct cand *best,
                         int32_t *out, int32_t *odom, int32_t *rdom)
{
	int n = 0;   /* domains blocked so far in odom[] */

	for (int p = 0; p < numrep; p++) {
		out[p] = CRUSH_ITEM_NONE;
		rdom[p] = CRUSH_ITEM_NONE;
		if (indep_race(map, start, x, type, (uint32_t)p, odom, n, 0, NULL, 0, best)) {
			out[p] = best->leaf;
			odom[n++] = best->domain;
		} else {
			odom[n++] = CRUSH_ITEM_NONE;
		}
	}
	if (!leaf_out) {
		for (int p = 0; p < numrep; p++)
			if (out[p] != CRUSH_ITEM_NONE)
				out[p] = odom[p];
		return;
	}
	for (int p = 0; p < numrep; p++) {
		if (out[p] == CRUSH_ITEM_NONE || !is_out(weights, weight_max, out[p], x))
			continue;
		/* blocked: all phase-1 domains but p's own, then replacements so
		 * far; rdom[] is laid out right after odom[] in the scratch */
		int32_t own = odom[p];
		odom[p] = CRUSH_ITEM_NONE;
		out[p] = CRUSH_ITEM_NONE;
		if (indep_race(map, start, x, type, (uint32_t)(p + numrep), odom, 2 * numrep, 1,
			       weights, weight_max, best)) {
			out[p] = best->leaf;
			rdom[p] = best->domain;
		}
		odom[p] = own;
	}
}

/* ---------------------------------------------------------------- rules */

int crush_do_rule(const struct crush_map *map, int ruleno, uint32_t x, int *result,
                  int result_max, const uint32_t *weights, int weight_max, void *scratch)
{
	if (!map || !result || !scratch || result_max < 1 || result_max > (int)CRUSH_MAX_RESULT ||
	    weight_max < 0 || (weight_max > 0 && !weights))
		return -EINVAL;
	if (ruleno < 0 || (uint32_t)ruleno >= map->max_rules || !map->rules[ruleno])
		return -EINVAL;
	const struct crush_rule *rule = map->rules[ruleno];

	uintptr_t base = ((uintptr_t)scratch + SCRATCH_ALIGN - 1) & ~(uintptr_t)(SCRATCH_ALIGN - 1);
	struct cand *cands = (struct cand *)base;
	int32_t *w = (int32_t *)(cands + result_max);
	int32_t *o = w + result_max;
	int32_t *odom = o + result_max; /* 2 x result_max: phase-1 and replacement domains */
	int wsize = 0, rlen = 0;

	for (uint32_t s = 0; s < rule->nsteps && s < CRUSH_MAX_RULE_STEPS; s++) {
		const struct crush_rule_step *st = &rule->steps[s];
		switch (st->op) {
		case CRUSH_OP_TAKE:
			wsize = 0;
			if (crush_item_exists(map, st->arg1))
				w[wsize++] = st->arg1;
			break;
		case CRUSH_OP_CHOOSE_FIRSTN:
		case CRUSH_OP_CHOOSELEAF_FIRSTN:
		case CRUSH_OP_CHOOSE_INDEP:
		case CRUSH_OP_CHOOSELEAF_INDEP: {
			int firstn = st->op == CRUSH_OP_CHOOSE_FIRSTN || st->op == CRUSH_OP_CHOOSELEAF_FIRSTN;
			int leaf = st->op == CRUSH_OP_CHOOSELEAF_FIRSTN || st->op == CRUSH_OP_CHOOSELEAF_INDEP ||
				   st->arg2 == 0;
			int numrep = st->arg1 > 0 ? st->arg1 : result_max + st->arg1;
			int type = st->arg2;
			int osize = 0;
			if (type < 0 || type >= (int)CRUSH_MAX_TYPES)
				numrep = 0;
			for (int j = 0; j < wsize && numrep > 0; j++) {
				int room = result_max - osize;
				if (room <= 0)
					break;
				int nr = numrep < room ? numrep : room;
				const struct crush_bucket *b = w[j] < 0 ? get_bucket(map, w[j]) : NULL;
				if (firstn) {
					if (b)
						osize += choose_firstn(map, b, x, nr, type, leaf, weights,
								       weight_max, cands, o + osize);
				} else if (b) {
					choose_indep(map, b, x, nr, type, leaf, weights, weight_max,
						     cands, o + osize, odom, odom + nr);
					osize += nr;
				} else {
					/* keep positions: an unplaced parent gives unplaced children */
					for (int k = 0; k < nr; k++)
						o[osize++] = CRUSH_ITEM_NONE;
				}
			}
			int32_t *tmp = w;
			w = o;
			o = tmp;
			wsize = osize;
			break;
		}
		case CRUSH_OP_EMIT:
			for (int j = 0; j < wsize && rlen < result_max; j++)
				result[rlen++] = w[j];
			wsize = 0;
			break;
		default:
			break;
		}
	}
	return rlen;
}
