/*
 * audit.c - `portcullis audit [--user-id ID] [--after ID|UNIX_SECONDS]
 * [--limit N] [--json]`: the audit log of security events, oldest first, all
 * of it after the cursor (paged through the store PC_AUDIT_LIST_MAX rows at a
 * time) or at most --limit rows.
 *
 * A line is "<id> <time UTC> <event> user=<id|-> actor=<id|-> ip=<key|->
 * <detail JSON>" (tab-separated), or with --json one JSON object per line:
 * {"id", "at", "event", "user_id", "actor_id", "ip", "detail"}.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "core/core.h"

struct audit_print {
	bool json;
	int seen;
	char last[PC_ID_LEN + 1];
};

static void audit_help(FILE *out)
{
	fprintf(out,
		"usage: portcullis audit [--user-id ID] [--after ID|UNIX_SECONDS] [--limit N] [--json]\n\n"
		"Prints the audit log of security events, oldest first. --after takes an event id\n"
		"(the next page starts after it) or a time in unix seconds (events from then on).\n"
		"Takes the same --database-url / --config settings as serve.\n");
}

static int audit_print_row(const struct pc_audit_row *r, void *arg)
{
	struct audit_print *p = arg;
	char when[32] = "";
	time_t t = (time_t)r->at;
	struct tm tm;

	p->seen++;
	memcpy(p->last, r->id, sizeof(p->last));
	if (p->json) {
		json_t *detail = json_loads(r->detail, 0, NULL);
		json_t *j = json_pack("{s:s, s:I, s:s, s:s?, s:s?, s:s?, s:o}", "id", r->id, "at",
				      (json_int_t)r->at, "event", r->event, "user_id",
				      r->user_id[0] ? r->user_id : NULL, "actor_id",
				      r->actor_id[0] ? r->actor_id : NULL, "ip", r->ip[0] ? r->ip : NULL,
				      "detail", detail != NULL ? detail : json_object());
		char *line = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;

		if (line != NULL)
			printf("%s\n", line);
		free(line);
		json_decref(j);
		return 0;
	}
	if (gmtime_r(&t, &tm) != NULL)
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("%s\t%s\t%s\tuser=%s\tactor=%s\tip=%s\t%s\n", r->id, when, r->event,
	       r->user_id[0] ? r->user_id : "-", r->actor_id[0] ? r->actor_id : "-",
	       r->ip[0] ? r->ip : "-", r->detail);
	return 0;
}

/* --after's value: an audit id, or unix seconds. false when it is neither. */
static bool audit_after(const char *v, char out[PC_ID_LEN + 1])
{
	char *end;
	long long n;

	if (crypto_uuid_valid(v)) {
		memcpy(out, v, PC_ID_LEN + 1);
		ascii_lower_str(out);
		return true;
	}
	errno = 0;
	n = strtoll(v, &end, 10);
	if (v[0] < '0' || v[0] > '9' || *end != '\0' || errno != 0)
		return false;
	pc_audit_cursor_at((int64_t)n, out);
	return true;
}

int cli_audit(int argc, char **argv)
{
	struct audit_print p = { false, 0, "" };
	struct pc_errinfo ei = { 0 };
	struct pc_config cfg;
	struct pc_ctx *ctx;
	char *rest[CLI_ARGS_MAX], user_id[PC_ID_LEN + 1] = "";
	long long limit = 0; /* 0: every row after the cursor */
	int nrest, rc;
	enum pc_err err;

	rc = cli_config_load(argc, argv, &cfg, rest, &nrest);
	if (rc != CLI_EXIT_OK)
		return rc;
	for (int i = 1; i < nrest; i++) {
		const char *a = rest[i], *v = i + 1 < nrest ? rest[i + 1] : NULL;
		char *end;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			audit_help(stdout);
			return CLI_EXIT_OK;
		} else if (strcmp(a, "--json") == 0) {
			p.json = true;
			continue;
		} else if (v == NULL) {
			;
		} else if (strcmp(a, "--user-id") == 0 && crypto_uuid_valid(v)) {
			memcpy(user_id, v, PC_ID_LEN + 1);
			ascii_lower_str(user_id);
			i++;
			continue;
		} else if (strcmp(a, "--after") == 0 && audit_after(v, p.last)) {
			i++;
			continue;
		} else if (strcmp(a, "--limit") == 0) {
			errno = 0;
			limit = strtoll(v, &end, 10);
			if (v[0] >= '0' && v[0] <= '9' && *end == '\0' && errno == 0 && limit >= 1) {
				i++;
				continue;
			}
		}
		fprintf(stderr, "portcullis: audit: bad or unknown option '%s'\n", a);
		audit_help(stderr);
		return CLI_EXIT_USAGE;
	}
	cfg.access_log = false;
	err = cli_ctx_open(&cfg, &ctx, &ei);
	if (err != PC_OK) {
		cli_report("cannot open", err, &ei);
		return CLI_EXIT_FAIL;
	}
	for (long long left = limit;;) {
		int page = PC_AUDIT_LIST_MAX;

		if (limit > 0 && left < page)
			page = (int)left;
		p.seen = 0;
		err = pc_audit_list(ctx, user_id[0] ? user_id : NULL, p.last, page, audit_print_row,
				    &p);
		left -= p.seen;
		if (err != PC_OK || p.seen < page || (limit > 0 && left <= 0))
			break;
	}
	pc_ctx_free(ctx);
	if (err != PC_OK) {
		cli_report("audit", err, NULL);
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}
