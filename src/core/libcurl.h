/*
 * libcurl.h - libcurl's functions, loaded when first needed (httpc.c).
 *
 * The server does not link libcurl: a server that sends no webhook, no mail
 * by SMTP and talks to no OAuth provider never maps it nor what it pulls in
 * (nghttp2, ssh2, rtmp, psl, Kerberos, LDAP...). httpc_global_init (core.h)
 * opens libcurl.so.4 the first time it is called, resolves every function
 * below into the table `libcurl`, and runs curl_global_init, once per process
 * (pthread_once). Every user of libcurl calls httpc_global_init first and
 * calls libcurl only when it returned PC_OK; before that the table's slots are
 * NULL. The table is written once, under the pthread_once, and only read
 * after.
 *
 * A call reads as curl's own without its "curl_" prefix:
 * libcurl.easy_perform(c) is curl_easy_perform(c). Each slot has the type of
 * the function in curl/curl.h (the compiler checks every call's arguments),
 * except that libcurl.easy_setopt and libcurl.easy_getinfo are variadic as in
 * curl, and curl's compile-time check of a direct call's value
 * (typecheck-gcc.h) does not see a call through a pointer: the value is
 * written with the type the option takes (1L, (long), (curl_off_t), a
 * pointer, a function of the callback's type).
 */
#ifndef PC_CORE_LIBCURL_H
#define PC_CORE_LIBCURL_H

#include <curl/curl.h>

/* The soname dlopen'ed: libcurl4 (OpenSSL flavour), the one built against. */
#define LIBCURL_SONAME "libcurl.so.4"

/* Every libcurl function the core calls, as curl_<name>. */
#define LIBCURL_FUNCS(X)                                                                       \
	X(global_init)                                                                         \
	X(easy_init) X(easy_setopt) X(easy_perform) X(easy_getinfo) X(easy_cleanup)            \
	X(easy_strerror)                                                                       \
	X(slist_append) X(slist_free_all)                                                      \
	X(url) X(url_set) X(url_get) X(url_cleanup) X(free)                                    \
	X(mime_init) X(mime_addpart) X(mime_data) X(mime_type) X(mime_encoder) X(mime_free)

struct libcurl_fns {
#define LIBCURL_SLOT(name) __typeof__(curl_##name) *name;
	LIBCURL_FUNCS(LIBCURL_SLOT)
#undef LIBCURL_SLOT
};

/* Filled by the first httpc_global_init that succeeds (httpc.c). */
extern struct libcurl_fns libcurl;

#endif /* PC_CORE_LIBCURL_H */
