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

#endif
