/*
 * store.c - opening a store by the scheme of its URL, and closing it.
 *
 * The back ends are a const table of ops; store_open() walks it and hands the
 * URL to the first whose scheme prefixes it. Everything after open goes
 * straight through s->ops (STORE_CALL), so this file holds no per-call code.
 */
#include <string.h>

#include "store/store.h"

/* The back ends, in the order their schemes are tried. */
static const struct pc_store_ops *const store_backends[] = {
	&store_sqlite_ops,
	/* &store_postgres_ops, when it lands */
};

#define STORE_NBACKENDS (sizeof(store_backends) / sizeof(store_backends[0]))

/*
 * Opens the back end whose scheme prefixes url. *out is owned by the caller
 * and released with store_close().
 * PC_EINVAL (ei->detail) for a NULL, unknown or malformed URL; otherwise what the
 * back end's open returns.
 */
enum pc_err store_open(const char *url, struct pc_store **out, struct pc_errinfo *ei)
{
	size_t i;

	*out = NULL;
	if (url == NULL) {
		pc_errinfo_setf(ei, NULL, "database_url", PC_V_RULE, "no database URL");
		return PC_EINVAL;
	}
	for (i = 0; i < STORE_NBACKENDS; i++) {
		const struct pc_store_ops *ops = store_backends[i];

		if (strncmp(url, ops->scheme, strlen(ops->scheme)) == 0)
			return ops->open(url, out, ei);
	}
	pc_errinfo_setf(ei, NULL, "database_url", PC_V_RULE, "unsupported database URL scheme");
	return PC_EINVAL;
}

/* Closes every connection of the store and frees it. NULL is a no-op. */
void store_close(struct pc_store *s)
{
	if (s == NULL)
		return;
	s->ops->close(s);
}
