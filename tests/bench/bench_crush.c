/* bench_crush: CRUSH mappings per second per core.
 *
 * Maps x = 0..N-1 with 3 replicas (chooseleaf firstn 0 type host) and with
 * 6 erasure-coded positions (chooseleaf indep 0 type host) on
 *   - the asgard map (examples/asgard.crush: 39 OSDs, 19 hosts), and
 *   - a generated map of 1,000 OSDs in 50 hosts (20 per host, weights
 *     1, 2, 4, 8 TB mixed).
 * "Per core" is mappings over the process CPU time (one thread), so other
 * load on the machine does not count against it; wall time is shown too.
 * Best of 3 runs. usage: bench_crush ASGARD_FILE [N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "crush/crush.h"

static double clock_s(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct crush_map *gen_1000(void)
{
	struct crush_map *m;
	int root, dev = 0;
	char name[32];
	if (crush_create(&m) || crush_add_bucket(m, 0, 10, "default", &root))
		exit(1);
	for (int h = 0; h < 50; h++) {
		int hid;
		snprintf(name, sizeof(name), "host%02d", h);
		if (crush_add_bucket(m, 0, 1, name, &hid))
			exit(1);
		for (int k = 0; k < 20; k++, dev++) {
			uint32_t w = (uint32_t)(1u << ((h + k) % 4)) * CRUSH_WEIGHT_ONE;
			if (crush_add_device(m, dev, NULL) || crush_bucket_add_item(m, hid, dev, w))
				exit(1);
		}
		if (crush_bucket_add_item(m, root, hid, 0))
			exit(1);
	}
	struct crush_rule_step rs[3] = {
		{ CRUSH_OP_TAKE, root, 0 }, { CRUSH_OP_CHOOSELEAF_FIRSTN, 0, 1 }, { CRUSH_OP_EMIT, 0, 0 }
	};
	if (crush_add_rule(m, 0, "replicated_host", CRUSH_RULE_REPLICATED, rs, 3, NULL))
		exit(1);
	rs[1].op = CRUSH_OP_CHOOSELEAF_INDEP;
	if (crush_add_rule(m, 1, "ec_host", CRUSH_RULE_ERASURE, rs, 3, NULL))
		exit(1);
	return m;
}

static void run(const char *label, const struct crush_map *m, const char *rule, int nrep, long n)
{
	int ruleno = crush_rule_by_name(m, rule);
	if (ruleno < 0) {
		fprintf(stderr, "bench_crush: no rule %s\n", rule);
		exit(1);
	}
	uint32_t *w = malloc(sizeof(*w) * (m->max_devices + 1));
	void *scr = malloc(crush_scratch_size(m, nrep));
	if (!w || !scr)
		exit(1);
	for (uint32_t i = 0; i < m->max_devices; i++)
		w[i] = CRUSH_WEIGHT_ONE;
	double best_cpu = 1e30, best_wall = 1e30;
	unsigned long sink = 0;
	for (int rep = 0; rep < 3; rep++) {
		double c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID), w0 = clock_s(CLOCK_MONOTONIC);
		for (long x = 0; x < n; x++) {
			int res[CRUSH_MAX_RESULT];
			int k = crush_do_rule(m, ruleno, (uint32_t)x, res, nrep, w, (int)m->max_devices, scr);
			sink += (unsigned long)k + (unsigned long)res[0];
		}
		double c = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0, wl = clock_s(CLOCK_MONOTONIC) - w0;
		if (c < best_cpu)
			best_cpu = c;
		if (wl < best_wall)
			best_wall = wl;
	}
	printf("%-34s %-16s rep %d: %10.0f mappings/s/core (cpu)  %10.0f /s (wall)  %6.2f us each  [%lu]\n",
	       label, rule, nrep, (double)n / best_cpu, (double)n / best_wall, best_cpu / (double)n * 1e6,
	       sink % 10);
	free(scr);
	free(w);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: bench_crush ASGARD_FILE [N]\n");
		return 2;
	}
	long n = argc > 2 ? atol(argv[2]) : 1000000;
	if (n < 1000)
		n = 1000;
	FILE *fp = fopen(argv[1], "rb");
	if (!fp) {
		perror(argv[1]);
		return 1;
	}
	static char text[1 << 20];
	size_t len = fread(text, 1, sizeof(text), fp);
	fclose(fp);
	struct crush_map *asgard;
	char err[256];
	if (crush_compile(text, len, &asgard, err, sizeof(err))) {
		fprintf(stderr, "bench_crush: %s\n", err);
		return 1;
	}
	struct crush_map *big = gen_1000();
	run("asgard (39 OSDs, 19 hosts)", asgard, "replicated_host", 3, n);
	run("asgard (39 OSDs, 19 hosts)", asgard, "ec_host", 6, n / 4);
	run("generated (1000 OSDs, 50 hosts)", big, "replicated_host", 3, n / 10);
	run("generated (1000 OSDs, 50 hosts)", big, "ec_host", 6, n / 40);
	crush_destroy(asgard);
	crush_destroy(big);
	return 0;
}
