/*
 * test_arena.c - the request arena: alignment, growth, big allocations,
 * strings, printf, and deferred cleanups in reverse order.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "core/core.h"

Test(arena, allocations_are_16_byte_aligned)
{
	struct pc_arena *a = arena_new(512);
	size_t sizes[] = { 1, 3, 7, 16, 17, 33, 0, 100, 5, 250, 1 };
	size_t i;

	cr_assert_not_null(a);
	for (i = 0; i < 200; i++) {
		void *p = arena_alloc(a, sizes[i % (sizeof(sizes) / sizeof(sizes[0]))]);
		cr_assert_not_null(p);
		cr_assert_eq((uintptr_t)p % 16, 0, "allocation %zu is not aligned", i);
	}
	arena_free(a);
}

Test(arena, allocations_do_not_overlap_across_chunks)
{
	struct pc_arena *a = arena_new(256);
	unsigned char *ptrs[300];
	size_t i, j;

	cr_assert_not_null(a);
	for (i = 0; i < 300; i++) {
		ptrs[i] = arena_alloc(a, 40);
		cr_assert_not_null(ptrs[i]);
		memset(ptrs[i], (int)(i & 0xff), 40);
	}
	for (i = 0; i < 300; i++)
		for (j = 0; j < 40; j++)
			cr_assert_eq(ptrs[i][j], (unsigned char)(i & 0xff));
	arena_free(a);
}

Test(arena, a_big_allocation_gets_its_own_chunk_and_keeps_the_head)
{
	struct pc_arena *a = arena_new(1024);
	unsigned char *small1, *big, *small2;

	cr_assert_not_null(a);
	small1 = arena_alloc(a, 16);
	big = arena_alloc(a, 1 << 20);
	cr_assert_not_null(big);
	cr_assert_eq((uintptr_t)big % 16, 0);
	memset(big, 0xab, 1 << 20);
	small2 = arena_alloc(a, 16);
	/* The head chunk was not abandoned: the next small one follows the first. */
	cr_assert_eq(small2, small1 + 16);
	cr_assert_eq(big[(1 << 20) - 1], 0xab);
	arena_free(a);
}

Test(arena, an_impossible_size_fails_cleanly)
{
	struct pc_arena *a = arena_new(0);

	cr_assert_not_null(a);
	cr_assert_null(arena_alloc(a, SIZE_MAX));
	cr_assert_null(arena_alloc(a, SIZE_MAX - 8));
	cr_assert_not_null(arena_alloc(a, 8));
	arena_free(a);
}

Test(arena, calloc_returns_zeroed_memory)
{
	struct pc_arena *a = arena_new(256);
	unsigned char *p;
	size_t i;

	cr_assert_not_null(a);
	p = arena_alloc(a, 64);
	memset(p, 0xff, 64);
	for (i = 0; i < 20; i++) {
		p = arena_calloc(a, 100);
		cr_assert_not_null(p);
		for (size_t j = 0; j < 100; j++)
			cr_assert_eq(p[j], 0);
		memset(p, 0xff, 100);
	}
	arena_free(a);
}

Test(arena, strdup_and_strndup_copy_and_terminate)
{
	struct pc_arena *a = arena_new(0);
	const char *src = "hello world";
	char *d, *n, *m;

	cr_assert_not_null(a);
	d = arena_strdup(a, src);
	cr_assert_str_eq(d, src);
	cr_assert_neq(d, src);
	n = arena_strndup(a, src, 5);
	cr_assert_str_eq(n, "hello");
	m = arena_strndup(a, "ab", 10); /* stops at the NUL */
	cr_assert_str_eq(m, "ab");
	cr_assert_null(arena_strdup(a, NULL));
	arena_free(a);
}

Test(arena, printf_formats_long_text)
{
	struct pc_arena *a = arena_new(256);
	char big[3000];
	char *s;

	cr_assert_not_null(a);
	s = arena_printf(a, "%s=%d", "answer", 42);
	cr_assert_str_eq(s, "answer=42");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	s = arena_printf(a, "[%s]", big);
	cr_assert_not_null(s);
	cr_assert_eq(strlen(s), sizeof(big) + 1);
	cr_assert_eq(s[0], '[');
	cr_assert_eq(s[sizeof(big)], ']');
	arena_free(a);
}

static char order[16];
static size_t norder;

static void record(void *arg)
{
	order[norder++] = *(char *)arg;
}

Test(arena, deferred_cleanups_run_in_reverse_order_at_free)
{
	struct pc_arena *a = arena_new(256);
	static char ids[] = "abcd";
	size_t i;

	cr_assert_not_null(a);
	norder = 0;
	for (i = 0; i < 4; i++) {
		cr_assert_eq(arena_defer(a, record, &ids[i]), PC_OK);
		/* Interleave allocations so records span chunks. */
		cr_assert_not_null(arena_alloc(a, 200));
	}
	cr_assert_eq(norder, 0, "cleanups must not run before free");
	arena_free(a);
	cr_assert_eq(norder, 4);
	cr_assert_eq(memcmp(order, "dcba", 4), 0, "order was %.4s", order);
}

Test(arena, deferred_cleanup_frees_a_heap_resource)
{
	struct pc_arena *a = arena_new(0);
	char *heap = strdup("owned by the arena now");

	cr_assert_not_null(a);
	cr_assert_eq(arena_defer(a, free, heap), PC_OK);
	arena_free(a); /* LeakSanitizer fails the test if free did not run */
}

Test(arena, defer_rejects_a_null_function_and_free_accepts_null)
{
	struct pc_arena *a = arena_new(0);

	cr_assert_eq(arena_defer(a, NULL, NULL), PC_EINVAL);
	arena_free(a);
	arena_free(NULL);
}

/* ---- arena_reset: one arena reused request after request (server.c's lanes) ---- */

static int reset_runs;

static void reset_count(void *arg)
{
	(void)arg;
	reset_runs++;
}

Test(arena, a_reset_runs_the_cleanups_and_starts_the_first_chunk_over)
{
	struct pc_arena *a = arena_new(1024);
	unsigned char *first, *again;

	cr_assert_not_null(a);
	first = arena_alloc(a, 64);
	cr_assert_not_null(first);
	reset_runs = 0;
	cr_assert_eq(arena_defer(a, reset_count, NULL), PC_OK);
	cr_assert_eq(arena_defer(a, free, malloc(100)), PC_OK); /* ASan: no leak */
	for (int i = 0; i < 100; i++) /* more chunks, and chunks of their own */
		cr_assert_not_null(arena_alloc(a, i % 10 == 0 ? 100000 : 200));
	arena_reset(a);
	cr_assert_eq(reset_runs, 1);
	again = arena_alloc(a, 64);
	cr_assert_eq(again, first, "the first allocation after a reset reuses the first chunk");
	/* the cleanups ran once: a second reset or the free runs none again */
	arena_reset(a);
	arena_free(a);
	cr_assert_eq(reset_runs, 1);
	arena_reset(NULL);
}

Test(arena, a_reset_arena_serves_many_rounds)
{
	struct pc_arena *a = arena_new(512);

	cr_assert_not_null(a);
	for (int round = 0; round < 50; round++) {
		char *s = arena_printf(a, "round %d", round);
		unsigned char *z = arena_calloc(a, 300);

		cr_assert_not_null(s);
		cr_assert_str_eq(s, round % 2 == 0 ? arena_printf(a, "round %d", round) : s);
		cr_assert_not_null(z);
		for (int i = 0; i < 300; i++)
			cr_assert_eq(z[i], 0, "round %d byte %d", round, i);
		memset(z, 0xee, 300); /* what the next round must not see in its calloc */
		cr_assert_not_null(arena_alloc(a, 5000));
		arena_reset(a);
	}
	arena_free(a);
}
