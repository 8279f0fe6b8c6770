/*
 * err.c - the names of enum pc_err, and filling struct pc_errinfo.
 */
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
};

const char *pc_strerror(enum pc_err err)
{
	if ((unsigned)err >= PC_ERR__MAX || err_names[err] == NULL)
		return "unknown error";
	return err_names[err];
}

/* Copies each non-NULL part, truncating to the field. ei may be NULL. */
void pc_errinfo_set(struct pc_errinfo *ei, const char *where, const char *field,
		    const char *type, const char *msg)
{
	if (ei == NULL)
		return;
	if (where != NULL)
		snprintf(ei->where, sizeof(ei->where), "%s", where);
	if (field != NULL)
		snprintf(ei->field, sizeof(ei->field), "%s", field);
	if (type != NULL)
		snprintf(ei->type, sizeof(ei->type), "%s", type);
	if (msg != NULL)
		snprintf(ei->msg, sizeof(ei->msg), "%s", msg);
}
