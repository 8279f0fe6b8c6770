/*
 * user.c - `portcullis user create|set-password|list`.
 *
 *   user create --email E --password-stdin [--superuser] [--verified]
 *               [--username U] [--full-name N] [--roles "R ..."]
 *   user set-password --email E --password-stdin
 *   user unlock --email E | --username U
 *   user list [--json]
 *
 * set-password is a password change like any other: the policy applies, and
 * the user's sessions, refresh families and earlier access tokens end.
 *
 * The password is read from standard input only (one line; the trailing
 * newline is dropped), never from an argument that ps would show.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/core.h"

#define PASSWORD_LINE_MAX 4097

struct create_args {
	const char *email;
	const char *username;
	const char *full_name;
	const char *roles;
	bool password_stdin;
	bool superuser;
	bool verified;
};

static void user_help(FILE *out)
{
	fprintf(out,
		"usage: portcullis user create --email E --password-stdin [--superuser] [--verified]\n"
		"                              [--username U] [--full-name N] [--roles \"R ...\"]\n"
		"       portcullis user set-password --email E --password-stdin\n"
		"       portcullis user unlock --email E | --username U\n"
		"       portcullis user list [--json]\n\n"
		"Takes the same --database-url / --config settings as serve.\n");
}

/* PC_EINVAL when a flag that needs a value has none or an unknown flag is seen. */
static int parse_create(int n, char **a, struct create_args *ca)
{
	memset(ca, 0, sizeof(*ca));
	for (int i = 0; i < n; i++) {
		const char **slot = NULL;

		if (strcmp(a[i], "--password-stdin") == 0)
			ca->password_stdin = true;
		else if (strcmp(a[i], "--superuser") == 0)
			ca->superuser = true;
		else if (strcmp(a[i], "--verified") == 0)
			ca->verified = true;
		else if (strcmp(a[i], "--email") == 0)
			slot = &ca->email;
		else if (strcmp(a[i], "--username") == 0)
			slot = &ca->username;
		else if (strcmp(a[i], "--full-name") == 0)
			slot = &ca->full_name;
		else if (strcmp(a[i], "--roles") == 0)
			slot = &ca->roles;
		else {
			fprintf(stderr, "portcullis: user create: unknown option '%s'\n", a[i]);
			return CLI_EXIT_USAGE;
		}
		if (slot != NULL) {
			if (i + 1 >= n) {
				fprintf(stderr, "portcullis: user create: %s needs a value\n", a[i]);
				return CLI_EXIT_USAGE;
			}
			*slot = a[++i];
		}
	}
	if (ca->email == NULL || !ca->password_stdin) {
		fprintf(stderr, "portcullis: user create: --email and --password-stdin are required\n");
		return CLI_EXIT_USAGE;
	}
	return CLI_EXIT_OK;
}

static int read_password(char *pw, size_t pwsz, size_t *len)
{
	size_t n;

	if (fgets(pw, (int)pwsz, stdin) == NULL) {
		fprintf(stderr, "portcullis: user create: no password on standard input\n");
		return CLI_EXIT_USAGE;
	}
	n = strlen(pw);
	if (n > 0 && pw[n - 1] == '\n')
		pw[--n] = '\0';
	else if (n + 1 >= pwsz) {
		fprintf(stderr, "portcullis: user create: password too long\n");
		return CLI_EXIT_USAGE;
	}
	if (n > 0 && pw[n - 1] == '\r')
		pw[--n] = '\0';
	*len = n;
	return CLI_EXIT_OK;
}

static int user_create(struct pc_config *cfg, int n, char **a)
{
	struct pc_errinfo ei = { 0 };
	struct create_args ca;
	struct pc_user_input in;
	struct pc_user u;
	struct pc_ctx *ctx;
	char pw[PASSWORD_LINE_MAX];
	size_t pwlen = 0;
	enum pc_err err;
	int rc;

	rc = parse_create(n, a, &ca);
	if (rc == CLI_EXIT_OK)
		rc = read_password(pw, sizeof(pw), &pwlen);
	if (rc != CLI_EXIT_OK)
		return rc;
	cfg->access_log = false;
	err = pc_ctx_open(cfg, &ctx, &ei);
	if (err != PC_OK) {
		crypto_wipe(pw, sizeof(pw));
		cli_report("cannot open", err, &ei);
		return CLI_EXIT_FAIL;
	}
	pc_user_input_init(&in);
	in.email = ca.email;
	in.username = ca.username;
	in.full_name = ca.full_name;
	in.roles = ca.roles;
	in.password = pw;
	in.password_len = pwlen;
	in.is_active = 1;
	in.is_superuser = ca.superuser;
	in.is_verified = ca.verified || ca.superuser;
	err = pc_user_create(ctx, &in, &u, &ei);
	crypto_wipe(pw, sizeof(pw));
	pc_ctx_free(ctx);
	if (err != PC_OK) {
		cli_report("user create", err, &ei);
		return err == PC_ESTORE || err == PC_EINTERNAL ? CLI_EXIT_FAIL : CLI_EXIT_USAGE;
	}
	printf("%s\t%s\n", u.id, u.email);
	return CLI_EXIT_OK;
}

/* --email E --password-stdin, nothing else. */
static int parse_set_password(int n, char **a, const char **email)
{
	bool stdin_flag = false;

	*email = NULL;
	for (int i = 0; i < n; i++) {
		if (strcmp(a[i], "--password-stdin") == 0) {
			stdin_flag = true;
		} else if (strcmp(a[i], "--email") == 0 && i + 1 < n) {
			*email = a[++i];
		} else {
			fprintf(stderr, "portcullis: user set-password: unknown or incomplete "
				"option '%s'\n", a[i]);
			return CLI_EXIT_USAGE;
		}
	}
	if (*email == NULL || !stdin_flag) {
		fprintf(stderr, "portcullis: user set-password: --email and --password-stdin are "
			"required\n");
		return CLI_EXIT_USAGE;
	}
	return CLI_EXIT_OK;
}

static int user_set_password(struct pc_config *cfg, int n, char **a)
{
	struct pc_errinfo ei = { 0 };
	struct pc_user_input in;
	struct pc_user u;
	struct pc_ctx *ctx;
	char pw[PASSWORD_LINE_MAX];
	const char *email;
	size_t pwlen = 0;
	enum pc_err err;
	int rc;

	rc = parse_set_password(n, a, &email);
	if (rc == CLI_EXIT_OK)
		rc = read_password(pw, sizeof(pw), &pwlen);
	if (rc != CLI_EXIT_OK)
		return rc;
	cfg->access_log = false;
	err = pc_ctx_open(cfg, &ctx, &ei);
	if (err != PC_OK) {
		crypto_wipe(pw, sizeof(pw));
		cli_report("cannot open", err, &ei);
		return CLI_EXIT_FAIL;
	}
	pc_user_input_init(&in);
	in.password = pw;
	in.password_len = pwlen;
	err = pc_user_get_by_email(ctx, email, &u);
	if (err == PC_OK)
		err = pc_user_update(ctx, &u, &in, PC_UPDATE_PRIVILEGED, &ei);
	crypto_wipe(pw, sizeof(pw));
	crypto_wipe(u.hashed_password, sizeof(u.hashed_password));
	pc_ctx_free(ctx);
	if (err != PC_OK) {
		cli_report("user set-password", err, &ei);
		return err == PC_ESTORE || err == PC_EINTERNAL ? CLI_EXIT_FAIL : CLI_EXIT_USAGE;
	}
	printf("%s\t%s\n", u.id, u.email);
	return CLI_EXIT_OK;
}

/* unlock --email E | --username U: that identifier's failed logins are
 * forgotten and its lock ends (known or not: locks do not tell). */
static int user_unlock(struct pc_config *cfg, int n, char **a)
{
	struct pc_errinfo ei = { 0 };
	struct pc_ctx *ctx;
	enum pc_err err;

	if (n != 2 || (strcmp(a[0], "--email") != 0 && strcmp(a[0], "--username") != 0)) {
		fprintf(stderr, "portcullis: user unlock: --email E or --username U\n");
		return CLI_EXIT_USAGE;
	}
	cfg->access_log = false;
	err = pc_ctx_open(cfg, &ctx, &ei);
	if (err != PC_OK) {
		cli_report("cannot open", err, &ei);
		return CLI_EXIT_FAIL;
	}
	err = pc_login_unlock(ctx, a[1]);
	pc_ctx_free(ctx);
	if (err != PC_OK) {
		cli_report("user unlock", err, NULL);
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}

struct list_state {
	bool json;
	int seen;
};

static int print_user(const struct pc_user *u, void *arg)
{
	struct list_state *st = arg;

	st->seen++;
	if (st->json) {
		/* "email": null for a username-only user (simplejwt's register) */
		json_t *j = json_pack("{s:s, s:s?, s:s?, s:b, s:b, s:b, s:s}", "id", u->id, "email",
				      u->email[0] ? u->email : NULL, "username", u->username[0] ? u->username : NULL,
				      "is_active", u->is_active, "is_superuser", u->is_superuser,
				      "is_verified", u->is_verified, "roles", u->roles);
		char *line = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;

		if (line != NULL)
			printf("%s\n", line);
		free(line);
		json_decref(j);
		return 0;
	}
	printf("%s\t%s\t%s%s%s%s%s\n", u->id, u->email[0] ? u->email : u->username, u->is_active ? "active" : "inactive",
	       u->is_superuser ? ",superuser" : "", u->is_verified ? ",verified" : "",
	       u->roles[0] != '\0' ? "\t" : "", u->roles);
	return 0;
}

#define LIST_PAGE 1000

static int user_list(struct pc_config *cfg, int n, char **a)
{
	struct pc_errinfo ei = { 0 };
	struct list_state st = { false, 0 };
	struct pc_ctx *ctx;
	enum pc_err err;

	for (int i = 0; i < n; i++) {
		if (strcmp(a[i], "--json") != 0) {
			fprintf(stderr, "portcullis: user list: unknown option '%s'\n", a[i]);
			return CLI_EXIT_USAGE;
		}
		st.json = true;
	}
	cfg->access_log = false;
	err = pc_ctx_open(cfg, &ctx, &ei);
	if (err != PC_OK) {
		cli_report("cannot open", err, &ei);
		return CLI_EXIT_FAIL;
	}
	for (int64_t off = 0;; off += LIST_PAGE) {
		st.seen = 0;
		err = pc_user_list(ctx, off, LIST_PAGE, print_user, &st);
		if (err != PC_OK || st.seen < LIST_PAGE)
			break;
	}
	pc_ctx_free(ctx);
	if (err != PC_OK) {
		cli_report("user list", err, NULL);
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}

int cli_user(int argc, char **argv)
{
	struct pc_config cfg;
	char *rest[CLI_ARGS_MAX];
	int nrest, rc;

	rc = cli_config_load(argc, argv, &cfg, rest, &nrest);
	if (rc != CLI_EXIT_OK)
		return rc;
	if (nrest < 2) {
		user_help(stderr);
		return CLI_EXIT_USAGE;
	}
	for (int i = 1; i < nrest; i++) {
		if (strcmp(rest[i], "--help") == 0 || strcmp(rest[i], "-h") == 0) {
			user_help(stdout);
			return CLI_EXIT_OK;
		}
	}
	if (strcmp(rest[1], "create") == 0)
		return user_create(&cfg, nrest - 2, rest + 2);
	if (strcmp(rest[1], "list") == 0)
		return user_list(&cfg, nrest - 2, rest + 2);
	if (strcmp(rest[1], "set-password") == 0)
		return user_set_password(&cfg, nrest - 2, rest + 2);
	if (strcmp(rest[1], "unlock") == 0)
		return user_unlock(&cfg, nrest - 2, rest + 2);
	fprintf(stderr, "portcullis: user: unknown subcommand '%s'\n", rest[1]);
	user_help(stderr);
	return CLI_EXIT_USAGE;
}
