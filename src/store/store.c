/*
 * store.c - opening a store by the scheme of its URL, and closing it.
 *
 * The drivers are a const table; store_open() walks it and hands the URL to
 * the first whose scheme prefixes it. Everything after open goes through the
 * operations of ops.c, which reach the database through s->drv.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/driver.h"

/* The drivers, in the order their schemes are tried. */
static const struct store_driver *const store_drivers[] = {
	&store_sqlite_driver,
	&store_postgres_driver,
};

#define STORE_NDRIVERS (sizeof(store_drivers) / sizeof(store_drivers[0]))

/*
 * Whether d fills every slot: each method and the text of each statement.
 * (This stands where a version number would: drivers are compiled into the
 * binary from driver.h, so there is no older table to tell apart, only an
 * unfinished one.)
 */
static bool driver_complete(const struct store_driver *d)
{
	size_t i;

	if (d->name == NULL || d->scheme == NULL || d->sql == NULL || d->migrations == NULL ||
	    d->nmigrations == NULL || d->open == NULL || d->close == NULL || d->exec == NULL ||
	    d->prepare == NULL || d->bind == NULL || d->step == NULL || d->column_int == NULL ||
	    d->column_text == NULL || d->changes == NULL || d->done == NULL ||
	    d->begin == NULL || d->commit == NULL || d->rollback == NULL)
		return false;
	for (i = 0; i < STMT__MAX; i++)
		if (d->sql[i] == NULL)
			return false;
	return true;
}

/*
 * Opens the driver whose scheme prefixes url. *out is owned by the caller
 * and released with store_close().
 * PC_EINVAL (ei->detail) for a NULL, unknown or malformed URL; PC_EINTERNAL
 * (logged) for a driver with an empty slot; otherwise what its open returns.
 */
enum pc_err store_open(const char *url, struct pc_store **out, struct pc_errinfo *ei)
{
	return store_open_conf(url, NULL, out, ei);
}

/* As store_open, with the pool settings of conf (NULL: the defaults). */
enum pc_err store_open_conf(const char *url, const struct store_conf *conf, struct pc_store **out,
			    struct pc_errinfo *ei)
{
	enum pc_err err;
	size_t i;

	*out = NULL;
	if (url == NULL) {
		pc_errinfo_setf(ei, NULL, "database_url", PC_V_MISSING, "no database URL");
		return PC_EINVAL;
	}
	for (i = 0; i < STORE_NDRIVERS; i++) {
		const struct store_driver *d = store_drivers[i];

		if (strncmp(url, d->scheme, strlen(d->scheme)) != 0)
			continue;
		if (!driver_complete(d)) {
			log_error("store", "the %s driver leaves a slot empty", d->name);
			return PC_EINTERNAL;
		}
		err = d->open(url, conf, out, ei);
		if (err == PC_OK) {
			atomic_store(&(*out)->cred_seq, 1);
			atomic_store(&(*out)->cred_last, -1);
		}
		return err;
	}
	pc_errinfo_setf(ei, NULL, "database_url", PC_V_CHOICE, "unsupported database URL scheme");
	return PC_EINVAL;
}

/* Closes every connection of the store and frees it. NULL is a no-op. */
void store_close(struct pc_store *s)
{
	if (s == NULL)
		return;
	/* closing: no other thread holds the store, so no lock (ops.c) */
	free(s->pages_memo);
	s->pages_memo = NULL;
	s->drv->close(s);
}

static int64_t store_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void store_cred_poll(struct pc_store *s, int64_t every_ms)
{
	int64_t now;

	if (s->drv->cred_sync == NULL)
		return;
	now = store_mono_ms();
	if (now - atomic_load_explicit(&s->cred_read_ms, memory_order_relaxed) <= every_ms ||
	    atomic_exchange(&s->cred_reading, true))
		return; /* read a moment ago, or being read by another thread */
	s->drv->cred_sync(s);
	atomic_store(&s->cred_read_ms, now);
	atomic_store(&s->cred_reading, false);
}
