/* `norn`: the admin CLI. Global options, then a command word dispatched to
 * the cmd_*.c file that registered it. */
#include <stdlib.h>
#include <string.h>
#include "tools/cli.h"

static struct norn_cli_cmd *g_cmds;

void norn_cli_register(struct norn_cli_cmd *cmd)
{
	struct norn_cli_cmd **pp = &g_cmds;
	/* keep the list sorted for usage output */
	while (*pp && strcmp((*pp)->word, cmd->word) < 0)
		pp = &(*pp)->next;
	cmd->next = *pp;
	*pp = cmd;
}

static void usage(FILE *fp)
{
	fprintf(fp, "usage: norn [-c CONF] [-n ENTITY] [-k KEYRING] [-f json] [--timeout MS] COMMAND ...\n\ncommands:\n");
	for (struct norn_cli_cmd *c = g_cmds; c; c = c->next)
		fprintf(fp, "  %-10s %s\n", c->word, c->summary);
}

int main(int argc, char **argv)
{
	struct norn_cli_ctx ctx = { NULL, "client.admin", NULL, 0, 10000 };
	int i = 1;

	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "norn: option %s needs a value\n", a);
			usage(stderr);
			return 2;
		}
		if (!strcmp(a, "-c") || !strcmp(a, "--conf"))
			ctx.conf_path = argv[++i];
		else if (!strcmp(a, "-n") || !strcmp(a, "--name"))
			ctx.entity = argv[++i];
		else if (!strcmp(a, "-k") || !strcmp(a, "--keyring"))
			ctx.keyring = argv[++i];
		else if (!strcmp(a, "-f") || !strcmp(a, "--format")) {
			const char *f = argv[++i];
			if (!strcmp(f, "json"))
				ctx.json = 1;
			else if (strcmp(f, "plain")) {
				fprintf(stderr, "norn: unknown format '%s' (json or plain)\n", f);
				return 2;
			}
		} else if (!strcmp(a, "--timeout")) {
			char *end;
			long v = strtol(argv[++i], &end, 10);
			if (*end || v <= 0 || v > 3600000) {
				fprintf(stderr, "norn: bad --timeout '%s' (milliseconds)\n", argv[i]);
				return 2;
			}
			ctx.timeout_ms = (int)v;
		} else {
			fprintf(stderr, "norn: unknown option '%s'\n", a);
			usage(stderr);
			return 2;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	if (!ctx.conf_path) {
		const char *env = getenv("NORN_CONF");
		ctx.conf_path = env ? env : "norn.conf";
	}
	for (struct norn_cli_cmd *c = g_cmds; c; c = c->next)
		if (!strcmp(c->word, argv[i]))
			return c->fn(&ctx, argc - i, argv + i);
	fprintf(stderr, "norn: unknown command '%s'\n", argv[i]);
	usage(stderr);
	return 2;
}
