/* libFuzzer: every mon/OSD protocol decoder over arbitrary bytes. The
 * first byte picks the decoder. */
#include <stdint.h>
#include <stddef.h>
#include "common/proto_osd.h"
#include "common/proto_mon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const uint8_t *p = data + 1;
	size_t n = size - 1;
	switch (data[0] % 10) {
	case 0: { struct osd_op_msg m; osd_op_decode(&m, p, n); break; }
	case 1: { struct osd_op_reply r; osd_op_reply_decode(&r, p, n); break; }
	case 2: { struct mon_command c; mon_command_decode(&c, p, n); break; }
	case 3: { struct mon_command_reply r; mon_command_reply_decode(&r, p, n); break; }
	case 4: { struct mon_subscribe s; mon_subscribe_decode(&s, p, n); break; }
	case 5: { struct mon_osdmap_msg m; mon_osdmap_msg_decode(&m, p, n); break; }
	case 6: { struct mon_ticket t; mon_ticket_decode(&t, p, n); break; }
	case 7: { struct mon_osd_boot b; mon_osd_boot_decode(&b, p, n); break; }
	case 8: { struct mon_osd_beacon b; if (!mon_osd_beacon_decode(&b, p, n)) mon_osd_beacon_free(&b); break; }
	case 9: { struct mon_osd_failure f; mon_osd_failure_decode(&f, p, n); break; }
	}
	return 0;
}
