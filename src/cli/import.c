/*
 * import.c - `portcullis user import FILE`: users of another system, their
 * password hashes kept as they are (login verifies them and rehashes each
 * to the configured argon2id at its first success).
 *
 *   user import FILE [--format fastapi-users|django|werkzeug|generic]
 *                    [--dry-run] [--batch N]
 *
 * FILE holds JSON lines (one object a line; the first non-blank byte is
 * '{') or CSV with a header row (RFC 4180 quoting, a quoted field does not
 * span lines). Each format is a row of import_formats: the columns its
 * exports name. A line is one of
 *   imported  stored (in a dry run: would be);
 *   skipped   its id, email or username is already there (a second run of
 *             the same file imports nothing twice; an interrupted run is
 *             resumed by running it again);
 *   failed    malformed (not JSON, bad CSV, a field refused): reported on
 *             stderr with its line number; the lines around it go on.
 * Lines are written in transactions of --batch rows (1000): a store
 * failure undoes that batch alone and counts its rows as failed. A dry run
 * does all of it and rolls every batch back. Progress goes to stderr when
 * it is a terminal; the summary to stdout. Exit status 0 when no line
 * failed, 1 when some did (or the store failed), 2 for bad arguments.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/core.h"

#define IMPORT_LINE_MAX 65536
#define IMPORT_FIELDS_MAX 64
#define IMPORT_BATCH_DEFAULT 1000
#define IMPORT_BATCH_MAX 100000

/* ---- formats ---------------------------------------------------------------------------- */

/* The column names of a format: the first present wins. */
static const struct import_format {
	const char *name;
	const char *hash[3];  /* the password hash */
	bool name_parts;      /* full name from first_name + last_name (Django) */
} import_formats[] = {
	{ "fastapi-users", { "hashed_password", NULL, NULL }, false },
	{ "django", { "password", NULL, NULL }, true },
	{ "werkzeug", { "password_hash", "password", NULL }, false },
	{ "generic", { "hashed_password", "password_hash", "password" }, true },
};

/* ---- one record: field names and values, both borrowed or in scratch --------------------- */

struct record {
	int n;
	const char *key[IMPORT_FIELDS_MAX];
	const char *val[IMPORT_FIELDS_MAX]; /* NULL: null / absent */
	char scratch[IMPORT_LINE_MAX];      /* values JSON numbers and arrays become */
	size_t used;
};

static const char *record_get(const struct record *r, const char *key)
{
	for (int i = 0; i < r->n; i++) {
		if (strcmp(r->key[i], key) == 0)
			return r->val[i] != NULL && r->val[i][0] != '\0' ? r->val[i] : NULL;
	}
	return NULL;
}

static char *record_scratch(struct record *r, size_t n)
{
	char *p;

	if (r->used + n > sizeof(r->scratch))
		return NULL;
	p = r->scratch + r->used;
	r->used += n;
	return p;
}

/* A JSON value as text: strings as they are, true/false as 1/0, integers
 * in decimal, an array of strings joined by spaces (roles). NULL: unusable. */
static bool json_value_text(struct record *r, json_t *v, const char **out)
{
	char *p;
	size_t i, len = 0;
	json_t *e;

	*out = NULL;
	switch (json_typeof(v)) {
	case JSON_STRING:
		*out = json_string_value(v);
		return true;
	case JSON_TRUE:
		*out = "1";
		return true;
	case JSON_FALSE:
		*out = "0";
		return true;
	case JSON_NULL:
		return true;
	case JSON_INTEGER:
		p = record_scratch(r, 24);
		if (p == NULL)
			return false;
		snprintf(p, 24, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		*out = p;
		return true;
	case JSON_ARRAY:
		json_array_foreach(v, i, e) {
			if (!json_is_string(e))
				return false;
			len += json_string_length(e) + 1;
		}
		p = record_scratch(r, len + 1);
		if (p == NULL)
			return false;
		len = 0;
		json_array_foreach(v, i, e) {
			if (i > 0)
				p[len++] = ' ';
			memcpy(p + len, json_string_value(e), json_string_length(e));
			len += json_string_length(e);
		}
		p[len] = '\0';
		*out = p;
		return true;
	default:
		return false;
	}
}

/* Fills r from one JSON object; *why says what is wrong otherwise. */
static bool record_from_json(struct record *r, json_t *obj, const char **why)
{
	const char *k;
	json_t *v;

	if (!json_is_object(obj)) {
		*why = "not a JSON object";
		return false;
	}
	json_object_foreach(obj, k, v) {
		if (r->n == IMPORT_FIELDS_MAX) {
			*why = "too many fields";
			return false;
		}
		r->key[r->n] = k;
		if (!json_value_text(r, v, &r->val[r->n])) {
			*why = "a field's value is neither text, number, boolean nor list of text";
			return false;
		}
		r->n++;
	}
	return true;
}

/* Splits one CSV line (no newline) in place into fields: RFC 4180 quoting,
 * "" inside quotes for one quote. False (with *why) for an unterminated
 * quote, text after a closing quote, or too many fields. */
static bool csv_split(char *line, char **fields, int *n, const char **why)
{
	char *in = line, *out = line;

	*n = 0;
	for (;;) {
		if (*n == IMPORT_FIELDS_MAX) {
			*why = "too many fields";
			return false;
		}
		fields[(*n)++] = out;
		if (*in == '"') {
			in++;
			for (;;) {
				if (*in == '\0') {
					*why = "unterminated quote";
					return false;
				}
				if (in[0] == '"' && in[1] == '"') {
					*out++ = '"';
					in += 2;
				} else if (*in == '"') {
					in++;
					break;
				} else {
					*out++ = *in++;
				}
			}
			if (*in != ',' && *in != '\0') {
				*why = "text after a closing quote";
				return false;
			}
		} else {
			while (*in != ',' && *in != '\0')
				*out++ = *in++;
		}
		if (*in == '\0') {
			*out = '\0';
			return true;
		}
		*out++ = '\0';
		in++;
	}
}

/* ---- the run ------------------------------------------------------------------------------ */

struct import_run {
	struct pc_ctx *ctx;
	const struct import_format *fmt;
	bool dry_run;
	int batch_max;
	bool in_batch;
	long batch_rows;   /* imported in the open batch */
	long lines, imported, failed, unknown_hash;
	long skipped_id, skipped_email, skipped_username;
	bool progress;
	off_t size;
	FILE *in;
	/* CSV: the header's column names (in header_buf) */
	bool csv;
	int ncols;
	char *cols[IMPORT_FIELDS_MAX];
	char header_buf[IMPORT_LINE_MAX];
};

static void fail_line(struct import_run *run, long line, const char *why, const char *field)
{
	run->failed++;
	if (run->progress)
		fputc('\n', stderr);
	if (field != NULL && field[0] != '\0')
		fprintf(stderr, "portcullis: user import: line %ld: %s (%s)\n", line, why, field);
	else
		fprintf(stderr, "portcullis: user import: line %ld: %s\n", line, why);
}

/* 1/0 of a boolean column; dflt when absent; -2 when it is not one. */
static int parse_flag(const char *v, int dflt)
{
	static const char *const yes[] = { "1", "true", "True", "TRUE", "t", "yes" };
	static const char *const no[] = { "0", "false", "False", "FALSE", "f", "no" };

	if (v == NULL)
		return dflt;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcmp(v, yes[i]) == 0)
			return 1;
		if (strcmp(v, no[i]) == 0)
			return 0;
	}
	return -2;
}

static enum pc_err batch_end(struct import_run *run)
{
	enum pc_err err;

	if (!run->in_batch)
		return PC_OK;
	run->in_batch = false;
	if (run->dry_run)
		return pc_user_import_rollback(run->ctx);
	err = pc_user_import_commit(run->ctx);
	if (err != PC_OK) {
		(void)pc_user_import_rollback(run->ctx);
		fprintf(stderr, "portcullis: user import: a batch of %ld rows was not written: %s\n",
			run->batch_rows, pc_strerror(err));
		run->imported -= run->batch_rows;
		run->failed += run->batch_rows;
	}
	return err;
}

/* Imports one record read from line `line`. */
static void import_record(struct import_run *run, struct record *r, long line)
{
	static const char *const bool_cols[] = { "is_active", "is_superuser", "is_verified" };
	struct pc_errinfo ei = { 0 };
	struct pc_user_input in;
	const char *hash = NULL, *first, *last;
	char full[PC_NAME_MAX * 2 + 2];
	int flags[3], dflt[3] = { 1, 0, 0 };
	enum pc_err err;

	pc_user_input_init(&in);
	for (int i = 0; i < 3; i++) {
		flags[i] = parse_flag(record_get(r, bool_cols[i]), dflt[i]);
		if (flags[i] == -2) {
			fail_line(run, line, "not a boolean", bool_cols[i]);
			return;
		}
	}
	in.is_active = flags[0];
	in.is_superuser = flags[1];
	in.is_verified = flags[2];
	in.email = record_get(r, "email");
	in.username = record_get(r, "username");
	in.roles = record_get(r, "roles");
	in.full_name = record_get(r, "full_name");
	first = record_get(r, "first_name");
	last = record_get(r, "last_name");
	if (in.full_name == NULL && run->fmt->name_parts && (first != NULL || last != NULL)) {
		snprintf(full, sizeof(full), "%s%s%s", first ? first : "", first && last ? " " : "",
			 last ? last : "");
		in.full_name = full;
	}
	for (int i = 0; i < 3 && hash == NULL && run->fmt->hash[i] != NULL; i++)
		hash = record_get(r, run->fmt->hash[i]);
	if (hash != NULL && hash[0] == '!')
		hash = NULL; /* Django's unusable password: a user without one */
	if (!run->in_batch) {
		err = pc_user_import_begin(run->ctx);
		if (err != PC_OK) {
			fail_line(run, line, "the store refused a transaction", pc_strerror(err));
			return;
		}
		run->in_batch = true;
		run->batch_rows = 0;
	}
	err = pc_user_import(run->ctx, &in, record_get(r, "id"), hash, 0, NULL, &ei);
	if (err == PC_EEXISTS) {
		if (strcmp(ei.field, "id") == 0)
			run->skipped_id++;
		else if (strcmp(ei.field, "username") == 0)
			run->skipped_username++;
		else
			run->skipped_email++;
		return;
	}
	if (err == PC_EINVAL) {
		char why[320];

		fail_line(run, line, "refused", pc_errinfo_describe(&ei, why, sizeof(why)));
		return;
	}
	if (err != PC_OK) {
		/* the transaction may be unusable now (PostgreSQL): end the batch */
		fail_line(run, line, pc_strerror(err), NULL);
		(void)pc_user_import_rollback(run->ctx);
		run->in_batch = false;
		run->imported -= run->batch_rows;
		run->failed += run->batch_rows;
		return;
	}
	run->imported++;
	run->batch_rows++;
	if (hash != NULL && !pc_password_format_known(hash))
		run->unknown_hash++;
	if (run->batch_rows >= run->batch_max)
		(void)batch_end(run);
}

static void show_progress(struct import_run *run)
{
	off_t at = ftello(run->in);
	int pct = run->size > 0 && at >= 0 ? (int)(at * 100 / run->size) : 0;
	char bar[41];

	memset(bar, ' ', 40);
	memset(bar, '#', (size_t)pct * 40 / 100);
	bar[40] = '\0';
	fprintf(stderr, "\r[%s] %3d%% line %ld: %ld imported, %ld skipped, %ld failed", bar, pct,
		run->lines, run->imported, run->skipped_id + run->skipped_email + run->skipped_username,
		run->failed);
	fflush(stderr);
}

/* Handles one line (without its newline). */
static void import_line(struct import_run *run, char *line, struct record *r)
{
	const char *why = NULL;
	char *fields[IMPORT_FIELDS_MAX];
	json_error_t jerr;
	json_t *obj;
	int n;

	memset(r->key, 0, sizeof(r->key));
	r->n = 0;
	r->used = 0;
	if (!run->csv) {
		obj = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
		if (obj == NULL) {
			fail_line(run, run->lines, "not valid JSON", jerr.text);
			return;
		}
		if (record_from_json(r, obj, &why))
			import_record(run, r, run->lines);
		else
			fail_line(run, run->lines, why, NULL);
		json_decref(obj);
		return;
	}
	if (run->ncols == 0) { /* the header */
		memcpy(run->header_buf, line, strlen(line) + 1);
		if (!csv_split(run->header_buf, run->cols, &run->ncols, &why)) {
			run->ncols = 0;
			fail_line(run, run->lines, why, "header");
		}
		return;
	}
	if (!csv_split(line, fields, &n, &why)) {
		fail_line(run, run->lines, why, NULL);
		return;
	}
	if (n != run->ncols) {
		fail_line(run, run->lines, "not as many fields as the header", NULL);
		return;
	}
	for (int i = 0; i < n; i++) {
		r->key[i] = run->cols[i];
		r->val[i] = fields[i];
	}
	r->n = n;
	import_record(run, r, run->lines);
}

/* Reads the file line by line (each at most IMPORT_LINE_MAX bytes). */
static void import_file(struct import_run *run, struct record *r, char *line)
{
	bool decided = false;

	while (fgets(line, IMPORT_LINE_MAX, run->in) != NULL) {
		size_t len = strlen(line);
		int c;

		run->lines++;
		if (len > 0 && line[len - 1] == '\n') {
			line[--len] = '\0';
		} else if (!feof(run->in)) {
			while ((c = fgetc(run->in)) != EOF && c != '\n')
				;
			fail_line(run, run->lines, "line too long", NULL);
			continue;
		}
		if (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		if (strspn(line, " \t") == len)
			continue; /* blank */
		if (!decided) {
			run->csv = line[strspn(line, " \t")] != '{';
			decided = true;
		}
		import_line(run, line, r);
		if (run->progress && run->lines % 1000 == 0)
			show_progress(run);
	}
	(void)batch_end(run);
	if (run->progress) {
		show_progress(run);
		fputc('\n', stderr);
	}
}

static void import_help(FILE *out)
{
	fprintf(out,
		"usage: portcullis user import FILE [--format fastapi-users|django|werkzeug|generic]\n"
		"                                   [--dry-run] [--batch N]\n\n"
		"FILE: JSON lines or CSV with a header row. Password hashes are kept as they are\n"
		"(bcrypt, argon2, Django's pbkdf2_sha256$/argon2$/bcrypt_sha256$, Werkzeug's\n"
		"pbkdf2:/scrypt:) and rehashed to argon2id at each user's first login. Users whose\n"
		"id, email or username is already there are skipped: a second run imports nothing\n"
		"twice. Exit status 0 when no line failed, 1 when some did, 2 for bad arguments.\n");
}

static int parse_import(int n, char **a, struct import_run *run, const char **path)
{
	*path = NULL;
	run->fmt = &import_formats[3];
	run->batch_max = IMPORT_BATCH_DEFAULT;
	for (int i = 0; i < n; i++) {
		if (strcmp(a[i], "--dry-run") == 0) {
			run->dry_run = true;
		} else if (strcmp(a[i], "--format") == 0 && i + 1 < n) {
			size_t k;

			i++;
			for (k = 0; k < sizeof(import_formats) / sizeof(import_formats[0]); k++) {
				if (strcmp(a[i], import_formats[k].name) == 0)
					break;
			}
			if (k == sizeof(import_formats) / sizeof(import_formats[0])) {
				fprintf(stderr, "portcullis: user import: unknown format '%s'\n", a[i]);
				return CLI_EXIT_USAGE;
			}
			run->fmt = &import_formats[k];
		} else if (strcmp(a[i], "--batch") == 0 && i + 1 < n) {
			char *end;
			long v;

			errno = 0;
			v = strtol(a[++i], &end, 10);
			if (errno != 0 || *end != '\0' || v < 1 || v > IMPORT_BATCH_MAX) {
				fprintf(stderr, "portcullis: user import: --batch: 1..%d\n",
					IMPORT_BATCH_MAX);
				return CLI_EXIT_USAGE;
			}
			run->batch_max = (int)v;
		} else if (a[i][0] != '-' && *path == NULL) {
			*path = a[i];
		} else {
			fprintf(stderr, "portcullis: user import: unknown or incomplete option '%s'\n",
				a[i]);
			return CLI_EXIT_USAGE;
		}
	}
	if (*path == NULL) {
		import_help(stderr);
		return CLI_EXIT_USAGE;
	}
	return CLI_EXIT_OK;
}

int cli_user_import(struct pc_config *cfg, int n, char **a)
{
	struct import_run *run = calloc(1, sizeof(*run));
	struct record *r = calloc(1, sizeof(*r));
	char *line = malloc(IMPORT_LINE_MAX);
	struct pc_errinfo ei = { 0 };
	const char *path;
	struct stat st;
	enum pc_err err;
	int rc;

	if (run == NULL || r == NULL || line == NULL) {
		rc = CLI_EXIT_FAIL;
		goto out_free;
	}
	rc = parse_import(n, a, run, &path);
	if (rc != CLI_EXIT_OK)
		goto out_free;
	run->in = fopen(path, "r");
	if (run->in == NULL) {
		fprintf(stderr, "portcullis: user import: cannot open %s: %s\n", path, strerror(errno));
		rc = CLI_EXIT_FAIL;
		goto out_free;
	}
	if (fstat(fileno(run->in), &st) != 0 || S_ISDIR(st.st_mode)) {
		fprintf(stderr, "portcullis: user import: %s is not a file\n", path);
		rc = CLI_EXIT_FAIL;
		goto out_close;
	}
	run->size = S_ISREG(st.st_mode) ? st.st_size : 0;
	run->progress = isatty(STDERR_FILENO) == 1;
	err = cli_ctx_open(cfg, &run->ctx, &ei);
	if (err != PC_OK) {
		cli_report("cannot open", err, &ei);
		rc = CLI_EXIT_FAIL;
		goto out_close;
	}
	import_file(run, r, line);
	pc_ctx_free(run->ctx);
	printf("%s %ld\n", run->dry_run ? "would import" : "imported", run->imported);
	printf("skipped %ld (already there: id %ld, email %ld, username %ld)\n",
	       run->skipped_id + run->skipped_email + run->skipped_username, run->skipped_id,
	       run->skipped_email, run->skipped_username);
	printf("failed %ld\n", run->failed);
	if (run->unknown_hash > 0)
		printf("unknown hash format %ld (these users cannot log in until a password reset)\n",
		       run->unknown_hash);
	rc = run->failed > 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
out_close:
	fclose(run->in);
out_free:
	free(line);
	free(r);
	free(run);
	return rc;
}
