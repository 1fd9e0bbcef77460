/* The table of every configuration option (an X-macro list).
 *
 * NORN_OPT(name, type, default, min, max, help)
 *   type: BOOL, INT (int64), SIZE (bytes; accepts K/M/G/T suffixes),
 *         MS (durations in milliseconds; accepts ms/s/m/h suffixes), STR.
 *   min/max bound INT, SIZE and MS values; ignored for BOOL and STR.
 * Each module appends its options in its own block; keep names
 * <module>_<what>_<unit>.
 */

/* --- global ----------------------------------------------------------- */
NORN_OPT(fsid,          STR,  "", 0, 0, "cluster fsid (uuid), set by mkfs")
NORN_OPT(mon_host,      STR,  "127.0.0.1:6789", 0, 0, "comma-separated monitor addresses, name=host:port or host:port")
NORN_OPT(keyring,       STR,  "", 0, 0, "path of the keyring file with this entity's secret")
NORN_OPT(data_dir,      STR,  "", 0, 0, "daemon data directory")
NORN_OPT(run_dir,       STR,  "", 0, 0, "directory for pid files and admin sockets")
NORN_OPT(log_file,      STR,  "", 0, 0, "log file path (empty: stderr)")
NORN_OPT(log_level,     STR,  "info", 0, 0, "default log level: err, warn, info, debug, trace")
NORN_OPT(public_addr,   STR,  "127.0.0.1", 0, 0, "address this daemon binds to")
NORN_OPT(port,          INT,  0, 0, 65535, "port this daemon binds to (0: pick per daemon type)")

/* --- messenger -------------------------------------------------------- */
NORN_OPT(msg_max_frame_bytes,   SIZE, 128u << 20, 4096, 1ull << 30, "largest frame accepted (header + payload)")
NORN_OPT(msg_send_queue_bytes,  SIZE, 256u << 20, 65536, 1ull << 34, "per-connection send queue limit before backpressure")
NORN_OPT(msg_keepalive_ms,      MS,   2000, 100, 600000, "idle time before a keepalive is sent")
NORN_OPT(msg_timeout_ms,        MS,   15000, 500, 3600000, "a connection silent this long is closed")
NORN_OPT(msg_reconnect_min_ms,  MS,   50, 1, 60000, "first reconnect delay")
NORN_OPT(msg_reconnect_max_ms,  MS,   5000, 10, 600000, "largest reconnect delay (exponential backoff)")
NORN_OPT(msg_tls,               BOOL, 0, 0, 0, "wrap every messenger connection in TLS")
NORN_OPT(tls_cert,              STR,  "", 0, 0, "TLS certificate (PEM)")
NORN_OPT(tls_key,               STR,  "", 0, 0, "TLS private key (PEM)")
NORN_OPT(tls_ca,                STR,  "", 0, 0, "CA certificate used to verify TLS peers (PEM)")

/* --- mon -------------------------------------------------------------- */
NORN_OPT(mon_osd_down_out_interval_ms, MS, 600000, 0, 86400000ull * 30, "a down OSD is marked out after this long")
NORN_OPT(mon_osd_beacon_grace_ms,      MS, 20000, 500, 3600000, "an OSD whose beacons stop this long is marked down")
NORN_OPT(mon_election_timeout_ms,      MS, 1000, 50, 60000, "base Raft election timeout")
NORN_OPT(mon_tick_ms,                  MS, 100, 5, 10000, "Raft tick interval")
NORN_OPT(mon_snapshot_every,           INT, 1000, 10, 100000000, "entries between Raft snapshots")
NORN_OPT(mon_pool_near_full_ratio_pct, INT, 85, 1, 100, "POOL_NEAR_FULL threshold (percent)")
NORN_OPT(mon_osd_min_down_reporters,   INT, 2, 1, 100, "distinct hosts (other than the target's) whose OSDs must report a peer failed before the mon marks it down")
NORN_OPT(mon_osd_nearfull_ratio_pct,   INT, 85, 1, 100, "OSD_NEARFULL threshold (percent used)")
NORN_OPT(mon_osd_full_ratio_pct,       INT, 95, 1, 100, "OSD_FULL threshold (percent used)")
NORN_OPT(mon_ticket_ttl_ms,            MS, 3600000, 1000, 86400000ull * 30, "lifetime of an OSD-service ticket")
NORN_OPT(mon_service_key_ttl_ms,       MS, 7200000, 10000, 86400000ull * 30, "lifetime of a rotating service key (rotated at half)")

/* --- osd -------------------------------------------------------------- */
NORN_OPT(osd_id,                 INT,  -1, -1, 1000000, "this OSD's id")
NORN_OPT(osd_heartbeat_interval_ms, MS, 1000, 50, 60000, "peer heartbeat interval")
NORN_OPT(osd_heartbeat_grace_ms, MS,   6000, 200, 600000, "peer silent this long is reported failed")
NORN_OPT(osd_beacon_interval_ms, MS,   2000, 100, 600000, "beacon interval to the mon")
NORN_OPT(osd_max_recovery,       INT,  8, 1, 1024, "concurrent recovery/backfill ops (objects being pulled or pushed) per OSD; with osd_recovery_piece_bytes each push has one piece in flight")
NORN_OPT(osd_recovery_piece_bytes, SIZE, 1u << 20, 0, 1ull << 30, "a recovery push to a replica moves a larger object in pieces of this size, one piece in flight per object (0: whole objects in one message, as OSDs before pieces expect)")
NORN_OPT(osd_recovery_sleep_ms,  MS,   0, 0, 60000, "pause between starting two recovery/backfill pushes to replicas per OSD (0: none; a primary's own pulls are not throttled: its client ops wait for them)")
NORN_OPT(osd_memory_budget_bytes, SIZE, 192u << 20, 16u << 20, 1ull << 40, "memory budget for caches and queues")
NORN_OPT(osd_host,               STR,  "", 0, 0, "CRUSH host bucket this OSD reports at boot (empty: the host name)")
NORN_OPT(osd_pg_log_max,         INT,  1000, 16, 100000, "PG log entries kept per PG (also the duplicate-request window)")
NORN_OPT(osd_full_pct,           INT,  95, 10, 100, "client writes that add data are refused with ENOSPC once they would fill this share of the OSD's store (deletes and recovery still run)")
NORN_OPT(osd_pool_purge_objects_per_sec, INT, 2000, 1, 1000000, "objects per second an OSD removes from the PG copies of deleted pools (in the background)")

/* --- store ------------------------------------------------------------ */
NORN_OPT(store_path,             STR,  "", 0, 0, "block device or file holding the object store data")
NORN_OPT(store_size_bytes,       SIZE, 1ull << 30, 16u << 20, 1ull << 50, "size of a file-backed store created by mkfs")
NORN_OPT(store_queue_depth,      INT,  128, 1, 4096, "io_uring queue depth")
NORN_OPT(store_commit_wait_us,   INT,  100000, 0, 1000000, "metadata apply: longest wait for more write-ahead-logged transactions before one LMDB commit (not on the acknowledgement path)")
NORN_OPT(store_lmdb_map_bytes,   SIZE, 1ull << 30, 1u << 20, 1ull << 40, "LMDB map size for metadata")
NORN_OPT(store_commit_batch_max, INT,  16384, 1, 65536, "metadata apply: most transactions in one LMDB commit (whole log groups are never split)")
NORN_OPT(store_wal_groups,       INT,  4, 1, 64, "write-ahead log groups in flight at once (each one log write + one fdatasync)")
NORN_OPT(store_wal_group_txns,   INT,  0, 0, 65536, "most transactions in one write-ahead log group (0: every transaction prepared in one loop iteration)")
NORN_OPT(store_wal_data_bytes,    SIZE, 32768, 0, 1u << 20, "a store transaction writing at most this many data bytes puts them in its write-ahead log record (acknowledged after one log write; written to their blocks before the metadata apply; 0: never)")
NORN_OPT(store_onode_cache_bytes, SIZE, 32u << 20, 0, 1ull << 34, "store: onodes (with block maps) of objects with no transaction in flight kept in memory, least recently used dropped first (0: none)")
NORN_OPT(store_heap_buffers,      BOOL, 0, 0, 0, "store: keep large write buffers in malloc's heap (process-wide mallopt: about 3x less CPU per 4 MiB write, but the process keeps its peak heap: an OSD under 16 x 4 MiB client writes grew to 260-370 MiB RSS)")
NORN_OPT(store_wal_bytes,        SIZE, 64u << 20, 1u << 20, 1ull << 32, "write-ahead log size, taken from the data area at the first mount (at most 1/8 of it)")
NORN_OPT(store_max_object_bytes, SIZE, 128u << 20, 4096, 1ull << 32, "largest object the store accepts")
NORN_OPT(store_onode_shard_blocks, INT, 64, 1, 4096, "objects above this many 4 KiB blocks keep their block map in shards of this many blocks")

/* --- client (libnorn) --------------------------------------------------- */
NORN_OPT(client_op_timeout_ms,      MS,   30000, 100, 86400000, "an object operation without an answer this long fails with -ETIMEDOUT")
NORN_OPT(client_mount_timeout_ms,   MS,   10000, 100, 3600000, "norn_connect: longest wait for the mons, the first osdmap and an OSD ticket")
NORN_OPT(client_max_inflight_ops,   INT,  1024, 1, 1000000, "operations in flight per client before callers block")
NORN_OPT(client_max_inflight_bytes, SIZE, 256u << 20, 1u << 20, 1ull << 40, "write/read payload bytes in flight per client before callers block")

/* --- nbd (norn-nbd) ----------------------------------------------------- */
NORN_OPT(nbd_listen,               STR,  "127.0.0.1:10809", 0, 0, "norn-nbd listen addresses, comma-separated: HOST:PORT, [V6]:PORT, unix:PATH")
NORN_OPT(nbd_backend,              STR,  "file", 0, 0, "norn-nbd block backend: vol (Norn volumes through libnorn) or file (development backend on local files)")
NORN_OPT(nbd_export_dir,           STR,  "", 0, 0, "file backend: directory whose files are the exports")
NORN_OPT(nbd_default_export,       STR,  "", 0, 0, "export served to clients that ask for the empty name")
NORN_OPT(nbd_read_only,            BOOL, 0, 0, 0, "serve every export read-only")
NORN_OPT(nbd_pid_file,             STR,  "", 0, 0, "norn-nbd pid file")
NORN_OPT(nbd_max_connections,      INT,  64, 1, 65536, "client connections served at once")
NORN_OPT(nbd_max_inflight,         INT,  64, 1, 4096, "requests in flight per connection before reading pauses")
NORN_OPT(nbd_max_buffer_bytes,     SIZE, 64u << 20, 1u << 20, 1ull << 34, "READ/WRITE payload bytes held per connection before reading pauses")
NORN_OPT(nbd_max_payload_bytes,    SIZE, 32u << 20, 4096, 32u << 20, "largest READ/WRITE accepted (advertised maximum block size)")
NORN_OPT(nbd_handshake_timeout_ms, MS,   30000, 100, 3600000, "a client must finish negotiating within this")
NORN_OPT(nbd_threads,              INT,  16, 1, 1024, "file backend I/O threads (libuv thread pool size)")

/* --- vol (client/vol, norn vol, norn-nbd volume backend) ----------------- */
NORN_OPT(vol_object_size_bytes, SIZE, 4u << 20, 64u << 10, 64u << 20, "object size of new volumes (a power of two)")
NORN_OPT(vol_lock_lease_ms,     MS,   30000, 300, 3600000, "exclusive lock lease of a volume writer (renewed every third of it)")
NORN_OPT(vol_nbd_pools,         STR,  "rbd", 0, 0, "norn-nbd volume backend: comma-separated pools whose volumes NBD_OPT_LIST shows")
NORN_OPT(vol_nbd_entity,        STR,  "client.admin", 0, 0, "norn-nbd volume backend: the entity it connects to the cluster as")

/* --- s3 (norn-s3) ------------------------------------------------------ */
NORN_OPT(s3_addr,               STR,  "127.0.0.1", 0, 0, "norn-s3 bind address")
NORN_OPT(s3_port,               INT,  7480, 0, 65535, "norn-s3 port (0: ephemeral, printed at start)")
NORN_OPT(s3_domain,             STR,  "", 0, 0, "virtual-host suffix: Host BUCKET.<domain> selects BUCKET (empty: path style only)")
NORN_OPT(s3_region,             STR,  "us-east-1", 0, 0, "region reported and default LocationConstraint")
NORN_OPT(s3_backend,            STR,  "norn", 0, 0, "storage backend: norn (the cluster) or fs (DEVELOPMENT only: a local directory, for tests)")
NORN_OPT(s3_fs_root,            STR,  "", 0, 0, "fs backend: root directory")
NORN_OPT(s3_access_log,         STR,  "", 0, 0, "access log file (empty: none, '-': stdout)")
NORN_OPT(s3_max_header_bytes,   SIZE, 64u << 10, 1024, 1u << 20, "largest request line + headers accepted")
NORN_OPT(s3_idle_timeout_ms,    MS,   60000, 100, 3600000, "idle keep-alive connections are closed after this")
NORN_OPT(s3_request_timeout_ms, MS,   60000, 100, 3600000, "a request whose body stalls this long is dropped")
NORN_OPT(s3_max_req_per_sec,    INT,  0, 0, 10000000, "requests per second per connection before SlowDown (0: unlimited)")
NORN_OPT(s3_max_conns,          INT,  10000, 1, 1000000, "open connections accepted")
NORN_OPT(s3_max_skew_ms,        MS,   900000, 1000, 86400000, "largest request clock skew (RequestTimeTooSkewed)")
NORN_OPT(s3_max_put_bytes,      SIZE, 5ull << 30, 1u << 20, 5ull << 40, "largest single PUT or part")
NORN_OPT(s3_io_chunk_bytes,     SIZE, 1u << 20, 4096, 64u << 20, "GET/copy piece size read from the backend")
NORN_OPT(s3_md5_lanes,          INT,  0, 0, 16, "PUT body MD5: most bodies hashed per SIMD pass (16 AVX-512, 8 AVX2, 1 scalar; 0: the best the CPU has)")
NORN_OPT(s3_pid_file,           STR,  "", 0, 0, "norn-s3 pid file")
NORN_OPT(s3_tls_cert,           STR,  "", 0, 0, "norn-s3 TLS certificate chain (PEM); with s3_tls_key the gateway serves HTTPS")
NORN_OPT(s3_tls_key,            STR,  "", 0, 0, "norn-s3 TLS private key (PEM)")
NORN_OPT(s3_pool,               STR,  "s3", 0, 0, "norn backend: pool holding users, buckets, indexes and object data")
NORN_OPT(s3_client_name,        STR,  "client.s3", 0, 0, "norn backend: the entity norn-s3 authenticates as")
NORN_OPT(s3_index_shards,       INT,  8, 1, 1024, "norn backend: bucket index shards (omap objects) per new bucket")
NORN_OPT(s3_gc_shards,          INT,  8, 1, 1024, "norn backend: GC queue omap objects")
NORN_OPT(s3_stripe_bytes,       SIZE, 4u << 20, 65536, 1u << 30, "norn backend: object data is striped into RADOS objects of this size")
NORN_OPT(s3_write_window_bytes, SIZE, 8u << 20, 1u << 20, 1u << 30, "norn backend: PUT bytes in flight to the cluster per request")
NORN_OPT(s3_gc_interval_ms,     MS,   5000, 10, 3600000, "norn backend: garbage collector pass period")
NORN_OPT(s3_gc_delay_ms,        MS,   30000, 0, 86400000, "norn backend: overwritten/deleted data is reclaimed this long after (running GETs finish)")
NORN_OPT(s3_gc_orphan_ms,       MS,   3600000, 1000, 604800000, "norn backend: data of uploads that never committed is reclaimed after this")
NORN_OPT(s3_orphan_scan_per_pass, INT, 200, 0, 1000000, "norn backend: pool objects the background orphan scan examines per GC pass (0: off; a full cycle takes pool objects / this x s3_gc_interval_ms)")
NORN_OPT(s3_user_cache_ms,      MS,   1000, 0, 600000, "norn backend: access keys are cached this long (a removed key stops working within it)")
