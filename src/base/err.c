/*
 * err.c - the names of enum pc_err and enum pc_verr, and filling struct
 * pc_errinfo. No client-facing words: faces render codes themselves.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/base.h"

static const char *const err_names[PC_ERR__MAX] = {
	[PC_OK] = "ok",
	[PC_ENOMEM] = "out of memory",
	[PC_EINVAL] = "invalid input",
	[PC_ETOOBIG] = "input too big",
	[PC_ENOTFOUND] = "not found",
	[PC_EEXISTS] = "already exists",
	[PC_EBADCREDS] = "bad credentials",
	[PC_ENOTVERIFIED] = "user not verified",
	[PC_EUNAUTHORIZED] = "unauthorized",
	[PC_EFORBIDDEN] = "forbidden",
	[PC_EBADPASSWORD] = "password rejected by policy",
	[PC_EBUSY] = "busy",
	[PC_ESTORE] = "store error",
	[PC_EINTERNAL] = "internal error",
	[PC_EALREADY] = "already done",
	[PC_EREVOKED] = "token reused: family revoked",
	[PC_ELIMITED] = "too many attempts",
	[PC_ESECONDFACTOR] = "second factor required",
	[PC_EUNAVAILABLE] = "database unavailable",
};

const char *pc_strerror(enum pc_err err)
{
	if ((unsigned)err >= PC_ERR__MAX || err_names[err] == NULL)
		return "unknown error";
	return err_names[err];
}

static const char *const verr_names[PC_V__MAX] = {
	[PC_V_NONE] = "none",
	[PC_V_MISSING] = "missing",
	[PC_V_STRING_TYPE] = "string_type",
	[PC_V_BOOL_TYPE] = "bool_type",
	[PC_V_BOOL_PARSING] = "bool_parsing",
	[PC_V_OBJECT_TYPE] = "object_type",
	[PC_V_JSON_INVALID] = "json_invalid",
	[PC_V_FORM_INVALID] = "form_invalid",
	[PC_V_NUL_CHAR] = "nul_char",
	[PC_V_PATTERN] = "pattern",
	[PC_V_TOO_SHORT] = "too_short",
	[PC_V_TOO_LONG] = "too_long",
	[PC_V_CONTAINS_EMAIL] = "contains_email",
	[PC_V_CONTAINS_USERNAME] = "contains_username",
	[PC_V_TOO_WEAK] = "too_weak",
	[PC_V_NAME_INVALID] = "name_invalid",
	[PC_V_ROLES_INVALID] = "roles_invalid",
	[PC_V_USERNAME_INVALID] = "username_invalid",
	[PC_V_TAKEN] = "taken",
	[PC_V_INACTIVE] = "inactive",
	[PC_V_CSRF_MISSING] = "csrf_missing",
	[PC_V_CSRF_MISMATCH] = "csrf_mismatch",
	[PC_V_INVALID] = "invalid",
	[PC_V_EMAIL_EMPTY] = "email_empty",
	[PC_V_EMAIL_TOO_LONG] = "email_too_long",
	[PC_V_EMAIL_NO_AT] = "email_no_at",
	[PC_V_EMAIL_BAD_CHARS] = "email_bad_chars",
	[PC_V_EMAIL_LOCAL_EMPTY] = "email_local_empty",
	[PC_V_EMAIL_LOCAL_TOO_LONG] = "email_local_too_long",
	[PC_V_EMAIL_LOCAL_DOT_EDGE] = "email_local_dot_edge",
	[PC_V_EMAIL_LOCAL_DOUBLE_DOT] = "email_local_double_dot",
	[PC_V_EMAIL_LOCAL_BAD_CHARS] = "email_local_bad_chars",
	[PC_V_EMAIL_DOMAIN_EMPTY] = "email_domain_empty",
	[PC_V_EMAIL_DOMAIN_TOO_LONG] = "email_domain_too_long",
	[PC_V_EMAIL_DOMAIN_INVALID] = "email_domain_invalid",
	[PC_V_EMAIL_DOMAIN_BAD_CHARS] = "email_domain_bad_chars",
	[PC_V_EMAIL_DOMAIN_NO_DOT] = "email_domain_no_dot",
	[PC_V_UNKNOWN_SETTING] = "unknown_setting",
	[PC_V_NOT_INTEGER] = "not_integer",
	[PC_V_NOT_BOOL] = "not_bool",
	[PC_V_RANGE] = "range",
	[PC_V_CHOICE] = "choice",
	[PC_V_CONTROL_CHARS] = "control_chars",
	[PC_V_RULE] = "rule",
	[PC_V_IO] = "io",
	[PC_V_SYNTAX] = "syntax",
	[PC_V_STORE] = "store",
	[PC_V_ROUTE] = "route",
	[PC_V_LISTEN] = "listen",
	[PC_V_INTERNAL] = "internal",
};

const char *pc_verr_name(enum pc_verr code)
{
	if ((unsigned)code >= PC_V__MAX || verr_names[code] == NULL)
		return "unknown";
	return verr_names[code];
}

void pc_errinfo_set(struct pc_errinfo *ei, const char *where, const char *field,
		    enum pc_verr code, long limit)
{
	if (ei == NULL)
		return;
	if (where != NULL)
		snprintf(ei->where, sizeof(ei->where), "%s", where);
	if (field != NULL)
		snprintf(ei->field, sizeof(ei->field), "%s", field);
	ei->code = code;
	ei->limit = limit;
	ei->detail[0] = '\0';
}

void pc_errinfo_detail(struct pc_errinfo *ei, const char *fmt, ...)
{
	va_list ap;

	if (ei == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(ei->detail, sizeof(ei->detail), fmt, ap);
	va_end(ap);
}

void pc_errinfo_setf(struct pc_errinfo *ei, const char *where, const char *field,
		     enum pc_verr code, const char *fmt, ...)
{
	va_list ap;

	if (ei == NULL)
		return;
	pc_errinfo_set(ei, where, field, code, 0);
	va_start(ap, fmt);
	vsnprintf(ei->detail, sizeof(ei->detail), fmt, ap);
	va_end(ap);
}

const char *pc_errinfo_describe(const struct pc_errinfo *ei, char *out, size_t outsz)
{
	if (outsz == 0)
		return out;
	if (ei->detail[0] != '\0')
		snprintf(out, outsz, "%s", ei->detail);
	else if (ei->limit != 0)
		snprintf(out, outsz, "%s%s%s (limit %ld)", ei->field, ei->field[0] ? ": " : "",
			 pc_verr_name(ei->code), ei->limit);
	else
		snprintf(out, outsz, "%s%s%s", ei->field, ei->field[0] ? ": " : "",
			 pc_verr_name(ei->code));
	return out;
}
