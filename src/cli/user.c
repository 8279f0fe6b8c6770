/*
 * user.c - `portcullis user create|set-password|unlock|delete|set-active|
 * show|list|import`.
 *
 *   user create --email E [--password-stdin] [--superuser] [--verified]
 *               [--username U] [--full-name N] [--roles "R ..."]
 *   user set-password --email E [--password-stdin]
 *   user unlock --email E | --username U
 *   user delete --email E | --id ID
 *   user set-active --email E | --id ID  true|false
 *   user show --email E | --id ID       (one JSON object, every field)
 *   user list [--json]                  (--json: one JSON array)
 *   user import FILE ...                (import.c)
 *
 * Exit status: 0 done; 1 failed (no such user, the store); 2 bad arguments
 * or a value the rules refuse.
 *
 * set-password is a password change like any other: the policy applies, and
 * the user's sessions, refresh families and earlier access tokens end.
 *
 * The password is never an argument that ps would show: on a terminal it is
 * prompted for on stderr with echo off (termios), twice; otherwise it is
 * the first line of standard input (the trailing newline dropped).
 * --password-stdin is accepted and changes nothing.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

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
		"       portcullis user set-password --email E [--password-stdin]\n"
		"       portcullis user unlock --email E | --username U\n"
		"       portcullis user delete --email E | --id ID\n"
		"       portcullis user set-active (--email E | --id ID) true|false\n"
		"       portcullis user show --email E | --id ID\n"
		"       portcullis user list [--json]\n"
		"       portcullis user import FILE [--format fastapi-users|django|werkzeug|generic]\n"
		"                                   [--dry-run] [--batch N]\n\n"
		"The password is prompted for (echo off) on a terminal, else read from the first\n"
		"line of standard input. Takes the same --database-url / --config settings as\n"
		"serve; the database must exist (portcullis migrate makes it).\n");
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
	if (ca->email == NULL) {
		fprintf(stderr, "portcullis: user create: --email is required\n");
		return CLI_EXIT_USAGE;
	}
	return CLI_EXIT_OK;
}

/* One line of f into pw (NUL-terminated, newline dropped); *len its length. */
static int read_line(FILE *f, char *pw, size_t pwsz, size_t *len)
{
	size_t n;

	if (fgets(pw, (int)pwsz, f) == NULL) {
		fprintf(stderr, "portcullis: user: no password on standard input\n");
		return CLI_EXIT_USAGE;
	}
	n = strlen(pw);
	if (n > 0 && pw[n - 1] == '\n')
		pw[--n] = '\0';
	else if (n + 1 >= pwsz) {
		fprintf(stderr, "portcullis: user: password too long\n");
		return CLI_EXIT_USAGE;
	}
	if (n > 0 && pw[n - 1] == '\r')
		pw[--n] = '\0';
	*len = n;
	return CLI_EXIT_OK;
}

/* Prompts on stderr with the terminal's echo off, restoring it after. Echo
 * goes off before the prompt shows, so nothing typed after it is flushed. */
static int prompt_line(const char *prompt, char *pw, size_t pwsz, size_t *len)
{
	struct termios old, quiet;
	int rc;

	if (tcgetattr(STDIN_FILENO, &old) != 0) {
		fprintf(stderr, "portcullis: user: cannot turn the terminal's echo off\n");
		return CLI_EXIT_FAIL;
	}
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	quiet.c_lflag |= ECHONL;
	if (tcsetattr(STDIN_FILENO, TCSANOW, &quiet) != 0) {
		fprintf(stderr, "portcullis: user: cannot turn the terminal's echo off\n");
		return CLI_EXIT_FAIL;
	}
	fprintf(stderr, "%s", prompt);
	fflush(stderr);
	rc = read_line(stdin, pw, pwsz, len);
	(void)tcsetattr(STDIN_FILENO, TCSANOW, &old);
	return rc;
}

/* The new password: prompted for twice on a terminal, else stdin's line. */
static int read_password(char *pw, size_t pwsz, size_t *len)
{
	char again[PASSWORD_LINE_MAX];
	size_t again_len = 0;
	int rc;

	if (isatty(STDIN_FILENO) != 1)
		return read_line(stdin, pw, pwsz, len);
	rc = prompt_line("New password: ", pw, pwsz, len);
	if (rc == CLI_EXIT_OK)
		rc = prompt_line("Repeat it: ", again, sizeof(again), &again_len);
	if (rc == CLI_EXIT_OK && (again_len != *len || !crypto_ct_equal(again, pw, *len))) {
		fprintf(stderr, "portcullis: user: the two passwords differ\n");
		rc = CLI_EXIT_USAGE;
	}
	crypto_wipe(again, sizeof(again));
	if (rc != CLI_EXIT_OK)
		crypto_wipe(pw, pwsz);
	return rc;
}

/* The password (read_password), then the database: a CLI_EXIT_* code; on
 * anything but CLI_EXIT_OK nothing is open and pw is wiped. */
static int password_then_open(struct pc_config *cfg, char pw[PASSWORD_LINE_MAX], size_t *pwlen,
			      struct pc_ctx **ctx)
{
	struct pc_errinfo ei = { 0 };
	enum pc_err err;
	int rc = read_password(pw, PASSWORD_LINE_MAX, pwlen);

	if (rc != CLI_EXIT_OK)
		return rc;
	err = cli_ctx_open(cfg, ctx, &ei);
	if (err != PC_OK) {
		crypto_wipe(pw, PASSWORD_LINE_MAX);
		cli_report("cannot open", err, &ei);
		return CLI_EXIT_FAIL;
	}
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
		rc = password_then_open(cfg, pw, &pwlen, &ctx);
	if (rc != CLI_EXIT_OK)
		return rc;
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
	(void)stdin_flag;
	if (*email == NULL) {
		fprintf(stderr, "portcullis: user set-password: --email is required\n");
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
		rc = password_then_open(cfg, pw, &pwlen, &ctx);
	if (rc != CLI_EXIT_OK)
		return rc;
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
		return err == PC_ESTORE || err == PC_EINTERNAL || err == PC_ENOTFOUND ? CLI_EXIT_FAIL
										     : CLI_EXIT_USAGE;
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
	err = cli_ctx_open(cfg, &ctx, &ei);
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

/* Every field of u but its password hash: "email" and "username" null
 * when the user has none. Caller decrefs. */
static json_t *user_json_new(const struct pc_user *u)
{
	return json_pack("{s:s, s:s?, s:s?, s:s?, s:b, s:b, s:b, s:s, s:b, s:I, s:I, s:I}",
			 "id", u->id, "email", u->email[0] ? u->email : NULL,
			 "username", u->username[0] ? u->username : NULL,
			 "full_name", u->full_name[0] ? u->full_name : NULL,
			 "is_active", u->is_active, "is_superuser", u->is_superuser,
			 "is_verified", u->is_verified, "roles", u->roles,
			 "totp_enabled", u->totp_enabled, "created_at", (json_int_t)u->created_at,
			 "updated_at", (json_int_t)u->updated_at,
			 "password_changed_at", (json_int_t)u->password_changed_at);
}

static void print_json(json_t *j, const char *before)
{
	char *text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;

	if (text != NULL)
		printf("%s%s", before, text);
	free(text);
	json_decref(j);
}

struct list_state {
	bool json;
	int seen;
	long total;
};

static int print_user(const struct pc_user *u, void *arg)
{
	struct list_state *st = arg;

	st->seen++;
	if (st->json) {
		print_json(user_json_new(u), st->total++ == 0 ? "\n" : ",\n");
		return 0;
	}
	printf("%s\t%s\t%s%s%s%s%s\n", u->id, u->email[0] ? u->email : u->username, u->is_active ? "active" : "inactive",
	       u->is_superuser ? ",superuser" : "", u->is_verified ? ",verified" : "",
	       u->roles[0] != '\0' ? "\t" : "", u->roles);
	return 0;
}

/* --email E or --id ID (the first two of n arguments) into *u. */
static int find_user(struct pc_ctx *ctx, const char *cmd, int n, char **a, struct pc_user *u)
{
	enum pc_err err;

	if (n < 2 || (strcmp(a[0], "--email") != 0 && strcmp(a[0], "--id") != 0)) {
		fprintf(stderr, "portcullis: user %s: --email E or --id ID\n", cmd);
		return CLI_EXIT_USAGE;
	}
	err = strcmp(a[0], "--email") == 0 ? pc_user_get_by_email(ctx, a[1], u)
					   : pc_user_get(ctx, a[1], u);
	crypto_wipe(u->hashed_password, sizeof(u->hashed_password));
	if (err == PC_ENOTFOUND) {
		fprintf(stderr, "portcullis: user %s: no user %s\n", cmd, a[1]);
		return CLI_EXIT_FAIL;
	}
	if (err != PC_OK) {
		cli_report(cmd, err, NULL);
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}

/* The shape of an identifying command's arguments, checked before the
 * database is opened: --email E | --id ID, then `extra` more. */
static bool ident_args_ok(const char *cmd, int n, char **a, int extra, const char *more)
{
	if (n == 2 + extra && (strcmp(a[0], "--email") == 0 || strcmp(a[0], "--id") == 0))
		return true;
	fprintf(stderr, "portcullis: user %s: --email E | --id ID%s\n", cmd, more);
	return false;
}

enum ident_cmd { IDENT_DELETE, IDENT_SET_ACTIVE, IDENT_SHOW };

/* delete, set-active and show: find the user, then act. */
static int user_ident(struct pc_config *cfg, enum ident_cmd which, int n, char **a)
{
	static const char *const names[] = { "delete", "set-active", "show" };
	const char *cmd = names[which];
	struct pc_errinfo ei = { 0 };
	struct pc_user_input patch;
	struct pc_user u;
	struct pc_ctx *ctx;
	bool active = false;
	enum pc_err err = PC_OK;
	int rc;

	if (!ident_args_ok(cmd, n, a, which == IDENT_SET_ACTIVE ? 1 : 0,
			   which == IDENT_SET_ACTIVE ? " true|false" : ""))
		return CLI_EXIT_USAGE;
	if (which == IDENT_SET_ACTIVE && pc_config_parse_bool(a[2], &active) != PC_OK) {
		fprintf(stderr, "portcullis: user set-active: '%s' is not true or false\n", a[2]);
		return CLI_EXIT_USAGE;
	}
	err = cli_ctx_open(cfg, &ctx, &ei);
	if (err != PC_OK) {
		cli_report("cannot open", err, &ei);
		return CLI_EXIT_FAIL;
	}
	rc = find_user(ctx, cmd, n, a, &u);
	if (rc != CLI_EXIT_OK)
		goto out_free;
	switch (which) {
	case IDENT_DELETE:
		err = pc_user_delete(ctx, u.id);
		break;
	case IDENT_SET_ACTIVE:
		pc_user_input_init(&patch);
		patch.is_active = active;
		err = pc_user_update(ctx, &u, &patch, PC_UPDATE_PRIVILEGED, &ei);
		crypto_wipe(u.hashed_password, sizeof(u.hashed_password));
		break;
	case IDENT_SHOW:
		print_json(user_json_new(&u), "");
		printf("\n");
		break;
	}
	if (err != PC_OK) {
		cli_report(cmd, err, &ei);
		rc = CLI_EXIT_FAIL;
	} else if (which != IDENT_SHOW) {
		printf("%s\t%s\n", u.id, u.email[0] ? u.email : u.username);
	}
out_free:
	pc_ctx_free(ctx);
	return rc;
}

#define LIST_PAGE 1000

static int user_list(struct pc_config *cfg, int n, char **a)
{
	struct pc_errinfo ei = { 0 };
	struct list_state st = { false, 0, 0 };
	struct pc_ctx *ctx;
	enum pc_err err;

	for (int i = 0; i < n; i++) {
		if (strcmp(a[i], "--json") != 0) {
			fprintf(stderr, "portcullis: user list: unknown option '%s'\n", a[i]);
			return CLI_EXIT_USAGE;
		}
		st.json = true;
	}
	err = cli_ctx_open(cfg, &ctx, &ei);
	if (err != PC_OK) {
		cli_report("cannot open", err, &ei);
		return CLI_EXIT_FAIL;
	}
	if (st.json)
		printf("[");
	for (int64_t off = 0;; off += LIST_PAGE) {
		st.seen = 0;
		err = pc_user_list(ctx, off, LIST_PAGE, print_user, &st);
		if (err != PC_OK || st.seen < LIST_PAGE)
			break;
	}
	pc_ctx_free(ctx);
	if (st.json)
		printf("%s]\n", st.total > 0 ? "\n" : "");
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
	if (strcmp(rest[1], "delete") == 0)
		return user_ident(&cfg, IDENT_DELETE, nrest - 2, rest + 2);
	if (strcmp(rest[1], "set-active") == 0)
		return user_ident(&cfg, IDENT_SET_ACTIVE, nrest - 2, rest + 2);
	if (strcmp(rest[1], "show") == 0)
		return user_ident(&cfg, IDENT_SHOW, nrest - 2, rest + 2);
	if (strcmp(rest[1], "import") == 0)
		return cli_user_import(&cfg, nrest - 2, rest + 2);
	fprintf(stderr, "portcullis: user: unknown subcommand '%s'\n", rest[1]);
	user_help(stderr);
	return CLI_EXIT_USAGE;
}
