/* A tiny in-tree test harness (in the spirit of libuv's runner).
 *
 * A test file defines TEST(name) functions and a TEST_LIST; main() runs
 * them, each in a forked child with a timeout so one crash or hang fails
 * that test alone, and prints "N passed, N failed" as its last line.
 * Checks: CHECK(cond) and CHECK_EQ(a, b) report file:line and fail the
 * test. Run one test with `./test_x name`.
 */
#ifndef NORN_TEST_HARNESS_H
#define NORN_TEST_HARNESS_H
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct test_case { const char *name; void (*fn)(void); };

#define TEST(name) static void test_##name(void)
#define TEST_ENTRY(name) { #name, test_##name }

#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "  CHECK failed: %s at %s:%d\n", #cond, __FILE__, __LINE__); \
	fflush(stderr); _exit(1); } } while (0)
#define CHECK_EQ(a, b) do { long long _a = (long long)(a), _b = (long long)(b); if (_a != _b) { \
	fprintf(stderr, "  CHECK_EQ failed: %s == %s (%lld != %lld) at %s:%d\n", #a, #b, _a, _b, \
	        __FILE__, __LINE__); fflush(stderr); _exit(1); } } while (0)
#define CHECK_STREQ(a, b) do { const char *_a = (a), *_b = (b); if (strcmp(_a, _b)) { \
	fprintf(stderr, "  CHECK_STREQ failed: \"%s\" != \"%s\" at %s:%d\n", _a, _b, \
	        __FILE__, __LINE__); fflush(stderr); _exit(1); } } while (0)

static inline int test_run_main(const struct test_case *tests, size_t n, int argc, char **argv,
                                unsigned timeout_s)
{
	int passed = 0, failed = 0;
	const char *env_to = getenv("NORN_TEST_TIMEOUT");
	if (env_to)
		timeout_s = (unsigned)atoi(env_to);
	for (size_t i = 0; i < n; i++) {
		if (argc > 1 && strcmp(argv[1], tests[i].name))
			continue;
		fflush(NULL);
		pid_t pid = fork();
		if (pid == 0) {
			alarm(timeout_s);
			tests[i].fn();
			fflush(NULL);
			_exit(0);
		}
		int st = 0;
		waitpid(pid, &st, 0);
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
			printf("ok     %s\n", tests[i].name);
			passed++;
		} else {
			if (WIFSIGNALED(st))
				printf("FAIL   %s (signal %d%s)\n", tests[i].name, WTERMSIG(st),
				       WTERMSIG(st) == SIGALRM ? ", timeout" : "");
			else
				printf("FAIL   %s (exit %d)\n", tests[i].name, WEXITSTATUS(st));
			failed++;
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : (passed ? 0 : 1);
}

#define TEST_MAIN_TIMEOUT(timeout_s, ...) \
	int main(int argc, char **argv) { \
		static const struct test_case tests[] = { __VA_ARGS__ }; \
		return test_run_main(tests, sizeof(tests) / sizeof(tests[0]), argc, argv, timeout_s); \
	}
#define TEST_MAIN(...) TEST_MAIN_TIMEOUT(120, __VA_ARGS__)

#endif
