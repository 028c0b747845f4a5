/* Unit tests for common/uuid: format, version/variant bits, uniqueness, threads and fork. */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/uuid.h"

static int cmp_str(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

START_TEST(test_generate_str)
{
	enum { N = 100000 };
	char (*ids)[37] = malloc(N * sizeof *ids);

	ck_assert_ptr_nonnull(ids);
	for (int i = 0; i < N; i++) {
		uuid_generate_str(ids[i]);
		ck_assert_uint_eq(strlen(ids[i]), 36);
		ck_assert(uuid_is_valid(ids[i]));
		ck_assert_int_eq(ids[i][14], '4');
		ck_assert_ptr_nonnull(strchr("89ab", ids[i][19]));
		ck_assert_ptr_null(strpbrk(ids[i], "ABCDEF"));
	}
	qsort(ids, N, sizeof *ids, cmp_str);
	for (int i = 1; i < N; i++)
		ck_assert_str_ne(ids[i - 1], ids[i]);
	free(ids);
}
END_TEST

START_TEST(test_generate_hex32)
{
	char id[33], other[33];

	for (int i = 0; i < 10000; i++) {
		uuid_generate_hex32(id);
		ck_assert_uint_eq(strlen(id), 32);
		ck_assert_uint_eq(strspn(id, "0123456789abcdef"), 32);
		ck_assert_int_eq(id[12], '4');
		ck_assert_ptr_nonnull(strchr("89ab", id[16]));
	}
	uuid_generate_hex32(other);
	ck_assert_str_ne(id, other);
}
END_TEST

START_TEST(test_is_valid)
{
	static const char *const good[] = { "0f8fad5b-d9cb-469f-a165-70867728950e",
					    "0F8FAD5B-D9CB-469F-A165-70867728950E",
					    "00000000-0000-0000-0000-000000000000" };
	static const char *const bad[] = { "", "0f8fad5b-d9cb-469f-a165-70867728950",
					   "0f8fad5b-d9cb-469f-a165-70867728950e0",
					   "0f8fad5bd9cb-469f-a165-70867728950e-",
					   "0f8fad5b-d9cb-469f-a165-70867728950g",
					   "{0f8fad5b-d9cb-469f-a165-70867728950e}",
					   "0f8fad5bd9cb469fa16570867728950e",
					   "0f8fad5b-d9cb-469f-a165_70867728950e" };

	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		ck_assert_msg(uuid_is_valid(good[i]), "%s", good[i]);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(!uuid_is_valid(bad[i]), "%s", bad[i]);
	ck_assert(!uuid_is_valid(NULL));
}
END_TEST

static void *thread_first_id(void *arg)
{
	uuid_generate_str(arg);
	return NULL;
}

START_TEST(test_threads_differ)
{
	char ids[8][37];
	pthread_t th[8];

	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, thread_first_id, ids[i]), 0);
	for (int i = 0; i < 8; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 8; i++)
		for (int j = i + 1; j < 8; j++)
			ck_assert_str_ne(ids[i], ids[j]);
}
END_TEST

START_TEST(test_fork_reseeds)
{
	char parent[37], child[37];
	int fds[2], status;
	pid_t pid;

	uuid_generate_str(parent); /* seed this thread before forking */
	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		uuid_generate_str(child);
		_exit(write(fds[1], child, sizeof child) == sizeof child ? 0 : 1);
	}
	uuid_generate_str(parent);
	ck_assert_int_eq(read(fds[0], child, sizeof child), sizeof child);
	waitpid(pid, &status, 0);
	ck_assert_str_ne(parent, child);
	close(fds[0]);
	close(fds[1]);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("uuid");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_generate_str);
	tcase_add_test(tc, test_generate_hex32);
	tcase_add_test(tc, test_is_valid);
	tcase_add_test(tc, test_threads_differ);
	tcase_add_test(tc, test_fork_reseeds);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
