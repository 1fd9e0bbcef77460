/* `norn crush ...`: offline tools for CRUSH maps.
 *
 *   norn crush compile IN OUT        text -> binary ('-' = stdin/stdout)
 *   norn crush decompile IN OUT      binary (or text) -> text
 *   norn crush test --map F --rule R --num-rep N [--min-x A] [--max-x B]
 *       maps x = A..B and prints each device's placements against its
 *       weight share, the spread, and mappings per second
 *   norn crush diff OLD NEW --rule R --num-rep N [--min-x A] [--max-x B]
 *       maps x = A..B with both maps and prints how many replica slots
 *       changed, the minimum that had to change, and the ratio
 *
 * A map argument may be text or binary (binary starts with "NCRU"). A
 * rule is a name or a number. Exit 0 on success, 1 on failure, 2 on bad
 * arguments. Nothing here talks to a cluster.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "crush/crush.h"
#include "tools/cli.h"

#define CRUSH_CLI_MAX_X_RANGE 100000000ull /* at most 1e8 mappings per run */

static void crush_usage(FILE *fp)
{
	fprintf(fp,
		"usage: norn crush compile IN OUT\n"
		"       norn crush decompile IN OUT\n"
		"       norn crush test --map F --rule R --num-rep N [--min-x A] [--max-x B]\n"
		"       norn crush diff OLD NEW --rule R --num-rep N [--min-x A] [--max-x B]\n"
		"IN/OUT may be '-' for stdin/stdout; maps may be text or binary;\n"
		"R is a rule name or number; x defaults to 0..9999.\n");
}

/* Read a whole file (or stdin for "-") of at most CRUSH_MAX_ENCODED bytes. */
static int read_all(const char *path, char **buf_out, size_t *len_out)
{
	FILE *fp = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	if (!fp) {
		fprintf(stderr, "norn crush: cannot open %s: %s\n", path, strerror(errno));
		return -1;
	}
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap + 1);
	int rc = 0;
	while (buf) {
		if (len == cap) {
			if (cap >= CRUSH_MAX_ENCODED) {
				fprintf(stderr, "norn crush: %s is larger than %u bytes\n", path,
					CRUSH_MAX_ENCODED);
				rc = -1;
				break;
			}
			cap *= 2;
			char *nb = realloc(buf, cap + 1);
			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
		}
		size_t n = fread(buf + len, 1, cap - len, fp);
		len += n;
		if (n == 0) {
			if (ferror(fp)) {
				fprintf(stderr, "norn crush: read error on %s\n", path);
				rc = -1;
			}
			break;
		}
	}
	if (fp != stdin)
		fclose(fp);
	if (!buf) {
		fprintf(stderr, "norn crush: out of memory reading %s\n", path);
		return -1;
	}
	if (rc) {
		free(buf);
		return rc;
	}
	buf[len] = '\0';
	*buf_out = buf;
	*len_out = len;
	return 0;
}

static int write_all(const char *path, const void *data, size_t len)
{
	FILE *fp = strcmp(path, "-") ? fopen(path, "wb") : stdout;
	if (!fp) {
		fprintf(stderr, "norn crush: cannot create %s: %s\n", path, strerror(errno));
		return -1;
	}
	int ok = fwrite(data, 1, len, fp) == len;
	if (fp != stdout)
		ok = (fclose(fp) == 0) && ok;
	else
		ok = (fflush(fp) == 0) && ok;
	if (!ok) {
		fprintf(stderr, "norn crush: write error on %s\n", path);
		return -1;
	}
	return 0;
}

static int is_binary(const char *buf, size_t len)
{
	return len >= 4 && !memcmp(buf, "NCRU", 4);
}

/* Load a text or binary map; prints the reason on failure. */
static struct crush_map *load_map(const char *path, int want_text)
{
	char *buf;
	size_t len;
	struct crush_map *map = NULL;
	char err[256];

	if (read_all(path, &buf, &len))
		return NULL;
	if (is_binary(buf, len)) {
		if (want_text == 1) {
			fprintf(stderr, "norn crush: %s is already a binary map\n", path);
		} else {
			int rc = crush_decode(&map, (const uint8_t *)buf, len);
			if (rc)
				fprintf(stderr, "norn crush: %s: bad binary map: %s\n", path, strerror(-rc));
		}
	} else {
		int rc = crush_compile(buf, len, &map, err, sizeof(err));
		if (rc)
			fprintf(stderr, "norn crush: %s: %s\n", path, err[0] ? err : strerror(-rc));
	}
	free(buf);
	return map;
}

static int cmd_compile(int argc, char **argv)
{
	if (argc != 3) {
		crush_usage(stderr);
		return 2;
	}
	struct crush_map *map = load_map(argv[1], 1);
	if (!map)
		return 1;
	size_t len = 0;
	crush_encode(map, NULL, 0, &len);
	uint8_t *out = malloc(len);
	int rc = 1;
	if (out && crush_encode(map, out, len, &len) == 0 && write_all(argv[2], out, len) == 0)
		rc = 0;
	free(out);
	crush_destroy(map);
	return rc;
}

static int cmd_decompile(int argc, char **argv)
{
	if (argc != 3) {
		crush_usage(stderr);
		return 2;
	}
	struct crush_map *map = load_map(argv[1], 0);
	if (!map)
		return 1;
	char *text = NULL;
	int rc = 1;
	if (crush_decompile(map, &text) == 0 && write_all(argv[2], text, strlen(text)) == 0)
		rc = 0;
	free(text);
	crush_destroy(map);
	return rc;
}

struct run_opts {
	const char *rule;
	int num_rep;
	uint64_t min_x, max_x;
};

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	if (!s || !*s || *s == '-')
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Parse --rule/--num-rep/--min-x/--max-x (and --map into *map_path if not
 * NULL); other words go to pos[] (at most npos). Returns count of
 * positional args, or -1 on a bad argument. */
static int parse_run_opts(int argc, char **argv, struct run_opts *o, const char **map_path,
                          const char **pos, int npos)
{
	int np = 0;
	uint64_t v;
	o->rule = NULL;
	o->num_rep = 0;
	o->min_x = 0;
	o->max_x = 9999;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int has_val = i + 1 < argc;
		if (!strcmp(a, "--map") && map_path && has_val) {
			*map_path = argv[++i];
		} else if (!strcmp(a, "--rule") && has_val) {
			o->rule = argv[++i];
		} else if (!strcmp(a, "--num-rep") && has_val) {
			if (parse_u64(argv[++i], CRUSH_MAX_RESULT, &v) || v == 0) {
				fprintf(stderr, "norn crush: --num-rep must be 1..%u\n", CRUSH_MAX_RESULT);
				return -1;
			}
			o->num_rep = (int)v;
		} else if (!strcmp(a, "--min-x") && has_val) {
			if (parse_u64(argv[++i], UINT32_MAX, &o->min_x)) {
				fprintf(stderr, "norn crush: bad --min-x '%s'\n", argv[i]);
				return -1;
			}
		} else if (!strcmp(a, "--max-x") && has_val) {
			if (parse_u64(argv[++i], UINT32_MAX, &o->max_x)) {
				fprintf(stderr, "norn crush: bad --max-x '%s'\n", argv[i]);
				return -1;
			}
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "norn crush: unknown or incomplete option '%s'\n", a);
			return -1;
		} else if (np < npos) {
			pos[np++] = a;
		} else {
			fprintf(stderr, "norn crush: unexpected argument '%s'\n", a);
			return -1;
		}
	}
	if (!o->rule || !o->num_rep) {
		fprintf(stderr, "norn crush: --rule and --num-rep are required\n");
		return -1;
	}
	if (o->min_x > o->max_x || o->max_x - o->min_x >= CRUSH_CLI_MAX_X_RANGE) {
		fprintf(stderr, "norn crush: need --min-x <= --max-x and at most %llu values\n",
			CRUSH_CLI_MAX_X_RANGE);
		return -1;
	}
	return np;
}

static int find_rule(const struct crush_map *map, const char *rule, const char *path)
{
	int r = crush_rule_by_name(map, rule);
	if (r >= 0)
		return r;
	uint64_t v;
	if (parse_u64(rule, CRUSH_MAX_RULES - 1, &v) == 0 && v < map->max_rules && map->rules[v])
		return (int)v;
	fprintf(stderr, "norn crush: %s has no rule '%s'\n", path, rule);
	return -1;
}

/* tools/ does not link libm: Newton's square root is plenty here. */
static double crush_sqrt(double v)
{
	if (v <= 0)
		return 0;
	double r = v > 1 ? v : 1;
	for (int i = 0; i < 100; i++)
		r = 0.5 * (r + v / r);
	return r;
}

static double crush_fabs(double v)
{
	return v < 0 ? -v : v;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Weight vector with every device in. */
static uint32_t *all_in(uint32_t n)
{
	uint32_t *w = malloc(sizeof(*w) * (n ? n : 1));
	for (uint32_t i = 0; w && i < n; i++)
		w[i] = CRUSH_WEIGHT_ONE;
	return w;
}

static int cmd_test(int argc, char **argv)
{
	struct run_opts o;
	const char *path = NULL;
	if (parse_run_opts(argc, argv, &o, &path, NULL, 0) != 0 || !path) {
		if (!path)
			fprintf(stderr, "norn crush: --map is required\n");
		crush_usage(stderr);
		return 2;
	}
	struct crush_map *map = load_map(path, 0);
	if (!map)
		return 1;
	int rc = 1;
	int ruleno = find_rule(map, o.rule, path);
	uint32_t ndev = map->max_devices;
	uint32_t *w = all_in(ndev);
	uint64_t *count = calloc(ndev ? ndev : 1, sizeof(*count));
	void *scratch = malloc(crush_scratch_size(map, o.num_rep));
	if (ruleno < 0 || !w || !count || !scratch)
		goto out;

	int res[CRUSH_MAX_RESULT];
	uint64_t nmap = o.max_x - o.min_x + 1, short_maps = 0, placed = 0, none = 0;
	double t0 = now_s();
	for (uint64_t x = o.min_x; x <= o.max_x; x++) {
		int n = crush_do_rule(map, ruleno, (uint32_t)x, res, o.num_rep, w, (int)ndev, scratch);
		if (n < 0) {
			fprintf(stderr, "norn crush: do_rule failed: %s\n", strerror(-n));
			goto out;
		}
		int got = 0;
		for (int i = 0; i < n; i++) {
			if (res[i] >= 0 && (uint32_t)res[i] < ndev) {
				count[res[i]]++;
				got++;
			} else if (res[i] == CRUSH_ITEM_NONE) {
				none++;
			}
		}
		placed += (uint64_t)got;
		if (got < o.num_rep)
			short_maps++;
	}
	double dt = now_s() - t0;

	/* expected share = device weight / total weight of devices that hold
	 * placements under this rule's take (all devices in any bucket) */
	uint64_t total_w = 0;
	for (uint32_t d = 0; d < ndev; d++)
		total_w += crush_item_weight(map, (int)d);
	printf("map %s rule %s (%d) num_rep %d x %" PRIu64 "..%" PRIu64 " (%" PRIu64 " mappings)\n",
	       path, map->rules[ruleno]->name, ruleno, o.num_rep, o.min_x, o.max_x, nmap);
	printf("%-12s %10s %10s %10s %10s %8s\n", "device", "weight", "share%", "expected", "actual",
	       "actual/exp");
	double sumsq = 0, maxdev = 0;
	int nweighted = 0;
	const char *maxdev_name = "-";
	for (uint32_t d = 0; d < ndev; d++) {
		if (!map->devices[d].exists)
			continue;
		uint32_t wd = crush_item_weight(map, (int)d);
		char wb[32];
		crush_format_weight(wd, wb, sizeof(wb));
		double share = total_w ? (double)wd / (double)total_w : 0;
		double expected = share * (double)placed;
		double ratio = expected > 0 ? (double)count[d] / expected : 0;
		printf("%-12s %10s %10.3f %10.1f %10" PRIu64 " %8.3f\n", map->devices[d].name, wb,
		       100 * share, expected, count[d], ratio);
		if (expected > 0) {
			double dev = ratio - 1;
			sumsq += dev * dev;
			nweighted++;
			if (crush_fabs(dev) > crush_fabs(maxdev)) {
				maxdev = dev;
				maxdev_name = map->devices[d].name;
			}
		}
	}
	double sd = nweighted ? crush_sqrt(sumsq / nweighted) : 0;
	printf("placements %" PRIu64 " of %" PRIu64 " slots; %" PRIu64 " mappings short of %d;"
	       " %" PRIu64 " unfilled (NONE) positions\n",
	       placed, nmap * (uint64_t)o.num_rep, short_maps, o.num_rep, none);
	printf("spread: stddev of actual/expected %.4f, max deviation %+.2f%% (%s)\n", sd,
	       100 * maxdev, maxdev_name);
	printf("mappings/s %.0f (%.3f s, one core)\n", dt > 0 ? (double)nmap / dt : 0, dt);
	rc = 0;
out:
	free(scratch);
	free(count);
	free(w);
	crush_destroy(map);
	return rc;
}

static int cmd_diff(int argc, char **argv)
{
	struct run_opts o;
	const char *pos[2];
	if (parse_run_opts(argc, argv, &o, NULL, pos, 2) != 2) {
		crush_usage(stderr);
		return 2;
	}
	struct crush_map *a = load_map(pos[0], 0);
	struct crush_map *b = a ? load_map(pos[1], 0) : NULL;
	int rc = 1;
	uint32_t ndev = 0;
	uint32_t *w = NULL;
	int64_t *delta = NULL;
	void *scratch = NULL;
	if (!a || !b)
		goto out;
	int ra = find_rule(a, o.rule, pos[0]);
	int rb = find_rule(b, o.rule, pos[1]);
	if (ra < 0 || rb < 0)
		goto out;
	int indep = 0;
	for (uint32_t s = 0; s < a->rules[ra]->nsteps; s++)
		indep |= a->rules[ra]->steps[s].op == CRUSH_OP_CHOOSE_INDEP ||
			 a->rules[ra]->steps[s].op == CRUSH_OP_CHOOSELEAF_INDEP;
	ndev = a->max_devices > b->max_devices ? a->max_devices : b->max_devices;
	w = all_in(ndev);
	delta = calloc(ndev ? ndev : 1, sizeof(*delta));
	size_t ss = crush_scratch_size(a, o.num_rep);
	scratch = malloc(ss);
	if (!w || !delta || !scratch)
		goto out;

	int ma[CRUSH_MAX_RESULT], mb[CRUSH_MAX_RESULT];
	uint64_t changed = 0, slots = 0, maps_changed = 0;
	for (uint64_t x = o.min_x; x <= o.max_x; x++) {
		int na = crush_do_rule(a, ra, (uint32_t)x, ma, o.num_rep, w, (int)ndev, scratch);
		int nb = crush_do_rule(b, rb, (uint32_t)x, mb, o.num_rep, w, (int)ndev, scratch);
		if (na < 0 || nb < 0)
			goto out;
		uint64_t c = 0;
		if (indep) {
			/* positions matter: a chunk moved to another slot is a move */
			int n = na > nb ? na : nb;
			for (int i = 0; i < n; i++) {
				int ia = i < na ? ma[i] : CRUSH_ITEM_NONE;
				int ib = i < nb ? mb[i] : CRUSH_ITEM_NONE;
				if (ia != ib && ib != CRUSH_ITEM_NONE)
					c++;
			}
		} else {
			/* replicas: a new member of the set is one copy to make */
			for (int i = 0; i < nb; i++) {
				int found = 0;
				for (int k = 0; k < na && !found; k++)
					found = ma[k] == mb[i];
				c += !found;
			}
		}
		for (int i = 0; i < na; i++)
			if (ma[i] >= 0 && (uint32_t)ma[i] < ndev)
				delta[ma[i]]--;
		for (int i = 0; i < nb; i++)
			if (mb[i] >= 0 && (uint32_t)mb[i] < ndev)
				delta[mb[i]]++;
		changed += c;
		maps_changed += c > 0;
		slots += (uint64_t)nb;
	}
	/* The minimum: every placement a device gains must be copied there,
	 * and a device that loses placements can at best hand them to the
	 * gainers, so at least sum(max(0, gain)) placements move. Compare the
	 * weight-based estimate: the share of weight that changed hands. */
	uint64_t min_moves = 0;
	for (uint32_t d = 0; d < ndev; d++)
		if (delta[d] > 0)
			min_moves += (uint64_t)delta[d];
	uint64_t wa = 0, wb = 0;
	for (uint32_t d = 0; d < ndev; d++) {
		wa += crush_item_weight(a, (int)d);
		wb += crush_item_weight(b, (int)d);
	}
	double wshift = 0;
	for (uint32_t d = 0; d < ndev && wa && wb; d++) {
		double sa = (double)crush_item_weight(a, (int)d) / (double)wa;
		double sb = (double)crush_item_weight(b, (int)d) / (double)wb;
		if (sb > sa)
			wshift += sb - sa;
	}
	uint64_t nmap = o.max_x - o.min_x + 1;
	printf("rule %s num_rep %d x %" PRIu64 "..%" PRIu64 " (%" PRIu64 " mappings, %" PRIu64
	       " placements)\n", o.rule, o.num_rep, o.min_x, o.max_x, nmap, slots);
	printf("mappings changed   %" PRIu64 " (%.3f%%)\n", maps_changed,
	       nmap ? 100.0 * (double)maps_changed / (double)nmap : 0);
	printf("placements moved   %" PRIu64 " (%.3f%%)\n", changed,
	       slots ? 100.0 * (double)changed / (double)slots : 0);
	printf("minimum to move    %" PRIu64 " (from per-device placement shifts)\n", min_moves);
	printf("weight shift       %.3f%% of placements (~%.0f)\n", 100 * wshift,
	       wshift * (double)slots);
	if (min_moves)
		printf("ratio moved/min    %.3f\n", (double)changed / (double)min_moves);
	else
		printf("ratio moved/min    %s\n", changed ? "inf" : "1.000 (nothing had to move)");
	rc = 0;
out:
	free(scratch);
	free(delta);
	free(w);
	crush_destroy(a);
	crush_destroy(b);
	return rc;
}

int norn_cli_crush_cluster(struct norn_cli_ctx *ctx, int argc, char **argv);

static int cmd_crush(struct norn_cli_ctx *ctx, int argc, char **argv)
{
	if (argc < 2) {
		crush_usage(stderr);
		return 2;
	}
	const char *sub = argv[1];
	if (!strcmp(sub, "compile"))
		return cmd_compile(argc - 1, argv + 1);
	if (!strcmp(sub, "decompile"))
		return cmd_decompile(argc - 1, argv + 1);
	if (!strcmp(sub, "test"))
		return cmd_test(argc - 1, argv + 1);
	if (!strcmp(sub, "diff"))
		return cmd_diff(argc - 1, argv + 1);
	/* the cluster's live CRUSH map: tools/cmd_cluster.c (owner: mon) */
	if (!strcmp(sub, "show") || !strcmp(sub, "rule") || !strcmp(sub, "add-bucket") ||
	    !strcmp(sub, "move") || !strcmp(sub, "set-weight"))
		return norn_cli_crush_cluster(ctx, argc, argv);
	if (!strcmp(sub, "-h") || !strcmp(sub, "--help") || !strcmp(sub, "help")) {
		crush_usage(stdout);
		return 0;
	}
	fprintf(stderr, "norn crush: unknown subcommand '%s'\n", sub);
	crush_usage(stderr);
	return 2;
}

NORN_CLI_COMMAND("crush", cmd_crush, "CRUSH maps: compile, decompile, test, diff")
