#!/usr/bin/env python3
"""A real Prometheus against the local stack (CTest test_prometheus, labels deploy e2e).

    python3 test_prometheus.py SRC BUILD

Starts `deploy/run-local.sh` with MM_PROMETHEUS=1 on free loopback ports, in a fresh run
directory, with the Edgegap simulator answering 15 % of session creations 400 and 5 % of
session GETs 503 (MM_EDGEGAP_ARGS: edgegap_sim --fault). Debian's prometheus (run-local's
generated configuration) scrapes the admin listener(s) every second and evaluates
deploy/prometheus/alerts.yml. mm_bench plays 300 requests (100/s for 3 s). Then, through
Prometheus's HTTP API (/api/v1/query, /api/v1/rules, /api/v1/targets):

1. every target is up;
2. the series moved: Prometheus holds the same request counters as the admin listener's own
   /metrics, some ready and some failed (the injected 503s), and increase() over them is > 0;
3. every metric family the admin listener(s) expose is in Prometheus and is described in
   docs/OPERATIONS.md;
4. every metric name that an alert rule or a dashboard panel uses is exposed by the stack;
5. every panel query of deploy/grafana/matchmaker.json ($__rate_interval and $instance filled in
   as Grafana would) parses and returns data;
6. every alert rule's expression parses, every rule's last evaluation succeeded, the alerts
   that watch for a missing web front or matchmaker are not firing, and the Edgegap error ratio
   alert (about 10 % of creations and GETs failed here, over its 5 % threshold) is pending.

Prints "ok: ..." / "FAIL: ..." lines and "N passed, N failed"; exits 1 on any failure.
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

passes = []
failures = []


def ok(msg):
    passes.append(msg)
    print(f"ok: {msg}", flush=True)


def fail(msg):
    failures.append(msg)
    print(f"FAIL: {msg}", flush=True)


def check(cond, msg):
    (ok if cond else fail)(msg)
    return cond


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def wait_for(what, cond, seconds):
    """Polls cond() (a condition with a deadline, not a pause) until it holds or time is up."""
    until = time.monotonic() + seconds
    while True:
        try:
            if cond():
                return True
        except (OSError, ValueError, KeyError):
            pass
        if time.monotonic() > until:
            fail(f"{what}: not within {seconds} s")
            return False
        time.sleep(0.2)


class Stack:
    def __init__(self, src, build):
        self.src, self.build = src, build
        self.proc = None

    def start(self):
        self.run_dir = tempfile.mkdtemp(prefix="mm_prom_")
        self.ports = {k: free_port() for k in ("NATS", "EDGEGAP", "HTTP", "ADMIN", "MATCHMAKER_ADMIN", "PROMETHEUS")}
        env = dict(os.environ)
        for k, v in self.ports.items():
            env[f"MM_{k}_PORT"] = str(v)
        env.update({
            "MM_RUN_DIR": self.run_dir,
            "MM_SKIP_BUILD": "1",
            "MM_BUILD_DIR": self.build,
            "MM_PROMETHEUS": "1",
            "MM_PROMETHEUS_INTERVAL": "1s",
            # failures: creations refused 400 (the matchmaker answers Error), polls failing 503
            # (retried), both drawn from a seeded generator
            "MM_EDGEGAP_ARGS": "--fault session_create:error_rate=0.15,error_status=400 "
                               "--fault session_get:error_rate=0.05,error_status=503 --seed 7",
        })
        self.out_path = os.path.join(self.run_dir, "run-local.out")
        self.out = open(self.out_path, "w")
        self.proc = subprocess.Popen(["bash", os.path.join(self.src, "deploy", "run-local.sh")],
                                     env=env, stdout=self.out, stderr=subprocess.STDOUT, cwd=self.src)
        until = time.monotonic() + 90
        while time.monotonic() < until:
            text = open(self.out_path).read()
            if "the local stack is up" in text:
                return True
            if "run-local: stopping" in text or self.proc.poll() is not None:
                break
            time.sleep(0.2)
        self.dump()
        text = open(self.out_path).read()
        taken = "already in use" in text or any(
            "address already in use" in open(p).read().lower() for p in self.logs())
        self.stop()
        return "taken" if taken else False

    def logs(self):
        d = os.path.join(self.run_dir, "logs")
        return [os.path.join(d, f) for f in sorted(os.listdir(d))] if os.path.isdir(d) else []

    def dump(self):
        for p in [self.out_path] + self.logs():
            print(f"---- {p} (end) ----")
            print("".join(open(p, errors="replace").readlines()[-30:]))

    def stop(self):
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc = None
        self.out.close()
        return rc


class Prom:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}/api/v1/"

    def api(self, path, **params):
        url = self.base + path + ("?" + urllib.parse.urlencode(params) if params else "")
        try:
            body = http_get(url)
        except urllib.error.HTTPError as e:
            body = e.read().decode()
        return json.loads(body)

    def query(self, expr):
        """(ok, result list or the error text)."""
        r = self.api("query", query=expr)
        if r.get("status") != "success":
            return False, r.get("error", "?")
        return True, r["data"]["result"]

    def value(self, expr):
        good, res = self.query(expr)
        if not good or not res:
            return None
        return float(res[0]["value"][1])


def exposition_families(text):
    """{family name: type} from the # TYPE lines of a /metrics answer."""
    fams = {}
    for line in text.splitlines():
        m = re.match(r"# TYPE (\S+) (\S+)", line)
        if m:
            fams[m.group(1)] = m.group(2)
    return fams


def sample(text, name, labels):
    """The value of the sample name{labels...} (labels: a dict, all must match) or None."""
    for line in text.splitlines():
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            return float(m.group(3))
    return None


def sum_samples(text, name, pred):
    total = 0.0
    for line in text.splitlines():
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$", line)
        if m and m.group(1) == name and pred(dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))):
            total += float(m.group(3))
    return total


METRIC_RE = re.compile(r"\b((?:mm|process)_[a-z0-9_]+)\b")


def family_of(name, fams):
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and name[: -len(suffix)] in fams:
            return name[: -len(suffix)]
    return name


def alert_exprs(path):
    """(alert name, expr) of every rule in alerts.yml; a small reader for the file's own shape
    (`- alert: NAME` then `expr: |` block or `expr: one line`), so no YAML module is needed."""
    rules = []
    lines = open(path).read().splitlines()
    i = 0
    name = None
    while i < len(lines):
        line = lines[i]
        m = re.match(r"\s*- alert: (\S+)", line)
        if m:
            name = m.group(1)
        m = re.match(r"(\s*)expr: (.*)$", line)
        if m and name:
            indent, rest = len(m.group(1)), m.group(2).strip()
            if rest in ("|", ">", "|-", ">-"):
                body = []
                i += 1
                while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
                    body.append(lines[i].strip())
                    i += 1
                rules.append((name, "\n".join(body).strip()))
                continue
            rules.append((name, rest))
        i += 1
    return rules


def panel_exprs(dash):
    out = []
    for p in dash["panels"]:
        for t in p.get("targets", []):
            out.append((p["title"], t["refId"], t["expr"]))
    return out


def grafana_fill(expr):
    """What Grafana sends for the dashboard's variables: $__rate_interval (at least four scrape
    intervals; 1 s here) and the replica variable set to All (.*)."""
    return expr.replace("$__rate_interval", "15s").replace("$instance", ".*")


def main():
    src, build = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    ops_doc = open(os.path.join(src, "docs", "OPERATIONS.md")).read()
    alerts = alert_exprs(os.path.join(src, "deploy", "prometheus", "alerts.yml"))
    dash = json.load(open(os.path.join(src, "deploy", "grafana", "matchmaker.json")))
    panels = panel_exprs(dash)
    check(len(alerts) >= 6 and len(panels) >= 20, f"{len(alerts)} alert rules and {len(panels)} panel queries read")

    stack = Stack(src, build)
    started = stack.start()
    if started == "taken":
        print("a port was taken before the stack bound it: once more on new ports")
        started = stack.start()
    if started is not True:
        fail("the local stack with Prometheus did not come up")
        return
    try:
        run_checks(src, build, stack, ops_doc, alerts, panels)
    finally:
        rc = stack.stop()
        check(rc == 0, f"run-local stopped everything on SIGTERM (exit {rc})")
        if failures:
            stack.dump()


def run_checks(src, build, stack, ops_doc, alerts, panels):
    prom = Prom(stack.ports["PROMETHEUS"])
    admin = f"http://127.0.0.1:{stack.ports['ADMIN']}/metrics"

    # 1. targets up
    def targets_up():
        t = prom.api("targets")["data"]["activeTargets"]
        return t and all(x["health"] == "up" for x in t)
    if not wait_for("every Prometheus target up", targets_up, 20):
        return
    targets = prom.api("targets")["data"]["activeTargets"]
    ok("targets up: " + ", ".join(f"{t['labels']['job']} {t['scrapeUrl']}" for t in targets))
    scrape_urls = [t["scrapeUrl"] for t in targets]
    before = prom.value('sum(mm_front_requests_total{route="ws"})')
    check(before == 0, f"before traffic Prometheus holds mm_front_requests_total = 0 (got {before})")

    # traffic: 300 requests, 20 % of creations answered 503 by the simulator
    bench_json = os.path.join(stack.run_dir, "bench.json")
    bench = subprocess.run(
        [os.path.join(build, "mm_bench"), "--url", f"ws://127.0.0.1:{stack.ports['HTTP']}/matchmaker/ws",
         "--rate", "100", "--duration", "3s", "--timeout", "30s", "--json", bench_json],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
    print(bench.stdout[-3000:])
    report = json.load(open(bench_json))
    outcomes = report.get("outcomes", {})
    check(report.get("requests") == 300, f"mm_bench played 300 requests (got {report.get('requests')})")
    check(outcomes.get("ready", 0) > 0 and sum(v for k, v in outcomes.items() if k.startswith("error_")) > 0,
          f"some ready, some failed by the injected errors: {outcomes}")

    # 2. the series moved: Prometheus catches up with the admin listener's own counters
    text = http_get(admin)
    want_ok = sample(text, "mm_front_requests_total", {"route": "ws", "outcome": "ok"})
    want_err = sample(text, "mm_front_requests_total", {"route": "ws", "outcome": "error"})
    check(want_ok and want_err, f"admin /metrics counted {want_ok} ok and {want_err} error requests")
    if wait_for("Prometheus scrapes the admin counters after the traffic", lambda:
                prom.value('mm_front_requests_total{route="ws",outcome="ok"}') == want_ok and
                prom.value('mm_front_requests_total{route="ws",outcome="error"}') == want_err, 15):
        ok(f"Prometheus holds the same counters: {want_ok:.0f} ok, {want_err:.0f} error")
    for expr in ('sum(increase(mm_front_requests_total{outcome="ok"}[1m]))',
                 'sum(increase(mm_front_requests_total{outcome="error"}[1m]))',
                 'sum(increase(mm_matchmaker_requests_total{outcome="ready"}[1m]))',
                 'sum(increase(mm_matchmaker_requests_total{outcome=~"error_.*"}[1m]))',
                 'sum(increase(mm_edgegap_requests_total{endpoint="create",class="4xx"}[1m]))',
                 'sum(increase(mm_edgegap_requests_total{endpoint="get",class="5xx"}[1m]))',
                 'sum(increase(mm_edgegap_requests_total{endpoint="get",class="2xx"}[1m]))',
                 'sum(increase(mm_edgegap_request_duration_seconds_count{endpoint="create"}[1m]))',
                 'sum(increase(mm_matchmaker_time_to_ready_seconds_count[1m]))',
                 'sum(increase(mm_matchmaker_tokens_minted_total[1m]))'):
        v = prom.value(expr)
        check(v is not None and v > 0, f"{expr} = {v}")
    p99 = prom.value("histogram_quantile(0.99, sum by (le) (rate(mm_matchmaker_time_to_ready_seconds_bucket[1m])))")
    check(p99 is not None and 0 < p99 < 60, f"time to ready p99 over the run: {p99} s")

    # 3. every family exposed is in Prometheus and in docs/OPERATIONS.md
    fams = {}
    for url in scrape_urls:
        fams.update(exposition_families(http_get(url)))
    missing_prom, missing_doc = [], []
    for name, typ in sorted(fams.items()):
        series = name + "_count" if typ == "histogram" else name
        good, res = prom.query(series)
        if not good or not res:
            missing_prom.append(name)
        if f"`{name}`" not in ops_doc:
            missing_doc.append(name)
    check(not missing_prom, f"all {len(fams)} metric families exposed are in Prometheus" +
          (f"; missing: {missing_prom}" if missing_prom else ""))
    check(not missing_doc, "every metric family exposed is described in docs/OPERATIONS.md" +
          (f"; not there: {missing_doc}" if missing_doc else ""))

    # 4. names used by rules and panels exist
    used = set()
    for _, expr in alerts:
        used |= {family_of(n, fams) for n in METRIC_RE.findall(expr)}
    for _, _, expr in panels:
        used |= {family_of(n, fams) for n in METRIC_RE.findall(expr)}
    unknown = sorted(used - set(fams))
    check(not unknown, f"the {len(used)} metric names the rules and panels use are all exposed" +
          (f"; unknown: {unknown}" if unknown else ""))

    # 5. every panel query parses and returns data
    for title, ref, expr in panels:
        good, res = prom.query(grafana_fill(expr))
        if not good:
            fail(f"panel {title!r} {ref}: {res}")
        elif not res:
            fail(f"panel {title!r} {ref}: no data for {grafana_fill(expr)}")
        else:
            ok(f"panel {title!r} {ref}: {len(res)} series")

    # 6. alert rules: parse, evaluated without error, the "missing" ones quiet
    for name, expr in alerts:
        good, res = prom.query(expr)
        check(good, f"alert {name} expression parses" + ("" if good else f": {res}"))

    def rules_evaluated():
        groups = prom.api("rules")["data"]["groups"]
        rules = [r for g in groups for r in g["rules"]]
        return rules and all(r.get("lastEvaluation", "").startswith("20") and
                             not r["lastEvaluation"].startswith("0001") for r in rules)
    wait_for("every rule evaluated once", rules_evaluated, 15)
    rules = [r for g in prom.api("rules")["data"]["groups"] for r in g["rules"]]
    check(len(rules) == len(alerts), f"Prometheus loaded {len(rules)} rules of deploy/prometheus/alerts.yml")
    for r in rules:
        check(r.get("health") == "ok" and not r.get("lastError"),
              f"rule {r['name']}: health {r.get('health')}, state {r.get('state')} {r.get('lastError', '')}".rstrip())
    state = {r["name"]: r.get("state") for r in rules}
    for name in ("MatchmakerWebFrontDown", "MatchmakerNoReplica", "MatchmakerNoResponders"):
        check(state.get(name) == "inactive", f"alert {name} is {state.get(name)} on a healthy stack")

    def error_ratio_state():
        rs = [r for g in prom.api("rules")["data"]["groups"] for r in g["rules"]]
        return next(r.get("state") for r in rs if r["name"] == "MatchmakerEdgegapErrorRatio")
    if wait_for("MatchmakerEdgegapErrorRatio pending or firing under the injected errors",
                lambda: error_ratio_state() in ("pending", "firing"), 15):
        ratio = prom.value('sum(rate(mm_edgegap_requests_total{endpoint!="delete",class!="2xx"}[5m])) / '
                           'sum(rate(mm_edgegap_requests_total{endpoint!="delete"}[5m]))')
        ok(f"MatchmakerEdgegapErrorRatio is {error_ratio_state()} (error ratio {ratio:.3f})")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # a crash of the test itself is a failure, with its reason
        import traceback
        traceback.print_exc()
        fail(f"the test stopped: {e!r}")
    print(f"{len(passes)} passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)
