#!/usr/bin/env python3
"""Figures of bench/baseline.sh: the pass/fail verdict of a throughput point, and the report.

  baseline_report.py verdict MM_BENCH.json
      one line: "pass ..." when every request was ready and p99 time-to-ready < 250 ms, else "fail ...".
  baseline_report.py report RESULTS_DIR [--doc FILE]
      reads the raw JSON the script wrote, writes RESULTS_DIR/summary.json and RESULTS_DIR/table.md,
      and with --doc the whole of docs/PERFORMANCE.md. The part of an existing doc between
      <!-- analysis:begin --> and <!-- analysis:end --> (written by a person: what the profile
      means) is kept as it is, and so is the launch section between <!-- launch:begin --> and
      <!-- launch:end --> (bench/baseline.sh --only launch; bench/launch_report.py).

Only the Python standard library (python3 is installed by deploy/install-deps.sh).
"""
import glob
import json
import os
import re
import sys

P99_LIMIT_MS = 250.0
OURS = ("matchmaker-1", "matchmaker-2", "httpd")
GOAL_RATE = 2000
GOAL_ADDED_P99_MS = 10.0
GOAL_RSS_MB = 300.0
# Scenario 3 with webhooks: sessions seek for SEEK_MS; with a fallback grid of
# WEBHOOK_POLL_MS the GETs per session are the fallback polls within SEEK_MS plus the one the
# webhook triggers; our CPU while all wait; time-to-ready minus SEEK_MS.
SEEK_MS = 20000.0
WEBHOOK_POLL_MS = 10000
GOAL_WEBHOOK_GETS = 1 + int(SEEK_MS // WEBHOOK_POLL_MS)
GOAL_WEBHOOK_CORES = 0.05
GOAL_WEBHOOK_ADDED_P99_MS = 10.0
ANALYSIS_BEGIN = "<!-- analysis:begin -->"
ANALYSIS_END = "<!-- analysis:end -->"
LAUNCH_BEGIN = "<!-- launch:begin -->"
LAUNCH_END = "<!-- launch:end -->"


def load(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def top_reason(j):
    reasons = sorted(j.get("reasons") or [], key=lambda r: -r["count"])
    return "%s: %s" % (reasons[0]["outcome"], reasons[0]["reason"]) if reasons else ""


def p99_of(j):
    lat = j.get("latency_ms") or {}
    return lat.get("p99")


def verdict(path):
    j = load(path)
    if j is None:
        return "fail: no mm_bench result"
    p99 = p99_of(j)
    ok = j["errors"] == 0 and p99 is not None and p99 < P99_LIMIT_MS
    text = "ready %d/%d, %.0f ready/s, p99 %s ms" % (j["ready"], j["requests"], j.get("rate") or 0,
                                                    "%.1f" % p99 if p99 is not None else "-")
    if j["errors"]:
        text += ", %d errors (%s)" % (j["errors"], top_reason(j))
    return ("pass: " if ok else "fail: ") + text


# ---- process samples ---------------------------------------------------------------------------

def cores(s0, s1, hz):
    """CPU of each process between two stack samples, in cores (1.0 = one core busy)."""
    seconds, out = s1["t"] - s0["t"], {}
    for name, a in s1["procs"].items():
        b = s0["procs"].get(name)
        if b and seconds > 0:
            out[name] = (a["cpu_ticks"] - b["cpu_ticks"]) / hz / seconds
    return out


def machine_cores(s0, s1, nproc):
    """Busy cores of the whole machine between two samples (everything, other work included)."""
    a, b = s1.get("machine"), s0.get("machine")
    if not a or not b or a["total"] <= b["total"]:
        return None
    return (a["busy"] - b["busy"]) / (a["total"] - b["total"]) * nproc


def thread_cores(s0, s1, hz, names):
    """CPU of each named thread of the given processes, in cores: {"proc/thread": cores}."""
    seconds, out = s1["t"] - s0["t"], {}
    for name in names:
        a, b = s1["procs"].get(name), s0["procs"].get(name)
        if not a or not b or seconds <= 0:
            continue
        for tname, ticks in a.get("threads", {}).items():
            out["%s/%s" % (name, tname)] = (ticks - b.get("threads", {}).get(tname, 0)) / hz / seconds
    return out


def cpu_seconds(s0, s1, hz, names):
    a, b = s1["procs"], s0["procs"]
    return sum((a[n]["cpu_ticks"] - b[n]["cpu_ticks"]) / hz for n in names if n in a and n in b)


def sim_delta(procs, key):
    a = ((procs.get("sim_after") or {}).get("requests") or {}).get(key, 0)
    b = ((procs.get("sim_before") or {}).get("requests") or {}).get(key, 0)
    return a - b


NPROC = os.cpu_count() or 2  # replaced by machine.json's figure in report()


def point(dirpath, name, hz):
    """One mm_bench run with its process samples, reduced to the figures the report shows."""
    j = load(os.path.join(dirpath, name + ".json"))
    procs = load(os.path.join(dirpath, name + ".procs.json"))
    if j is None or procs is None:
        return None
    seconds = procs["after"]["t"] - procs["before"]["t"]
    c = cores(procs["before"], procs["after"], hz)
    creates = sim_delta(procs, "session_create")
    ours = [n for n in OURS if n in procs["after"]["procs"]]
    p = {
        "requests": j["requests"], "ready": j["ready"], "errors": j["errors"], "top_reason": top_reason(j),
        "rate": j.get("rate"), "latency_ms": j.get("latency_ms"), "phases_ms": j.get("phases_ms"),
        "mm_bench_cpu_percent": (j.get("cpu") or {}).get("percent"),
        "max_start_lag_ms": j.get("max_start_lag_ms"),
        "wall_s": seconds, "cores": c, "cores_total": sum(c.values()) + (j.get("cpu") or {}).get("percent", 0) / 100.0,
        "edgegap_calls": {k: sim_delta(procs, k) for k in ("session_create", "session_get", "session_delete")},
        "polls_per_session": (sim_delta(procs, "session_get") / creates) if creates else None,
        "ours_cpu_us_per_request": (cpu_seconds(procs["before"], procs["after"], hz, ours) * 1e6 / j["requests"])
        if j["requests"] else None,
        "hwm_kb": {n: v["hwm_kb"] for n, v in procs["after"]["procs"].items()},
        "machine_cores": machine_cores(procs["before"], procs["after"], NPROC),
        "other_cores": None,
        "threads": dict(sorted(thread_cores(procs["before"], procs["after"], hz, ours).items(),
                               key=lambda kv: -kv[1])[:8]),
    }
    if p["machine_cores"] is not None:
        p["other_cores"] = max(0.0, p["machine_cores"] - p["cores_total"])
    p["pass"] = p["errors"] == 0 and p99_of(j) is not None and p99_of(j) < P99_LIMIT_MS
    return p


# ---- the scenarios -------------------------------------------------------------------------------

def parse_rate(text, label):
    m = re.search(re.escape(label) + r"\s+([0-9]+)\s*(?:req)?/s", text or "")
    return int(m.group(1)) if m else None


def read_text(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def ceilings(res, hz):
    d = os.path.join(res, "s5")
    ws = load(os.path.join(d, "ws.json"), {})
    wss = load(os.path.join(d, "ws-server.json"), {})
    tok = read_text(os.path.join(d, "token_bench.txt"))
    eg = read_text(os.path.join(d, "edgegap_sim_bench.txt"))
    nats = load(os.path.join(d, "nats.json"), {})
    out = {
        "ws_sessions_per_s": ws.get("rate"), "ws_errors": ws.get("errors"),
        "ws_mm_bench_cpu_percent": (ws.get("cpu") or {}).get("percent"),
        "ws_server_cpu_percent": (100.0 * wss["server_cpu_ticks"] / hz / ws["elapsed_s"])
        if wss.get("server_cpu_ticks") is not None and ws.get("elapsed_s") else None,
        "tokens_per_s": parse_rate(tok, "mm_token_mint (randoms, seal, base64)"),
        "edgegap_404_per_s": parse_rate(eg, "404 (baseline)"),
        "edgegap_create_per_s": parse_rate(eg, "create session"),
        "edgegap_get_per_s": parse_rate(eg, "get session"),
        "edgegap_delete_per_s": parse_rate(eg, "delete session"),
        "nats_rr_per_s": nats.get("nats_rr_per_s"), "kv_put_per_s": nats.get("kv_put_per_s"),
    }
    return out


def throughput(res, hz):
    modes = {}
    for mode in ("allinone", "split", "split2"):
        d = os.path.join(res, "s1", mode)
        if not os.path.isdir(d):
            continue
        pts = []
        for f in glob.glob(os.path.join(d, "rate-*.json")):
            if f.endswith(".procs.json"):
                continue
            rate = int(re.search(r"rate-(\d+)\.json$", f).group(1))
            p = point(d, "rate-%d" % rate, hz)
            if p:
                p["target_rate"] = rate
                pts.append(p)
        pts.sort(key=lambda p: p["target_rate"])
        passing = [p for p in pts if p["pass"]]
        best = max(passing, key=lambda p: p["target_rate"]) if passing else None
        modes[mode] = {"points": pts, "best_rate": best["target_rate"] if best else 0, "best": best}
    return modes


def latency(res, hz):
    out = {}
    for mode in ("allinone", "split"):
        d = os.path.join(res, "s2", mode)
        p = point(d, "mm_bench", hz)
        eg = load(os.path.join(d, "edgegap_time.json"))
        if p is None or eg is None:
            continue
        lat, egl = p["latency_ms"] or {}, eg["latency_ms"]
        added = {q: (lat.get(q) - egl.get(q)) if lat.get(q) is not None and egl.get(q) is not None else None
                 for q in ("p50", "p90", "p99")}
        out[mode] = {"point": p, "edgegap": eg, "added_ms": added}
    return out


def waiting(res, hz):
    out = []
    for d in sorted(glob.glob(os.path.join(res, "s3", "*"))):
        mode, n = os.path.basename(d).rsplit("-", 1)
        p = point(d, "mm_bench", hz)
        i0, i1 = load(os.path.join(d, "idle0.json")), load(os.path.join(d, "idle1.json"))
        w0, w1 = load(os.path.join(d, "wait0.json")), load(os.path.join(d, "wait1.json"))
        procs = load(os.path.join(d, "mm_bench.procs.json"))
        if None in (p, i0, i1, w0, w1, procs):
            continue
        last = procs["after"]["procs"]
        ours = [k for k in OURS if k in last]
        idle = cores(i0, i1, hz)
        wait = cores(w0, w1, hz)
        g0 = ((load(os.path.join(d, "wait0-sim.json"), {}) or {}).get("requests") or {}).get("session_get")
        g1 = ((load(os.path.join(d, "wait1-sim.json"), {}) or {}).get("requests") or {}).get("session_get")
        polls_per_s = (g1 - g0) / (w1["t"] - w0["t"]) if g0 is not None and g1 is not None else None
        run_ours = cpu_seconds(procs["before"], procs["after"], hz, ours)
        idle_ours = sum(idle.get(k, 0) for k in ours) * p["wall_s"]
        lat = p["latency_ms"] or {}
        sim = procs.get("sim_after") or {}
        out.append({
            "webhooks": mode.endswith("-webhooks"),
            "added_ms": {q: (lat[q] - SEEK_MS) if lat.get(q) is not None else None for q in ("p50", "p90", "p99", "max")},
            "mm_stats": mm_stats(os.path.join(d, "mm-stats.txt")),
            "sim_webhooks": {k: sim.get(k) for k in ("webhooks_sent", "webhooks_failed", "webhooks_dropped")},
            "mode": mode, "clients": int(n), "point": p,
            "idle_cores": idle, "waiting_cores": wait,
            "ours_idle_cores": sum(idle.get(k, 0) for k in ours),
            "ours_waiting_cores": sum(wait.get(k, 0) for k in ours),
            "ours_cpu_us_per_request": (run_ours - idle_ours) * 1e6 / p["requests"] if p["requests"] else None,
            "ours_run_cpu_s": run_ours,
            "polls_per_s_waiting": polls_per_s,
            "ours_us_per_poll_waiting": sum(wait.get(k, 0) for k in ours) * 1e6 / polls_per_s if polls_per_s else None,
            "ours_hwm_mb": {k: last[k]["hwm_kb"] / 1024.0 for k in ours},
            "ours_hwm_total_mb": sum(last[k]["hwm_kb"] for k in ours) / 1024.0,
            "others_hwm_mb": {k: v["hwm_kb"] / 1024.0 for k, v in last.items() if k not in ours},
            "p50_ms": lat.get("p50"), "p99_ms": lat.get("p99"), "max_ms": lat.get("max"),
            "polls_per_session": p["polls_per_session"],
        })
    return out


def mm_stats(path):
    """The matchmakers' stop line (src/matchmaker/main.c), summed over replicas."""
    keys = ("sessions_polled", "gets", "webhooks_received", "webhooks_nats", "webhooks_bad", "webhooks_refused",
            "webhooks_ignored", "webhooks_early", "webhooks_rate_limited", "webhook_gets")
    pat = re.compile(r"provisioner: (\d+) sessions polled with (\d+) GETs; webhooks: (\d+) received \((\d+) over NATS, "
                     r"(\d+) bad\), (\d+) refused, (\d+) ignored \((\d+) early\), (\d+) rate-limited, (\d+) GETs")
    out = None
    for line in read_text(path).splitlines():
        m = pat.search(line)
        if m:
            out = out or {k: 0 for k in keys}
            for k, v in zip(keys, m.groups()):
                out[k] += int(v)
    if out and out["sessions_polled"]:
        out["gets_per_session"] = out["gets"] / out["sessions_polled"]
    return out


def webhook_table(s):
    """Scenario 3 polling against 3w webhooks, per mode, from the same run, with the goals."""
    rows = [w for w in s["waiting"] if w["clients"] == 10000]
    if not any(w["webhooks"] for w in rows):
        return ""
    out = ["| mode | readiness | ready / errors | Edgegap GETs per session (simulator; matchmaker) | CPU ours while all "
           "wait (cores) | time-to-ready minus the 20 s: p50 / p99 / max ms | webhooks sent / failed (simulator); "
           "received, ignored, rate-limited, GETs (matchmaker) |", "|---|---|---|---|---|---|---|"]
    for w in sorted(rows, key=lambda w: (w["mode"].replace("-webhooks", ""), w["webhooks"])):
        p, a, ms, sw = w["point"], w["added_ms"], w["mm_stats"] or {}, w["sim_webhooks"]
        if w["webhooks"]:
            g = w["polls_per_session"]
            gets = "**%s** (goal <= %d: %s)" % (f(g, "%.2f"), GOAL_WEBHOOK_GETS,
                                                 "met" if g is not None and g <= GOAL_WEBHOOK_GETS + 0.005 else "**missed**")
            cpu = "**%.3f** (goal < %g: %s)" % (w["ours_waiting_cores"], GOAL_WEBHOOK_CORES,
                                                "met" if w["ours_waiting_cores"] < GOAL_WEBHOOK_CORES else "**missed**")
            added = "%s / **%s** / %s (goal p99 < %g: %s)" % (
                f(a["p50"], "%.2f"), f(a["p99"], "%.2f"), f(a["max"], "%.1f"), GOAL_WEBHOOK_ADDED_P99_MS,
                "met" if a["p99"] is not None and a["p99"] < GOAL_WEBHOOK_ADDED_P99_MS else "**missed**")
            hooks = "%s / %s; %s, %s, %s, %s" % (sw.get("webhooks_sent"), sw.get("webhooks_failed"),
                                                 ms.get("webhooks_received", "-"), ms.get("webhooks_ignored", "-"),
                                                 ms.get("webhooks_rate_limited", "-"), ms.get("webhook_gets", "-"))
            how = "webhook, fallback grid %d s" % (WEBHOOK_POLL_MS // 1000)
        else:
            gets = f(w["polls_per_session"], "%.2f")
            cpu = "%.3f" % w["ours_waiting_cores"]
            added = "%s / %s / %s" % (f(a["p50"], "%.1f"), f(a["p99"], "%.1f"), f(a["max"], "%.1f"))
            hooks = "-"
            how = "polling (1 s, then every 2 s)"
        out.append("| %s | %s | %d / %d | %s; %s | %s | %s | %s |" % (
            w["mode"].replace("-webhooks", ""), how, p["ready"], p["errors"], gets,
            f(ms.get("gets_per_session"), "%.2f"), cpu, added, hooks))
    return "\n".join(out) + "\n"


# ---- which ceiling binds ----------------------------------------------------------------------------

def binding(rate, calls, wall_s, c, ceil, nproc, split, threads=None):
    """Demand of a scenario on each raw ceiling, as a ratio; the largest one is named."""
    r = {}
    if threads:
        busiest = max(threads, key=threads.get)
        r["one thread: %s (cores of one)" % busiest] = threads[busiest]
    if rate and ceil.get("ws_sessions_per_s"):
        r["bare h2o WebSocket sessions/s"] = rate / ceil["ws_sessions_per_s"]
    if rate and ceil.get("tokens_per_s"):
        r["tokens/s"] = rate / ceil["tokens_per_s"]
    if calls and wall_s and ceil.get("edgegap_get_per_s"):
        r["libcurl requests/s to edgegap_sim"] = sum(calls.values()) / wall_s / ceil["edgegap_get_per_s"]
    if rate and ceil.get("kv_put_per_s"):
        r["JetStream KV puts/s (3 per session)"] = 3 * rate / ceil["kv_put_per_s"]
    if split and rate and ceil.get("nats_rr_per_s"):
        r["NATS request/reply (1 request + 4 replies per session)"] = 5 * rate / ceil["nats_rr_per_s"]
    if c:
        r["CPU: %.2f of the machine's %d cores busy" % (c, nproc)] = c / nproc
    if not r:
        return None, r
    return max(r, key=r.get), r


# ---- output ------------------------------------------------------------------------------------------

def f(v, fmt="%.1f", none="-"):
    return none if v is None else fmt % v


MODE_NAMES = {"allinone": "all-in-one (`bevygap_matchmaker --http`)",
              "split": "split (`bevygap_matchmaker_httpd` + NATS + `bevygap_matchmaker`)",
              "split2": "split, 2 matchmaker replicas"}
PROC_ORDER = ("matchmaker-1", "matchmaker-2", "httpd", "nats-server", "edgegap_sim", "gameserver_sim")


def cores_text(c, bench_pct):
    parts = ["%s %.2f" % (k, c[k]) for k in PROC_ORDER if k in c]
    if bench_pct is not None:
        parts.append("mm_bench %.2f" % (bench_pct / 100.0))
    return ", ".join(parts)


def table(s, machine_line=True):
    m, ceil, lines = s["machine"], s["ceilings"], []
    add = lines.append
    if machine_line:
        add("Machine: %s cores (%s), %s, kernel %s; commit %s; %s." % (
            m.get("nproc"), m.get("cpu_model"), m.get("mem_total"), m.get("kernel"), m.get("git"), m.get("date")))
        add("")
    add("| scenario | measured | goal | binding ceiling (demand / ceiling) |")
    add("|---|---|---|---|")
    for mode, t in s["throughput"].items():
        b = t["best"]
        goal = ">= %d/s" % GOAL_RATE if mode == "allinone" else ""
        if mode == "allinone":
            goal += " (met)" if t["best_rate"] >= GOAL_RATE else " (**missed**)"
        bind = ""
        if b:
            name, r = binding(b["rate"], b["edgegap_calls"], b["wall_s"], b["machine_cores"] or b["cores_total"], ceil,
                              m.get("nproc") or 2,
                              mode != "allinone", b["threads"])
            bind = "%s (%.2f)" % (name, r[name]) if name else ""
        add("| 1 throughput, %s | **%d sessions/s** (p99 %s ms, 0 errors) | %s | %s |" % (
            MODE_NAMES[mode], t["best_rate"], f(b and b["latency_ms"]["p99"]), goal, bind))
    for mode, l in s["latency"].items():
        a = l["added_ms"]
        goal = "p99 < %g ms" % GOAL_ADDED_P99_MS
        goal += " (met)" if a["p99"] is not None and a["p99"] < GOAL_ADDED_P99_MS else " (**missed**)"
        name, r = binding(200, l["point"]["edgegap_calls"], l["point"]["wall_s"],
                          l["point"]["machine_cores"] or l["point"]["cores_total"], ceil,
                          m.get("nproc") or 2, mode != "allinone")
        add("| 2 latency added at 200/s, %s | **p50 %s ms, p99 %s ms** (time-to-ready p50 %s / p99 %s minus Edgegap's "
            "own p50 %s / p99 %s) | %s | none binds: largest is %s (%.2f) |" % (
                mode, f(a["p50"], "%.2f"), f(a["p99"], "%.2f"), f(l["point"]["latency_ms"]["p50"], "%.2f"),
                f(l["point"]["latency_ms"]["p99"], "%.2f"), f(l["edgegap"]["latency_ms"]["p50"], "%.2f"),
                f(l["edgegap"]["latency_ms"]["p99"], "%.2f"), goal, name, r[name]))
    for w in s["waiting"]:
        if w["clients"] != 10000:
            continue
        p = w["point"]
        goal = "0 errors, < %g MB (%s)" % (GOAL_RSS_MB, "met" if w["ours_hwm_total_mb"] < GOAL_RSS_MB and p["errors"] == 0
                                           else "**missed**")
        name, r = binding(w["clients"] / 12.5, p["edgegap_calls"], p["wall_s"], p["machine_cores"] or p["cores_total"], ceil,
                          m.get("nproc") or 2, not w["mode"].startswith("allinone"))
        add("| 3 10,000 waiting 20 s, %s | %d/%d ready, %d errors; peak RSS ours **%.0f MB** (%s); CPU ours while "
            "all wait %.2f cores (idle %.2f) | %s | %s (%.2f) |" % (
                w["mode"], p["ready"], p["requests"], p["errors"], w["ours_hwm_total_mb"],
                ", ".join("%s %.0f" % kv for kv in w["ours_hwm_mb"].items()), w["ours_waiting_cores"],
                w["ours_idle_cores"], goal, name, r[name]))
    rows = sorted((w for w in s["waiting"] if w["mode"] == "allinone"), key=lambda w: w["clients"])
    marg = marginal(rows)

    if rows:
        add("| 4 cost growth (all-in-one) | %s%s | flat | CPU per request |" % ("; ".join(
            "%d waiting: **%s µs CPU/request**, p99 %s s" % (w["clients"], f(w["ours_cpu_us_per_request"], "%.0f"),
                                                          f(w["p99_ms"] and w["p99_ms"] / 1000.0, "%.2f"))
            for w in rows), ("; marginal " + ", ".join("%s: %.0f µs" % kv for kv in marg.items())) if marg else ""))
    add("| 5 raw ceilings | bare h2o WebSocket %s sessions/s; NATS request/reply %s/s; KV puts %s/s; libcurl to "
        "edgegap_sim %s GET/s (1 core); tokens %s/s | | |" % (
            f(ceil.get("ws_sessions_per_s"), "%.0f"), f(ceil.get("nats_rr_per_s"), "%.0f"),
            f(ceil.get("kv_put_per_s"), "%.0f"), f(ceil.get("edgegap_get_per_s"), "%d"),
            f(ceil.get("tokens_per_s"), "%d")))
    wh = webhook_table(s)
    if wh:
        add("")
        add("Scenario 3 with readiness by webhook (\"3w\") beside polling, same run (with the goals set for readiness by webhook):")
        add("")
        add(wh.rstrip("\n"))
    return "\n".join(lines) + "\n"


def details(s):
    out = []
    add = out.append
    add("### 1. Throughput search\n")
    add("Open loop, 8 s per point (a 2 s ramp, then steady), every point on the same stack until a point fails (then "
        "the stack is restarted). CPU in cores (1.00 = one core busy) over the point's wall time.\n")
    for mode, t in s["throughput"].items():
        add("**%s**: best %d sessions/s\n" % (MODE_NAMES[mode], t["best_rate"]))
        add("| target/s | ready/s | p50 ms | p99 ms | errors | verdict | polls/session | machine busy (other work) | "
            "CPU by process (cores) | busiest threads of ours (cores) |")
        add("|---|---|---|---|---|---|---|---|---|---|")
        for p in t["points"]:
            lat = p["latency_ms"] or {}
            add("| %d | %.0f | %s | %s | %d%s | %s | %s | %s | %s | %s |" % (
                p["target_rate"], p["rate"] or 0, f(lat.get("p50"), "%.1f"), f(lat.get("p99"), "%.1f"), p["errors"],
                " (%s)" % p["top_reason"] if p["errors"] else "", "pass" if p["pass"] else "fail",
                f(p["polls_per_session"], "%.2f"),
                "%s (%s)" % (f(p["machine_cores"], "%.2f"), f(p["other_cores"], "%.2f")),
                cores_text(p["cores"], p["mm_bench_cpu_percent"]),
                ", ".join("%s %.2f" % kv for kv in list(p["threads"].items())[:4])))
        add("")
    add("### 2. Latency added by us at 200 sessions/s\n")
    add("| mode | time-to-ready p50 / p90 / p99 ms | Edgegap's own p50 / p90 / p99 ms | added p50 / p90 / p99 ms | "
        "phases p50 ms (connect, 101, first message, accepted) |")
    add("|---|---|---|---|---|")
    for mode, l in s["latency"].items():
        lat, eg, a, ph = l["point"]["latency_ms"], l["edgegap"]["latency_ms"], l["added_ms"], l["point"]["phases_ms"]
        add("| %s | %s / %s / %s | %s / %s / %s | %s / %s / %s | %s |" % (
            mode, f(lat["p50"], "%.2f"), f(lat["p90"], "%.2f"), f(lat["p99"], "%.2f"), f(eg["p50"], "%.2f"),
            f(eg["p90"], "%.2f"), f(eg["p99"], "%.2f") + (" (%d of %d failed)" % (l["edgegap"]["errors"],
                                                                          l["edgegap"]["sessions"])
                                                     if l["edgegap"].get("errors") else ""), f(a["p50"], "%.2f"), f(a["p90"], "%.2f"), f(a["p99"], "%.2f"),
            ", ".join(f((ph.get(k) or {}).get("p50"), "%.2f") for k in ("connect", "upgrade", "first_message", "accepted"))))
    add("\nAdded = a percentile of mm_bench's time-to-ready minus the same percentile of Edgegap's own time (a difference "
        "of percentiles, not a percentile of differences; the two runs are one after the other on the same simulator).\n")
    add("### 3 and 4. Clients waiting for sessions that take 20 s\n")
    add("| mode | clients | ready | errors | p50 / p99 / max s | polls/session | CPU ours/request µs | CPU ours idle / "
        "waiting (cores) | while waiting: polls/s, CPU ours per poll | CPU all while waiting (cores) | peak RSS ours MB | "
        "peak RSS others MB |")
    add("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for w in s["waiting"]:
        p = w["point"]
        add("| %s | %d | %d | %d%s | %s / %s / %s | %s | %s | %.3f / %.3f | %s/s, %s µs | %s | %s | %s |" % (
            w["mode"], w["clients"], p["ready"], p["errors"], " (%s)" % p["top_reason"] if p["errors"] else "",
            f(w["p50_ms"] and w["p50_ms"] / 1000, "%.2f"), f(w["p99_ms"] and w["p99_ms"] / 1000, "%.2f"),
            f(w["max_ms"] and w["max_ms"] / 1000, "%.2f"), f(w["polls_per_session"], "%.1f"),
            f(w["ours_cpu_us_per_request"], "%.0f"), w["ours_idle_cores"], w["ours_waiting_cores"],
            f(w["polls_per_s_waiting"], "%.0f"), f(w["ours_us_per_poll_waiting"], "%.0f"),
            ", ".join("%s %.2f" % (k, w["waiting_cores"][k]) for k in PROC_ORDER if k in w["waiting_cores"]),
            ", ".join("%s %.1f" % kv for kv in w["ours_hwm_mb"].items()),
            ", ".join("%s %.1f" % kv for kv in w["others_hwm_mb"].items())))
    add("\nCPU ours/request = CPU of our services over the whole run minus their idle rate times the run's wall time, "
        "divided by the clients; it includes every poll of the 20 s wait. Peak RSS is VmHWM at the end of the run.\n")
    c = s["ceilings"]
    add("### 5. Raw ceilings\n")
    add("| ceiling | measured | how |")
    add("|---|---|---|")
    add("| bare h2o WebSocket loop | %s sessions/s (server %s%% of a core, mm_bench %s%%) | `mm_ceilings ws-server`: stock "
        "h2o websocket (wslay), one loop, answers the 3 texts of a ready session and closes; mm_bench closed loop, 50 in "
        "flight, 5 s |" % (f(c.get("ws_sessions_per_s"), "%.0f"), f(c.get("ws_server_cpu_percent"), "%.0f"),
                           f(c.get("ws_mm_bench_cpu_percent"), "%.0f")))
    add("| NATS request/reply | %s round trips/s | `mm_ceilings nats`: 256 in flight, replies to a wildcard inbox, "
        "default nats.c options |" % f(c.get("nats_rr_per_s"), "%.0f"))
    add("| JetStream KV put | %s puts/s | `mm_ceilings nats`: async publishes to a file-stored bucket, 4096 pending |"
        % f(c.get("kv_put_per_s"), "%.0f"))
    add("| libcurl to edgegap_sim | 404 %s, create %s, get %s, delete %s requests/s | `edgegap_sim_bench --seconds 1 "
        "--connections 16` (simulator pinned to one core) |" % (
            f(c.get("edgegap_404_per_s"), "%d"), f(c.get("edgegap_create_per_s"), "%d"),
            f(c.get("edgegap_get_per_s"), "%d"), f(c.get("edgegap_delete_per_s"), "%d")))
    add("| tokens | %s tokens/s (one thread) | `token_bench --seconds 1`, `mm_token_mint` |" % f(c.get("tokens_per_s"), "%d"))
    return "\n".join(out) + "\n"


def marginal(rows):
    """CPU of our services per extra client between consecutive points (same run length, so fixed
    background costs cancel): {"100→1000": µs, ...}."""
    out = {}
    for a, b in zip(rows, rows[1:]):
        ca, cb = a.get("ours_run_cpu_s"), b.get("ours_run_cpu_s")
        if ca is not None and cb is not None and b["clients"] > a["clients"]:
            out["%d→%d" % (a["clients"], b["clients"])] = (cb - ca) * 1e6 / (b["clients"] - a["clients"])
    return out


def goal_notes(s):
    notes = []
    others = [p["other_cores"] for t in s["throughput"].values() for p in t["points"] if p.get("other_cores") is not None]
    if others and sum(others) / len(others) > 0.1:
        notes.append("* **Noise**: other work on the machine (other processes, and kernel time charged to none of ours) "
                     "kept %.2f cores busy on average during "
                     "scenario 1 (%.2f..%.2f), out of %d; the throughput figures are lower than on a quiet machine and "
                     "vary between runs." % (sum(others) / len(others), min(others), max(others),
                                             s["machine"].get("nproc") or 2))
    t = s["throughput"].get("allinone")
    if t and t["best_rate"] < GOAL_RATE:
        b = t["best"]
        notes.append("* **Throughput goal missed**: %d sessions/s all-in-one against a goal of %d. %s" % (
            t["best_rate"], GOAL_RATE,
            ("At that rate the machine was %s of %d cores busy: the stack and mm_bench %.2f (%s), other work %s." % (
                f(b["machine_cores"], "%.2f"), s["machine"].get("nproc") or 2, b["cores_total"],
                cores_text(b["cores"], b["mm_bench_cpu_percent"]), f(b["other_cores"], "%.2f")))
            if b else ""))
    for mode, l in s["latency"].items():
        a = l["added_ms"]["p99"]
        if a is None or a >= GOAL_ADDED_P99_MS:
            notes.append("* **Latency goal missed** (%s): added p99 %s ms against %g ms." % (mode, f(a, "%.2f"),
                                                                                            GOAL_ADDED_P99_MS))
    for w in s["waiting"]:
        if w["clients"] == 10000 and (w["ours_hwm_total_mb"] >= GOAL_RSS_MB or w["point"]["errors"]):
            notes.append("* **Waiting-clients goal missed** (%s): %d errors, %.0f MB." % (
                w["mode"], w["point"]["errors"], w["ours_hwm_total_mb"]))
    rows = sorted((w for w in s["waiting"] if w["mode"] == "allinone" and w["ours_cpu_us_per_request"]),
                  key=lambda w: w["clients"])
    if len(rows) >= 2:
        ratio = rows[-1]["ours_cpu_us_per_request"] / rows[0]["ours_cpu_us_per_request"]
        notes.append("* Cost growth: CPU per request of our services %s with %s waiting clients: %s at %d "
                     "clients is %.2fx that at %d (%s)." % (
                         " → ".join("%.0f µs" % r["ours_cpu_us_per_request"] for r in rows),
                         ", ".join(str(r["clients"]) for r in rows), "the figure", rows[-1]["clients"], ratio,
                         rows[0]["clients"], "no growth" if ratio <= 1.25 else "**it grows**"))
    return "\n".join(notes) + ("\n" if notes else "")


def profile_text(res):
    parts = []
    for path in sorted(glob.glob(os.path.join(res, "profile", "*.txt"))):
        if path.endswith("-point.txt"):
            continue
        parts.append(read_text(path).rstrip())
    return "\n\n".join(parts)


def existing_analysis(doc):
    text = read_text(doc)
    if ANALYSIS_BEGIN in text and ANALYSIS_END in text:
        return text[text.index(ANALYSIS_BEGIN):text.index(ANALYSIS_END) + len(ANALYSIS_END)]
    return ANALYSIS_BEGIN + "\n(No analysis written yet: read the profile below.)\n" + ANALYSIS_END


def existing_launch(doc):
    text = read_text(doc)
    if LAUNCH_BEGIN in text and LAUNCH_END in text:
        return text[text.index(LAUNCH_BEGIN):text.index(LAUNCH_END) + len(LAUNCH_END)]
    return LAUNCH_BEGIN + "\n## Launch\n\n(Not measured yet: `bench/baseline.sh --only launch`, docs/LAUNCH.md.)\n" + LAUNCH_END


def document(s, res, doc):
    m = s["machine"]
    return """# Performance baseline

Measured by `bench/baseline.sh` with `mm_bench` (docs/mm_bench.md) against the local stack (nats-server with
JetStream, `edgegap_sim` as Edgegap, `gameserver_sim --auto` as the game servers and their players, our services),
everything on one machine. **Regenerate** with `%s` (raw JSON in the results directory, `build/baseline/` by
default). The figures are only comparable on the same machine: read them as ratios to the raw ceilings of section 5,
measured in the same run.

* Date: %s; commit %s
* Machine: `nproc` = %s (%s), memory %s, kernel %s; load average (1 min) %s at the start, %s at the end
  (other work on the machine shares the cores and shows up as noise)
* Command: `%s`; run time %s (build included)

## Summary

%s
## Goals

%s
## How it is measured

* **Stack**: as `make run` (deploy/run-local.sh), but on free loopback ports and in a temporary run directory, so
  it never meets `make run`. Our services log at their default level (info). The simulators log at `warn`
  (they stand in for Edgegap and the game servers); `gameserver_sim --poll-ms 50` so a new deployment's cert
  digest is written within ~50 ms; it claims every session 500 ms after it is ready and releases it 5 s later,
  so the matchmaker's reaper and delete worker run during every scenario.
* **Front flags** (both fronts): `--per-ip-concurrent 1000000 --per-ip-rate 1000000 --per-ip-burst 1000000
  --per-ip-sessions 0 --global-concurrent 1000000 --max-connections 1000000`. The limits count the TCP peer
  (docs/front.md), which is 127.0.0.1 for every benchmark client; the defaults (16 at once, 10/s and 120 sessions
  per 75 s per address) would refuse the test.
* **Matchmaker flags**, scenarios 1 and 2: `--poll-delay-ms 1 --poll-interval-ms 50 --max-edgegap-in-flight 256`.
  The default first poll after 200 ms would be nearly all of the time-to-ready; the simulator runs with
  `--sockets 10000 --deploy-delay-ms 0` and a warm-up request makes the first deployment, so sessions are ready on
  the first poll (the "polls/session" column checks it). 256 Edgegap calls in flight instead of 16: with fewer, a
  create queues behind the others whenever the provisioner thread is a little late and its client is told
  `ProgressReport("Waiting for Edgegap ...")`; the default suits Edgegap's real ~100 ms round trips, against the
  local simulator it would only add that queueing to what is measured. Scenarios 3 and 4: `--poll-delay-ms 1000 --poll-interval-ms 2000
  --max-edgegap-in-flight 256`; simulator `--sockets 10000 --deploy-delay-ms 0 --seek-delay-ms 20000`: every
  session stays `Status.SEEKING` for 20 s after its create, then is placed on a ready deployment, so every client
  waits 20 s whenever it arrived, and is seen ready by the poll at 21 s (time-to-ready minus 21 s is ours). N clients arrive over 12.5 s (N/12.5 per second, 800/s for 10,000: below the
  create throughput), so from t = 12.5 s to t = 20 s all N wait at once.
* **Scenario 3 with webhooks ("3w")**: the same stack and load, with readiness by webhook: a fresh secret in
  `MM_WEBHOOK_SECRET` for the matchmaker and the front, `--webhook-public-url http://<the stack's front>` and
  `--webhook-poll-ms 10000` (fallback polls 10 s and 20 s after the create); the simulator POSTs each session's
  webhook when it seats it at 20 s (`--webhook-queue 20000`). GETs per session = the simulator's `session_get`
  over its `session_create` during the run (the matchmaker's own `gets / sessions_polled`, from its stop line,
  beside it); time-to-ready minus the 20 s = mm_bench's percentiles minus 20,000 ms (the create's round trip
  included).
* **mm_bench**: open loop (latency counts from each request's scheduled start, so queueing is not hidden),
  `--timeout 5s` in scenario 1 (a point that cannot keep up fails quickly), no token verification (its cost is
  mm_bench's, not ours). mm_bench's own CPU is shown beside the services'.
* **CPU** from `/proc/PID/stat` (utime + stime of all threads) and `/proc/PID/task/*/stat` (per thread, by name);
  "machine busy" from `/proc/stat` (everything on the machine); "other work" is machine busy minus the stack and
  mm_bench (other processes, and kernel time such as softirqs charged to none of them). **Peak RSS** from
  `/proc/PID/status` (VmHWM) of processes started for that point.
* **Profile**: `perf record -F 299 --call-graph dwarf -p PID` for 4 s in the middle of a run at the all-in-one and
  split throughput points (DWARF call graphs charge time in libraries and the kernel to our callers).

## Details

%s
%s

## Analysis

%s

## Profile at the throughput point

```
%s
```
""" % (COMMAND_DEFAULT, m.get("date"), m.get("git"), m.get("nproc"), m.get("cpu_model"), m.get("mem_total"),
       m.get("kernel"), m.get("loadavg_start"), m.get("loadavg_end"), m.get("command"),
       ("%d min %02d s" % divmod(m["elapsed_s"], 60)) if m.get("elapsed_s") else "run time not recorded", table(s, False),
       goal_notes(s) or "All goals met.\n", details(s), existing_launch(doc), existing_analysis(doc),
       profile_text(res) or "(perf was not available)")


COMMAND_DEFAULT = "bench/baseline.sh"


def report(res, doc):
    m = load(os.path.join(res, "machine.json"), {})
    m["loadavg_end"] = read_text(os.path.join(res, "loadavg_end")).split(" ")[0] or None
    elapsed = read_text(os.path.join(res, "elapsed_s")).strip()
    m["elapsed_s"] = int(elapsed) if elapsed.isdigit() else None
    hz = m.get("clk_tck") or 100
    global NPROC
    NPROC = m.get("nproc") or NPROC
    s = {"machine": m, "ceilings": ceilings(res, hz), "throughput": throughput(res, hz), "latency": latency(res, hz),
         "waiting": waiting(res, hz)}
    with open(os.path.join(res, "summary.json"), "w") as fh:
        json.dump(s, fh, indent=1)
    with open(os.path.join(res, "table.md"), "w") as fh:
        fh.write(table(s))
    sys.stdout.write(table(s))
    if doc:
        text = document(s, res, doc)
        with open(doc, "w") as fh:
            fh.write(text)


def main(argv):
    if len(argv) == 3 and argv[1] == "verdict":
        print(verdict(argv[2]))
        return 0
    if len(argv) in (3, 5) and argv[1] == "report":
        doc = argv[4] if len(argv) == 5 and argv[3] == "--doc" else None
        if len(argv) == 5 and doc is None:
            print(__doc__, file=sys.stderr)
            return 2
        report(argv[2], doc)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
