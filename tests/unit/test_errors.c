/*
 * test_errors.c - one core failure, each face's words: the core reports a
 * code, FastAPI's faces and DRF's render it in their own shapes.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "core/core.h"
#include "faces/errors.h"

static char *dump(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

	json_decref(j);
	cr_assert_not_null(s);
	return s;
}

Test(errors, one_bad_email_is_rendered_by_fastapi_and_by_drf_in_their_shapes)
{
	struct pc_errinfo ei = { 0 };
	char out[PC_EMAIL_MAX + 1];
	char *fa, *drf;

	cr_assert_eq(email_normalize("no-at-sign.example.com", out, NULL, &ei), PC_EINVAL);
	cr_assert_eq(ei.code, PC_V_EMAIL_NO_AT);
	fa = dump(fastapi_validation_new(&ei));
	drf = dump(drf_validation_new(&ei));
	cr_expect_str_eq(fa, "{\"detail\":[{\"input\":null,\"loc\":[\"body\",\"email\"],"
			     "\"msg\":\"value is not a valid email address: An email address "
			     "must have an @-sign.\",\"type\":\"value_error\"}]}");
	cr_expect_str_eq(drf, "{\"email\":[\"Enter a valid email address.\"]}");
	free(fa);
	free(drf);
}

Test(errors, a_short_password_carries_its_limit_into_each_faces_words)
{
	struct pc_config cfg;
	struct pc_errinfo ei = { 0 };
	char reason[128];
	char *drf;

	pc_config_defaults(&cfg);
	cr_assert_eq(password_check_policy(&cfg, "short", 5, NULL, NULL, &ei), PC_EBADPASSWORD);
	cr_expect_str_eq(fastapi_password_reason(&ei, reason, sizeof(reason)),
			 "Password should be at least 8 characters");
	drf = dump(drf_validation_new(&ei));
	cr_expect_str_eq(drf, "{\"password\":[\"Ensure this field has at least 8 characters.\"]}");
	free(drf);
}

Test(errors, a_missing_field_is_fastapis_field_required_and_drfs_required)
{
	struct pc_errinfo ei = { 0 };
	char *fa, *drf;

	pc_errinfo_set(&ei, "body", "username", PC_V_MISSING, 0);
	fa = dump(fastapi_validation_new(&ei));
	drf = dump(drf_validation_new(&ei));
	cr_expect_str_eq(fa, "{\"detail\":[{\"input\":null,\"loc\":[\"body\",\"username\"],"
			     "\"msg\":\"Field required\",\"type\":\"missing\"}]}");
	cr_expect_str_eq(drf, "{\"username\":[\"This field is required.\"]}");
	free(fa);
	free(drf);
}

Test(errors, a_pattern_is_the_only_detail_a_face_shows)
{
	struct pc_errinfo ei = { 0 };
	char *fa;

	pc_errinfo_setf(&ei, "body", "grant_type", PC_V_PATTERN, "^password$");
	fa = dump(fastapi_validation_new(&ei));
	cr_expect(strstr(fa, "\"msg\":\"String should match pattern '^password$'\"") != NULL, "%s", fa);
	cr_expect(strstr(fa, "\"type\":\"string_pattern_mismatch\"") != NULL, "%s", fa);
	free(fa);
}

Test(errors, every_code_has_a_name_and_no_code_renders_empty)
{
	struct pc_errinfo ei = { 0 };

	for (int c = 0; c < PC_V__MAX; c++) {
		json_t *j;

		cr_expect_str_neq(pc_verr_name((enum pc_verr)c), "unknown", "code %d", c);
		pc_errinfo_set(&ei, "body", "f", (enum pc_verr)c, 3);
		j = fastapi_validation_new(&ei);
		cr_assert_not_null(j, "code %d", c);
		json_decref(j);
		j = drf_validation_new(&ei);
		cr_assert_not_null(j, "code %d", c);
		json_decref(j);
	}
}
