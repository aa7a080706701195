#!/usr/bin/env python3
"""The launch scenario's figures (bench/baseline.sh --only launch; docs/LAUNCH.md) as a markdown table.

Usage: bench/launch_report.py RESULTS/launch   (reads on/ and off/, whichever ran)

Per mode directory: mm_bench.json (mm_bench --json with --fluid-ceiling), launch.json (what was run,
when matchmaker-2 was killed), sim-samples.jsonl (/__sim/stats every second), sim-end-of-run.json and
sim-after-horizon.json (/__sim/stats when mm_bench ended and after the reaper's horizon).

Figures, and where they come from:
  429s              edgegap_sim's "rate_limited" counters (every class), whole run and after the first second
                    (the first sample taken at least 1 s after mm_bench started is the reference)
  ready/s           mm_bench "ready_span_rate": ready requests from the first SessionReady to the last, over the
                    ceiling C / (1 + G) (launch.json players_ceiling), and over C / (1 + the GETs per create
                    edgegap_sim counted): the budget spent on GETs cannot make players ready
  wait vs fluid     mm_bench "fluid": start -> left the line, p50/p99, against the best FIFO at C from the run's
                    own arrival times; the goal is on the p99 ratio
  estimate error    mm_bench "line.estimate_error": |first estimate - actual wait| / actual wait, p50/p90; and
                    from requests.csv, split by when the player was told: before the kill, in the 5 s after
                    it (until the others drop the killed replica and take its share), later
  left the line     players told a position who never left the line (an Error, a timeout, a closed connection);
                    the impatient group (impatient.json/.csv: a second mm_bench whose players give up after
                    --launch-patience) who gave up in line; the waiting room's own admitted/refused/left from
                    the surviving replicas' stop lines (mm-stats.txt)
  no player got     sessions edgegap_sim created (after the horizon) minus players made ready (both groups):
                    the Edgegap creates that served nobody
  FIFO, all arrivals  the fluid model again from both groups' --requests-csv: every patient arrival and the
                    impatient ones that left the line (took a create) before giving up
  leaked            edgegap_sim "sessions_live" after the reaper's horizon
  GETs per create   edgegap_sim's session_get over session_create requests when mm_bench ended (the budget's
                    players/s ceiling is C / (1 + GETs per session))
"""
import glob
import json
import os
import sys


def load(path, default=None):
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return default


def samples(path):
    out = []
    try:
        with open(path) as fh:
            for line in fh:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
    except OSError:
        pass
    return out


def limited(stats):
    rl = (stats or {}).get("rate_limited")
    if not isinstance(rl, dict):
        return None
    return sum(v for v in rl.values() if isinstance(v, int))


def read_csv(path):
    import csv
    try:
        with open(path) as fh:
            return list(csv.DictReader(fh))
    except OSError:
        return []


def quantile(values, q):
    """Nearest rank, as mm_bench's histograms: the ceil(q n)-th smallest."""
    if not values:
        return None
    v = sorted(values)
    k = max(1, -(-int(q * len(v) * 1000000) // 1000000))
    return v[min(k, len(v)) - 1]


def fluid_vs_actual(patient, impatient, ceiling):
    """The best FIFO at ceiling players/s over every arrival that took a create (the patient players, and
    the impatient ones who left the line before giving up: one who gave up in line took no create, so
    it served no one's wait), and the actual waits (start -> left the line) of the patient players that
    left it, against their own fluid waits. Times in the CSVs are ms from each mm_bench's start; both
    started within a few ms of each other, which is what the comparison can resolve anyway."""
    if not ceiling or not patient:
        return None
    arrivals = sorted([(float(r["start_ms"]), 0, i) for i, r in enumerate(patient)] +
                      [(float(r["start_ms"]), 1, i) for i, r in enumerate(impatient) if r["left_ms"]])
    service, wait, last, fluid = 1000.0 / ceiling, 0.0, None, {}
    for t, group, i in arrivals:
        if last is not None:
            wait = max(0.0, wait + service - (t - last))
        last = t
        if group == 0:
            fluid[i] = wait
    actual, best = [], []
    for i, r in enumerate(patient):
        if r["left_ms"]:
            actual.append(float(r["left_ms"]) - float(r["start_ms"]))
            best.append(fluid[i])
    a99, f99 = quantile(actual, 0.99), quantile(best, 0.99)
    return {"n": len(actual), "arrivals": len(arrivals), "actual_p50": quantile(actual, 0.5), "actual_p99": a99,
            "fluid_p50": quantile(best, 0.5), "fluid_p99": f99, "ratio_p99": a99 / f99 if a99 is not None and f99 else None}


def estimates_by_kill(rows, meta):
    """The first estimate's error (|estimate - actual| / actual, actual = told -> left the line) of the
    patient players, split by when they were told: before matchmaker-2's kill (the fleet's share of a
    replica was budget / N then, budget / (N - 1) once the others drop it), in the 5 s after it (the
    others drop a replica after 3 heartbeats), and later. (n, p50, p90) per group; None without a kill."""
    if not meta.get("t_kill") or not meta.get("t0"):
        return None
    kill_ms = (meta["t_kill"] - meta["t0"]) * 1000.0
    groups = ([], [], [])
    for r in rows:
        if not r["told_ms"] or not r["left_ms"] or not r["estimate_s"]:
            continue
        told = float(r["told_ms"])
        actual = (float(r["left_ms"]) - told) / 1000.0
        if actual <= 0:
            continue
        g = 0 if told < kill_ms else 1 if told < kill_ms + 5000 else 2
        groups[g].append(abs(float(r["estimate_s"]) - actual) / actual)
    return [(len(g), quantile(g, 0.5), quantile(g, 0.9)) for g in groups]


def mm_left(path):
    """Sum of the waiting room's admitted/refused/left over the replicas' stop lines (a killed one has none)."""
    import re
    out = {"admitted": 0, "refused": 0, "left": 0, "lines": 0}
    try:
        with open(path) as fh:
            for line in fh:
                m = re.search(r"waiting room: (\d+) admitted, (\d+) refused, (\d+) left", line)
                if m:
                    out["lines"] += 1
                    for k, v in zip(("admitted", "refused", "left"), m.groups()):
                        out[k] += int(v)
    except OSError:
        pass
    return out if out["lines"] else None


def leak_origins(d):
    """The sessions live after the horizon (at most 10) and the log files that name each one."""
    ids = load(os.path.join(d, "live-after-horizon.json"), []) or []
    out = []
    for sid in ids[:10]:
        seen = []
        for path in sorted(glob.glob(os.path.join(d, "logs", "*.log"))):
            try:
                with open(path, errors="replace") as fh:
                    if sid in fh.read():
                        seen.append(os.path.basename(path))
            except OSError:
                pass
        out.append("%s (%s)" % (sid, ", ".join(seen) or "in no log"))
    return out


def mode_figures(d):
    mb = load(os.path.join(d, "mm_bench.json"), {})
    meta = load(os.path.join(d, "launch.json"), {})
    end = load(os.path.join(d, "sim-end-of-run.json"), {})
    after = load(os.path.join(d, "sim-after-horizon.json"), {})
    ss = samples(os.path.join(d, "sim-samples.jsonl"))
    f = {"meta": meta, "requests": mb.get("requests"), "ready": mb.get("ready"), "outcomes": mb.get("outcomes", {})}
    start_s = (mb.get("start_unix_ns") or 0) / 1e9
    first = next((s for s in ss if s.get("t", 0) >= start_s + 1.0 and limited(s.get("sim")) is not None), None)
    base = next((s for s in ss if limited(s.get("sim")) is not None), None)
    total_end = limited(after) if limited(after) is not None else limited(end)
    f["limited_total"] = None if total_end is None else total_end - (limited(base["sim"]) if base and start_s and
                                                                      base["t"] < start_s + 1.0 else 0)
    f["limited_after_1s"] = None if total_end is None or first is None else total_end - limited(first["sim"])
    f["limited_create"] = ((after or {}).get("rate_limited") or {}).get("create")
    f["ready_rate"] = mb.get("ready_span_rate")
    f["ready_ratio"] = mb.get("ready_span_ratio")
    fl = mb.get("fluid") or {}
    f["ttr"] = mb.get("latency_ms") or {}
    f["wait"] = fl.get("wait_ms") or {}
    f["fluid"] = fl.get("fluid_wait_ms") or {}
    f["ratio_p99"] = fl.get("ratio_p99")
    line = mb.get("line") or {}
    f["told"] = line.get("told")
    f["left"] = line.get("left")
    f["max_length"] = line.get("max_length")
    f["est"] = line.get("estimate_error") or {}
    created = (after or {}).get("sessions_created")
    f["created"] = created
    f["unserved"] = None if created is None or mb.get("ready") is None else created - mb["ready"]
    req = (end or {}).get("requests") or {}
    f["gets_per_create"] = (req["session_get"] / req["session_create"]) if req.get("session_create") and \
        req.get("session_get") is not None else None
    f["leaked"] = (after or {}).get("sessions_live")
    imp = load(os.path.join(d, "impatient.json"), None)
    imp_rows = read_csv(os.path.join(d, "impatient.csv"))
    f["impatient"] = imp
    f["gave_up"] = None if imp is None else sum(1 for r in imp_rows if r["told_ms"] and not r["left_ms"] and
                                                 r["outcome"] == "timeout")
    f["gave_up_unwarned"] = None if imp is None else sum(1 for r in imp_rows if not r["told_ms"] and not r["left_ms"] and
                                                          r["outcome"] == "timeout")
    f["imp_ready"] = None if imp is None else imp.get("ready")
    total_ready = (mb.get("ready") or 0) + ((imp or {}).get("ready") or 0)
    f["unserved"] = None if created is None or mb.get("ready") is None else created - total_ready
    patient_rows = read_csv(os.path.join(d, "requests.csv"))
    f["csv_fluid"] = fluid_vs_actual(patient_rows, imp_rows, meta.get("players_ceiling"))
    f["est_by_kill"] = estimates_by_kill(patient_rows, meta)
    f["mm_room"] = mm_left(os.path.join(d, "mm-stats.txt"))
    f["leak_ids"] = leak_origins(d)
    f["live_at_end"] = (end or {}).get("sessions_live")
    return f


def num(v, fmt="%d", none="-"):
    if v is None:
        return none
    try:
        return fmt % v
    except TypeError:
        return none


def secs(ms):
    return None if ms is None else ms / 1000.0


def outcomes_text(o):
    parts = ["%s %d" % (k, v) for k, v in sorted(o.items(), key=lambda kv: -kv[1]) if v]
    return ", ".join(parts) or "-"


def table(modes):
    cols = [m for m in ("on", "off") if m in modes]
    head = "| figure | " + " | ".join("budget %s" % c for c in cols) + " | goal (budget on) |"
    rows = [head, "|---|" + "---|" * len(cols) + "---|"]

    def row(name, fn, goal):
        rows.append("| %s | %s | %s |" % (name, " | ".join(fn(modes[c]) for c in cols), goal))

    row("matchmaker-2 killed at", lambda f: "%.0f s" % (f["meta"]["t_kill"] - f["meta"]["t0"])
        if f["meta"].get("t_kill") else "-", "")
    row("patient players (ready)", lambda f: "%s (%s)" % (num(f["requests"]), num(f["ready"])), "")
    row("patient players' outcomes", lambda f: outcomes_text(f["outcomes"]), "")
    row("Edgegap 429s: whole run / after the first second",
        lambda f: "%s / %s" % (num(f["limited_total"]), num(f["limited_after_1s"])), "none after the first second")
    row("ready/s from the first ready to the last (of the ceiling)",
        lambda f: "%s (%s)" % (num(f["ready_rate"], "%.1f"), num(f["ready_ratio"], "%.3f")), ">= 0.95 of it")
    row("the same, of C / (1 + the GETs per create made)", lambda f: num(
        f["ready_rate"] / (f["meta"]["ceiling"] / (1 + f["gets_per_create"]))
        if f["ready_rate"] and f["gets_per_create"] is not None and f["meta"].get("ceiling") else None, "%.3f"), "")
    row("time-to-ready p50 / p99, s (ready players)",
        lambda f: "%s / %s" % (num(secs(f["ttr"].get("p50")), "%.1f"), num(secs(f["ttr"].get("p99")), "%.1f")), "")
    row("wait p50 / p99, s (start -> left the line; without a line: -> the first answer after Acknowledged)",
        lambda f: "%s / %s" % (num(secs(f["wait"].get("p50")), "%.1f"), num(secs(f["wait"].get("p99")), "%.1f")), "")
    row("best FIFO at the ceiling p50 / p99, s",
        lambda f: "%s / %s" % (num(secs(f["fluid"].get("p50")), "%.1f"), num(secs(f["fluid"].get("p99")), "%.1f")), "")
    row("p99 wait / best FIFO p99", lambda f: num(f["ratio_p99"], "%.2f"), "<= 1.2")
    row("the same, the best FIFO over every arrival that took a create (impatient ones too): p50 / p99 actual, "
        "p50 / p99 FIFO, s; ratio",
        lambda f: "-" if not f["csv_fluid"] else "%s / %s, %s / %s; %s" % (
            num(secs(f["csv_fluid"]["actual_p50"]), "%.1f"), num(secs(f["csv_fluid"]["actual_p99"]), "%.1f"),
            num(secs(f["csv_fluid"]["fluid_p50"]), "%.1f"), num(secs(f["csv_fluid"]["fluid_p99"]), "%.1f"),
            num(f["csv_fluid"]["ratio_p99"], "%.2f")), "<= 1.2")
    row("Edgegap GETs per create (until mm_bench ended)", lambda f: num(f["gets_per_create"], "%.2f"), "")
    row("told a position (longest line)", lambda f: "%s (%s)" % (num(f["told"]), num(f["max_length"])), "")
    row("estimate error p50 / p90 (of the actual wait)",
        lambda f: "%s / %s" % (num(f["est"].get("p50"), "%.2f"), num(f["est"].get("p90"), "%.2f")), "p90 < 0.25")
    row("the same, told before the kill / in the 5 s after it / later: players, p50 / p90",
        lambda f: "-" if not f["est_by_kill"] or not any(g[0] for g in f["est_by_kill"]) else "; ".join(
            "%d, %s / %s" % (n, num(p50, "%.2f"), num(p90, "%.2f")) for n, p50, p90 in f["est_by_kill"]), "")
    row("told a position, never left the line (patient players)",
        lambda f: num(None if f["told"] is None else f["told"] - f["left"]), "none")
    row("impatient players: ready / gave up in line / gave up never told a position",
        lambda f: "%s / %s / %s" % (num(f["imp_ready"]), num(f["gave_up"]), num(f["gave_up_unwarned"])), "")
    row("waiting room, surviving replicas' stop lines: admitted / refused / left",
        lambda f: "-" if not f["mm_room"] else "%d / %d / %d" % (f["mm_room"]["admitted"], f["mm_room"]["refused"],
                                                                 f["mm_room"]["left"]), "left: every one who gave up")
    row("sessions created that no player got (Edgegap creates for players who left or failed)",
        lambda f: num(f["unserved"]), "none")
    row("session creates went on after mm_bench ended for", lambda f: "%.0f s" % (
        f["meta"]["t_creates_stopped"] - f["meta"]["t_end"]) if f["meta"].get("t_creates_stopped") else "-", "")
    row("sessions live when mm_bench ended / after the reaper's horizon",
        lambda f: "%s / %s" % (num(f["live_at_end"]), num(f["leaked"])), "none leaked")
    row("the reaper's horizon: waited after the creates stopped (until the live sessions stopped falling)",
        lambda f: num(f["meta"].get("horizon_s"), "%d s"), "")
    return "\n".join(rows) + "\n"


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    modes = {}
    for m in ("on", "off"):
        d = os.path.join(argv[1], m)
        if os.path.isdir(d):
            modes[m] = mode_figures(d)
    if not modes:
        print("launch_report: no on/ or off/ under %s" % argv[1], file=sys.stderr)
        return 1
    meta = next(iter(modes.values()))["meta"]
    print("Launch: %s players at %s/s for %s s against %s Edgegap creates/s (the budget, with it on; its ceiling "
          "%s players/s at %s GET per session), %s matchmaker replicas, one killed with kill -9.\n" % (
              num(meta.get("players")), num((meta.get("ceiling") or 0) * (meta.get("factor") or 0)),
              num(meta.get("peak_s")), num(meta.get("ceiling")), num(meta.get("players_ceiling"), "%g"),
              num(meta.get("gets_per_session")), num(meta.get("replicas"))))
    print(table(modes))
    for m, f in modes.items():
        if f["leak_ids"]:
            print("Live after the horizon, budget %s: %s\n" % (m, "; ".join(f["leak_ids"])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
