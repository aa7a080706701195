# shellcheck shell=bash
# The local stack for bench/baseline.sh, as functions (sourced, never run on its own).
#
# It starts what deploy/run-local.sh starts (nats-server with JetStream and the reference's local
# users, edgegap_sim, gameserver_sim --auto, bevygap_matchmaker, bevygap_matchmaker_httpd), but on
# free loopback ports and in a run directory of its own, so a benchmark never meets `make run`'s
# processes, ports or data. One stack at a time; stack_stop ends exactly the processes that
# stack_start started (by PID), and the EXIT trap of the caller should call stack_stop too.
#
# Modes: allinone (bevygap_matchmaker --http: the front talks to the provisioner directly),
# split (bevygap_matchmaker_httpd -> NATS -> bevygap_matchmaker), split2 .. split9 (the same with
# that many matchmaker replicas in the queue group).
#
# Needs: BIN (the build directory with the programs), RUN_ROOT (a directory for run dirs).
# STACK_WEBHOOKS=1 before stack_start: readiness by webhook (docs/matchmaker.md): a fresh secret in
# MM_WEBHOOK_SECRET for every matchmaker and the httpd, and every matchmaker gets
# --webhook-public-url http://<the stack's web front> (its fallback grid is up to the caller's
# matchmaker flags, --webhook-poll-ms).
# STACK_FRONT_FLAGS (an array, empty by default): more flags for the web front (the httpd, or the
# matchmaker's --http front in allinone mode), after FRONT_BENCH_FLAGS.
# After stack_start: STACK_DIR, STACK_URL (ws://.../matchmaker/ws), STACK_EDGEGAP (http://...),
# STACK_NATS_PORT, and STACK_NAMES / STACK_PIDS (parallel arrays, in start order).
# STACK_NAMES: nats-server, edgegap_sim, gameserver_sim, matchmaker-1 [matchmaker-2 ...] [httpd].

STACK_NAMES=()
STACK_PIDS=()
STACK_FRONT_FLAGS=()
STACK_SEQ=0
API_KEY='token bench-key'
PROTOCOL_ID=80085
PRIVATE_KEY='1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1'

# Front limits that count the TCP peer: every benchmark client comes from 127.0.0.1, so the per-IP
# limits (16 at once, 10/s, burst 20, 120 sessions per 75 s by default) would refuse a load test from one machine.
FRONT_BENCH_FLAGS=(--per-ip-concurrent 1000000 --per-ip-rate 1000000 --per-ip-burst 1000000
    --per-ip-sessions 0 --global-concurrent 1000000 --max-connections 1000000)

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# stack_wait_port PORT NAME: up to 10 s for a listener.
stack_wait_port() {
    local i
    for i in $(seq 200); do
        port_busy "$1" && return 0
        sleep 0.05
    done
    echo "baseline: $2 did not start listening on port $1; see $STACK_DIR/logs/$2.log" >&2
    return 1
}

# stack_wait_log FILE TEXT PID: up to 20 s for a line in a log (while PID lives).
stack_wait_log() {
    local i
    for i in $(seq 400); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        kill -0 "$3" 2>/dev/null || break
        sleep 0.05
    done
    echo "baseline: no '$2' in $1:" >&2
    tail -5 "$1" >&2
    return 1
}

stack_add() { # name pid
    STACK_NAMES+=("$1")
    STACK_PIDS+=("$2")
}

# stack_pid NAME: the PID of a process of the current stack (empty when none).
stack_pid() {
    local i
    for i in "${!STACK_NAMES[@]}"; do
        [ "${STACK_NAMES[$i]}" = "$1" ] && echo "${STACK_PIDS[$i]}" && return 0
    done
    return 1
}

# stack_start MODE [SIM_FLAGS...] [-- MATCHMAKER_FLAGS...]
# SIM_FLAGS go to edgegap_sim (e.g. --deploy-delay-ms 20000); MATCHMAKER_FLAGS to every
# bevygap_matchmaker. Prints nothing on success; on failure says why and returns 1.
stack_start() {
    local mode=$1
    shift
    local sim_flags=() mm_flags=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do sim_flags+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    mm_flags=("$@")

    STACK_SEQ=$((STACK_SEQ + 1))
    STACK_DIR="$RUN_ROOT/stack-$STACK_SEQ-$mode"
    mkdir -p "$STACK_DIR/nats" "$STACK_DIR/logs"
    STACK_NAMES=()
    STACK_PIDS=()
    STACK_NATS_PORT=$(free_port)
    local eg_port http_port
    eg_port=$(free_port)
    http_port=$(free_port)
    STACK_EDGEGAP="http://127.0.0.1:$eg_port"
    # shellcheck disable=SC2034 # for the script that sources this file
    STACK_URL="ws://127.0.0.1:$http_port/matchmaker/ws"

    cat >"$STACK_DIR/nats.conf" <<CONF
listen: 127.0.0.1:$STACK_NATS_PORT
jetstream { store_dir: "$STACK_DIR/nats" }
authorization {
  users: [
    { user: matchmaker, password: matchmaker }
    { user: matchmaker_httpd, password: matchmaker_httpd }
    { user: gameserver, password: gameserver }
  ]
}
CONF
    local nats_server
    nats_server=$(command -v nats-server || echo /usr/sbin/nats-server)
    "$nats_server" -c "$STACK_DIR/nats.conf" >"$STACK_DIR/logs/nats-server.log" 2>&1 &
    stack_add nats-server $!
    stack_wait_port "$STACK_NATS_PORT" nats-server || return 1

    "$BIN"/edgegap_sim --listen "127.0.0.1:$eg_port" --api-key "$API_KEY" \
        --app bevygap-spaceships --app-version 1 "${sim_flags[@]}" \
        >"$STACK_DIR/logs/edgegap_sim.log" 2>&1 &
    stack_add edgegap_sim $!
    stack_wait_port "$eg_port" edgegap_sim || return 1

    export NATS_HOST="127.0.0.1:$STACK_NATS_PORT" NATS_INSECURE=1
    # --poll-ms 50: a new deployment's cert digest is written within ~50 ms (the default 250 ms
    # would make every session on a deployment started during a run wait for it).
    NATS_USER=gameserver NATS_PASSWORD=gameserver MM_PRIVATE_KEY="$PRIVATE_KEY" \
        "$BIN"/gameserver_sim --edgegap-sim "$STACK_EDGEGAP" --poll-ms 50 \
        --protocol-id "$PROTOCOL_ID" --private-key-env MM_PRIVATE_KEY --auto \
        >"$STACK_DIR/logs/gameserver_sim.log" 2>&1 &
    stack_add gameserver_sim $!

    local replicas=1 front=() hook=()
    case $mode in split[2-9]) replicas=${mode#split} ;; esac
    [ "$mode" = allinone ] && front=(--http "127.0.0.1:$http_port" "${FRONT_BENCH_FLAGS[@]}" "${STACK_FRONT_FLAGS[@]}")
    if [ "${STACK_WEBHOOKS:-0}" = 1 ]; then
        MM_WEBHOOK_SECRET=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
        export MM_WEBHOOK_SECRET
        hook=(--webhook-public-url "http://127.0.0.1:$http_port")
    else
        unset MM_WEBHOOK_SECRET
    fi
    local r log
    for r in $(seq "$replicas"); do
        log="$STACK_DIR/logs/bevygap_matchmaker-$r.log"
        NATS_USER=matchmaker NATS_PASSWORD=matchmaker EDGEGAP_API_KEY="$API_KEY" \
            "$BIN"/bevygap_matchmaker --app-name bevygap-spaceships --app-version 1 \
            --lightyear-protocol-id "$PROTOCOL_ID" --lightyear-private-key "$PRIVATE_KEY" \
            --edgegap-url "$STACK_EDGEGAP" --stop-deadline-ms 2000 "${mm_flags[@]}" "${hook[@]}" "${front[@]}" >"$log" 2>&1 &
        stack_add "matchmaker-$r" $!
        stack_wait_log "$log" "matchmaker ready" "$!" || return 1
    done
    if [ "$mode" = allinone ]; then
        stack_wait_port "$http_port" bevygap_matchmaker-1 || return 1
    else
        NATS_USER=matchmaker_httpd NATS_PASSWORD=matchmaker_httpd \
            "$BIN"/bevygap_matchmaker_httpd --bind "127.0.0.1:$http_port" --stop-deadline-ms 2000 "${FRONT_BENCH_FLAGS[@]}" \
            "${STACK_FRONT_FLAGS[@]}" \
            >"$STACK_DIR/logs/bevygap_matchmaker_httpd.log" 2>&1 &
        stack_add httpd $!
        stack_wait_port "$http_port" bevygap_matchmaker_httpd || return 1
    fi
    return 0
}

# stack_forget NAME: drops a process the caller ended itself (e.g. with kill -9) from the stack,
# so stack_alive does not report it and stack_stop does not signal its PID again.
stack_forget() {
    local i names=() pids=()
    for i in "${!STACK_NAMES[@]}"; do
        [ "${STACK_NAMES[$i]}" = "$1" ] && continue
        names+=("${STACK_NAMES[$i]}")
        pids+=("${STACK_PIDS[$i]}")
    done
    STACK_NAMES=("${names[@]}")
    STACK_PIDS=("${pids[@]}")
}

# stack_alive: 0 when every process of the stack still runs; else names the dead one.
stack_alive() {
    local i
    for i in "${!STACK_PIDS[@]}"; do
        if ! kill -0 "${STACK_PIDS[$i]}" 2>/dev/null; then
            echo "baseline: ${STACK_NAMES[$i]} (pid ${STACK_PIDS[$i]}) exited; see $STACK_DIR/logs/" >&2
            return 1
        fi
    done
    return 0
}

# stack_stop: SIGTERM to our services first (they drain), then the simulators and nats-server;
# KILL after 15 s. Safe to call twice.
stack_stop() {
    local i pid
    for ((i = ${#STACK_PIDS[@]} - 1; i >= 0; i--)); do
        pid=${STACK_PIDS[$i]}
        kill -TERM "$pid" 2>/dev/null || continue
        for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    STACK_NAMES=()
    STACK_PIDS=()
}

# stack_ours: "name pid" lines of our services (the matchmakers and the httpd).
stack_ours() {
    local i
    for i in "${!STACK_NAMES[@]}"; do
        case ${STACK_NAMES[$i]} in
        matchmaker-* | httpd) echo "${STACK_NAMES[$i]} ${STACK_PIDS[$i]}" ;;
        esac
    done
}

# stack_sample: one JSON object {"t": unix time, "machine": {"busy", "total"} (ticks of all CPUs
# from /proc/stat), "procs": {name: {"pid", "cpu_ticks", "hwm_kb", "rss_kb", "threads": {thread
# name: cpu_ticks}}}} of every process of the stack: cpu_ticks is
# utime + stime of all its threads (/proc/PID/stat fields 14 and 15), hwm_kb VmHWM (the peak
# resident set); threads sums /proc/PID/task/*/stat by thread name (e.g. "provisioner").
stack_sample() {
    local args=() i
    for i in "${!STACK_NAMES[@]}"; do args+=("${STACK_NAMES[$i]}" "${STACK_PIDS[$i]}"); done
    python3 - "${args[@]}" <<'PY'
import glob, json, sys, time

def ticks_and_name(path):
    with open(path) as f:
        text = f.read()
    name = text[text.index("(") + 1:text.rindex(")")]
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12]), name  # utime, stime (fields 14, 15 of stat)

def status(pid, key):
    with open("/proc/%s/status" % pid) as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1])
    return 0

with open("/proc/stat") as f:  # the machine: "cpu user nice system idle iowait irq softirq steal ..."
    cpu = [int(x) for x in f.readline().split()[1:9]]
out = {"t": time.time(), "machine": {"busy": sum(cpu) - cpu[3] - cpu[4], "total": sum(cpu)}, "procs": {}}
args = sys.argv[1:]
for name, pid in zip(args[0::2], args[1::2]):
    try:
        ticks, _ = ticks_and_name("/proc/%s/stat" % pid)
        threads = {}
        for path in glob.glob("/proc/%s/task/*/stat" % pid):
            try:
                t, tname = ticks_and_name(path)
            except (OSError, ValueError):
                continue  # a thread that ended meanwhile
            threads[tname] = threads.get(tname, 0) + t
        out["procs"][name] = {"pid": int(pid), "cpu_ticks": ticks, "hwm_kb": status(pid, "VmHWM:"),
                              "rss_kb": status(pid, "VmRSS:"), "threads": threads}
    except (OSError, ValueError):
        pass  # a process that is gone is left out
print(json.dumps(out))
PY
}
