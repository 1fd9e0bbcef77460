/* The `norn` admin CLI: command registration.
 *
 * Each cmd_*.c file in tools/ registers its top-level words with
 * NORN_CLI_COMMAND(word, fn, summary). main() dispatches on argv[1] and
 * passes the remaining arguments (argv[0] is the word). A command prints
 * its own usage to stderr and returns 2 on bad arguments, 1 on failure
 * and 0 on success; it never crashes on input.
 */
#ifndef NORN_TOOLS_CLI_H
#define NORN_TOOLS_CLI_H
#include <stdio.h>

struct norn_cli_ctx {
	const char *conf_path;   /* -c FILE (default ./norn.conf or /etc/norn/norn.conf) */
	const char *entity;      /* -n NAME (default client.admin) */
	const char *keyring;     /* -k FILE */
	int json;                /* -f json */
	int timeout_ms;          /* --timeout */
};

typedef int (*norn_cli_fn)(struct norn_cli_ctx *ctx, int argc, char **argv);

struct norn_cli_cmd {
	const char *word;
	norn_cli_fn fn;
	const char *summary;
	struct norn_cli_cmd *next;
};

void norn_cli_register(struct norn_cli_cmd *cmd);

#define NORN_CLI_COMMAND(word_, fn_, summary_) \
	static struct norn_cli_cmd cli_cmd_##fn_ = { word_, fn_, summary_, NULL }; \
	__attribute__((constructor)) static void cli_reg_##fn_(void) { norn_cli_register(&cli_cmd_##fn_); }

#endif
