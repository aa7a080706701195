#!/usr/bin/env python3
"""Offline checks of the deployment files in deploy/ (run by CTest, label "deploy").

    check_deploy.py CHECK --source SRC [--build BUILD]

CHECK is one of:
  nats-configs  nats-server -t accepts every shipped NATS configuration; the Helm values carry
                byte-identical copies of deploy/nats/permissions.conf and users.conf, and the
                configuration the chart renders from them is accepted too.
  yamllint      every YAML file under deploy/ passes yamllint (tests/deploy/yamllint.yaml).
  compose       docker-compose (Debian's 1.29, offline) validates both compose set-ups, and the
                services keep the rules of docs/DEPLOY.md (stop deadlines inside the grace
                period, the key never on a command line, one NATS user per service).
  dockerfiles   each Dockerfile builds from Debian 12 in two stages, runs as a numeric non-root
                user, stops on SIGTERM within the grace period, and its final stage installs a
                Debian package for every shared library the built programs need.

Each failure is one line "FAIL: ..."; the exit status is 0 only when nothing failed. A missing
tool is a failure that names the Debian package (deploy/install-deps.sh installs them).
"""
import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

FAILURES = []
PASSES = []
GRACE_S = 30            # stop_grace_period / terminationGracePeriodSeconds everywhere
DEADLINE_MS = 20000     # --stop-deadline-ms everywhere
PASSWORD_VARS = {       # users.conf: NATS user -> the server's environment variable
    "matchmaker": "MATCHMAKER_NATS_PASSWORD",
    "matchmaker_httpd": "MATCHMAKER_HTTPD_NATS_PASSWORD",
    "gameserver": "GAMESERVER_NATS_PASSWORD",
}


def fail(msg):
    FAILURES.append(msg)
    print("FAIL: " + msg)


def ok(msg):
    PASSES.append(msg)
    print("ok: " + msg)


def need_tool(name, package):
    path = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
    if path is None:
        fail(f"{name} not found: install the Debian package {package} (deploy/install-deps.sh)")
    return path


def run(argv, env=None, cwd=None):
    return subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


# ---- NATS configurations ----

def nats_env():
    env = dict(os.environ)
    for var in PASSWORD_VARS.values():
        env[var] = "check-deploy"
    env["NATS_SERVER_NAME"] = "nats-1"
    return env


def nats_test(server, conf, what):
    r = run([server, "-c", conf, "-t"], env=nats_env())
    if r.returncode == 0:
        ok(f"nats-server -t {what}")
    else:
        fail(f"nats-server -t {what}: {(r.stderr + r.stdout).strip()}")


def render_helm_config(values, out_dir):
    """The nats.conf the chart makes: its own settings plus config.merge, as JSON, with every
    "...$include" key turned into an include line (the chart's nats.formatConfig)."""
    merge = values["config"]["merge"]
    conf = {"port": 4222, "http_port": 8222, "server_name": "nats-0",
            "jetstream": {"store_dir": os.path.join(out_dir, "store")}}
    conf.update({k: v for k, v in merge.items() if not k.endswith("$include")})
    text = json.dumps(conf, indent=2)
    includes = "".join(f"include {v};\n" for k, v in sorted(merge.items()) if k.endswith("$include"))
    text = text[:-1] + includes + "}\n"
    for name, body in values["configMap"]["merge"]["data"].items():
        with open(os.path.join(out_dir, name), "w") as f:
            f.write(body)
    path = os.path.join(out_dir, "nats.conf")
    with open(path, "w") as f:
        f.write(text)
    return path


def check_nats_configs(src, _build):
    server = need_tool("nats-server", "nats-server")
    if server is None:
        return
    nats_dir = os.path.join(src, "deploy", "nats")
    for conf in ("nats-server.conf", "nats-server.demo.conf", "nats-server-cluster.conf"):
        nats_test(server, os.path.join(nats_dir, conf), f"deploy/nats/{conf}")
    r = run([server, "-c", os.path.join(nats_dir, "nats-server.conf"), "-t"],
            env={k: v for k, v in nats_env().items() if k != "GAMESERVER_NATS_PASSWORD"})
    if r.returncode != 0 and "GAMESERVER_NATS_PASSWORD" in r.stderr + r.stdout:
        ok("a missing password variable stops nats-server, naming it")
    else:
        fail("nats-server started without GAMESERVER_NATS_PASSWORD: " + (r.stderr + r.stdout).strip())

    with open(os.path.join(src, "deploy", "helm", "nats-values.yaml")) as f:
        values = yaml.safe_load(f)
    data = values["configMap"]["merge"]["data"]
    for name in ("permissions.conf", "users.conf"):
        with open(os.path.join(nats_dir, name)) as f:
            shipped = f.read()
        if data.get(name) == shipped:
            ok(f"helm values carry deploy/nats/{name} verbatim")
        else:
            fail(f"deploy/helm/nats-values.yaml: configMap.merge.data[{name}] differs from deploy/nats/{name}")
    env = values.get("container", {}).get("env", {})
    for user, var in PASSWORD_VARS.items():
        ref = env.get(var, {}).get("valueFrom", {}).get("secretKeyRef", {})
        if ref.get("name") == "nats-users" and ref.get("key") == user:
            ok(f"helm values: {var} from Secret nats-users key {user}")
        else:
            fail(f"helm values: container.env.{var} must come from Secret nats-users, key {user}")
    cluster, js = values["config"]["cluster"], values["config"]["jetstream"]
    if not (cluster.get("enabled") and cluster.get("replicas") == 3 and js.get("enabled")
            and js.get("fileStore", {}).get("enabled")):
        fail("helm values: a 3-node cluster with JetStream file storage is expected")
    with tempfile.TemporaryDirectory() as tmp:
        nats_test(server, render_helm_config(values, tmp), "the configuration the chart renders from the values")


# ---- YAML ----

def yaml_files(src):
    files = []
    for pattern in ("deploy/**/*.yaml", "deploy/**/*.yml"):
        files += glob.glob(os.path.join(src, pattern), recursive=True)
    return sorted(files)


def check_yamllint(src, _build):
    tool = need_tool("yamllint", "yamllint")
    if tool is None:
        return
    files = yaml_files(src)
    if len(files) < 10:
        fail(f"expected the compose, Kubernetes and Helm files under deploy/, found {len(files)}")
    r = run([tool, "--strict", "-c", os.path.join(src, "tests", "deploy", "yamllint.yaml")] + files)
    if r.returncode == 0:
        ok(f"yamllint: {len(files)} files")
    else:
        fail("yamllint:\n" + r.stdout + r.stderr)


# ---- docker compose ----

def compose_config(tool, cdir, files, env_file):
    argv = [tool]
    for f in files:
        argv += ["-f", f]
    argv += ["--env-file", env_file, "config"]
    r = run(argv, cwd=cdir)
    if r.returncode != 0:
        fail(f"docker-compose {' '.join(files)} config: {(r.stderr + r.stdout).strip()}")
        return None
    ok(f"docker-compose config: {' + '.join(files)}")
    return yaml.safe_load(r.stdout)


def seconds(text):
    m = re.fullmatch(r"(\d+)s", str(text))
    return int(m.group(1)) if m else None


def check_service(name, svc, ours):
    cmd = [str(a) for a in (svc.get("command") or [])]
    joined = " ".join(cmd)
    if re.search(r"--lightyear-private-key(=|\s+)(?!-)", joined.replace("--lightyear-private-key-file", "")):
        fail(f"compose {name}: the Lightyear key is on the command line")
    if ours or name.endswith("/nats"):
        grace = seconds(svc.get("stop_grace_period", "10s"))
        if grace is None or grace < GRACE_S:
            fail(f"compose {name}: stop_grace_period must be at least {GRACE_S}s")
    if ours:
        if "--stop-deadline-ms" not in cmd or cmd[cmd.index("--stop-deadline-ms") + 1] != str(DEADLINE_MS):
            fail(f"compose {name}: --stop-deadline-ms {DEADLINE_MS} expected (inside the {GRACE_S} s grace)")
        env = svc.get("environment", {})
        user = env.get("NATS_USER")
        if user not in PASSWORD_VARS:
            fail(f"compose {name}: NATS_USER {user!r} is none of {sorted(PASSWORD_VARS)}")


def check_httpd_production(label, svc):
    """docs/DEPLOY.md: in production players do not choose the address sent to Edgegap."""
    cmd = [str(a) for a in (svc.get("command") or [])]
    if "--no-client-ip-override" not in cmd:
        fail(f"compose {label}/httpd: --no-client-ip-override expected (docs/DEPLOY.md, section 4)")


def check_httpd_admin(label, svc):
    """The web front's health check uses its admin listener (outside the client limits)."""
    cmd = [str(a) for a in (svc.get("command") or [])]
    if "--admin-bind" not in cmd or cmd.index("--admin-bind") + 1 >= len(cmd):
        fail(f"compose {label}/httpd: --admin-bind expected (probes outside the client limits)")
        return
    port = cmd[cmd.index("--admin-bind") + 1].rsplit(":", 1)[-1]
    test = " ".join(str(a) for a in (svc.get("healthcheck") or {}).get("test") or [])
    if f"127.0.0.1:{port}/healthz" not in test:
        fail(f"compose {label}/httpd: the health check must GET /healthz on the admin port {port}")


def check_compose(src, _build):
    tool = need_tool("docker-compose", "docker-compose")
    if tool is None:
        return
    cdir = os.path.join(src, "deploy", "compose")
    with tempfile.NamedTemporaryFile("w", suffix=".env", delete=False) as env:
        with open(os.path.join(cdir, "env.example")) as example:
            for line in example:
                line = line.rstrip("\n")
                env.write(line + ("check-deploy" if line.endswith("=") else "") + "\n")
        env_path = env.name
    try:
        base = compose_config(tool, cdir, ["docker-compose.yaml"], env_path)
        demo = compose_config(tool, cdir, ["docker-compose.yaml", "docker-compose.demo.yaml"],
                              os.path.join(cdir, "demo.env"))
    finally:
        os.unlink(env_path)
    if base is None or demo is None:
        return
    users = {"matchmaker": "matchmaker", "httpd": "matchmaker_httpd", "gameserver-sim": "gameserver"}
    for doc, label in ((base, "base"), (demo, "demo")):
        services = doc["services"]
        for name, svc in services.items():
            check_service(f"{label}/{name}", svc, name in ("matchmaker", "httpd"))
            want = users.get(name)
            if want is not None:
                env = svc.get("environment", {})
                if env.get("NATS_USER") != want or env.get("NATS_PASSWORD") in (None, ""):
                    fail(f"compose {label}/{name}: runs as NATS user {want} with its password")
        check_httpd_admin(label, services["httpd"])
        if label == "base":
            check_httpd_production(label, services["httpd"])
        nats = services["nats"]
        if not any(str(v).endswith(":/etc/nats:ro") for v in nats.get("volumes", [])):
            fail(f"compose {label}/nats: deploy/nats must be mounted read-only at /etc/nats")
        for var in PASSWORD_VARS.values():
            if not nats.get("environment", {}).get(var):
                fail(f"compose {label}/nats: {var} missing")
    conf = demo["services"]["nats"]["command"][-1]
    if not conf.endswith("nats-server.demo.conf"):
        fail("compose demo: nats must use nats-server.demo.conf (gameserver_sim's extra rights)")
    if set(demo["services"]) != {"nats", "matchmaker", "httpd", "edgegap-sim", "gameserver-sim"}:
        fail(f"compose demo: unexpected services {sorted(demo['services'])}")
    ok("compose services keep the deployment rules")


# ---- Dockerfiles ----

def dockerfile_lines(path):
    """Instructions with continuation lines joined, comments dropped."""
    out, cur = [], ""
    with open(path) as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not cur and (line.strip().startswith("#") or not line.strip()):
                continue
            cur += line.rstrip("\\").strip() + " "
            if not line.endswith("\\"):
                out.append(cur.strip())
                cur = ""
    return out


def package_of_library(lib):
    """The package that owns lib, asked by exact path (dpkg knows /lib/..., merged /usr or not)."""
    paths = []
    for d in ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib", "/usr/lib"):
        p = os.path.join(d, lib)
        if os.path.exists(p):
            real = os.path.realpath(p)
            paths += [p, real, real[len("/usr"):] if real.startswith("/usr/") else real]
    for path in paths:
        q = run(["dpkg", "-S", path])
        for line in q.stdout.splitlines():
            pkg, _, owned = line.partition(": ")
            if owned.strip() == path:
                return pkg.split(":")[0]
    return None


def needed_packages(binary):
    """Debian packages that provide the shared libraries binary needs (libc6 excluded)."""
    r = run(["objdump", "-p", binary])
    pkgs = set()
    for lib in re.findall(r"NEEDED\s+(\S+)", r.stdout):
        pkg = package_of_library(lib)
        if pkg is None:
            fail(f"{binary}: no Debian package provides {lib}")
        elif pkg != "libc6" and not re.fullmatch(r"lib[a-z]*san\d*", pkg):
            # (sanitizer runtimes come with -DMM_SANITIZE builds; images are built without)
            pkgs.add(pkg)
    return pkgs


def check_dockerfile(path, build):
    name = "deploy/docker/" + os.path.basename(path)
    lines = dockerfile_lines(path)
    froms = [l for l in lines if l.startswith("FROM ")]
    if len(froms) != 2 or not froms[0].startswith("FROM debian:bookworm AS build") \
            or froms[1] != "FROM debian:bookworm-slim":
        fail(f"{name}: two stages expected, FROM debian:bookworm AS build and FROM debian:bookworm-slim")
        return
    final = lines[lines.index(froms[1]):]
    build_stage = lines[:lines.index(froms[1])]
    targets = re.findall(r"--target ((?:[\w]+ ?)+)", " ".join(build_stage))
    if not targets or "RelWithDebInfo" not in " ".join(build_stage):
        fail(f"{name}: the build stage must build named targets, RelWithDebInfo")
    user = [l for l in final if l.startswith("USER ")]
    if not user or not re.fullmatch(r"USER [1-9]\d{3,}(:[1-9]\d{3,})?", user[-1]):
        fail(f"{name}: the final stage must run as a numeric non-root USER")
    if "STOPSIGNAL SIGTERM" not in final:
        fail(f"{name}: STOPSIGNAL SIGTERM missing")
    if not any(l.startswith("HEALTHCHECK ") for l in final):
        fail(f"{name}: HEALTHCHECK missing (HEALTHCHECK NONE, with the reason in a comment, is allowed)")
    cmd = [l for l in final if l.startswith("CMD ")]
    if "simulators" not in name and "tools" not in name:  # no service: no stop deadline
        m = re.search(r'"--stop-deadline-ms", "(\d+)"', cmd[-1] if cmd else "")
        if not m or int(m.group(1)) >= GRACE_S * 1000:
            fail(f"{name}: CMD must set --stop-deadline-ms below the {GRACE_S} s grace period")
    installs = [l for l in final if l.startswith("RUN ") and "apt-get install" in l]
    if not installs:
        fail(f"{name}: the final stage installs no runtime packages")
        return
    words = installs[0].split("apt-get install", 1)[1].split("&&", 1)[0].split()
    runtime = {w for w in words if not w.startswith("-")}
    if any(w.endswith("-dev") for w in runtime) or "build-essential" in runtime:
        fail(f"{name}: the final stage installs build packages: {sorted(runtime)}")
    for pkg in sorted(runtime):
        if run(["dpkg-query", "-W", pkg]).returncode != 0 and run(["apt-cache", "show", pkg]).returncode != 0:
            fail(f"{name}: {pkg} is not a Debian package known here")
    copied = re.findall(r"/build/(\w+)", " ".join(l for l in final if l.startswith("COPY --from=build")))
    if sorted(copied) != sorted(t for ts in targets for t in ts.split()):
        fail(f"{name}: copies {copied}, builds {targets}")
    for prog in copied:
        binary = os.path.join(build, prog)
        if not os.path.exists(binary):
            fail(f"{name}: {binary} is not built (the test depends on it)")
            continue
        missing = needed_packages(binary) - runtime
        if missing:
            fail(f"{name}: {prog} needs {sorted(missing)}, which the final stage does not install")
    ok(f"{name}: stages, user, stop signal, health check, runtime packages of {', '.join(copied)}")


def check_dockerfiles(src, build):
    if build is None:
        fail("--build is required")
        return
    files = sorted(glob.glob(os.path.join(src, "deploy", "docker", "*.Dockerfile")))
    if len(files) != 4:
        fail(f"expected 4 Dockerfiles in deploy/docker (httpd, matchmaker, simulators, tools), found {len(files)}")
    for path in files:
        check_dockerfile(path, build)
        if not os.path.exists(path + ".dockerignore"):
            fail(f"{path}.dockerignore missing (the build context is the repository root)")


CHECKS = {
    "nats-configs": check_nats_configs,
    "yamllint": check_yamllint,
    "compose": check_compose,
    "dockerfiles": check_dockerfiles,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("check", choices=sorted(CHECKS))
    ap.add_argument("--source", required=True)
    ap.add_argument("--build")
    args = ap.parse_args()
    CHECKS[args.check](os.path.abspath(args.source), args.build and os.path.abspath(args.build))
    print(f"{len(PASSES)} passed, {len(FAILURES)} failed")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
