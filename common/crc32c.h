/* CRC-32C (Castagnoli) over ISA-L's hardware-accelerated crc32_iscsi.
 *
 * norn_crc32c(0, buf, len) is the standard CRC-32C of buf (check value
 * 0xE3069283 for "123456789"). To checksum data in pieces, pass the
 * previous result as @crc: norn_crc32c(norn_crc32c(0, a, n), b, m) equals
 * the CRC of a||b.
 */
#ifndef NORN_CRC32C_H
#define NORN_CRC32C_H
#include <stddef.h>
#include <stdint.h>

uint32_t norn_crc32c(uint32_t crc, const void *buf, size_t len);

/* The CRC of a||b from crc_a = CRC(a), crc_b = CRC(b) and len_b = |b|,
 * without touching the data: O(log len_b) arithmetic on the polynomial. */
uint32_t norn_crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b);

/* The inverse: CRC(b) from crc_ab = CRC(a||b), crc_a = CRC(a) and |b|.
 * Lets a receiver that verified a whole payload know the CRC of its tail
 * (say, the data of a write it forwards) after checksumming only the head. */
uint32_t norn_crc32c_tail(uint32_t crc_ab, uint32_t crc_a, uint64_t len_b);

#endif
