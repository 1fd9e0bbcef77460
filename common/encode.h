/* Encoding and decoding: the one way bytes cross a process boundary.
 *
 * Everything Norn puts on the wire or on disk goes through struct enc and
 * struct dec. Integers are explicit little-endian, loaded with memcpy
 * (never a struct cast onto bytes). The decoder is a cursor that checks
 * the remaining length before every read and carries a sticky error: after
 * the first failure every further read returns zeros/NULL and dec.err stays
 * set, so a decoder can read a whole record and check dec_error() once.
 *
 * Strings and blobs are a u32 length followed by the bytes. Lists and maps
 * are a u32 count followed by the items; decoders must bound counts against
 * the bytes left (dec_count() does) so a hostile count cannot make them
 * allocate gigabytes.
 *
 * Versioned structs: enc_struct_begin() writes (u8 version, u8 compat,
 * u32 length) and enc_struct_end() patches the length. A reader calls
 * dec_struct_begin() with the newest version it understands; if the
 * writer's compat version is newer than that, the struct is refused
 * (NORN_EVERSION). Otherwise the reader decodes the fields it knows and
 * dec_struct_end() skips whatever newer fields follow.
 */
#ifndef NORN_ENCODE_H
#define NORN_ENCODE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Little-endian loads and stores on unaligned memory. */
static inline void norn_put_le16(void *p, uint16_t v) { uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) }; memcpy(p, b, 2); }
static inline void norn_put_le32(void *p, uint32_t v) { uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) }; memcpy(p, b, 4); }
static inline void norn_put_le64(void *p, uint64_t v) { norn_put_le32(p, (uint32_t)v); norn_put_le32((uint8_t *)p + 4, (uint32_t)(v >> 32)); }
static inline uint16_t norn_get_le16(const void *p) { uint8_t b[2]; memcpy(b, p, 2); return (uint16_t)(b[0] | b[1] << 8); }
static inline uint32_t norn_get_le32(const void *p) { uint8_t b[4]; memcpy(b, p, 4); return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24; }
static inline uint64_t norn_get_le64(const void *p) { return (uint64_t)norn_get_le32(p) | (uint64_t)norn_get_le32((const uint8_t *)p + 4) << 32; }

/* ---- encoder ---------------------------------------------------------- */

struct enc {
	uint8_t *buf;   /* owned; grows with realloc unless fixed */
	size_t len;     /* bytes written */
	size_t cap;
	int err;        /* sticky: -ENOMEM, or -ENOSPC for a fixed buffer */
	int fixed;      /* buffer is caller-owned and must not grow */
};

/* Start an encoder that owns a growing heap buffer (initial capacity hint
 * @cap, 0 for a default). Free with enc_free() or take the buffer with
 * enc_take(). */
void enc_init(struct enc *e, size_t cap);
/* Start an encoder over caller-owned memory that never grows; writing past
 * @cap sets err = -ENOSPC. */
void enc_init_fixed(struct enc *e, void *buf, size_t cap);
void enc_free(struct enc *e);
/* Hand the buffer to the caller (who frees it with free()); @len_out gets
 * the length. Returns NULL if the encoder has an error. Resets @e. */
uint8_t *enc_take(struct enc *e, size_t *len_out);
static inline int enc_error(const struct enc *e) { return e->err; }
void enc_reset(struct enc *e);

/* Reserve @n bytes and return a pointer to them (NULL on error). */
void *enc_reserve(struct enc *e, size_t n);
void enc_bytes(struct enc *e, const void *p, size_t n);
void enc_u8(struct enc *e, uint8_t v);
void enc_u16(struct enc *e, uint16_t v);
void enc_u32(struct enc *e, uint32_t v);
void enc_u64(struct enc *e, uint64_t v);
static inline void enc_s32(struct enc *e, int32_t v) { enc_u32(e, (uint32_t)v); }
static inline void enc_s64(struct enc *e, int64_t v) { enc_u64(e, (uint64_t)v); }
/* u32 length + bytes */
void enc_blob(struct enc *e, const void *p, size_t n);
/* u32 length + bytes of a NUL-terminated string (the NUL is not written) */
void enc_str(struct enc *e, const char *s);

/* Begin a versioned struct; returns a token for enc_struct_end(). */
size_t enc_struct_begin(struct enc *e, uint8_t version, uint8_t compat);
void enc_struct_end(struct enc *e, size_t token);

/* ---- decoder ---------------------------------------------------------- */

struct dec {
	const uint8_t *p;
	size_t len;     /* end of the current region */
	size_t off;
	int err;        /* sticky: NORN_ECORRUPT (short/invalid) or NORN_EVERSION */
};

void dec_init(struct dec *d, const void *buf, size_t len);
static inline int dec_error(const struct dec *d) { return d->err; }
static inline size_t dec_left(const struct dec *d) { return d->err ? 0 : d->len - d->off; }
/* Mark the decoder failed with @err (the first error sticks). */
void dec_fail(struct dec *d, int err);

/* Returns a pointer to the next @n bytes inside the buffer and advances,
 * or NULL (and sets the error) if fewer remain. */
const void *dec_bytes(struct dec *d, size_t n);
void dec_copy(struct dec *d, void *out, size_t n);
uint8_t dec_u8(struct dec *d);
uint16_t dec_u16(struct dec *d);
uint32_t dec_u32(struct dec *d);
uint64_t dec_u64(struct dec *d);
static inline int32_t dec_s32(struct dec *d) { return (int32_t)dec_u32(d); }
static inline int64_t dec_s64(struct dec *d) { return (int64_t)dec_u64(d); }
/* A u32-length blob; returns a pointer into the buffer (valid as long as
 * the buffer) and sets *len_out, or NULL on error. Zero length returns a
 * non-NULL pointer. */
const void *dec_blob(struct dec *d, size_t *len_out);
/* A string copied into @out (NUL-terminated). Fails (NORN_ECORRUPT) if it
 * does not fit in @cap bytes including the NUL or contains a NUL byte. */
void dec_str(struct dec *d, char *out, size_t cap);
/* A u32 count of items each at least @min_item_bytes long (>= 1); fails if
 * the count exceeds @max or could not fit in the bytes left. */
uint32_t dec_count(struct dec *d, uint32_t max, size_t min_item_bytes);

/* Versioned struct: reads (version, compat, length), fails with
 * NORN_EVERSION if compat > @max_version, and narrows the decoder to the
 * struct's body. *@version_out gets the writer's version. Returns a token
 * for dec_struct_end(), which skips unread newer fields and restores the
 * outer region. */
struct dec_struct { size_t outer_len; size_t end; };
void dec_struct_begin(struct dec *d, uint8_t max_version, uint8_t *version_out,
                      struct dec_struct *tok);
void dec_struct_end(struct dec *d, const struct dec_struct *tok);

#endif
