#!/usr/bin/python3
"""bench/report.py - turns the figures bench/run gathered into the report.

  finish(res)        adds the ratios and the targets table to res (in place)
  markdown(res)      bench/results/latest.md as text
  targets_text(res)  the targets table as plain text (bench/run prints it)

Run alone, it recomputes the derived figures of a saved JSON and rewrites
it and the Markdown beside it:
  bench/report.py [bench/results/latest.json]   -> the .json and .md

The targets are the issue's, word for word; a target whose scenario could not
run (route not yet implemented) reads "n/a", never PASS.
"""

import json
import sys
from pathlib import Path

NA = "n/a"


def med(res, name):
    s = res["scenarios"].get(name)
    if not s or not s.get("available", True) or not s.get("median"):
        return None
    return s["median"]


def ratio(a, b):
    if a is None or b is None or not b:
        return None
    return round(a / b, 3)


def get(d, *keys):
    for k in keys:
        if d is None:
            return None
        d = d.get(k) if isinstance(d, dict) else None
    return d


def scenario_note(res, name):
    s = res["scenarios"].get(name)
    if s is None:
        return "n/a (not run)"
    return s.get("note") or NA


def rate(m):
    """Successful requests a second (2xx/3xx)."""
    return m["ok_rps"] if m else None


# ---- derived figures ------------------------------------------------------------------------

def median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def pair_ratios(runs, base_runs):
    """Run i of a scenario over run i of its base, when both ran in lockstep.
    A pair whose ceiling run hung (see hung_connections in bench/run) is left
    out: it measures libmicrohttpd's stall, not the ceiling."""
    if not runs or len(runs) != len(base_runs):
        return None
    return [round(r["ok_rps"] / b["rps"], 4) for r, b in zip(runs, base_runs)
            if b["rps"] and not b.get("hung_connections")]


def attempted(r):
    """Requests a run tried: answered, lost to socket errors or timeouts, or
    stuck on a hung connection."""
    e = r.get("errors") or {}
    return (r.get("requests", 0) + e.get("connect", 0) + e.get("read", 0) + e.get("write", 0)
            + e.get("timeout", 0) + r.get("hung_connections", 0))


def ceiling_median(res, name):
    """The ceiling's median over its runs that did not hang."""
    s = res["scenarios"].get(name) or {}
    runs = [r for r in s.get("runs", []) if not r.get("hung_connections")]
    if not runs:
        return None
    m = dict(s["median"])
    m["rps"] = median([r["rps"] for r in runs])
    return m


def finish(res):
    sc = res["scenarios"]
    for name, s in sc.items():
        # the failed share over all runs (a median would hide one bad run)
        if s.get("runs") and s.get("median"):
            att = sum(attempted(r) for r in s["runs"])
            s["median"]["failed_share"] = round(s["median"]["failed"] / att, 6) if att else 0.0
    for name in ("ceiling_64", "ceiling_256"):
        cm = ceiling_median(res, name) if med(res, name) else None
        if cm:
            sc[name]["median"] = cm
    for name, s in sc.items():
        base = s.get("ceiling")
        m = s.get("median")
        if base and m and med(res, base):
            # Interleaved with the ceiling: the median of the per-run ratios
            # (each run over the ceiling run just before it), which cancels
            # load that other processes put on the machine for a while.
            # Otherwise the ratio of the medians.
            pr = pair_ratios(s["runs"], sc[base]["runs"]) if s.get("interleaved") else None
            s["pair_ratios"] = pr
            s["ratio_to_ceiling"] = round(median(pr), 3) if pr else \
                ratio(rate(m), med(res, base)["rps"])
        if s.get("hashing") and m and res["hash"].get("ceiling_per_s"):
            s["ratio_to_hashing_ceiling"] = ratio(rate(m), res["hash"]["ceiling_per_s"])
    g = res.get("growth") or {}
    for name in ("me_jwt_64", "login_16"):
        if name in g and "small_median" in g[name]:
            # runs interleaved (the sides taking turns going first): the median
            # of the per-pair changes
            pairs = [b["ok_rps"] / a["ok_rps"] - 1 for a, b in zip(g[name]["small"], g[name]["big"])
                     if a["ok_rps"]]
            g[name]["pair_changes"] = [round(x, 4) for x in pairs]
            g[name]["change"] = round(median(pairs), 4) if pairs else None
    res["foreign_cpu"] = foreign_summary(res)
    res["targets"] = targets(res)
    return res


def foreign_summary(res):
    """How much CPU other processes took during the runs: the machine has
    few cores and wrk shares them, so a build running beside the bench shows
    in the figures."""
    runs = []
    for name, s in res["scenarios"].items():
        for i, r in enumerate(s.get("runs", [])):
            runs.append((name, i + 1, r))
    for name, sides in (res.get("growth") or {}).items():
        if name != "users" and isinstance(sides, dict):
            for side in ("small", "big"):
                for i, r in enumerate(sides.get(side, [])):
                    runs.append((f"growth {name} {side}", i + 1, r))
    vals = [r.get("foreign_cores") for _, _, r in runs if r.get("foreign_cores") is not None]
    steal = [r.get("steal_cores") for _, _, r in runs if r.get("steal_cores") is not None]
    disturbed = [f"{n} run {i} ({r['foreign_cores']:.2f})" for n, i, r in runs
                 if (r.get("foreign_cores") or 0) >= 0.15]
    return {"median_cores": median(vals), "max_cores": max(vals) if vals else None,
            "max_steal_cores": max(steal) if steal else None, "disturbed_runs": disturbed}


def noise_text(res):
    """One paragraph on how steady the machine was during the run."""
    parts = []
    for name in ("ceiling_64", "ceiling_256"):
        runs = (res["scenarios"].get(name) or {}).get("runs") or []
        if len(runs) > 1:
            lo, hi = min(r["rps"] for r in runs), max(r["rps"] for r in runs)
            parts.append(f"{name} ranged {lo:,.0f} to {hi:,.0f} req/s over its runs "
                         f"(spread {(hi / lo - 1) * 100:.0f} %)")
    f = res.get("foreign_cpu") or {}
    if f.get("max_cores") is not None:
        parts.append(f"other processes used {f['median_cores']:.2f} cores (median; at most "
                     f"{f['max_cores']:.2f}) and the hypervisor stole at most "
                     f"{f['max_steal_cores'] or 0:.2f} during the runs")
        if f.get("disturbed_runs"):
            parts.append("runs with ≥ 0.15 core taken by other processes: " +
                         ", ".join(f["disturbed_runs"]))
    if not parts:
        return ""
    return "Measurement noise: " + "; ".join(parts) + ".\n"


def fmt_rate(x):
    return NA if x is None else f"{x:,.0f}"


def fmt_ms(x):
    return NA if x is None else (f"{x:.3f}" if x < 1 else f"{x:.2f}" if x < 100 else f"{x:.0f}")


def fmt_ratio(x):
    return NA if x is None else f"{x:.2f}"


def fmt_pct(x):
    return NA if x is None else f"{x * 100:.2f} %"


def fmt_mib(kib):
    return NA if kib is None else f"{kib / 1024:.1f} MiB"


def target(name, measured, ok, note=None):
    return {"target": name, "measured": measured,
            "result": NA if ok is None else ("PASS" if ok else "MISS"), "note": note}


def targets(res):
    out = []
    sc = res["scenarios"]
    c64, c256 = med(res, "ceiling_64"), med(res, "ceiling_256")

    def vs_ceiling(label, name, base, k):
        m = med(res, name)
        r = sc.get(name, {}).get("ratio_to_ceiling") if m else None
        if r is None or base is None:
            out.append(target(label, scenario_note(res, name), None))
        else:
            out.append(target(label, f"{r:.2f} × (medians {fmt_rate(rate(m))} / "
                                     f"{fmt_rate(base['rps'])} req/s)", r >= k))

    # A deployment's mix first (Bench.deployment): each of 10 000 users
    # presents its own credential, the access log is on and goes to a file.
    for pre, where in (("", ""), ("pg_", ", PostgreSQL")):
        if not any(n.startswith(pre + "dist_") for n in sc):
            continue
        base = {n: med(res, pre + "dceiling_" + n) for n in
                ("jwt_64", "jwt_256", "jwt_64w", "cookie_64", "cookie_256", "cookie_64w")}
        for kind, lbl in (("jwt", "bearer JWTs"), ("cookie", "session cookies")):
            vs_ceiling(f"/users/me, 10 000 users' own {lbl}, access log on, 64 conns ≥ 0.7 × "
                       f"ceiling{where}", f"{pre}dist_{kind}_64", base[kind + "_64"], 0.7)
            vs_ceiling(f"/users/me, 10 000 users' own {lbl}, access log on, 256 conns ≥ 0.6 × "
                       f"ceiling{where}", f"{pre}dist_{kind}_256", base[kind + "_256"], 0.6)
            vs_ceiling(f"/users/me, 10 000 users' own {lbl}, beside background writes ≥ 0.6 × "
                       f"ceiling{where}", f"{pre}dist_{kind}_64_writes", base[kind + "_64w"], 0.6)
        for kind in ("jwt", "cookie"):
            for sfx, bsfx in (("_64", "_64"), ("_256", "_256"), ("_64_writes", "_64w")):
                n, b = f"dist_{kind}{sfx}", base[kind + bsfx]
                m = med(res, pre + n)
                lbl = f"p99 of {n} ≤ 3 × the ceiling's p99{where}"
                if m and b and m.get("p99_ms") is not None and b.get("p99_ms"):
                    k = m["p99_ms"] / b["p99_ms"]
                    out.append(target(lbl, f"{k:.2f} × ({fmt_ms(m['p99_ms'])} / "
                                           f"{fmt_ms(b['p99_ms'])} ms)", k <= 3))
                else:
                    out.append(target(lbl, NA, None))
    fs = res.get("fsync") or {}
    for key, name, where in (("sqlite", "refresh_64", "SQLite"),):
        m, f = med(res, name), get(fs, key, "median_ops_per_s")
        lbl = f"Refresh rotation on {where} (durable commits) ≥ 0.9 × the disk's fsync rate, zero failures"
        if m and f:
            k = rate(m) / f
            out.append(target(lbl, f"{k:.2f} × ({fmt_rate(rate(m))} rotations/s / {fmt_rate(f)} "
                                   f"fdatasync/s), failed {m['failed']}, non-2xx {m['non2xx']}",
                              k >= 0.9 and not m["failed"] and not m["non2xx"]))
        else:
            out.append(target(lbl, NA, None))
    p1, pf = med(res, "list_page_1"), med(res, "list_page_far")
    lbl = "Admin list, page 10 000 within 20 % of page 1"
    if p1 and pf and p1.get("rps"):
        k = pf["rps"] / p1["rps"] - 1
        out.append(target(lbl, f"{k * 100:+.1f} % ({fmt_rate(pf['rps'])} / {fmt_rate(p1['rps'])} "
                               f"pages/s, page {sc['list_page_far'].get('page', '?')} of "
                               f"{sc['list_page_far'].get('users', 0):,} users)", abs(k) <= 0.2))
    else:
        out.append(target(lbl, NA, None))

    vs_ceiling("/users/me, JWT, 64 conns ≥ 0.7 × ceiling", "me_jwt_64", c64, 0.7)
    vs_ceiling("/users/me, JWT, 256 conns ≥ 0.7 × ceiling", "me_jwt_256", c256, 0.7)
    vs_ceiling("/users/me, database session ≥ 0.5 × ceiling", "me_cookie_64", c64, 0.5)

    lm, hc = med(res, "login_16"), get(res, "hash", "ceiling_per_s")
    r = ratio(rate(lm), hc)
    out.append(target("Login ≥ 0.9 × hashing ceiling",
                      NA if r is None else f"{r:.2f} × ({rate(lm):.1f} / {hc:.1f} logins/s)",
                      None if r is None else r >= 0.9))

    idle, flood = med(res, "me_paced_idle"), med(res, "me_paced_flood")
    if idle and flood and idle["p99_ms"] and flood["p99_ms"] is not None:
        k = flood["p99_ms"] / idle["p99_ms"]
        out.append(target("p99 /users/me during a login flood ≤ 3 × idle p99",
                          f"{k:.2f} × ({fmt_ms(flood['p99_ms'])} / {fmt_ms(idle['p99_ms'])} ms)",
                          k <= 3))
    else:
        out.append(target("p99 /users/me during a login flood ≤ 3 × idle p99", NA, None))

    failing = []
    total = 0
    for name, s in sc.items():
        if "ceiling_" in name:
            continue          # not the server: its hangs are reported apart
        if s.get("available", True) and s.get("median"):
            total += 1
            if s["median"]["failed"]:
                hung = sum(r.get("hung_connections", 0) for r in s["runs"])
                failing.append(f"{name} {s['median']['failed']}"
                               + (f" ({hung} hung connections)" if hung else ""))
    for name, sides in (res.get("growth") or {}).items():
        if name != "users" and isinstance(sides, dict):
            for side in ("small", "big"):
                for r_ in sides.get(side, []):
                    if r_["failed"]:
                        failing.append(f"growth {name} {side} {r_['failed']}")
    for name, s in ((res.get("postgres") or {}).get("scenarios") or {}).items():
        if s.get("median", {}).get("failed"):
            failing.append(f"postgres {name} {s['median']['failed']}")
    out.append(target("Zero failed requests in every scenario (5xx, socket error, timeout)",
                      "none failed in %d scenarios" % total if not failing
                      else "failed: " + ", ".join(failing), None if total == 0 else not failing))

    rg = med(res, "register_32")
    if rg:
        lost = rg["failed"] + rg["non2xx"]
        locked = sc["register_32"].get("locked_in_log")
        out.append(target("Registration, 32 conns, SQLite: nothing lost",
                          f"{lost} of {rg['requests']} not 201"
                          + (f"; 'database is locked' in log: {locked}" if locked else ""),
                          lost == 0))
    else:
        out.append(target("Registration, 32 conns, SQLite: nothing lost",
                          scenario_note(res, "register_32"), None))

    idle_rss = get(res, "memory", "idle_fresh", "VmRSS")
    out.append(target("RSS idle ≤ 16 MiB: after start-up", fmt_mib(idle_rss),
                      None if idle_rss is None else idle_rss <= 16 * 1024))
    after = get(res, "memory", "idle_after_load", "VmRSS")
    out.append(target("RSS idle ≤ 16 MiB: idle again after the load scenarios", fmt_mib(after),
                      None if after is None else after <= 16 * 1024))


    bal = get(res, "memory", "idle_big_after_load")
    lbl = (f"Idle RSS after load on the {get(res, 'meta', 'big_users') or 0:,}-user store "
           f"≤ 16 MiB (/users/me, logins, the admin list)")
    if bal and bal.get("VmRSS"):
        out.append(target(lbl, f"{fmt_mib(bal['VmRSS'])} (anonymous {fmt_mib(bal.get('RssAnon'))}, "
                               f"file-backed {fmt_mib(bal.get('RssFile'))}: the binary, its "
                               f"libraries and any store pages mapped)", bal["VmRSS"] <= 16 * 1024))
    else:
        out.append(target(lbl, NA, None))

    g = res.get("growth") or {}
    users = g.get("users") or {}
    for name, label in (("me_jwt_64", "/users/me"), ("login_16", "login")):
        ch = get(g, name, "change")
        lbl = (f"{label} rate, {users.get('small', 1000):,} → {users.get('big', 1000000):,} "
               f"users: change < 10 %")
        if ch is None:
            out.append(target(lbl, NA, None))
        else:
            out.append(target(lbl, f"{ch * 100:+.1f} % (medians "
                                   f"{fmt_rate(rate(g[name]['small_median']))} → "
                                   f"{fmt_rate(rate(g[name]['big_median']))} /s)",
                              abs(ch) < 0.10))

    su = get(res, "startup", "small_store", "median_ms")
    out.append(target("Start-up to first /healthz 200 ≤ 100 ms (existing database)",
                      NA if su is None else f"{su:.1f} ms", None if su is None else su <= 100))
    out.extend(spread_targets(res))
    return out


# ---- connections spread over the threads (issue 15, item 2) ------------------------------

SPREAD_MAX = 1.2   # the busiest thread's share of the connections ≤ 1.2 × an even share (60/40 of 2)


def split_share(split):
    """The busiest thread's share of the connections over an even share
    (1.0: even; 2.0 with two threads: all on one)."""
    if not split or sum(split) == 0:
        return None
    return max(split) / sum(split) * len(split)


def spread_splits(res, name):
    runs = (res["scenarios"].get(name) or {}).get("runs") or []
    return [r["conn_split"] for r in runs if r.get("conn_split")]


def bursts_text(b):
    if not b or "hung" not in b:
        return NA if not b else f"error: {b.get('error', '?')[:200]}"
    return (f"{b['hung']} hung of {b['connections']:,} connections in {b['bursts']:,} bursts "
            f"of {b['conns_per_burst']} ({b['bursts_with_hung']} bursts with one; "
            f"{b['refused']} refused; burst median {b['burst_ms_median']} ms, "
            f"slowest {b['burst_ms_max']} ms)")


def spread_targets(res):
    out = []
    b = get(res, "bursts", "server")
    label = "No hung connection in 1 000 bursts of 256 new connections"
    if not b or "hung" not in b:
        out.append(target(label, bursts_text(b), None))
    else:
        out.append(target(label, bursts_text(b), b["hung"] == 0,
                          None if b["bursts"] >= 1000 else f"only {b['bursts']} bursts run"))
    shares = []
    for name in ("me_jwt_64", "me_jwt_256"):
        for sp in spread_splits(res, name):
            shares.append((split_share(sp), name, sp))
    label = "Connections per thread within 60/40 at 64 and 256 connections"
    shares = [x for x in shares if x[0] is not None]
    if not shares:
        out.append(target(label, NA, None))
    else:
        worst = max(shares, key=lambda x: x[0])
        out.append(target(label, f"most lopsided: {'/'.join(str(n) for n in worst[2])} "
                                 f"({worst[1]}; {len(shares)} runs)",
                          worst[0] <= SPREAD_MAX + 1e-9))
    return out


def spread_markdown(res):
    o = []
    b = res.get("bursts") or {}
    if b:
        o.append("Bursts of new connections (`bench/bursts`: each burst opens 256 connections at "
                 "once, one request on each; an answer missing after 5 s is a hung connection): "
                 f"server (`GET /healthz`) {bursts_text(b.get('server'))}; ceiling "
                 f"{bursts_text(b.get('ceiling'))}.\n")
    return o


# ---- text -------------------------------------------------------------------------------------

def table(head, rows):
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(lines)


def targets_text(res):
    t = res.get("targets") or []
    w = max([len(x["target"]) for x in t] + [10])
    lines = [f"{x['target']:<{w}}  {x['result']:<4}  {x['measured']}" for x in t]
    return "\n".join(lines)


SCENARIO_LABELS = {
    "ceiling_64": "ceiling (bare libmicrohttpd, 80-byte JSON)",
    "ceiling_256": "ceiling (bare libmicrohttpd, 80-byte JSON)",
    "me_jwt_64": "GET /users/me, one bearer JWT over and over (the cache's best case)",
    "me_jwt_256": "GET /users/me, one bearer JWT over and over (the cache's best case)",
    "me_cookie_64": "GET /users/me, one session cookie over and over (the cache's best case)",
    "dceiling_jwt_64": "ceiling, presented the JWT rows' requests",
    "dceiling_cookie_64": "ceiling, presented the cookie rows' requests",
    "dceiling_jwt_256": "ceiling, presented the JWT rows' requests",
    "dceiling_cookie_256": "ceiling, presented the cookie rows' requests",
    "dceiling_jwt_64w": "ceiling, the JWT rows' requests (in turns with the row, the writes held)",
    "dceiling_cookie_64w": "ceiling, the cookie rows' requests (in turns with the row, the writes held)",
    "dist_jwt_64": "GET /users/me, 10 000 users' own bearer JWTs, access log on",
    "dist_jwt_64_nolog": "the same, access log off (what the log costs)",
    "dist_cookie_64": "GET /users/me, 10 000 users' own session cookies, access log on",
    "dist_jwt_256": "GET /users/me, 10 000 users' own bearer JWTs, access log on",
    "dist_cookie_256": "GET /users/me, 10 000 users' own session cookies, access log on",
    "dist_jwt_64_writes": "10 000 users' own bearer JWTs, access log on, beside background writes",
    "dist_cookie_64_writes": "10 000 users' own session cookies, access log on, beside background writes",
    "me_jwt_64_nocache": "GET /users/me, bearer JWT, credential cache off (every request checks the signature and reads the store)",
    "verify_64": "token verification (simplejwt)",
    "refresh_64": "refresh rotation",
    "login_serial": "POST /auth/login, one at a time",
    "login_16": "POST /auth/login",
    "login_16_beside": "POST /auth/login (the flood beside paced /users/me)",
    "register_32": "POST /auth/register",
    "me_paced_idle": "GET /users/me, paced, idle server",
    "me_paced_flood": "GET /users/me, paced, beside a login flood",
    "list_page_1": "admin user list, page 1",
    "list_page_far": "admin user list, page 9 999 (the last full page)",
}


def conns(res, name):
    s = res["scenarios"].get(name) or {}
    return s.get("conns", "")


def row_for(res, name, base_col):
    s = res["scenarios"].get(name)
    label = SCENARIO_LABELS.get(name, name)
    if s is None:
        return [label, "", "n/a (not run)", "", "", "", ""]
    m = s.get("median")
    if not s.get("available", True) or not m:
        return [label, s.get("conns", ""), s.get("note") or NA, "", "", "", ""]
    r = s.get(base_col) if base_col else None
    return [label, s.get("conns", ""), fmt_rate(rate(m)), fmt_ms(m["p50_ms"]), fmt_ms(m["p99_ms"]),
            "1.00" if "ceiling_" in name else fmt_ratio(r) if base_col else "",
            f"{m['failed']} ({fmt_pct(m['failed_share'])})"]


def deployment_md(res):
    """The deployment rows, first in the report, SQLite then PostgreSQL."""
    o = []
    dep = res.get("deployment") or {}
    if not dep:
        return o
    o.append("## A deployment's mix: 10 000 users, each with its own credential\n")
    o.append("`GET /users/me` with 10 000 users' own bearer JWTs or session cookies, cycled by "
             "`me_many.lua` (each wrk thread takes every other one), the access log on and "
             "written to a file (the server's stderr, redirected to `server-deploy.log` in the "
             "work directory, as a service manager would); then the same beside a background "
             "of writes from one more client. As in every scenario, the server runs with the "
             "login and registration rate limits, the lockout and the per-client connection "
             "cap off (one client, 127.0.0.1, floods on purpose). Every row and its ceiling "
             "take turns of 1 s (ceiling, row, row, ceiling, ...; the writes held during the "
             "ceiling's turns) until each has run a run's length; a run's figures are those of "
             "its turns taken together (× ceiling: the median of the per-run ratios).\n")
    for key, pre, where in (("sqlite", "", "SQLite"), ("pg_", "pg_", "PostgreSQL")):
        info = dep.get(key)
        if not info:
            continue
        names = ["dceiling_jwt_64", "dist_jwt_64", "dist_jwt_64_nolog", "dceiling_cookie_64",
                 "dist_cookie_64", "dceiling_jwt_256", "dist_jwt_256", "dceiling_cookie_256",
                 "dist_cookie_256", "dceiling_jwt_64w", "dceiling_cookie_64w",
                 "dist_jwt_64_writes", "dist_cookie_64_writes"]
        o.append(f"### {where}\n")
        rows = []
        for n in names:
            r = row_for(res, pre + n, "ratio_to_ceiling")
            r[0] = SCENARIO_LABELS.get(n, n)
            rows.append(r)
        o.append(table(["scenario", "conns", "req/s", "p50 ms", "p99 ms", "× ceiling",
                        "failed (all runs)"], rows))
        o.append("")
        bw = info.get("background_writes") or []
        if bw:
            w = bw[0]
            plan = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in w["planned_per_s"].items())
            got = "; ".join(f"run {i + 1}: {x['total_per_s']}/s ("
                            + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in x["per_s"].items())
                            + f"), failed {sum(x['failed'].values())}"
                            for i, x in enumerate(bw))
            o.append(f"Background writes, planned per second: {plan} (one client, each "
                     f"second's writes spread over it, a late one sent at once); reached: {got}."
                     + (f" First errors: {bw[0]['errors']}" if bw[0].get("errors") else "") + "\n")
        if info.get("access_log_bytes"):
            o.append(f"Access log written: {info['access_log_lines']:,} lines, "
                     f"{info['access_log_bytes'] / 1048576:.1f} MiB (`{info['access_log_file']}`).\n")
        rss = get(res, "memory", pre + "deploy_idle_after_load", "VmRSS")
        if rss:
            o.append(f"RSS of the server idle after these rows: {fmt_mib(rss)}.\n")
    fs = res.get("fsync") or {}
    if fs:
        parts = []
        for key in ("sqlite", "postgres"):
            f = fs.get(key)
            if f:
                runs = f["runs"]
                parts.append(f"{key}: {fmt_rate(f['median_ops_per_s'])} appends+fdatasync/s "
                             f"(median of {len(runs)}; mean {runs[0]['mean_ms']} ms, worst "
                             f"{runs[0]['worst_ms']} ms in the first run)")
        o.append("Durable-write ceiling (`pc-fsync`: 4 KiB appended and `fdatasync`ed in a loop "
                 "in the database's directory, 3 s, right before each refresh-rotation run): "
                 + "; ".join(parts) + ". One durable commit per sync is the limit without "
                 "group commit.\n")
    return o


def markdown(res):
    meta = res.get("meta", {})
    o = []
    o.append("# portcullis benchmark: latest results\n")
    o.append(f"{meta.get('date', '')}, `bench/run` ({meta.get('mode', '')} mode: "
             f"{meta.get('runs')} run(s) of {meta.get('duration_s')} s per scenario, medians), "
             f"commit {meta.get('commit', '?')}.  ")
    o.append(f"Machine: {meta.get('cpus')} × {meta.get('cpu', '?')}, {meta.get('mem_gib')} GiB, "
             f"Linux {meta.get('kernel', '')}; {meta.get('wrk', 'wrk')}, SQLite "
             f"{meta.get('sqlite', '')}. Server: release build, {meta.get('server_threads')} HTTP "
             f"threads, {meta.get('hash_workers')} hash workers, argon2id "
             f"m={get(meta, 'argon2', 'memory_kib')} KiB t={get(meta, 'argon2', 'iterations')} "
             f"p={get(meta, 'argon2', 'parallelism')} (the defaults), access log off except in "
             f"the deployment rows; login and registration rate limits, lockout and the "
             f"per-client connection cap off in every row. "
             f"Everything on loopback, wrk on the same cores.\n")

    o.append(noise_text(res))
    o.append("## Targets\n")
    o.append(table(["target", "measured", "result"],
                   [[t["target"], t["measured"], f"**{t['result']}**"] for t in res.get("targets", [])]))
    o.append("")

    o.extend(deployment_md(res))
    o.append("## Throughput against the ceiling (one credential over and over: the cache's best case)\n")
    o.append("Requests/s: successful (2xx) answers a second, median of the runs. × ceiling: "
             "the runs alternate with the ceiling's at the same connection count; each run is "
             "divided by the ceiling run just before it and the column gives the median of "
             "those ratios (refresh, run later, by the ceiling's median).\n")
    names = ["ceiling_64", "me_jwt_64", "me_jwt_64_nocache", "me_cookie_64", "verify_64",
             "refresh_64", "ceiling_256", "me_jwt_256"]
    o.append(table(["scenario", "conns", "req/s", "p50 ms", "p99 ms", "× ceiling",
                    "failed (all runs)"],
                   [row_for(res, n, "ratio_to_ceiling") for n in names]))
    o.append("")
    splits = []
    for n in names:
        runs = (res["scenarios"].get(n) or {}).get("runs") or []
        sp = ["/".join(str(x) for x in r["conn_split"]) for r in runs if r.get("conn_split")]
        if sp:
            splits.append(f"{n} {', '.join(sp)}")
    if splits:
        o.append("Connections per HTTP thread, mid-run, run by run (one listening socket per "
                 "thread, SO_REUSEPORT: the kernel spreads them; a lopsided split leaves a core "
                 "to wrk): " + "; ".join(splits) + ".\n")
    o.extend(spread_markdown(res))

    h = res.get("hash") or {}
    o.append("## Login and registration against the hashing ceiling\n")
    if h.get("one_hash_ms") and h.get("serial_ms"):
        o.append(f"One argon2id hash (m={h['params']['memory_kib']} KiB, t={h['params']['iterations']}"
                 f", p={h['params']['parallelism']}) takes **{h['one_hash_ms']:.1f} ms** here "
                 f"(median of {len(h['serial_ms'])}, `pc-hashtime`, measured before each login "
                 f"run); with {h['workers']} workers "
                 f"the hashing ceiling is **{h['ceiling_per_s']:.1f} hashes/s** "
                 f"({h['workers']} threads hashing at once measured "
                 f"{h.get('parallel_hashes_per_s')}/s). One login alone, end to end, takes "
                 f"{fmt_ms(h.get('serial_login_ms'))} ms (p50).\n")
    names = ["login_16", "register_32", "login_serial"]
    o.append(table(["scenario", "conns", "req/s", "p50 ms", "p99 ms", "× hashing ceiling",
                    "failed"], [row_for(res, n, "ratio_to_hashing_ceiling") for n in names]))
    o.append("")
    rg = res["scenarios"].get("register_32") or {}
    if rg.get("median"):
        o.append(f"Registration: {rg['median']['requests']} sign-ups attempted, "
                 f"{rg['median']['non2xx']} answered other than 201, {rg['median']['failed']} "
                 f"failed; \"database is locked\" in the server log: {rg.get('locked_in_log', NA)}.\n")

    o.append("## /users/me latency beside a login flood\n")
    o.append(f"8 connections, each pausing {res['scenarios'].get('me_paced_idle', {}).get('delay_ms', 2)}"
             " ms between requests (so the latency is a request's, not a queue's); first alone, "
             "then while 16 connections flood POST /auth/login.\n")
    o.append(table(["scenario", "conns", "req/s", "p50 ms", "p99 ms", "", "failed"],
                   [row_for(res, n, None) for n in ("me_paced_idle", "me_paced_flood",
                                                    "login_16_beside")]))
    o.append("")

    mem = res.get("memory") or {}
    o.append("## Memory (server RSS)\n")
    def per_conn(c):
        if c.get("rss_kib") and c.get("rss_before_kib") and c.get("opened"):
            return (f"+{fmt_mib(c['rss_kib'] - c['rss_before_kib'])} "
                    f"({(c['rss_kib'] - c['rss_before_kib']) / c['opened']:.1f} KiB a connection); ")
        return ""

    a = get(meta, "argon2")
    rows = [["idle, after start-up", fmt_mib(get(mem, "idle_fresh", "VmRSS")), ""]]
    peak = mem.get("login_flood_peak_rss_kib")
    if peak:
        note = ""
        if a and get(mem, "idle_fresh", "VmRSS"):
            bound = get(mem, "idle_fresh", "VmRSS") + meta["hash_workers"] * a["memory_kib"]
            note = (f"idle after start-up + {meta.get('hash_workers')} workers × "
                    f"{a['memory_kib']} KiB = {fmt_mib(bound)}: "
                    + (f"within it by {fmt_mib(bound - peak)}" if peak <= bound
                       else f"**{fmt_mib(peak - bound)} over it**"))
        rows.append(["peak during the serial logins and the login flood (VmRSS sampled every "
                     "50 ms)", fmt_mib(peak), note])
    for key, label in (("conns_1000_connected", "1 000 open connections (connected, no request)"),
                       ("conns_1000_keepalive", "1 000 open connections (idle keep-alive, one "
                                                "request each)")):
        c = mem.get(key)
        if c:
            rows.append([label, fmt_mib(c.get("rss_kib")),
                         per_conn(c) + f"{c['still_open']}/{c['opened']} held open, "
                         f"{c['refused']} refused, /healthz while held: {c['healthz_while_held']}"])
    c = mem.get("ceiling_conns_1000_keepalive")
    if c:
        rows.append(["for reference: pc-ceiling idle / with 1 000 keep-alive connections",
                     f"{fmt_mib(get(mem, 'ceiling_idle', 'VmRSS'))} / {fmt_mib(c.get('rss_kib'))}",
                     per_conn(c) + "bare libmicrohttpd, same daemon options"])
    rows.append(["idle again, after logins, floods, 1 000 connections",
                 fmt_mib(get(mem, "idle_after_load", "VmRSS")),
                 f"VmHWM {fmt_mib(get(mem, 'idle_after_load', 'VmHWM'))}"])
    if get(mem, "idle_big_store", "VmRSS"):
        rows.append([f"idle, {meta.get('big_users', 0):,}-user store, after start-up",
                     fmt_mib(get(mem, "idle_big_store", "VmRSS")), ""])
    o.append(table(["state", "RSS", "note"], rows))
    o.append("")

    g = res.get("growth") or {}
    users = g.get("users") or {}
    o.append(f"## Growth: {users.get('small', 1000):,} against {users.get('big', 1000000):,} users\n")
    if users:
        o.append(f"Both stores served at once, {g.get('pairs', '?')} interleaved pairs of "
                 f"{g.get('pair_seconds', '?')} s runs; the change is the median of the per-pair "
                 f"changes. Both servers run with the credential cache off "
                 f"(`--auth-cache-ms 0`), so every /users/me reads the store. "
                 f"Stores: {users['small']:,} and {users['big']:,} users "
                 f"({meta.get('big_db_mib', '?')} MiB on disk).\n")
        rows = []
        for name, label in (("me_jwt_64", "GET /users/me, JWT, 64 conns (req/s)"),
                            ("login_16", "POST /auth/login, 16 conns (logins/s)")):
            if name in g and "small_median" in g[name]:
                sm, bg = g[name]["small_median"], g[name]["big_median"]
                rows.append([label, fmt_rate(rate(sm)) if rate(sm) > 1000 else f"{rate(sm):.1f}",
                             fmt_rate(rate(bg)) if rate(bg) > 1000 else f"{rate(bg):.1f}",
                             f"{g[name]['change'] * 100:+.1f} %",
                             f"{fmt_ms(sm['p99_ms'])} / {fmt_ms(bg['p99_ms'])}"])
        for name in ("list_page_1", "list_page_far"):
            s = res["scenarios"].get(name)
            if s and s.get("available", True) and s.get("median"):
                rows.append([SCENARIO_LABELS[name] + " (req/s)", "", fmt_rate(rate(s["median"])),
                             "", f"— / {fmt_ms(s['median']['p99_ms'])}"])
            else:
                rows.append([SCENARIO_LABELS[name], "", scenario_note(res, name), "", ""])
        o.append(table(["figure", f"{users['small']:,} users", f"{users['big']:,} users", "change",
                        "p99 ms"], rows))
    else:
        o.append("not run")
    o.append("")

    st = res.get("startup") or {}
    o.append("## Start-up\n")
    rows = []
    for key, label in (("small_store", f"existing store, {meta.get('small_users', 0):,} users"),
                       ("big_store", f"existing store, {meta.get('big_users', 0):,} users")):
        if key in st:
            rows.append([label, f"{st[key]['median_ms']:.1f}",
                         ", ".join(f"{x:.1f}" for x in st[key]["runs_ms"])])
    o.append("Process start to the first 200 from GET /healthz.\n")
    o.append(table(["store", "median ms", "runs ms"], rows))
    o.append("")

    pg = res.get("postgres")
    o.append("## PostgreSQL\n")
    if pg is None:
        o.append("not run (`bench/run --postgres`).")
    elif not pg.get("available"):
        o.append(pg.get("note") or NA)
    else:
        rows = []
        for name, s in pg["scenarios"].items():
            m = s["median"]
            rows.append([SCENARIO_LABELS.get(name, name), fmt_rate(rate(m)), fmt_ms(m["p50_ms"]),
                         fmt_ms(m["p99_ms"]), f"{m['failed']} ({fmt_pct(m['failed_share'])})"])
        o.append(table(["scenario", "req/s", "p50 ms", "p99 ms", "failed"], rows))
        two = pg.get("two_instances_register_32")
        if two:
            o.append("")
            o.append(f"Registration storm over two instances on one database: "
                     f"{two['ok_rps_median']:.0f} registrations/s (median; runs "
                     + ", ".join(f"{r['ok_rps']:.0f} ({r['failed']} failed)" for r in two["runs"])
                     + ").")
    o.append("")

    hangs = []
    for name, s in res["scenarios"].items():
        for i, r in enumerate(s.get("runs", [])):
            if r.get("hung_connections"):
                hangs.append(f"{name} run {i + 1}: {r['hung_connections']} connections")
    if hangs:
        o.append("## Hung connections\n")
        o.append("In these runs the process sat idle in epoll_wait while its sockets held "
                 "requests it never read (wrk 4.1 does not count such requests as timeouts; "
                 "bench/run checks mid-run). Seen with libmicrohttpd 0.9.75 in epoll "
                 "thread-pool mode, the server's and the ceiling's alike; a ceiling run that "
                 "hung is left out of the ratios, a server run that hung counts as failed: "
                 + "; ".join(hangs) + ".\n")
    if res.get("notes"):
        o.append("## Notes from the run\n")
        for n in res["notes"]:
            o.append(f"- {n}")
        o.append("")
    o.append("How each figure is measured: bench/README.md. Raw runs: latest.json.\n")
    return "\n".join(o)


def main():
    src = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "results" / "latest.json")
    res = json.loads(src.read_text())
    finish(res)
    src.write_text(json.dumps(res, indent=1) + "\n")
    src.with_suffix(".md").write_text(markdown(res))
    print(targets_text(res))


if __name__ == "__main__":
    main()
