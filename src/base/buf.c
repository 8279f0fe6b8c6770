/*
 * buf.c - a bounded growable byte buffer (curl's dynbuf: the maximum is not
 * optional).
 *
 * Owns: b->data (heap) from the first add until buf_release.
 *
 * Invariants:
 *   - len <= max, and len < cap once data is non-NULL;
 *   - data[len] == '\0' once data is non-NULL (after the first add);
 *   - cap grows geometrically but never past max + 1 (room for the NUL);
 *   - an add that would pass max fails with PC_ETOOBIG and changes nothing;
 *   - buffers often hold request bodies with passwords in them, so memory
 *     is wiped before it is given back (on growth and on release).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

#define BUF_MIN_CAP 64

void buf_init(struct pc_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

/* Makes room for n more bytes plus the NUL. PC_ETOOBIG past max (nothing
 * changes), PC_ENOMEM when memory runs out (nothing changes). */
static enum pc_err buf_reserve(struct pc_buf *b, size_t n)
{
	size_t need, limit, cap;
	char *p;

	if (n > b->max - b->len)
		return PC_ETOOBIG;
	need = b->len + n + 1; /* len + n <= max, and max + 1 is the limit below */
	if (need == 0)
		return PC_ETOOBIG; /* max == SIZE_MAX and the buffer is full */
	if (b->data != NULL && need <= b->cap)
		return PC_OK;
	limit = b->max < SIZE_MAX ? b->max + 1 : SIZE_MAX;
	cap = b->cap > 0 ? b->cap : BUF_MIN_CAP;
	while (cap < need && cap <= limit / 2)
		cap *= 2;
	if (cap < need)
		cap = need;
	if (cap > limit)
		cap = limit;
	p = malloc(cap);
	if (p == NULL)
		return PC_ENOMEM;
	if (b->data != NULL) {
		memcpy(p, b->data, b->len);
		crypto_wipe(b->data, b->cap);
		free(b->data);
	}
	p[b->len] = '\0';
	b->data = p;
	b->cap = cap;
	return PC_OK;
}

/* Appends n bytes of p. PC_ETOOBIG past max, PC_ENOMEM: the buffer is
 * unchanged in both cases. */
enum pc_err buf_add(struct pc_buf *b, const void *p, size_t n)
{
	enum pc_err err = buf_reserve(b, n);

	if (err != PC_OK)
		return err;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return PC_OK;
}

enum pc_err buf_addstr(struct pc_buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

/* Appends formatted text. PC_ETOOBIG past max, PC_ENOMEM, PC_EINVAL on a
 * format error: the buffer is unchanged in each case. */
enum pc_err buf_printf(struct pc_buf *b, const char *fmt, ...)
{
	enum pc_err err;
	va_list ap, ap2;
	int n;

	va_start(ap, fmt);
	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap);
	if (n < 0) {
		err = PC_EINVAL;
		goto out_end;
	}
	err = buf_reserve(b, (size_t)n);
	if (err != PC_OK)
		goto out_end;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
	b->len += (size_t)n;
out_end:
	va_end(ap2);
	va_end(ap);
	return err;
}

/* len = 0; keeps (and wipes) the memory. */
void buf_reset(struct pc_buf *b)
{
	if (b->data != NULL) {
		crypto_wipe(b->data, b->len);
		b->data[0] = '\0';
	}
	b->len = 0;
}

/* Wipes and frees the data; max is kept, so the struct may be reused. */
void buf_release(struct pc_buf *b)
{
	if (b->data != NULL) {
		crypto_wipe(b->data, b->cap);
		free(b->data);
	}
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

/* ---- numbers as text ---------------------------------------------------------------- */

/* v's digits at out, then a NUL: their count (1..20). */
static size_t text_digits(char *out, uint64_t v)
{
	char tmp[TEXT_INT_MAX];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	for (i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	out[n] = '\0';
	return n;
}

size_t text_u64(char out[TEXT_INT_MAX], uint64_t v)
{
	return text_digits(out, v);
}

size_t text_i64(char out[TEXT_INT_MAX], int64_t v)
{
	if (v >= 0)
		return text_digits(out, (uint64_t)v);
	out[0] = '-';
	/* the magnitude in unsigned arithmetic: INT64_MIN has no positive twin */
	return 1 + text_digits(out + 1, 0 - (uint64_t)v);
}
