/* Rate limits (ratelimit.c) over a real SQLite store: window counters,
 * client keys (IPv6 by /64, X-Forwarded-For only behind a trusted proxy),
 * the lock's doubling back-off. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "helpers.h"

static char dir[64];
static struct pc_ctx *ctx;

static void open_with(const char *trusted)
{
	struct pc_config cfg;
	struct pc_errinfo ei = { 0 };

	test_config(&cfg, dir);
	cr_assert_eq(pc_config_set(&cfg, "rate_limit_login_ip", "3", &ei), PC_OK);
	cr_assert_eq(pc_config_set(&cfg, "lockout_threshold", "2", &ei), PC_OK);
	cr_assert_eq(pc_config_set(&cfg, "lockout_base_seconds", "10", &ei), PC_OK);
	cr_assert_eq(pc_config_set(&cfg, "lockout_max_seconds", "35", &ei), PC_OK);
	if (trusted != NULL)
		cr_assert_eq(pc_config_set(&cfg, "trusted_proxies", trusted, &ei), PC_OK);
	test_ctx_open(&cfg, &ctx);
}

static void setup(void)
{
	test_dir_make(dir, sizeof(dir), "pc_ratelimit_");
	open_with("10.0.0.1,2001:db8::feed");
}

static void teardown(void)
{
	test_ctx_close(&ctx, dir);
}

TestSuite(ratelimit, .init = setup, .fini = teardown);

static const char *key_of(const char *peer, const char *xff)
{
	static char k[PC_CLIENT_KEY_MAX];

	pc_client_key(ctx, peer, xff, k);
	return k;
}

Test(ratelimit, ipv4_is_kept_and_ipv6_is_keyed_by_its_64)
{
	cr_expect_str_eq(key_of("192.0.2.7", NULL), "192.0.2.7");
	cr_expect_str_eq(key_of("2001:db8:aa:bb:1:2:3:4", NULL), "2001:db8:aa:bb::/64");
	cr_expect_str_eq(key_of("2001:0DB8:00aa:00bb:ffff:0:0:1", NULL), "2001:db8:aa:bb::/64");
	cr_expect_str_eq(key_of("::ffff:192.0.2.7", NULL), "192.0.2.7");
	cr_expect_str_eq(key_of("::1", NULL), "::/64");
}

Test(ratelimit, forwarded_for_counts_only_from_a_trusted_peer)
{
	cr_expect_str_eq(key_of("192.0.2.7", "198.51.100.1"), "192.0.2.7", "untrusted peer");
	cr_expect_str_eq(key_of("10.0.0.1", "198.51.100.1"), "198.51.100.1");
	cr_expect_str_eq(key_of("10.0.0.1", "203.0.113.5, 198.51.100.1"), "198.51.100.1",
			 "the rightmost hop the proxy saw, not what the client wrote");
	cr_expect_str_eq(key_of("10.0.0.1", "198.51.100.1, 2001:db8::feed"), "198.51.100.1",
			 "trusted hops are skipped");
	cr_expect_str_eq(key_of("10.0.0.1", "2001:db8:1:2::9"), "2001:db8:1:2::/64");
	cr_expect_str_eq(key_of("10.0.0.1", "not-an-ip"), "10.0.0.1", "garbage: the peer stands");
	cr_expect_str_eq(key_of("10.0.0.1", ""), "10.0.0.1");
}

Test(ratelimit, a_window_refuses_past_its_limit_with_the_time_left)
{
	int64_t retry = -1;

	for (int i = 0; i < 3; i++)
		cr_assert_eq(pc_limit_hit(ctx, PC_LIMIT_LOGIN_IP, "192.0.2.7", &retry), PC_OK);
	cr_assert_eq(pc_limit_hit(ctx, PC_LIMIT_LOGIN_IP, "192.0.2.7", &retry), PC_ELIMITED);
	cr_assert(retry >= 1 && retry <= 60, "%lld", (long long)retry);
	cr_assert_eq(pc_limit_hit(ctx, PC_LIMIT_LOGIN_IP, "192.0.2.8", &retry), PC_OK,
		     "another client");
	cr_assert_eq(pc_limit_hit(ctx, PC_LIMIT_MAIL_ADDRESS, "x@example.com", &retry), PC_OK);
}

Test(ratelimit, the_lock_doubles_up_to_its_cap_and_a_success_clears_it)
{
	char lock[RATELIMIT_KEY_MAX];
	int64_t hits, retry, locked = -1;

	ratelimit_lock_key("gawain@camelot.bt", lock);
	cr_assert_eq(ratelimit_lock_check(ctx, lock, &hits, &retry), PC_OK);
	cr_assert_eq(ratelimit_lock_record(ctx, lock, true, hits, &locked), PC_OK);
	cr_assert_eq(ratelimit_lock_check(ctx, lock, &hits, &retry), PC_OK, "1 < threshold");
	cr_assert_eq(hits, 1);
	cr_assert_eq(locked, 0, "no lock yet");
	cr_assert_eq(ratelimit_lock_record(ctx, lock, true, hits, &locked), PC_OK);
	cr_assert_eq(ratelimit_lock_check(ctx, lock, &hits, &retry), PC_ELIMITED);
	cr_assert(retry > 8 && retry <= 10, "base: %lld", (long long)retry);
	cr_assert_eq(locked, 10, "the lock set is told: %lld", (long long)locked);
	cr_assert_eq(ratelimit_lock_record(ctx, lock, true, hits, &locked), PC_OK);
	cr_assert_eq(ratelimit_lock_check(ctx, lock, &hits, &retry), PC_ELIMITED);
	cr_assert(retry > 18 && retry <= 20, "doubled: %lld", (long long)retry);
	cr_assert_eq(ratelimit_lock_record(ctx, lock, true, hits, &locked), PC_OK);
	cr_assert_eq(ratelimit_lock_check(ctx, lock, &hits, &retry), PC_ELIMITED);
	cr_assert(retry > 33 && retry <= 35, "capped: %lld", (long long)retry);
	cr_assert_eq(pc_login_unlock(ctx, "GAWAIN@camelot.bt"), PC_OK);
	cr_assert_eq(ratelimit_lock_check(ctx, lock, &hits, &retry), PC_OK);
	cr_assert_eq(hits, 0);
}
