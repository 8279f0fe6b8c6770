/*
 * errors.c - each API's words for the core's validation codes.
 *
 * One table per framework, indexed by enum pc_verr; faces of the same
 * framework share one (fastapi_users and myauth are both FastAPI; simplejwt
 * is DRF). A message may hold "{}", replaced by the limit, or by the detail
 * for PC_V_PATTERN; nothing else is substituted.
 */
#include <stdio.h>
#include <string.h>

#include "faces/errors.h"
#include "http/http.h"

/* A message: a table's words (under 256 bytes) with a value of under 256
 * put in, whole. */
#define ERRORS_MSG_MAX 512

/* Copies fmt to out with its first "{}" replaced by the limit (or, for
 * PC_V_PATTERN, the detail); cut to outsz. */
static void errors_fill(const char *fmt, const struct pc_errinfo *ei, char *out, size_t outsz)
{
	const char *hole = strstr(fmt, "{}");
	char value[256];

	if (hole == NULL) {
		snprintf(out, outsz, "%s", fmt);
		return;
	}
	if (ei->code == PC_V_PATTERN)
		snprintf(value, sizeof(value), "%s", ei->detail);
	else
		snprintf(value, sizeof(value), "%ld", ei->limit);
	snprintf(out, outsz, "%.*s%s%s", (int)(hole - fmt), fmt, value, hole + 2);
}

/* ---- FastAPI / pydantic v2 ------------------------------------------------------ */

struct fastapi_word {
	const char *type;
	const char *msg;
};

#define EMAIL_PREFIX "value is not a valid email address: "

static const struct fastapi_word fastapi_words[PC_V__MAX] = {
	[PC_V_MISSING] = { "missing", "Field required" },
	[PC_V_NOT_INTEGER] = { "int_parsing",
			       "Input should be a valid integer, unable to parse string as an integer" },
	[PC_V_RANGE] = { "greater_than_equal", "Input should be greater than or equal to {}" },
	[PC_V_STRING_TYPE] = { "string_type", "Input should be a valid string" },
	[PC_V_BOOL_TYPE] = { "bool_type", "Input should be a valid boolean" },
	[PC_V_BOOL_PARSING] = { "bool_parsing",
				"Input should be a valid boolean, unable to interpret input" },
	[PC_V_OBJECT_TYPE] = { "model_attributes_type",
			       "Input should be a valid dictionary or object to extract fields from" },
	[PC_V_JSON_INVALID] = { "json_invalid", "JSON decode error" },
	[PC_V_FORM_INVALID] = { "value_error", "Invalid form body" },
	[PC_V_NUL_CHAR] = { "value_error", "Value error, the string contains a NUL character" },
	[PC_V_PATTERN] = { "string_pattern_mismatch", "String should match pattern '{}'" },
	[PC_V_TOO_SHORT] = { "string_too_short", "String should have at least {} characters" },
	[PC_V_TOO_LONG] = { "string_too_long", "String should have at most {} characters" },
	[PC_V_NAME_INVALID] = { "value_error",
				"Value error, full_name is at most 255 bytes without control characters" },
	[PC_V_USERNAME_INVALID] = { "value_error",
				    "Value error, a username is 3 to 150 of letters, digits and _ . + -" },
	[PC_V_ROLES_INVALID] = { "value_error",
				 "Value error, roles are at most {} names of 1 to 32 of a-z 0-9 _ . -" },
	[PC_V_TAKEN] = { "value_error", "Value error, already taken" },
	[PC_V_EMAIL_EMPTY] = { "value_error", EMAIL_PREFIX "An email address is required." },
	[PC_V_EMAIL_TOO_LONG] = { "value_error", EMAIL_PREFIX "The email address is too long." },
	[PC_V_EMAIL_NO_AT] = { "value_error", EMAIL_PREFIX "An email address must have an @-sign." },
	[PC_V_EMAIL_BAD_CHARS] = { "value_error",
				   EMAIL_PREFIX "The email address contains invalid characters." },
	[PC_V_EMAIL_LOCAL_EMPTY] = { "value_error",
				     EMAIL_PREFIX "There must be something before the @-sign." },
	[PC_V_EMAIL_LOCAL_TOO_LONG] = { "value_error",
					EMAIL_PREFIX "The email address is too long before the @-sign." },
	[PC_V_EMAIL_LOCAL_DOT_EDGE] = { "value_error",
					EMAIL_PREFIX "An email address cannot start or end with a period." },
	[PC_V_EMAIL_LOCAL_DOUBLE_DOT] = { "value_error",
					  EMAIL_PREFIX "An email address cannot have two periods in a row." },
	[PC_V_EMAIL_LOCAL_BAD_CHARS] = { "value_error", EMAIL_PREFIX
					 "The email address contains invalid characters before the @-sign." },
	[PC_V_EMAIL_DOMAIN_EMPTY] = { "value_error",
				      EMAIL_PREFIX "There must be something after the @-sign." },
	[PC_V_EMAIL_DOMAIN_TOO_LONG] = { "value_error",
					 EMAIL_PREFIX "The email address is too long after the @-sign." },
	[PC_V_EMAIL_DOMAIN_INVALID] = { "value_error",
					EMAIL_PREFIX "The part after the @-sign is not valid." },
	[PC_V_EMAIL_DOMAIN_BAD_CHARS] = { "value_error", EMAIL_PREFIX
					  "The part after the @-sign contains invalid characters." },
	[PC_V_EMAIL_DOMAIN_NO_DOT] = { "value_error", EMAIL_PREFIX
				       "The part after the @-sign is not valid. It should have a period." },
};

/* fastapi-users' InvalidPasswordException reasons, by the rule broken. */
static const char *const fastapi_password_words[PC_V__MAX] = {
	[PC_V_TOO_SHORT] = "Password should be at least {} characters",
	[PC_V_TOO_LONG] = "Password should be at most {} characters",
	[PC_V_CONTAINS_EMAIL] = "Password should not contain e-mail",
	[PC_V_CONTAINS_USERNAME] = "Password should not contain the username",
	[PC_V_TOO_WEAK] = "Password is too easy to guess",
};

json_t *fastapi_validation_new(const struct pc_errinfo *ei)
{
	const struct fastapi_word *w = NULL;
	char msg[ERRORS_MSG_MAX];
	json_t *loc;

	if ((unsigned)ei->code < PC_V__MAX && fastapi_words[ei->code].type != NULL)
		w = &fastapi_words[ei->code];
	if (w != NULL)
		errors_fill(w->msg, ei, msg, sizeof(msg));
	else
		snprintf(msg, sizeof(msg), "Invalid input");
	loc = json_pack("[s]", ei->where[0] != '\0' ? ei->where : "body");
	if (loc != NULL && ei->field[0] != '\0')
		json_array_append_new(loc, json_string(ei->field));
	return json_pack("{s:[{s:s, s:o, s:s, s:n}]}", "detail", "type",
			 w != NULL ? w->type : "value_error", "loc", loc, "msg", msg, "input");
}

const char *fastapi_password_reason(const struct pc_errinfo *ei, char *out, size_t outsz)
{
	const char *fmt = (unsigned)ei->code < PC_V__MAX ? fastapi_password_words[ei->code] : NULL;

	if (fmt == NULL)
		fmt = "Password is invalid";
	errors_fill(fmt, ei, out, outsz);
	return out;
}

/* ---- Django REST framework (seed 002) ------------------------------------------------ */

static const char *const drf_words[PC_V__MAX] = {
	[PC_V_MISSING] = "This field is required.", /* DRF's words (the seed writes them lower-case) */
	[PC_V_STRING_TYPE] = "Not a valid string.",
	[PC_V_BOOL_TYPE] = "Must be a valid boolean.",
	[PC_V_BOOL_PARSING] = "Must be a valid boolean.",
	[PC_V_OBJECT_TYPE] = "Invalid data. Expected a dictionary.",
	[PC_V_JSON_INVALID] = "JSON parse error.",
	[PC_V_FORM_INVALID] = "Invalid form data.",
	[PC_V_NUL_CHAR] = "Null characters are not allowed.",
	[PC_V_PATTERN] = "\"{}\" is not a valid choice.",
	[PC_V_TOO_SHORT] = "Ensure this field has at least {} characters.",
	[PC_V_TOO_LONG] = "Ensure this field has no more than {} characters.",
	[PC_V_CONTAINS_EMAIL] = "The password is too similar to the email address.",
	[PC_V_CONTAINS_USERNAME] = "The password is too similar to the username.",
	[PC_V_TOO_WEAK] = "This password is too common.",
	[PC_V_NAME_INVALID] = "Ensure this field has no more than {} characters and no control characters.",
	[PC_V_USERNAME_INVALID] = "Enter a valid username. This value may contain only letters, numbers, and ./+/-/_ characters.",
	[PC_V_ROLES_INVALID] = "Ensure there are no more than {} roles of 1 to 32 of a-z 0-9 _ . - each.",
	[PC_V_TAKEN] = "A user with that value already exists.",
};

#define DRF_EMAIL_WORDS "Enter a valid email address."

json_t *drf_validation_new(const struct pc_errinfo *ei)
{
	const char *fmt = NULL;
	char msg[ERRORS_MSG_MAX];

	if (ei->code >= PC_V_EMAIL_EMPTY && ei->code <= PC_V_EMAIL_DOMAIN_NO_DOT)
		fmt = DRF_EMAIL_WORDS;
	else if ((unsigned)ei->code < PC_V__MAX)
		fmt = drf_words[ei->code];
	if (fmt == NULL)
		fmt = "Invalid value.";
	errors_fill(fmt, ei, msg, sizeof(msg));
	return json_pack("{s:[s]}", ei->field[0] != '\0' ? ei->field : "non_field_errors", msg);
}

/* ---- FastAPI's OAuth2PasswordRequestForm (both FastAPI faces) ---------------- */

/* OAuth2PasswordRequestForm: username, password; grant_type optional "password". */
enum pc_err fastapi_read_password_form(struct pc_req *req, const char **username,
				       const char **password)
{
	const char *grant = req_form_get(req, "grant_type");

	*username = req_form_get(req, "username");
	*password = req_form_get(req, "password");
	if (*username == NULL) {
		pc_errinfo_set(&req->errinfo, "body", "username", PC_V_MISSING, 0);
		return PC_EINVAL;
	}
	if (*password == NULL) {
		pc_errinfo_set(&req->errinfo, "body", "password", PC_V_MISSING, 0);
		return PC_EINVAL;
	}
	if (grant != NULL && strcmp(grant, "password") != 0) {
		pc_errinfo_set(&req->errinfo, "body", "grant_type", PC_V_PATTERN, 0);
		pc_errinfo_detail(&req->errinfo, "^password$");
		return PC_EINVAL;
	}
	return PC_OK;
}

/* ---- FastAPI's UserCreate / UserUpdate (both FastAPI faces) ------------------------ */

enum pc_err fastapi_read_user(struct pc_req *req, bool create, bool with_username,
			      struct pc_user_input *in)
{
	enum pc_err err;

	pc_user_input_init(in);
	err = req_json_str(req, "email", create, &in->email);
	if (err == PC_OK)
		err = req_json_str(req, "password", create, &in->password);
	if (err == PC_OK && with_username)
		err = req_json_str(req, "username", false, &in->username);
	if (err == PC_OK)
		err = req_json_str(req, "full_name", false, &in->full_name);
	if (err == PC_OK)
		err = req_json_bool(req, "is_active", &in->is_active);
	if (err == PC_OK)
		err = req_json_bool(req, "is_superuser", &in->is_superuser);
	if (err == PC_OK)
		err = req_json_bool(req, "is_verified", &in->is_verified);
	if (in->password != NULL)
		in->password_len = strlen(in->password);
	return err;
}
