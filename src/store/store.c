/*
 * store.c - opening a store by the scheme of its URL, and closing it.
 *
 * The drivers are a const table; store_open() walks it and hands the URL to
 * the first whose scheme prefixes it. Everything after open goes through the
 * operations of ops.c, which reach the database through s->drv.
 */
#include <string.h>

#include "store/driver.h"

/* The drivers, in the order their schemes are tried. */
static const struct store_driver *const store_drivers[] = {
	&store_sqlite_driver,
	/* &store_postgres_driver, when it lands */
};

#define STORE_NDRIVERS (sizeof(store_drivers) / sizeof(store_drivers[0]))

/*
 * Opens the driver whose scheme prefixes url. *out is owned by the caller
 * and released with store_close().
 * PC_EINVAL (ei->msg) for a NULL, unknown or malformed URL; otherwise what the
 * driver's open returns.
 */
enum pc_err store_open(const char *url, struct pc_store **out, struct pc_errinfo *ei)
{
	size_t i;

	*out = NULL;
	if (url == NULL) {
		pc_errinfo_set(ei, NULL, "database_url", "value_error", "no database URL");
		return PC_EINVAL;
	}
	for (i = 0; i < STORE_NDRIVERS; i++) {
		const struct store_driver *d = store_drivers[i];

		if (strncmp(url, d->scheme, strlen(d->scheme)) == 0)
			return d->open(url, out, ei);
	}
	pc_errinfo_set(ei, NULL, "database_url", "value_error", "unsupported database URL scheme");
	return PC_EINVAL;
}

/* Closes every connection of the store and frees it. NULL is a no-op. */
void store_close(struct pc_store *s)
{
	if (s == NULL)
		return;
	s->drv->close(s);
}
