/*
 * dl.c - a shared library loaded when it is first needed, not at start-up.
 *
 * The server links neither libpq nor libcurl: a server on SQLite with no
 * outbound HTTP and no SMTP never maps them nor their dependencies (Kerberos,
 * LDAP, SASL, nghttp2, ssh2, ...: about 2 MiB of resident pages). The layer
 * that owns such a library (the store for libpq, the core for libcurl) keeps
 * a table of its functions, typed from the library's own header, and fills it
 * once with pc_dl_load; this file is the one place that calls dlopen/dlsym.
 *
 * Invariants: the library is opened RTLD_NOW | RTLD_LOCAL (every symbol bound
 * at once, none visible to the rest of the process); it is all or nothing: a
 * library or a name missing leaves nothing open and every slot NULL; a library
 * loaded stays loaded for the life of the process (its functions may be
 * called from any thread after).
 */
#include <dlfcn.h>
#include <stdio.h>

#include "base/base.h"

enum pc_err pc_dl_load(const char *soname, const char *const *names, void **syms, size_t n,
		       char *why, size_t whysz)
{
	void *h;
	size_t i;

	for (i = 0; i < n; i++)
		syms[i] = NULL;
	h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		const char *e = dlerror();

		snprintf(why, whysz, "cannot load %s: %s", soname, e != NULL ? e : "unknown error");
		return PC_EINTERNAL;
	}
	for (i = 0; i < n; i++) {
		const char *e;

		(void)dlerror();
		syms[i] = dlsym(h, names[i]);
		e = dlerror();
		if (syms[i] == NULL || e != NULL) {
			snprintf(why, whysz, "%s has no function %s: %s", soname, names[i],
				 e != NULL ? e : "NULL");
			for (i = 0; i < n; i++)
				syms[i] = NULL;
			dlclose(h);
			return PC_EINTERNAL;
		}
	}
	return PC_OK;
}
