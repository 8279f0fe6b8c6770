/*
 * arena.c - request/task memory: a chunked bump allocator with deferred
 * cleanups (nginx's pools).
 *
 * Owns: every chunk it allocated, and the list of cleanups registered with
 * arena_defer. The struct pc_arena itself lives at the start of the first
 * chunk, so a fresh arena costs one malloc.
 *
 * Invariants:
 *   - every pointer handed out is ARENA_ALIGN (16) byte aligned, and every
 *     size is rounded up to a multiple of ARENA_ALIGN;
 *   - a->head is the chunk being bumped; allocations bigger than a quarter
 *     of the chunk size get a chunk of their own, linked behind the head so
 *     the head keeps its free space;
 *   - cleanups form a LIFO list (allocated from the arena) and run in
 *     reverse order of registration, before any chunk is freed;
 *   - nothing is ever freed individually: arena_free frees all, and
 *     arena_reset all but the first chunk, whose free space starts over
 *     (a server lane reuses one arena request after request: no malloc, no
 *     free on the hot path). Built with AddressSanitizer, what a reset
 *     gives back is poisoned until handed out again, so a pointer kept
 *     from an earlier request is caught as it would be after a free.
 * An arena is used by one thread at a time.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define ARENA_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define ARENA_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define ARENA_POISON(p, n) ((void)(p), (void)(n))
#define ARENA_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define ARENA_ALIGN 16
#define ARENA_DEFAULT_CHUNK 4096
#define ARENA_MIN_CHUNK 256

struct arena_chunk {
	struct arena_chunk *next;
	unsigned char *cur; /* next free byte, ARENA_ALIGN aligned */
	unsigned char *end; /* one past the usable bytes */
	unsigned char mem[]; /* usable bytes start at the first aligned address */
};

struct arena_cleanup {
	struct arena_cleanup *next;
	pc_cleanup_fn fn;
	void *arg;
};

struct pc_arena {
	struct arena_chunk *head;
	struct arena_cleanup *cleanups;
	size_t chunk_size; /* usable bytes of an ordinary chunk */
	struct arena_chunk *first; /* the chunk that holds this struct: kept by arena_reset */
	unsigned char *first_cur;  /* its first free byte after this struct */
};

/* Rounds n up to ARENA_ALIGN; false on overflow. */
static bool arena_round(size_t n, size_t *out)
{
	if (n == 0)
		n = 1;
	if (n > SIZE_MAX - (ARENA_ALIGN - 1))
		return false;
	*out = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	return true;
}

/* A chunk with at least `usable` aligned bytes; NULL on ENOMEM. Caller links it. */
static struct arena_chunk *arena_chunk_new(size_t usable)
{
	struct arena_chunk *c;
	uintptr_t start;

	if (usable > SIZE_MAX - sizeof(*c) - ARENA_ALIGN)
		return NULL;
	c = malloc(sizeof(*c) + usable + ARENA_ALIGN);
	if (c == NULL)
		return NULL;
	start = ((uintptr_t)c->mem + ARENA_ALIGN - 1) & ~(uintptr_t)(ARENA_ALIGN - 1);
	c->next = NULL;
	c->cur = (unsigned char *)start;
	c->end = c->cur + usable;
	return c;
}

/* chunk_size 0 means the default (4 KiB); small sizes are raised to 256. */
struct pc_arena *arena_new(size_t chunk_size)
{
	struct arena_chunk *c;
	struct pc_arena *a;
	size_t self;

	if (chunk_size == 0)
		chunk_size = ARENA_DEFAULT_CHUNK;
	if (chunk_size < ARENA_MIN_CHUNK)
		chunk_size = ARENA_MIN_CHUNK;
	if (!arena_round(chunk_size, &chunk_size) || !arena_round(sizeof(*a), &self))
		return NULL;
	c = arena_chunk_new(chunk_size + self);
	if (c == NULL)
		return NULL;
	a = (struct pc_arena *)c->cur;
	c->cur += self;
	a->head = c;
	a->cleanups = NULL;
	a->chunk_size = chunk_size;
	a->first = c;
	a->first_cur = c->cur;
	return a;
}

/* Runs the cleanups newest first. A cleanup may not register new ones:
 * each is taken off the list first. */
static void arena_run_cleanups(struct pc_arena *a)
{
	struct arena_cleanup *cl;

	while (a->cleanups != NULL) {
		cl = a->cleanups;
		a->cleanups = cl->next;
		cl->fn(cl->arg);
	}
}

/* Runs the cleanups newest first, frees every chunk but the first, and
 * empties the first: the arena is as arena_new made it, nothing it handed
 * out is valid any more. NULL is a no-op. */
void arena_reset(struct pc_arena *a)
{
	struct arena_chunk *c, *next;

	if (a == NULL)
		return;
	arena_run_cleanups(a);
	for (c = a->head; c != NULL; c = next) {
		next = c->next;
		if (c != a->first)
			free(c);
	}
	c = a->first;
	c->next = NULL;
	c->cur = a->first_cur;
	ARENA_POISON(c->cur, (size_t)(c->end - c->cur));
	a->head = c;
}

/* Runs the cleanups newest first, then frees every chunk (the arena itself
 * lives in one of them). NULL is a no-op. */
void arena_free(struct pc_arena *a)
{
	struct arena_chunk *c, *next;

	if (a == NULL)
		return;
	arena_run_cleanups(a);
	/* the first chunk may be poisoned (arena_reset): free() does not mind */
	c = a->head;
	while (c != NULL) {
		next = c->next;
		free(c);
		c = next;
	}
}

/* n bytes, 16-byte aligned, valid until arena_free. NULL on ENOMEM or
 * overflow. n == 0 yields a distinct minimal allocation. */
void *arena_alloc(struct pc_arena *a, size_t n)
{
	struct arena_chunk *c;
	void *p;

	if (a == NULL || !arena_round(n, &n))
		return NULL;
	c = a->head;
	if ((size_t)(c->end - c->cur) >= n) {
		p = c->cur;
		c->cur += n;
		ARENA_UNPOISON(p, n);
		return p;
	}
	if (n > a->chunk_size / 4) {
		/* Its own chunk, behind the head: the head keeps its free space. */
		c = arena_chunk_new(n);
		if (c == NULL)
			return NULL;
		c->next = a->head->next;
		a->head->next = c;
		p = c->cur;
		c->cur += n;
		return p;
	}
	c = arena_chunk_new(a->chunk_size);
	if (c == NULL)
		return NULL;
	c->next = a->head;
	a->head = c;
	p = c->cur;
	c->cur += n;
	return p;
}

void *arena_calloc(struct pc_arena *a, size_t n)
{
	void *p = arena_alloc(a, n);

	if (p != NULL)
		memset(p, 0, n);
	return p;
}

/* A copy of s in the arena; NULL when s is NULL or on ENOMEM. */
char *arena_strdup(struct pc_arena *a, const char *s)
{
	if (s == NULL)
		return NULL;
	return arena_strndup(a, s, strlen(s));
}

/* A NUL-terminated copy of at most n bytes of s (stops at a NUL). */
char *arena_strndup(struct pc_arena *a, const char *s, size_t n)
{
	char *p;

	if (s == NULL)
		return NULL;
	n = strnlen(s, n);
	if (n == SIZE_MAX)
		return NULL;
	p = arena_alloc(a, n + 1);
	if (p == NULL)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/* Formatted text in the arena: measured with one vsnprintf, written with a
 * second. NULL on ENOMEM or a format error. */
char *arena_printf(struct pc_arena *a, const char *fmt, ...)
{
	va_list ap, ap2;
	char *p = NULL;
	int n;

	va_start(ap, fmt);
	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap);
	if (n < 0)
		goto out_end;
	p = arena_alloc(a, (size_t)n + 1);
	if (p == NULL)
		goto out_end;
	vsnprintf(p, (size_t)n + 1, fmt, ap2);
out_end:
	va_end(ap2);
	va_end(ap);
	return p;
}

/* Registers fn(arg) to run at arena_free, newest first. PC_ENOMEM when
 * the record cannot be allocated: nothing is registered and the caller still
 * owns arg. PC_EINVAL when a or fn is NULL. */
enum pc_err arena_defer(struct pc_arena *a, pc_cleanup_fn fn, void *arg)
{
	struct arena_cleanup *cl;

	if (a == NULL || fn == NULL)
		return PC_EINVAL;
	cl = arena_alloc(a, sizeof(*cl));
	if (cl == NULL)
		return PC_ENOMEM;
	cl->fn = fn;
	cl->arg = arg;
	cl->next = a->cleanups;
	a->cleanups = cl;
	return PC_OK;
}
