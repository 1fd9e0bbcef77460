/* The real norn-nbd binary (path in $NORN_NBD_BIN) against raw sockets.
 *
 * Each test starts its own norn-nbd on a free loopback port over the file
 * backend in a fresh directory, then sends what real clients never send:
 * malformed handshakes, bad magics, oversized lengths, truncated frames,
 * and thousands of connections of random bytes. After each, the process
 * must still be alive and serve a well-behaved client; at the end SIGTERM
 * must stop it with exit status 0. Label integ (it starts the daemon).
 */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "common/env.h"
#include "tests/harness.h"
#include "tests/nbd/nbd_testclient.h"

#define EXPORT_BYTES (16u << 20)

static pid_t srv_pid;
static int srv_port;
static char dir[128];

static void write_file(const char *path, uint64_t size)
{
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	CHECK(fd >= 0);
	CHECK_EQ(ftruncate(fd, (off_t)size), 0);
	close(fd);
}

static void srv_start(void)
{
	const char *bin = getenv("NORN_NBD_BIN");
	char path[256], listen[64], log[256];
	struct norn_rand r;

	CHECK(bin && *bin);
	snprintf(dir, sizeof(dir), "/tmp/norn-nbd-raw.XXXXXX");
	CHECK(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/exp", dir);
	CHECK_EQ(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/exp/pool", dir);
	CHECK_EQ(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/exp/pool/vol", dir);
	write_file(path, EXPORT_BYTES);
	snprintf(path, sizeof(path), "%s/exp/pool/vol@snap", dir);
	write_file(path, EXPORT_BYTES);
	snprintf(log, sizeof(log), "%s/nbd.log", dir);
	norn_rand_seed_entropy(&r);

	for (int attempt = 0; attempt < 20; attempt++) {
		srv_port = 20000 + (int)norn_rand_below(&r, 40000);
		snprintf(listen, sizeof(listen), "127.0.0.1:%d", srv_port);
		snprintf(path, sizeof(path), "%s/exp", dir);
		srv_pid = fork();
		CHECK(srv_pid >= 0);
		if (srv_pid == 0) {
			execl(bin, bin, "--listen", listen, "--export-dir", path, "--log-file", log,
			      "--nbd-handshake-timeout-ms", "500", "--foreground", (char *)NULL);
			_exit(127);
		}
		/* Ready when it accepts; gone if the port was taken. */
		for (int i = 0; i < 100; i++) {
			int st, fd;
			if (waitpid(srv_pid, &st, WNOHANG) == srv_pid)
				break;
			fd = tc_connect(srv_port);
			if (fd >= 0) {
				close(fd);
				return;
			}
			usleep(20 * 1000);
		}
		kill(srv_pid, SIGKILL);
		waitpid(srv_pid, NULL, 0);
	}
	CHECK(!"norn-nbd did not start");
}

static void srv_check_alive(void)
{
	int st;
	CHECK_EQ(waitpid(srv_pid, &st, WNOHANG), 0);
}

/* A well-behaved client still gets served. */
static void srv_check_serving(void)
{
	struct tc_export ex;
	uint8_t buf[4096], back[4096];
	int fd;

	srv_check_alive();
	fd = tc_open(srv_port, "pool/vol", &ex);
	CHECK(fd >= 0);
	CHECK(ex.size == EXPORT_BYTES);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i ^ 0x5c);
	CHECK_EQ(tc_cmd(fd, NBD_CMD_WRITE, NBD_CMD_FLAG_FUA, 12345, sizeof(buf), buf), 0);
	CHECK_EQ(tc_cmd(fd, NBD_CMD_READ, 0, 12345, sizeof(back), back), 0);
	CHECK(!memcmp(buf, back, sizeof(buf)));
	CHECK_EQ(tc_send_req(fd, NBD_CMD_DISC, 0, 0, 0, 0, NULL), 0);
	CHECK(tc_closed_within(fd, 2000));
	close(fd);
}

/* SIGTERM: a clean exit (status 0) and no assertion in the log. */
static void srv_stop(void)
{
	char cmd[300];
	int st = 0;

	srv_check_alive();
	CHECK_EQ(kill(srv_pid, SIGTERM), 0);
	CHECK_EQ(waitpid(srv_pid, &st, 0), srv_pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	snprintf(cmd, sizeof(cmd), "grep -q 'assertion' %s/nbd.log", dir);
	CHECK(system(cmd) != 0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_EQ(system(cmd), 0);
}

TEST(malformed_handshakes)
{
	uint8_t junk[64], hdr[16];
	int fd;

	srv_start();
	memset(junk, 0xee, sizeof(junk));
	/* unknown client flags */
	fd = tc_connect(srv_port);
	CHECK_EQ(tc_handshake(fd, 0x100, NULL), 0);
	CHECK(tc_closed_within(fd, 2000));
	close(fd);
	/* bad option magic */
	fd = tc_connect(srv_port);
	CHECK_EQ(tc_handshake(fd, NBD_FLAG_C_FIXED_NEWSTYLE, NULL), 0);
	CHECK_EQ(tc_write(fd, junk, sizeof(junk)), 0);
	CHECK(tc_closed_within(fd, 2000));
	close(fd);
	/* oversized option */
	fd = tc_connect(srv_port);
	CHECK_EQ(tc_handshake(fd, NBD_FLAG_C_FIXED_NEWSTYLE, NULL), 0);
	nbd_enc_opt_hdr(hdr, NBD_OPT_INFO, 1u << 30);
	CHECK_EQ(tc_write(fd, hdr, sizeof(hdr)), 0);
	CHECK(tc_closed_within(fd, 2000));
	close(fd);
	/* truncated option payload, then silence: the deadline closes it */
	fd = tc_connect(srv_port);
	CHECK_EQ(tc_handshake(fd, NBD_FLAG_C_FIXED_NEWSTYLE, NULL), 0);
	nbd_enc_opt_hdr(hdr, NBD_OPT_GO, 100);
	CHECK_EQ(tc_write(fd, hdr, sizeof(hdr)), 0);
	CHECK_EQ(tc_write(fd, junk, 10), 0);
	CHECK(tc_closed_within(fd, 3000));
	close(fd);
	/* connect and hang up at every point of the greeting */
	for (int cut = 0; cut < 6; cut++) {
		fd = tc_connect(srv_port);
		CHECK(fd >= 0);
		if (cut > 0)
			CHECK_EQ(tc_write(fd, junk, (size_t)cut), 0);
		close(fd);
	}
	srv_check_serving();
	srv_stop();
}

TEST(malformed_requests)
{
	struct tc_export ex;
	uint8_t junk[64], data[4096] = { 0 };
	int fd, ro;

	srv_start();
	memset(junk, 0x77, sizeof(junk));
	/* bad request magic */
	fd = tc_open(srv_port, "pool/vol", &ex);
	CHECK(fd >= 0);
	CHECK_EQ(tc_write(fd, junk, 28), 0);
	CHECK(tc_closed_within(fd, 2000));
	close(fd);
	/* write beyond the 32 MiB maximum payload */
	fd = tc_open(srv_port, "pool/vol", &ex);
	CHECK(fd >= 0);
	CHECK_EQ(tc_send_req(fd, NBD_CMD_WRITE, 0, 9, 0, (32u << 20) + 1, NULL), 0);
	CHECK(tc_closed_within(fd, 2000));
	close(fd);
	/* a write header and part of its payload, then hang up */
	fd = tc_open(srv_port, "pool/vol", &ex);
	CHECK(fd >= 0);
	CHECK_EQ(tc_send_req(fd, NBD_CMD_WRITE, 0, 9, 0, 1u << 20, NULL), 0);
	CHECK_EQ(tc_write(fd, data, sizeof(data)), 0);
	close(fd);
	/* well-formed but invalid: error replies, connection kept */
	fd = tc_open(srv_port, "pool/vol", &ex);
	CHECK(fd >= 0);
	CHECK_EQ(tc_cmd(fd, NBD_CMD_READ, 0, EXPORT_BYTES, 1, data), NBD_EINVAL);
	CHECK_EQ(tc_cmd(fd, NBD_CMD_READ, 0, 0, (32u << 20) + 1, data), NBD_EINVAL);
	CHECK_EQ(tc_cmd(fd, NBD_CMD_WRITE, 0, EXPORT_BYTES - 1, 2, data), NBD_ENOSPC);
	CHECK_EQ(tc_cmd(fd, NBD_CMD_TRIM, 0, EXPORT_BYTES, 4096, NULL), NBD_EINVAL);
	CHECK_EQ(tc_cmd(fd, NBD_CMD_WRITE_ZEROES, 0, EXPORT_BYTES - 1, 2, NULL), NBD_ENOSPC);
	CHECK_EQ(tc_cmd(fd, 200, 0, 0, 0, NULL), NBD_EINVAL);
	CHECK_EQ(tc_cmd(fd, NBD_CMD_READ, 0x8000, 0, 1, data), NBD_EINVAL);
	/* trim and zero on the file really zero it */
	memset(data, 0xab, sizeof(data));
	CHECK_EQ(tc_cmd(fd, NBD_CMD_WRITE, 0, 65536, sizeof(data), data), 0);
	CHECK_EQ(tc_cmd(fd, NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_FUA, 65536, 1024, NULL), 0);
	CHECK_EQ(tc_cmd(fd, NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_NO_HOLE, 65536 + 1024, 1024, NULL), 0);
	CHECK_EQ(tc_cmd(fd, NBD_CMD_READ, 0, 65536, sizeof(data), data), 0);
	CHECK(data[0] == 0 && data[2047] == 0 && data[2048] == 0xab);
	CHECK_EQ(tc_cmd(fd, NBD_CMD_TRIM, 0, 65536, 4096, NULL), 0);
	CHECK_EQ(tc_cmd(fd, NBD_CMD_FLUSH, 0, 0, 0, NULL), 0);
	close(fd);
	/* the snapshot name is read-only */
	ro = tc_open(srv_port, "pool/vol@snap", &ex);
	CHECK(ro >= 0);
	CHECK(ex.tflags & NBD_FLAG_READ_ONLY);
	CHECK_EQ(tc_cmd(ro, NBD_CMD_WRITE, 0, 0, sizeof(data), data), NBD_EPERM);
	CHECK_EQ(tc_cmd(ro, NBD_CMD_READ, 0, 0, sizeof(data), data), 0);
	close(ro);
	srv_check_serving();
	srv_stop();
}

/* Thousands of short connections of random bytes, some after a valid
 * handshake or GO so the bytes reach the later decoders. */
TEST(random_garbage_connections)
{
	struct norn_rand r;
	uint8_t buf[512];
	struct tc_export ex;

	srv_start();
	norn_rand_seed(&r, 0x6e6264);
	for (int i = 0; i < 1500; i++) {
		int mode = (int)norn_rand_below(&r, 3), fd;
		size_t n = (size_t)norn_rand_below(&r, sizeof(buf)) + 1;
		for (size_t k = 0; k < n; k++)
			buf[k] = (uint8_t)norn_rand_u64(&r);
		if (mode == 2) {
			fd = tc_open(srv_port, "pool/vol", &ex);
		} else {
			fd = tc_connect(srv_port);
			if (fd >= 0 && mode == 1 &&
			    tc_handshake(fd, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES, NULL)) {
				close(fd);
				fd = -1;
			}
		}
		CHECK(fd >= 0);
		(void)tc_write(fd, buf, n);
		close(fd);
	}
	srv_check_serving();
	srv_stop();
}

TEST(many_clients_verify)
{
	enum { NCONN = 16, LEN = 65536, ROUNDS = 16 };
	struct tc_export ex;
	int fds[NCONN];
	static uint8_t w[LEN], rd[LEN];

	srv_start();
	for (int i = 0; i < NCONN; i++) {
		fds[i] = tc_open(srv_port, "pool/vol", &ex);
		CHECK(fds[i] >= 0);
		CHECK(ex.tflags & NBD_FLAG_CAN_MULTI_CONN);
	}
	for (int round = 0; round < ROUNDS; round++)
		for (int i = 0; i < NCONN; i++) {
			uint64_t off = ((uint64_t)i * ROUNDS + (uint64_t)round) * LEN % EXPORT_BYTES;
			memset(w, i * 16 + round, LEN);
			CHECK_EQ(tc_send_req(fds[i], NBD_CMD_WRITE, 0, (uint64_t)round, off, LEN, w), 0);
		}
	for (int i = 0; i < NCONN; i++)
		for (int round = 0; round < ROUNDS; round++) {
			uint32_t err;
			uint64_t c;
			CHECK_EQ(tc_read_reply(fds[i], &err, &c), 0);
			CHECK_EQ(err, 0);
		}
	/* A flush on one connection, then every region read back on another. */
	CHECK_EQ(tc_cmd(fds[0], NBD_CMD_FLUSH, 0, 0, 0, NULL), 0);
	for (int i = 0; i < NCONN; i++)
		for (int round = 0; round < ROUNDS; round++) {
			uint64_t off = ((uint64_t)i * ROUNDS + (uint64_t)round) * LEN % EXPORT_BYTES;
			CHECK_EQ(tc_cmd(fds[(i + 1) % NCONN], NBD_CMD_READ, 0, off, LEN, rd), 0);
			CHECK_EQ(rd[0], (uint8_t)(i * 16 + round));
			CHECK_EQ(rd[LEN - 1], (uint8_t)(i * 16 + round));
		}
	for (int i = 0; i < NCONN; i++)
		close(fds[i]);
	srv_check_serving();
	srv_stop();
}

TEST_MAIN_TIMEOUT(90, TEST_ENTRY(malformed_handshakes), TEST_ENTRY(malformed_requests),
                  TEST_ENTRY(random_garbage_connections), TEST_ENTRY(many_clients_verify))
