/* CRC-32C through ISA-L. ISA-L's crc32_iscsi neither pre- nor post-inverts,
 * so the standard CRC is ~crc32_iscsi(buf, len, ~seed). ISA-L takes an int
 * length; long buffers are fed in 1 GiB pieces. */
#include <isa-l/crc.h>
#include "common/crc32c.h"

uint32_t norn_crc32c(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint32_t c = ~crc;

	while (len > 0) {
		size_t n = len > (1u << 30) ? (1u << 30) : len;
		c = crc32_iscsi((unsigned char *)p, (int)n, c);
		p += n;
		len -= n;
	}
	return ~c;
}

/* Combining, as zlib does for CRC-32 (Mark Adler's method) with the
 * Castagnoli polynomial. With the pre- and post-inversion of the standard
 * CRC, CRC(a||b) = CRC(a) * x^(8|b|) mod P  xor  CRC(b), in the reflected
 * bit order where bit 31 holds x^0. */
#define CRC32C_POLY 0x82f63b78u   /* reflected Castagnoli polynomial */

/* a * b mod P */
static uint32_t multmodp(uint32_t a, uint32_t b)
{
	uint32_t m = 1u << 31, p = 0;
	for (;;) {
		if (a & m) {
			p ^= b;
			if ((a & (m - 1)) == 0)
				break;
		}
		m >>= 1;
		b = b & 1 ? (b >> 1) ^ CRC32C_POLY : b >> 1;
	}
	return p;
}

/* x^(8 n) mod P, by squaring: x^(2^k) for k = 3 (one byte) upwards. */
static uint32_t xbytesmodp(uint64_t n)
{
	uint32_t p = 1u << 31;        /* x^0 */
	uint32_t sq = 1u << 23;       /* x^8 */
	while (n) {
		if (n & 1)
			p = multmodp(sq, p);
		sq = multmodp(sq, sq);
		n >>= 1;
	}
	return p;
}

uint32_t norn_crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b)
{
	return multmodp(xbytesmodp(len_b), crc_a) ^ crc_b;
}

uint32_t norn_crc32c_tail(uint32_t crc_ab, uint32_t crc_a, uint64_t len_b)
{
	return multmodp(xbytesmodp(len_b), crc_a) ^ crc_ab;
}
