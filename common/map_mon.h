/* The monitor map (monmap), plus the small value types every cluster map
 * shares: network addresses (host:port) and the cluster fsid (a uuid).
 *
 * The monmap lists the monitors that form the Raft quorum: a name, an
 * address and a rank for each. Ranks are the position in the list (0..n-1)
 * and are renumbered when a mon is removed, so every node that holds the
 * same epoch agrees on them. The mon is the only writer; daemons and
 * clients bootstrap from the `mon_host` config string
 * (monmap_parse_mon_host) and then fetch the real map.
 *
 * Encoding (monmap_encode): u32 magic "NMON", a versioned struct, then a
 * crc32c of everything before it. Decoding validates everything (names,
 * addresses, counts, uniqueness) and never trusts a length.
 */
#ifndef NORN_MAP_MON_H
#define NORN_MAP_MON_H

#include <stddef.h>
#include <stdint.h>
#include "common/encode.h"

/* ---- addresses -------------------------------------------------------- */

#define MAP_HOST_MAX 64        /* bytes of a host string, including the NUL */
#define MAP_ADDR_STR_MAX 72    /* buffer for "[host]:port" + NUL */

/* A network address as text host + port. The host is an IPv4 dotted quad,
 * an IPv6 literal (without brackets) or a DNS name; resolution is the
 * messenger's business, the maps only carry it. An all-zero addr (empty
 * host, port 0) means "no address". */
struct map_addr {
	char host[MAP_HOST_MAX];
	uint16_t port;
};

/* Parse "host:port", "[v6addr]:port", or, if @default_port is non-zero,
 * also a bare "host" / "[v6addr]" / "v6addr" (which gets @default_port).
 * @len is the length of @s (it need not be NUL-terminated).
 * Returns 0, or -EINVAL (empty, bad characters, host too long, port missing
 * or not in 1..65535). @out is zeroed on error. */
int map_addr_parse(const char *s, size_t len, uint16_t default_port, struct map_addr *out);

/* Format as "host:port" (IPv6 hosts in brackets) into @buf (@cap bytes,
 * MAP_ADDR_STR_MAX is always enough). Returns the length written, or
 * -ENOSPC if it did not fit (@buf then holds a truncated NUL-terminated
 * string). */
int map_addr_format(const struct map_addr *a, char *buf, size_t cap);

/* Returns non-zero if @a is a valid, non-empty address (host characters
 * legal, port non-zero). */
int map_addr_valid(const struct map_addr *a);
/* Returns non-zero if the two addresses are equal. */
int map_addr_eq(const struct map_addr *a, const struct map_addr *b);

/* Encode/decode an address: str host, u16 port. The decoder accepts an
 * all-zero (empty) address or a valid one, anything else fails the
 * decoder with NORN_ECORRUPT. */
void map_addr_encode(struct enc *e, const struct map_addr *a);
void map_addr_decode(struct dec *d, struct map_addr *a);

/* ---- framing (internal to the map files) ----------------------------- */

/* Every map encoding is framed as: u32 magic, body, u32 crc32c of the magic
 * and body. map__frame_begin() writes the magic and returns the frame's
 * start offset for map__frame_end(), which appends the crc. */
size_t map__frame_begin(struct enc *e, uint32_t magic);
void map__frame_end(struct enc *e, size_t start);
/* Check the magic (NORN_ECORRUPT) and crc (NORN_ECRC) of a frame that is
 * exactly @len bytes, and point @body at the bytes between them. */
int map__frame_open(const void *buf, size_t len, uint32_t magic, struct dec *body);

/* End a versioned struct opened with dec_struct_begin(): a struct written
 * at a version this reader knows (@version <= @known) must have been read
 * to its end (unread bytes: NORN_ECORRUPT), so accepted encodings are
 * canonical; newer versions' extra fields are skipped. */
void map__struct_end(struct dec *d, const struct dec_struct *tok, uint8_t version, uint8_t known);

/* Text output into a growing encoder used as a byte buffer (no NUL
 * appended): printf-style, and a JSON string literal with escaping. */
void map__printf(struct enc *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void map__json_str(struct enc *e, const char *s);

/* ---- uuids ------------------------------------------------------------ */

#define MAP_UUID_LEN 16
#define MAP_UUID_STR_LEN 37    /* 36 characters + NUL */

/* Format 16 bytes as a lower-case 8-4-4-4-12 uuid into @out. */
void map_uuid_format(const uint8_t uuid[MAP_UUID_LEN], char out[MAP_UUID_STR_LEN]);
/* Parse an 8-4-4-4-12 uuid (either case). Returns 0 or -EINVAL. */
int map_uuid_parse(const char *s, uint8_t uuid[MAP_UUID_LEN]);
/* Returns non-zero if all 16 bytes are zero. */
int map_uuid_is_zero(const uint8_t uuid[MAP_UUID_LEN]);

/* ---- monmap ----------------------------------------------------------- */

#define MONMAP_MAX_MONS 16     /* Raft quorums beyond this are pointless */
#define MONMAP_NAME_MAX 32     /* bytes of a mon name including the NUL */
#define MONMAP_DEFAULT_PORT 6789
#define MONMAP_MAGIC 0x4e4f4d4eu  /* "NMON" little-endian */

struct monmap_mon {
	char name[MONMAP_NAME_MAX];   /* "a", "b", ... (the entity is mon.<name>) */
	struct map_addr addr;
	uint32_t rank;                /* == index in monmap.mons */
};

/* Plain value type: copy with struct assignment, nothing to free. */
struct monmap {
	uint64_t epoch;               /* 0 = a bootstrap map not yet from a mon */
	uint8_t fsid[MAP_UUID_LEN];
	uint64_t created_ns;          /* wall clock, set by the mon */
	uint64_t modified_ns;
	uint32_t n_mons;
	struct monmap_mon mons[MONMAP_MAX_MONS];
};

/* Zero the map (epoch 0, no mons). */
void monmap_init(struct monmap *m);

/* Append a mon with rank n_mons. Names are [A-Za-z0-9_-]+ up to
 * MONMAP_NAME_MAX-1 bytes. Returns 0, -EINVAL (bad name or address),
 * -EEXIST (name or address already present) or -E2BIG (MONMAP_MAX_MONS).
 * Does not bump the epoch (the mon does that when it commits). */
int monmap_add(struct monmap *m, const char *name, const struct map_addr *addr);

/* Remove the mon @name and renumber the ranks after it. Returns 0 or
 * -ENOENT. */
int monmap_remove(struct monmap *m, const char *name);

/* Lookup by name or by rank; NULL if absent. The pointer is into @m. */
const struct monmap_mon *monmap_find(const struct monmap *m, const char *name);
const struct monmap_mon *monmap_find_rank(const struct monmap *m, uint32_t rank);

/* Build a bootstrap monmap (epoch 0, zero fsid) from a mon_host string:
 * comma- (or space-/semicolon-) separated items, each "name=addr" or a bare
 * addr; bare addresses are named "a", "b", ... by their position (0 -> a).
 * Addresses without a port get MONMAP_DEFAULT_PORT.
 * Returns 0, or -EINVAL (empty, malformed item, duplicate name/address),
 * -E2BIG (too many). @m is initialised either way. */
int monmap_parse_mon_host(struct monmap *m, const char *mon_host);

/* Append the encoding of @m to @e. Returns 0 or the encoder's error. */
int monmap_encode(const struct monmap *m, struct enc *e);

/* Decode exactly @len bytes into @m. Returns 0, NORN_ECORRUPT (truncated,
 * trailing bytes, bad magic, invalid content), NORN_ECRC or NORN_EVERSION.
 * On error @m is left initialised (empty). */
int monmap_decode(struct monmap *m, const void *buf, size_t len);

/* Append a JSON object {epoch, fsid, created_ns, modified_ns, mons: [{rank,
 * name, addr}]} to @out (a growing encoder used as a text buffer; no NUL).
 * Returns 0 or the encoder's error. */
int monmap_dump_json(const struct monmap *m, struct enc *out);

#endif
