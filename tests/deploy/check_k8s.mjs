// Offline checks of the Kubernetes manifests in deploy/k8s (run by CTest, label "deploy"):
//
//   node check_k8s.mjs SRC [BUILD]
//
// 1. `kubectl kustomize deploy/k8s` renders the kustomization (Debian's kubernetes-client works
//    offline for this; `kubectl apply --dry-run=client` does not: it asks an API server for the
//    resource types first).
// 2. Every rendered object, plus namespace.yaml and secrets.example.yaml, is validated against the
//    Kubernetes OpenAPI schema (npm kubernetes-models: types, required fields, formats), and
//    strictly: a field the API does not define (a typo such as "readinesProbe") is an error,
//    found by walking the API's type declarations that ship with that package.
// 3. The rules of docs/DEPLOY.md hold: replicas, probes, rollout strategy, stop deadlines inside
//    the grace period, disruption budgets and the autoscaler aimed at the right pods, every
//    Secret and ConfigMap key a pod reads defined, the Lightyear key only as a mounted file.
// 4. The load-test Job (deploy/k8s/loadtest, its own kustomization, never in the main one): schema
//    as above; an Indexed Job of N pods (parallelism = completions), run once (backoffLimit 0,
//    restartPolicy Never), non-root with a read-only root, aimed at the web front's Service and
//    port; each pod's result named by JOB_COMPLETION_INDEX. With BUILD (where mm_bench is), the
//    pod's shell script itself is run against a closed loopback port and the result is taken from
//    its output between the markers the docs' collection reads: it must be mm_bench's JSON.
//
// Prints "ok: ..." / "FAIL: ..." lines and "N passed, N failed"; exits 1 on any failure.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import { createRequire } from "node:module";
import path from "node:path";

const passes = [];
const failures = [];
const ok = (m) => { passes.push(m); console.log(`ok: ${m}`); };
const fail = (m) => { failures.push(m); console.log(`FAIL: ${m}`); };

const GRACE_S = 30;
const DEADLINE_MS = 20000;
const PRESTOP_S = 5;

// The npm packages of tests/deploy/package.json (npm ci --prefix tests/deploy).
let parseAllDocuments, modelsDir, nodeModules;
try {
  ({ parseAllDocuments } = await import("yaml"));
  modelsDir = path.dirname(createRequire(import.meta.url).resolve("kubernetes-models/package.json"));
  nodeModules = path.dirname(modelsDir);
} catch (e) {
  fail(`the npm packages of tests/deploy are missing (npm ci --prefix tests/deploy; deploy/install-deps.sh runs it): ${e.message}`);
  console.log(`0 passed, 1 failed`);
  process.exit(1);
}

function parseYaml(text, what) {
  const docs = [];
  for (const d of parseAllDocuments(text)) {
    if (d.errors.length) fail(`${what}: ${d.errors[0].message}`);
    const v = d.toJS();
    if (v) docs.push(v);
  }
  return docs;
}

// ---- schema ----

async function validateSchema(obj, where) {
  const [group, version] = obj.apiVersion.includes("/") ? obj.apiVersion.split("/") : [null, obj.apiVersion];
  const modPath = group ? `kubernetes-models/${group}/${version}` : `kubernetes-models/${version}`;
  let mod;
  try {
    mod = await import(modPath);
  } catch {
    fail(`${where}: unknown apiVersion ${obj.apiVersion}`);
    return;
  }
  const Model = mod[obj.kind];
  if (!Model) {
    fail(`${where}: unknown kind ${obj.kind} in ${obj.apiVersion}`);
    return;
  }
  try {
    new Model(obj).validate();
  } catch (e) {
    fail(`${where}: ${e.message}`);
    return;
  }
  const dts = path.join(modelsDir, group ?? "", version, obj.kind);
  const before = failures.length;
  strict(obj, dts, where);
  if (failures.length === before) ok(`${where}: schema (strict)`);
}

// Type declarations: file (without .d.ts) -> {props: Map(field -> type text), imports: Map(alias -> file)}.
const declCache = new Map();
function declarations(file) {
  if (declCache.has(file)) return declCache.get(file);
  let decl = null;
  if (existsSync(`${file}.d.ts`)) {
    const text = readFileSync(`${file}.d.ts`, "utf8");
    const imports = new Map();
    for (const m of text.matchAll(/import \{ (\w+) \} from "([^"]+)";/g)) {
      const target = m[2].startsWith(".") ? path.resolve(path.dirname(file), m[2]) : path.join(nodeModules, m[2]);
      imports.set(m[1], target);
    }
    const body = text.match(/export interface \w+(?: extends [\w, ]+)? \{\n([\s\S]*?)\n\}/);
    if (body) {
      const props = new Map();
      for (const m of body[1].matchAll(/^ {4}"([^"]+)"\??: ([^;\n]*)/gm)) props.set(m[1], m[2].trim());
      decl = { props, imports };
    }
  }
  declCache.set(file, decl);
  return decl;
}

// Every field of obj must be declared by the type in file; recurses into declared object types.
function strict(obj, file, where) {
  const decl = declarations(file);
  if (!decl || typeof obj !== "object" || obj === null) return;
  for (const [key, value] of Object.entries(obj)) {
    if (!decl.props.has(key)) {
      fail(`${where}: unknown field "${key}"`);
      continue;
    }
    const type = decl.props.get(key);
    const elem = type.match(/^Array<(\w+)>$/);
    const target = decl.imports.get(elem ? elem[1] : type);
    if (!target) continue;
    if (elem && Array.isArray(value)) value.forEach((v, i) => strict(v, target, `${where}.${key}[${i}]`));
    else if (!elem) strict(value, target, `${where}.${key}`);
  }
}

// ---- the deployment rules ----

const byKind = (objs, kind) => objs.filter((o) => o.kind === kind);
const named = (objs, kind, name) => objs.find((o) => o.kind === kind && o.metadata.name === name);
const argValue = (args, flag) => {
  const a = (args ?? []).find((x) => x === flag || x.startsWith(`${flag}=`));
  return a === undefined ? undefined : a.includes("=") ? a.slice(a.indexOf("=") + 1) : args[args.indexOf(a) + 1];
};
const matches = (selector, labels) => Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);

function checkDeployment(d, want) {
  const n = `Deployment ${d.metadata.name}`;
  const spec = d.spec, pod = spec.template.spec, c = pod.containers[0];
  if (spec.replicas !== want.replicas) fail(`${n}: ${want.replicas} replicas expected, not ${spec.replicas}`);
  const ru = spec.strategy?.rollingUpdate ?? {};
  if (spec.strategy?.type !== "RollingUpdate" || ru.maxUnavailable !== 0 || !(ru.maxSurge >= 1))
    fail(`${n}: rolling updates must keep every replica (maxUnavailable 0, maxSurge >= 1)`);
  if (!matches(spec.selector.matchLabels, spec.template.metadata.labels)) fail(`${n}: the selector misses its own pods`);
  const deadline = Number(argValue(c.args, "--stop-deadline-ms"));
  const prestop = c.lifecycle?.preStop?.exec?.command?.join(" ") === `sleep ${PRESTOP_S}` ? PRESTOP_S : 0;
  if (pod.terminationGracePeriodSeconds !== GRACE_S || deadline !== DEADLINE_MS || prestop + deadline / 1000 >= GRACE_S)
    fail(`${n}: preStop (${prestop} s) + --stop-deadline-ms (${deadline}) must end inside terminationGracePeriodSeconds ${GRACE_S}`);
  if (want.prestop && prestop !== PRESTOP_S) fail(`${n}: a preStop pause of ${PRESTOP_S} s lets load balancers forget the pod first`);
  if (!(pod.securityContext?.runAsNonRoot && pod.securityContext?.runAsUser >= 1000))
    fail(`${n}: pods must run as a non-root user`);
  if (c.securityContext?.allowPrivilegeEscalation !== false || c.securityContext?.readOnlyRootFilesystem !== true)
    fail(`${n}: no privilege escalation, read-only root file system`);
  if (!c.resources?.requests?.cpu || !c.resources?.requests?.memory || !c.resources?.limits?.memory)
    fail(`${n}: cpu and memory requests and a memory limit are required`);
  if ((c.args ?? []).some((a) => /^--lightyear-private-key(=|$)/.test(a)))
    fail(`${n}: the Lightyear key must not be an argument (ps and the pod spec show it)`);
  if ((c.env ?? []).some((e) => e.value !== undefined && /PASSWORD|KEY|SECRET/.test(e.name)))
    fail(`${n}: a secret is written into the pod spec`);
  for (const [probe, p] of Object.entries(want.probes ?? {})) {
    if (c[probe]?.httpGet?.path !== p) fail(`${n}: ${probe} must be GET ${p}`);
  }
  if (want.kvReplicas && argValue(c.args, "--kv-replicas") !== String(want.kvReplicas))
    fail(`${n}: --kv-replicas ${want.kvReplicas} expected (R3 buckets in the NATS cluster)`);
  if (want.keyFile) {
    const file = argValue(c.args, "--lightyear-private-key-file");
    const mount = (c.volumeMounts ?? []).find((m) => file?.startsWith(`${m.mountPath}/`));
    const vol = pod.volumes?.find((v) => v.name === mount?.name);
    if (!vol?.secret || !mount.readOnly) fail(`${n}: --lightyear-private-key-file must be read from a mounted Secret`);
  }
}

// Probes and the Prometheus scrape go to the admin listener (--admin-bind), outside the client
// connection limits; the Service does not expose it (docs/DEPLOY.md). Both Deployments have one.
function checkAdminPort(dep, svc) {
  const n = dep.metadata.name, c = dep.spec.template.spec.containers[0];
  const bind = argValue(c.args, "--admin-bind");
  const port = (c.ports ?? []).find((p) => p.name === "admin");
  if (!bind || !port || !bind.endsWith(`:${port.containerPort}`)) {
    fail(`${n}: --admin-bind and a container port named admin on the same port are expected`);
    return;
  }
  for (const probe of ["readinessProbe", "livenessProbe"])
    if (c[probe]?.httpGet?.port !== "admin") fail(`${n}: ${probe} must use the admin port`);
  if (dep.spec.template.metadata.annotations?.["prometheus.io/port"] !== String(port.containerPort))
    fail(`${n}: Prometheus must scrape the admin port`);
  if ((svc?.spec.ports ?? []).some((p) => p.targetPort === "admin" || p.targetPort === port.containerPort))
    fail(`${n}: the Service must not expose the admin port`);
}

function checkRefs(objs, secrets) {
  const configMaps = byKind(objs, "ConfigMap");
  for (const d of byKind(objs, "Deployment")) {
    const pod = d.spec.template.spec;
    for (const c of pod.containers) {
      for (const e of c.env ?? []) {
        const s = e.valueFrom?.secretKeyRef, m = e.valueFrom?.configMapKeyRef;
        if (s && !(secrets.find((x) => x.metadata.name === s.name)?.stringData ?? {})[s.key] && s.name !== "nats-server-tls")
          fail(`${d.metadata.name}: env ${e.name} reads Secret ${s.name} key ${s.key}, which secrets.example.yaml does not define`);
        if (m && !(configMaps.find((x) => x.metadata.name === m.name)?.data ?? {})[m.key])
          fail(`${d.metadata.name}: env ${e.name} reads ConfigMap ${m.name} key ${m.key}, which is not defined`);
      }
    }
    for (const v of pod.volumes ?? []) {
      if (!v.secret || v.secret.secretName === "nats-server-tls") continue;
      const s = secrets.find((x) => x.metadata.name === v.secret.secretName);
      for (const it of v.secret.items ?? [])
        if (!(s?.stringData ?? {})[it.key]) fail(`${d.metadata.name}: volume ${v.name} reads a Secret key that is not defined: ${it.key}`);
    }
  }
}

function checkRules(objs, secrets) {
  const mm = named(objs, "Deployment", "matchmaker"), web = named(objs, "Deployment", "matchmaker-httpd");
  if (!mm || !web) {
    fail("the Deployments matchmaker and matchmaker-httpd are expected");
    return;
  }
  const before = failures.length;
  checkDeployment(mm, { replicas: 2, kvReplicas: 3, keyFile: true, probes: { readinessProbe: "/readyz", livenessProbe: "/healthz" } });
  checkDeployment(web, { replicas: 3, prestop: true, probes: { readinessProbe: "/readyz", livenessProbe: "/healthz" } });
  for (const pdb of byKind(objs, "PodDisruptionBudget")) {
    const target = byKind(objs, "Deployment").find((d) => matches(pdb.spec.selector.matchLabels, d.spec.template.metadata.labels));
    if (!target) fail(`PodDisruptionBudget ${pdb.metadata.name} selects no Deployment`);
    else if (!(pdb.spec.minAvailable >= 1 && pdb.spec.minAvailable < target.spec.replicas))
      fail(`PodDisruptionBudget ${pdb.metadata.name}: minAvailable must leave room for one disruption of ${target.spec.replicas}`);
  }
  if (!byKind(objs, "PodDisruptionBudget").some((p) => matches(p.spec.selector.matchLabels, web.spec.template.metadata.labels)))
    fail("the web front needs a PodDisruptionBudget");
  const hpa = byKind(objs, "HorizontalPodAutoscaler").find((h) => h.spec.scaleTargetRef.name === web.metadata.name);
  if (!hpa || hpa.spec.scaleTargetRef.kind !== "Deployment" || hpa.spec.minReplicas !== web.spec.replicas || !(hpa.spec.maxReplicas > hpa.spec.minReplicas))
    fail("the web front needs a HorizontalPodAutoscaler from its 3 replicas up");
  const svc = byKind(objs, "Service").find((s) => matches(s.spec.selector, web.spec.template.metadata.labels));
  const portNames = web.spec.template.spec.containers[0].ports.map((p) => p.name);
  if (!svc || !svc.spec.ports.every((p) => portNames.includes(p.targetPort))) fail("the web front's Service must target its named port");
  checkAdminPort(web, svc);
  checkAdminPort(mm, null);
  checkRefs(objs, secrets);
  for (const o of objs) if (o.metadata.namespace !== "bevygap") fail(`${o.kind} ${o.metadata.name}: not in namespace bevygap`);
  if (failures.length === before) ok("deployment rules: replicas, probes, rollouts, grace periods, budgets, autoscaler, references");
}

// The load-test Job of deploy/k8s/loadtest (docs/mm_bench.md, "Many machines").
async function checkLoadtest(src, build, mainObjs) {
  const dir = path.join(src, "deploy", "k8s", "loadtest");
  let rendered;
  try {
    rendered = execFileSync("kubectl", ["kustomize", dir], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    ok("kubectl kustomize deploy/k8s/loadtest");
  } catch (e) {
    fail(`kubectl kustomize deploy/k8s/loadtest: ${e.stderr ?? e.message}`);
    return;
  }
  const objs = parseYaml(rendered, "loadtest kustomize output");
  for (const o of objs) await validateSchema(o, `loadtest ${o.kind} ${o.metadata?.name}`);
  if (byKind(mainObjs, "Job").length) fail("deploy/k8s/kustomization.yaml must not roll out a load test (Job)");
  const job = named(objs, "Job", "mm-bench");
  if (!job) {
    fail("deploy/k8s/loadtest: a Job mm-bench is expected");
    return;
  }
  const before = failures.length;
  const n = "Job mm-bench", spec = job.spec, pod = spec.template.spec, c = pod.containers[0];
  if (spec.completionMode !== "Indexed" || !(spec.parallelism >= 2) || spec.parallelism !== spec.completions)
    fail(`${n}: an Indexed Job with parallelism = completions >= 2 (N pods at once) is expected`);
  if (spec.backoffLimit !== 0 || pod.restartPolicy !== "Never") fail(`${n}: a load test runs once (backoffLimit 0, restartPolicy Never)`);
  if (!(pod.securityContext?.runAsNonRoot && pod.securityContext?.runAsUser >= 1000)) fail(`${n}: pods must run as a non-root user`);
  if (c.securityContext?.allowPrivilegeEscalation !== false || c.securityContext?.readOnlyRootFilesystem !== true)
    fail(`${n}: no privilege escalation, read-only root file system`);
  if (!c.resources?.requests?.cpu || !c.resources?.limits?.memory) fail(`${n}: a cpu request and a memory limit are required`);
  if (!/\/bevygap-tools$/.test(c.image.split(":")[0])) fail(`${n}: the image is deploy/docker/tools.Dockerfile's (bevygap-tools)`);
  if (job.metadata.namespace !== "bevygap") fail(`${n}: not in namespace bevygap`);
  const script = c.args?.[0] ?? "";
  const mount = (c.volumeMounts ?? []).find((m) => script.includes(`${m.mountPath}/mm-bench-\${JOB_COMPLETION_INDEX}.json`));
  if (!mount || !pod.volumes?.find((v) => v.name === mount.name)?.emptyDir)
    fail(`${n}: each pod writes its --json to an emptyDir, named by JOB_COMPLETION_INDEX`);
  // the target: the web front's Service, its port, /matchmaker/ws
  const svc = named(mainObjs, "Service", "matchmaker-httpd");
  const url = (c.env ?? []).find((e) => e.name === "MM_BENCH_URL")?.value ?? "";
  const m = url.match(/^ws:\/\/([^/:]+):(\d+)(\/.*)$/);
  if (!m || m[1].split(".")[0] !== svc?.metadata.name || !svc.spec.ports.some((p) => p.port === Number(m[2])) || m[3] !== "/matchmaker/ws")
    fail(`${n}: MM_BENCH_URL ${url} must be ws://<the web front's Service>:<its port>/matchmaker/ws`);
  if (failures.length === before) ok(`${n}: Indexed, ${spec.parallelism} pods, runs once, non-root, aimed at the web front's Service`);
  if (!build || !mount) return;
  // the pod's script really works: run it (its emptyDir a temporary directory) against a closed port
  const exe = path.join(build, "mm_bench");
  if (!existsSync(exe)) {
    fail(`${exe} is not built: cannot run the Job's script`);
    return;
  }
  const tmp = mkdtempSync(path.join(os.tmpdir(), "mm-bench-job-"));
  try {
    const env = { ...process.env, PATH: `${build}:${process.env.PATH}`, JOB_COMPLETION_INDEX: "3",
                  MM_BENCH_URL: "ws://127.0.0.1:1/matchmaker/ws", MM_BENCH_RATE: "20", MM_BENCH_DURATION: "1s" };
    const log = execFileSync("/bin/sh", ["-c", script.replaceAll(`${mount.mountPath}/`, `${tmp}/`)],
                             { encoding: "utf8", env, stdio: ["ignore", "pipe", "pipe"] });
    const lines = log.split("\n");
    const begin = lines.indexOf("=== mm_bench json 3 begin"), end = lines.indexOf("=== mm_bench json 3 end");
    const doc = begin >= 0 && end > begin ? JSON.parse(lines.slice(begin + 1, end).join("\n")) : null;
    if (doc?.tool !== "mm_bench" || doc.requests !== 20 || doc.outcomes?.connect_failed !== 20 || !doc.start_unix_ns)
      fail(`${n}: the script's output between its markers is not the run's JSON (20 connect_failed): ${log.slice(0, 300)}`);
    else ok(`${n}: the pod's script runs mm_bench and prints its JSON between the markers (exit 0 with non-ready outcomes)`);
  } catch (e) {
    fail(`${n}: the pod's script failed (status ${e.status}): ${(e.stderr ?? e.message).slice(0, 300)}`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

// deploy/k8s/monitoring/podmonitor.yaml (Prometheus Operator; its type is not in the Kubernetes
// schema, so its shape is checked here): it selects the pods of both Deployments, on a port each
// of them names, in their namespace; every Deployment is also annotated for annotation-based
// scrapes of that port (docs/OPERATIONS.md).
function checkMonitoring(src, objs) {
  const file = path.join(src, "deploy", "k8s", "monitoring", "podmonitor.yaml");
  const pm = parseYaml(readFileSync(file, "utf8"), "podmonitor.yaml")[0];
  const before = failures.length;
  if (pm?.apiVersion !== "monitoring.coreos.com/v1" || pm?.kind !== "PodMonitor" || pm.metadata?.namespace !== "bevygap") {
    fail("podmonitor.yaml: a monitoring.coreos.com/v1 PodMonitor in namespace bevygap is expected");
    return;
  }
  const known = new Set(["port", "path", "interval", "scrapeTimeout", "scheme"]);
  for (const d of byKind(objs, "Deployment")) {
    const n = d.metadata.name, pod = d.spec.template;
    if (!matches(pm.spec.selector?.matchLabels ?? {}, pod.metadata.labels)) {
      fail(`podmonitor.yaml: does not select the pods of ${n}`);
      continue;
    }
    const ports = pod.spec.containers.flatMap((c) => c.ports ?? []);
    for (const ep of pm.spec.podMetricsEndpoints ?? []) {
      for (const k of Object.keys(ep)) if (!known.has(k)) fail(`podmonitor.yaml: unknown endpoint field ${k}`);
      const port = ports.find((p) => p.name === ep.port);
      if (!port) fail(`podmonitor.yaml: ${n} has no container port named ${ep.port}`);
      const a = pod.metadata.annotations ?? {};
      if (port && (a["prometheus.io/scrape"] !== "true" || a["prometheus.io/port"] !== String(port.containerPort) || a["prometheus.io/path"] !== ep.path))
        fail(`${n}: prometheus.io/scrape, port and path annotations must name the ${ep.port} port and ${ep.path}`);
    }
  }
  if (!(pm.spec.podMetricsEndpoints ?? []).length) fail("podmonitor.yaml: no podMetricsEndpoints");
  if (failures.length === before) ok("monitoring: the PodMonitor and the scrape annotations name every Deployment's admin port");
}

async function main() {
  const src = process.argv[2];
  const k8s = path.join(src, "deploy", "k8s");
  let rendered;
  try {
    rendered = execFileSync("kubectl", ["kustomize", k8s], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    ok("kubectl kustomize deploy/k8s");
  } catch (e) {
    fail(`kubectl kustomize deploy/k8s: ${e.code === "ENOENT" ? "kubectl not found: install the Debian package kubernetes-client" : e.stderr}`);
    return;
  }
  const objs = parseYaml(rendered, "kustomize output");
  const extra = ["namespace.yaml", "secrets.example.yaml"].flatMap((f) => parseYaml(readFileSync(path.join(k8s, f), "utf8"), f));
  for (const o of [...objs, ...extra]) await validateSchema(o, `${o.kind} ${o.metadata?.name}`);
  checkRules(objs, extra.filter((o) => o.kind === "Secret"));
  checkMonitoring(src, objs);
  await checkLoadtest(src, process.argv[3], objs);
}

await main();
console.log(`${passes.length} passed, ${failures.length} failed`);
process.exit(failures.length ? 1 : 0);
