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
