/* libFuzzer target: every OSD<->OSD decoder (osd/proto_osdosd.h) and the
 * PG log entry / info decoders (bytes read back from the store's collection
 * metadata). The first input byte picks the decoder; decoded structures are
 * checked for the invariants the daemon relies on. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/assert.h"
#include "osd/pg.h"
#include "osd/proto_osdosd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const uint8_t *p = data + 1;
	size_t len = size - 1;
	switch (data[0] % 8) {
	case 0: {
		struct osd_repop r;
		if (osd_repop_decode(&r, p, len) == 0) {
			NORN_ASSERT(r.ops + r.ops_len <= p + len);
			NORN_ASSERT(pg_ev_cmp(&r.entry.prior, &r.entry.ver) < 0);
		}
		break;
	}
	case 1: {
		struct osd_repop_reply r;
		(void)osd_repop_reply_decode(&r, p, len);
		break;
	}
	case 2: {
		struct osd_ping g;
		(void)osd_ping_decode(&g, p, len);
		break;
	}
	case 3: {
		struct osd_pg_msg m;
		if (osd_pg_msg_decode(&m, p, len) == 0)
			NORN_ASSERT(m.oid_len <= STORE_OID_MAX && m.pool >= 0 && m.off <= OSD_PUSH_MAX_OBJECT_BYTES);
		break;
	}
	case 4: {
		struct osd_pg_notify n;
		if (osd_pg_notify_decode(&n, p, len) == 0) {
			for (uint32_t i = 1; i < n.n_entries; i++)
				NORN_ASSERT(pg_ev_cmp(&n.entries[i - 1].ver, &n.entries[i].ver) < 0);
			for (uint32_t i = 0; i < n.n_objs; i++)
				NORN_ASSERT(n.obj_lens[i] > 0 && n.obj_lens[i] <= STORE_OID_MAX);
			osd_pg_notify_free(&n);
		}
		break;
	}
	case 5: {
		struct osd_pg_push q;
		if (osd_pg_push_decode(&q, p, len) == 0) {
			NORN_ASSERT(q.data + q.data_len <= p + len && q.exists <= 1);
			/* a piece lies inside its object; later pieces carry data only */
			NORN_ASSERT(q.off <= q.size && q.data_len <= q.size - q.off);
			NORN_ASSERT(!q.off || (q.data_len && !q.xattrs_len && !q.omap_len));
		}
		break;
	}
	case 6: {
		struct pg_log_entry le;
		struct dec d;
		dec_init(&d, p, len);
		if (pg_log_entry_decode(&d, &le) == 0)
			NORN_ASSERT(strlen(le.oid) <= STORE_OID_MAX);
		break;
	}
	default: {
		struct pg_info i;
		if (pg_info_decode(p, len, &i) == 0)
			NORN_ASSERT(pg_ev_cmp(&i.log_tail, &i.last_update) <= 0);
		break;
	}
	}
	return 0;
}
