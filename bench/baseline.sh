#!/usr/bin/env bash
# The performance baseline (docs/PERFORMANCE.md): starts the local stack on free loopback ports in a run
# directory of its own (bench/baseline_stack.sh; nothing is shared with `make run`), runs the
# fixed scenario matrix with mm_bench, writes every raw figure as JSON into the results
# directory, and bench/baseline_report.py turns them into a markdown table and
# docs/PERFORMANCE.md.
#
#   1 throughput  highest open-loop rate with p99 time-to-ready < 250 ms and zero errors
#                 (sessions ready on the first poll), all-in-one, split, split with 2 replicas
#   2 latency     at 200 sessions/s: time-to-ready minus Edgegap's own time (mm_ceilings
#                 edgegap-time against the same simulator, same rate, same run)
#   3 waiting     10,000 clients waiting at once for sessions that take 20 s (the simulator keeps
#                 each session seeking for 20 s, then seats it on a deployment of 10,000 seats):
#                 zero errors, peak RSS of each service, CPU while idle-waiting; then the same
#                 with readiness by webhook ("3w": fallback grid 10 s): Edgegap GETs per session,
#                 CPU while waiting, time-to-ready minus the 20 s, beside the polling figures
#   3w            (only with --only 3w) the all-in-one point of scenario 3 with readiness by
#                 webhook alone (about a minute), to measure one change quickly
#   3ws           (only with --only 3ws) the same for the split point (3w,3ws: both)
#   4 growth      per-request CPU and p99 with 100, 1,000 and 10,000 clients waiting (scenario 3
#                 is the 10,000 point)
#   5 ceilings    bare h2o WebSocket loop, NATS request/reply, JetStream KV puts, libcurl to
#                 edgegap_sim, tokens/s; measured first, on the same machine, in the same run
#   launch        (only with --only launch; docs/LAUNCH.md) split mode with 3 matchmaker replicas,
#                 edgegap_sim --preset launch with creates limited to C/s (6 seats a deployment,
#                 3 s starts), players arriving at 10 x C for a minute (mm_bench --rate-curve),
#                 matchmaker-2 killed with kill -9 in the middle; run with the fleet-wide Edgegap
#                 budget on (--edgegap-budget C, the waiting room) and off (every replica for
#                 itself); reports 429s, ready/s against C, waits against the best FIFO at C
#                 (mm_bench --fluid-ceiling), the waiting room's estimate error, players who
#                 left the line and sessions no player got, sessions leaked after the reaper's
#                 horizon (bench/launch_report.py)
# At the throughput point of the all-in-one and split modes the services are profiled with
# perf (when installed) and the top entries go into the report.
#
# Usage: bench/baseline.sh [--build-dir DIR] [--results DIR] [--doc FILE] [--no-build]
#                          [--no-profile] [--only 1,2,3,3w,3ws,4,5,launch] [--keep-run]
#                          [--launch-ceiling C] [--launch-factor F] [--launch-peak SECONDS]
#                          [--launch-kill-at SECONDS] [--launch-modes on,off] [--launch-replicas N]
#                          [--launch-line-max N] [--launch-gets G] [--launch-impatient PCT]
#                          [--launch-patience SECONDS]
# Launch defaults: C = 100 creates/s (edgegap_sim's create and delete limits, and the matchmakers'
# --edgegap-budget, which counts every Edgegap request of the provisioner, GETs too), F = 10
# (1,000 players/s), a peak of 60 s, G = 0: the ceiling the players are measured against (ready/s,
# mm_bench --fluid-ceiling) is C / (1 + G) players/s, C when every session needs only its create
# (readiness by webhook; the report also gives the GETs per create the matchmakers made);
# matchmaker-2 killed at half the time the best FIFO needs to serve everyone or in the middle of the
# arrivals (15 s at the least), whichever comes first (0 = no kill), both modes, 3 replicas, a line
# of at most 100000 per replica; besides them, PCT = 5% more players (a second mm_bench) who give
# up after SECONDS = 20 s, whatever they were told. Our own limits are sized from the peak so that
# no player is cut by them: the matchmakers' --max-line-wait-ms and --session-timeout-ms, the
# front's timeouts and mm_bench's --timeout all outlast twice the best FIFO's longest wait plus a
# minute (at most 1 h). The reaper's horizon is 92 s after the creates stop (its default age and
# margin, 75 s), longer while the live sessions still fall. Short version:
#   bench/baseline.sh --only launch --launch-ceiling 20 --launch-factor 2 --launch-peak 5
# A minute of arrivals at a scaled budget (about 10 minutes a mode; docs/LAUNCH.md):
#   bench/baseline.sh --only launch --launch-ceiling 10 --launch-factor 10 --launch-peak 60
# Every waiting player holds a descriptor in mm_bench and in the front: the line (up to all
# F x C x peak players, 5% more with the impatient ones) must fit the open-file limit (checked
# before the run).
# Defaults: --build-dir build (or $MM_BUILD_DIR), --results <build-dir>/baseline,
# --doc docs/PERFORMANCE.md (written only when every scenario ran). Takes about 8 minutes on
# 2 cores, build included; exit status 0 when it ran to the end (goals missed are reported, not
# failures).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
COMMAND_LINE=$(echo "bench/baseline.sh $*" | sed 's/ *$//')

BIN=${MM_BUILD_DIR:-build}
RESULTS=""
DOC=docs/PERFORMANCE.md
BUILD=1
PROFILE=1
ONLY=1,2,3,4,5
KEEP_RUN=0
LAUNCH_CEILING=100
LAUNCH_FACTOR=10
LAUNCH_PEAK=60
LAUNCH_KILL_AT=""
LAUNCH_MODES=on,off
LAUNCH_REPLICAS=3
LAUNCH_LINE_MAX=100000
LAUNCH_GETS=0
LAUNCH_IMPATIENT=5
LAUNCH_PATIENCE=20
while [ $# -gt 0 ]; do
    case $1 in
    --build-dir) BIN=$2; shift 2 ;;
    --results) RESULTS=$2; shift 2 ;;
    --doc) DOC=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --no-profile) PROFILE=0; shift ;;
    --only) ONLY=$2; shift 2 ;;
    --keep-run) KEEP_RUN=1; shift ;;
    --launch-ceiling) LAUNCH_CEILING=$2; shift 2 ;;
    --launch-factor) LAUNCH_FACTOR=$2; shift 2 ;;
    --launch-peak) LAUNCH_PEAK=$2; shift 2 ;;
    --launch-kill-at) LAUNCH_KILL_AT=$2; shift 2 ;;
    --launch-modes) LAUNCH_MODES=$2; shift 2 ;;
    --launch-replicas) LAUNCH_REPLICAS=$2; shift 2 ;;
    --launch-line-max) LAUNCH_LINE_MAX=$2; shift 2 ;;
    --launch-gets) LAUNCH_GETS=$2; shift 2 ;;
    --launch-impatient) LAUNCH_IMPATIENT=$2; shift 2 ;;
    --launch-patience) LAUNCH_PATIENCE=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "baseline: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
RESULTS=${RESULTS:-$BIN/baseline}
wants() { [[ ",$ONLY," == *",$1,"* ]]; }
is_count() { [[ $1 =~ ^[1-9][0-9]{0,6}$ ]]; }
for v in "$LAUNCH_CEILING" "$LAUNCH_FACTOR" "$LAUNCH_PEAK" "$LAUNCH_LINE_MAX"; do
    is_count "$v" || { echo "baseline: the --launch-* values are whole numbers from 1 (got '$v')" >&2; exit 2; }
done
[[ -z $LAUNCH_KILL_AT || $LAUNCH_KILL_AT =~ ^[0-9]{1,6}$ ]] ||
    { echo "baseline: --launch-kill-at is a number of seconds (0: no kill)" >&2; exit 2; }
[[ $LAUNCH_IMPATIENT =~ ^([0-9]|[1-9][0-9])$ ]] || { echo "baseline: --launch-impatient is a percentage, 0..99" >&2; exit 2; }
is_count "$LAUNCH_PATIENCE" || { echo "baseline: --launch-patience is a number of seconds from 1" >&2; exit 2; }
[[ $LAUNCH_GETS =~ ^[0-9]$ ]] || { echo "baseline: --launch-gets is 0..9 GETs per session" >&2; exit 2; }
[[ $LAUNCH_REPLICAS =~ ^[2-9]$ ]] || { echo "baseline: --launch-replicas is 2..9 (one is killed)" >&2; exit 2; }
[[ ,$LAUNCH_MODES, =~ ^(,(on|off))+,$ ]] || { echo "baseline: --launch-modes is on, off or on,off" >&2; exit 2; }

START_S=$(date +%s)
log() { printf '[%4ds] %s\n' $(($(date +%s) - START_S)) "$*"; }

# ---- build ------------------------------------------------------------------------------------
TARGETS=(mm_bench mm_ceilings bevygap_matchmaker bevygap_matchmaker_httpd edgegap_sim gameserver_sim
    token_bench edgegap_sim_bench)
if [ $BUILD = 1 ]; then
    log "building ${TARGETS[*]} in $BIN"
    cmake -S . -B "$BIN" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$BIN" -j "$(nproc)" --target "${TARGETS[@]}" >/dev/null
fi
for t in "${TARGETS[@]}"; do
    [ -x "$BIN/$t" ] || { echo "baseline: $BIN/$t is missing (build it, or drop --no-build)" >&2; exit 1; }
done
BIN=$(cd "$BIN" && pwd)

# 10,000 clients need 10,000 descriptors in mm_bench and as many in the front.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
LAUNCH_LINE_PEAK=$((LAUNCH_FACTOR * LAUNCH_CEILING * LAUNCH_PEAK * (100 + LAUNCH_IMPATIENT) / 100))
if wants launch && [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((LAUNCH_LINE_PEAK + 2000)) ]; then
    echo "baseline: the launch's line reaches ~$LAUNCH_LINE_PEAK players, each holding a descriptor in mm_bench and" \
        "in the front; the open-file limit is $(ulimit -n): raise ulimit -Hn, or lower --launch-ceiling or shorten --launch-peak" >&2
    exit 1
fi
if { wants 3 || wants 4; } && [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 12000 ]; then
    echo "baseline: the open-file limit is $(ulimit -n); scenario 3 needs at least 12000 (raise ulimit -Hn)" >&2
    exit 1
fi

mkdir -p "$RESULTS"
RESULTS=$(cd "$RESULTS" && pwd)
rm -rf "${RESULTS:?}"/s1 "$RESULTS"/s2 "$RESULTS"/s3 "$RESULTS"/s5 "$RESULTS"/profile
wants launch && rm -rf "$RESULTS"/launch
RUN_ROOT=$(mktemp -d "${TMPDIR:-/tmp}/mm-baseline.XXXXXX")
# shellcheck source=bench/baseline_stack.sh
source "$ROOT/bench/baseline_stack.sh"
HELPER_PIDS=()
cleanup() {
    local p
    stack_stop
    for p in "${HELPER_PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    if [ $KEEP_RUN = 1 ]; then echo "baseline: run directories kept in $RUN_ROOT"; else rm -rf "$RUN_ROOT"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
REPORT="python3 $ROOT/bench/baseline_report.py"

# ---- the machine --------------------------------------------------------------------------------
python3 - "$RESULTS/machine.json" "$COMMAND_LINE" "$(getconf CLK_TCK)" <<'PY'
import json, os, platform, subprocess, sys, time
def first(path, key):
    try:
        for line in open(path):
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None
rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True).stdout.strip()
json.dump({"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "nproc": os.cpu_count(),
           "mem_total": first("/proc/meminfo", "MemTotal"), "cpu_model": first("/proc/cpuinfo", "model name"),
           "kernel": platform.release(), "command": sys.argv[2], "clk_tck": int(sys.argv[3]),
           "git": rev + ("+changes" if dirty else ""), "loadavg_start": open("/proc/loadavg").read().split()[0]},
          open(sys.argv[1], "w"), indent=1)
PY

# ---- helpers --------------------------------------------------------------------------------------
sim_stats() { curl -s --max-time 5 "$STACK_EDGEGAP/__sim/stats" || echo '{}'; }

# bench_point DIR NAME MM_BENCH_ARGS...: one mm_bench run with process samples around it.
# Writes DIR/NAME.json (mm_bench) and DIR/NAME.procs.json (samples, sim stats, wall times).
bench_point() {
    local dir=$1 name=$2
    shift 2
    mkdir -p "$dir"
    local before after s0 s1 t0 t1 rc=0
    before=$(stack_sample)
    s0=$(sim_stats)
    t0=$(date +%s.%N)
    "$BIN"/mm_bench --url "$STACK_URL" --no-progress --json "$dir/$name.json" "$@" >"$dir/$name.txt" 2>&1 || rc=$?
    t1=$(date +%s.%N)
    after=$(stack_sample)
    s1=$(sim_stats)
    printf '{"before":%s,"after":%s,"sim_before":%s,"sim_after":%s,"t0":%s,"t1":%s,"mm_bench_rc":%s}\n' \
        "$before" "$after" "$s0" "$s1" "$t0" "$t1" "$rc" >"$dir/$name.procs.json"
    [ $rc -le 1 ] || { echo "baseline: mm_bench failed (exit $rc):" >&2; tail -3 "$dir/$name.txt" >&2; return 1; }
    stack_alive
}

# Flags of the fast scenarios (1, 2): the first poll 1 ms after the create (the default 200 ms
# would be most of the time-to-ready), sessions ready on it (deployments of 10,000 seats that are
# ready at once), and enough Edgegap calls in flight that none queue below overload: a queued
# create sends ProgressReport("Waiting for Edgegap ...") before SessionRequestAccepted, which
# mm_bench counts as a protocol violation (see docs/PERFORMANCE.md, "Analysis").
FAST_SIM=(--sockets 10000 --deploy-delay-ms 0 --log-level warn)
FAST_MM=(--poll-delay-ms 1 --poll-interval-ms 50 --max-edgegap-in-flight 256)
# Scenarios 3 and 4: every session takes 20 s (the simulator keeps it Status.SEEKING for 20 s, then
# places it on a ready deployment of 10,000 seats), polled 1 s after its create and every 2 s
# after that, so each is seen ready by the poll at 21 s (a poll grid in step with the 20 s would
# see some at 20 s and, when the simulator is a little late, others at 22 s).
# --webhook-queue 20000: with webhooks on, every session's "ready" webhook is queued in the
# simulator at the 20 s mark (800/s); the default 4096 waiting would fail some if deliveries lag.
SLOW_SIM=(--sockets 10000 --deploy-delay-ms 0 --seek-delay-ms 20000 --webhook-queue 20000 --log-level warn)
SLOW_MM=(--poll-delay-ms 1000 --poll-interval-ms 2000 --max-edgegap-in-flight 256)
# Scenario 3 with webhooks ("3w"): the same stack with readiness by webhook (bench/baseline_stack.sh
# STACK_WEBHOOKS=1) and a fallback grid of 10 s, so a session is polled at 10 s and 20 s after its
# create and the webhook at 20 s (when the simulator seats it) triggers one more GET: at most 3.
WEBHOOK_POLL_MS=10000
POINT_DURATION=8s
POINT_RAMP=2s

# warm_up: one ready deployment with its cert digest before measuring (the first session of a
# stack starts the deployment and waits for gameserver_sim to write the digest).
warm_up() {
    "$BIN"/mm_bench --url "$STACK_URL" --no-progress --rate 20 --duration 1s --timeout 10s \
        --json "$RUN_ROOT/warmup.json" >/dev/null 2>&1 || {
        echo "baseline: the warm-up requests failed against $STACK_URL; see $STACK_DIR/logs" >&2
        return 1
    }
}

fast_stack() { # mode
    stack_start "$1" "${FAST_SIM[@]}" -- "${FAST_MM[@]}" && warm_up
}

# profile_point MODE RATE DIR: a throughput point with `perf record` (DWARF call graphs, so time in
# the kernel and in libraries is charged to our callers) on each of our services for 4 s in its
# middle; writes the threads' shares, the top self-time symbols and our functions' inclusive time.
profile_point() {
    local mode=$1 rate=$2 dir=$3 name pid data procs=() perf_pids=()
    mkdir -p "$dir"
    "$BIN"/mm_bench --url "$STACK_URL" --no-progress --rate "$rate" --duration 10s --ramp 2s --timeout 5s \
        --json "$dir/$mode-point.json" >"$dir/$mode-point.txt" 2>&1 &
    local bench=$!
    HELPER_PIDS+=("$bench")
    sleep 4
    while read -r name pid; do
        procs+=("$name")
        perf record -F 299 --call-graph dwarf,8192 -o "$RUN_ROOT/perf-$mode-$name.data" -p "$pid" -- sleep 4 \
            >/dev/null 2>&1 &
        perf_pids+=($!)
    done < <(stack_ours)
    for pid in "${perf_pids[@]}"; do wait "$pid" || true; done
    wait "$bench" || true
    for name in "${procs[@]}"; do
        data="$RUN_ROOT/perf-$mode-$name.data"
        {
            echo "### $mode, $name: 4 s at $rate sessions/s (perf record -F 299 --call-graph dwarf)"
            echo
            echo "Threads, share of the process's samples:"
            perf report -i "$data" --stdio --no-children --sort comm -g none 2>/dev/null | grep -E '^ +[0-9]' | head -10 || true
            echo
            echo "Top symbols by self time ([k] kernel, [.] user space):"
            perf report -i "$data" --stdio --no-children --sort comm,dso,sym -g none 2>/dev/null | grep -E '^ +[0-9]' |
                head -20 || true
            echo
            echo "Our functions by inclusive time (children = callees in libraries and the kernel included):"
            perf report -i "$data" --stdio --children --sort dso,sym -g none 2>/dev/null | grep -E '^ +[0-9]' |
                grep -E ' bevygap_matchmaker(_httpd)? ' | head -30 || true
        } >"$dir/$mode-$name.txt"
    done
}

# ---- 5: raw ceilings (first, on a quiet machine) --------------------------------------------------
if wants 5; then
    log "scenario 5: raw ceilings"
    D="$RESULTS/s5"
    mkdir -p "$D"
    port=$(free_port)
    "$BIN"/mm_ceilings ws-server --listen "127.0.0.1:$port" >"$D/ws-server.log" 2>&1 &
    ws_pid=$!
    HELPER_PIDS+=("$ws_pid")
    STACK_DIR=$RUN_ROOT stack_wait_port "$port" mm_ceilings
    ws_t0=$(sed 's/.*) //' "/proc/$ws_pid/stat" | awk '{print $12 + $13}')
    "$BIN"/mm_bench --url "ws://127.0.0.1:$port/matchmaker/ws" --no-progress --concurrency 50 --duration 5s \
        --requests 1000000 --json "$D/ws.json" >"$D/ws.txt" 2>&1 || true
    ws_t1=$(sed 's/.*) //' "/proc/$ws_pid/stat" | awk '{print $12 + $13}')
    echo "{\"server_cpu_ticks\": $((ws_t1 - ws_t0))}" >"$D/ws-server.json"
    kill -TERM "$ws_pid"
    wait "$ws_pid" || true
    # a failed ceiling is reported (its figures stay empty in the report); the run goes on
    "$BIN"/token_bench --seconds 1 >"$D/token_bench.txt" 2>&1 || log "warning: token_bench failed"
    "$BIN"/edgegap_sim_bench --seconds 1 --connections 16 >"$D/edgegap_sim_bench.txt" 2>&1 ||
        log "warning: edgegap_sim_bench failed; see $D/edgegap_sim_bench.txt"
    stack_start allinone "${FAST_SIM[@]}" -- "${FAST_MM[@]}"
    MM_CEIL_PW=matchmaker "$BIN"/mm_ceilings nats --server "127.0.0.1:$STACK_NATS_PORT" --user matchmaker \
        --password-env MM_CEIL_PW --seconds 2 >"$D/nats.json" || log "warning: mm_ceilings nats failed"
    stack_stop
fi

# ---- 1: throughput ------------------------------------------------------------------------------
# A point passes when every request was ready and p99 time-to-ready < 250 ms. The search doubles
# the rate from a start until a point fails, then bisects twice between the last pass and the
# first failure. A failed point leaves a backlog behind: the stack is restarted after it.
search_mode() { # mode start_rate
    local mode=$1 rate=$2 lo=0 hi=0 verdict dir="$RESULTS/s1/$1" steps=0
    fast_stack "$mode"
    while :; do
        log "scenario 1 ($mode): $rate sessions/s"
        bench_point "$dir" "rate-$rate" --rate "$rate" --duration "$POINT_DURATION" --ramp "$POINT_RAMP" --timeout 5s
        verdict=$($REPORT verdict "$dir/rate-$rate.json")
        log "  $verdict"
        if [[ $verdict == pass* ]]; then
            lo=$rate
        else
            hi=$rate
            stack_stop
            fast_stack "$mode"
        fi
        if [ "$hi" = 0 ]; then
            rate=$((rate * 2))
            [ "$rate" -le 16000 ] || break
        elif [ "$lo" = 0 ]; then
            rate=$((rate / 2))
            [ "$rate" -ge 25 ] || break
        else
            steps=$((steps + 1))
            if [ "$steps" -gt 2 ] || [ $((hi - lo)) -le $((lo / 10)) ]; then break; fi
            rate=$(((lo + hi) / 2 / 25 * 25))
            [ "$rate" -gt "$lo" ] || break
        fi
    done
    echo "$lo" >"$dir/best"
    if [ $PROFILE = 1 ] && [ "$mode" != split2 ] && [ "$lo" -gt 0 ] && command -v perf >/dev/null; then
        log "profiling $mode at $lo sessions/s"
        stack_stop
        fast_stack "$mode"
        profile_point "$mode" "$lo" "$RESULTS/profile"
    fi
    stack_stop
}
if wants 1; then
    search_mode allinone 500
    best=$(cat "$RESULTS/s1/allinone/best")
    start=$((best / 2 / 25 * 25))
    [ $start -ge 100 ] || start=100
    search_mode split "$start"
    search_mode split2 "$start"
fi

# ---- 2: latency added at 200 sessions/s -----------------------------------------------------------
if wants 2; then
    for mode in allinone split; do
        log "scenario 2 ($mode): 200 sessions/s, then Edgegap's own time at the same rate"
        fast_stack "$mode"
        bench_point "$RESULTS/s2/$mode" mm_bench --rate 200 --duration 10s --timeout 5s
        EGK="$API_KEY" "$BIN"/mm_ceilings edgegap-time --url "$STACK_EDGEGAP" --api-key-env EGK --rate 200 \
            --seconds 10 >"$RESULTS/s2/$mode/edgegap_time.json" ||
            log "warning: some of Edgegap's own-time sessions failed (see the report)"
        stack_stop
    done
fi

# ---- 3 and 4: clients waiting for sessions that take 20 s -----------------------------------------
# N clients arrive over 12.5 s (open loop, N/12.5 per second: 800/s for 10,000, below the create
# throughput); each session is ready 20 s after its create, so from t = 12.5 s to t = 20 s all N
# wait at once; mm_bench ends when the last is answered (t ~ 33 s). Samples: 5 s idle before (the
# stack's own background CPU), t = 13..19 s (all waiting, nothing ready yet), the end.
wait_point() { # mode n [webhooks]
    local mode=$1 n=$2 dir="$RESULTS/s3/$1-$2" mm=("${SLOW_MM[@]}")
    if [ "${3:-}" = webhooks ]; then
        dir="$RESULTS/s3/$1-webhooks-$2"
        mm+=(--webhook-poll-ms "$WEBHOOK_POLL_MS")
        STACK_WEBHOOKS=1
    fi
    log "scenario 3/4 ($mode${3:+, $3}): $n clients waiting 20 s"
    mkdir -p "$dir"
    stack_start "$mode" "${SLOW_SIM[@]}" -- "${mm[@]}"
    STACK_WEBHOOKS=0
    sleep 1
    stack_sample >"$dir/idle0.json"
    sleep 5
    stack_sample >"$dir/idle1.json"
    bench_point "$dir" mm_bench --rate "$(awk "BEGIN {print $n / 12.5}")" --duration 12500ms --timeout 60s &
    local bp=$!
    HELPER_PIDS+=("$bp")
    sleep 13
    stack_sample >"$dir/wait0.json"
    sim_stats >"$dir/wait0-sim.json"
    sleep 6
    stack_sample >"$dir/wait1.json"
    sim_stats >"$dir/wait1-sim.json"
    wait "$bp"
    stack_stop
    # the matchmakers' GET and webhook counters, logged at stop (docs/matchmaker.md)
    grep -h -e 'provisioner: .* sessions polled with' -e 'budget: .* waiting room:' "$STACK_DIR"/logs/bevygap_matchmaker-*.log \
        >"$dir/mm-stats.txt" || true
}
if wants 3 || wants 4 || wants 3w || wants 3ws; then
    wants 4 && wait_point allinone 100
    wants 4 && wait_point allinone 1000
    { wants 3 || wants 4; } && wait_point allinone 10000
    { wants 3 || wants 3w; } && wait_point allinone 10000 webhooks
    wants 3 && wait_point split 10000
    { wants 3 || wants 3ws; } && wait_point split 10000 webhooks
fi

# ---- launch: a launch against the waiting room (docs/LAUNCH.md) -------------------------------------
# Split mode, LAUNCH_REPLICAS matchmakers, readiness by webhook (fallback grid 10 s). The simulator
# is a launch-day Edgegap (--preset launch) whose create limit is the ceiling C (6 seats a
# deployment, 3 s starts); players arrive at F x C for the peak, far above the C / (1 + G) the
# budget lets through, so the line builds to thousands. matchmaker-2 gets kill -9 in the middle
# (launch_point). Budget on: --edgegap-budget C and the waiting room; off: every replica for
# itself (today's behaviour).
# Sampled every second: /__sim/stats (without the session ids). After mm_bench, once the session
# creates have stopped: the reaper's horizon (age + margin + scan + 15 s, longer while the live
# sessions still fall), then the sessions still live are the leaked ones. The reaper keeps its
# default age and margin (75 s, as docs/LAUNCH.md advises for a launch): without the budget, GETs
# get 429s too and a session can take longer than 25 s to be seen ready; a shorter age deleted
# 260 of them under their players (Error 404) in a minute's run at C = 10.
LAUNCH_REAPER=(--reaper-age-ms 60000 --reaper-margin-ms 15000 --reaper-scan-ms 2000)
LAUNCH_HORIZON_S=92

launch_check() {
    local missing=() sim_help mm_help flag
    sim_help=$("$BIN"/edgegap_sim --help 2>&1 || true)
    mm_help=$("$BIN"/bevygap_matchmaker --help 2>&1 || true)
    for flag in --preset --rate-limit --deploy-ms; do
        [[ $sim_help == *"$flag"* ]] || missing+=("edgegap_sim $flag")
    done
    for flag in --edgegap-budget --waiting-room-max; do
        [[ $mm_help == *"$flag"* ]] || missing+=("bevygap_matchmaker $flag")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "baseline: the launch scenario needs ${missing[*]} (docs/LAUNCH.md); this build lacks them" >&2
        return 1
    fi
}

# sim_sample [ids|created|live]: /__sim/stats without the session ids (one line), or only the ids (a
# JSON array), or only sessions_created / sessions_live; {} / [] / 0 when the simulator does not answer.
sim_sample() {
    curl -s --max-time 2 "$STACK_EDGEGAP/__sim/stats" | python3 -c '
import json, sys
what = sys.argv[1] if len(sys.argv) > 1 else ""
try:
    d = json.load(sys.stdin)
except ValueError:
    d = {}
if what == "ids":
    print(json.dumps(d.get("live_session_ids", [])))
elif what in ("created", "live"):
    print(d.get("sessions_" + what, 0))
else:
    d.pop("live_session_ids", None)
    print(json.dumps(d, separators=(",", ":")))
' "$@" 2>/dev/null # quiet when the sampler is stopped mid-print
}

launch_point() { # on|off
    local budget=$1 dir="$RESULTS/launch/$1" c=$LAUNCH_CEILING
    local rate=$((LAUNCH_CEILING * LAUNCH_FACTOR))
    local players=$((rate * LAUNCH_PEAK))
    local ceiling fifo_s
    ceiling=$(awk "BEGIN {print $c / (1 + $LAUNCH_GETS)}")
    fifo_s=$(awk "BEGIN {print int($players / $ceiling + 0.999)}")
    # killed in the middle: at half the time the best FIFO needs to serve everyone or in the middle of
    # the arrivals (15 s at the least), whichever comes first: a minute at 10 x C is killed at 30 s,
    # not at 300 s, when the budget-off run (no line) has long ended
    local half_peak=$((LAUNCH_PEAK / 2 < 15 ? 15 : LAUNCH_PEAK / 2))
    local kill_at=${LAUNCH_KILL_AT:-$((fifo_s / 2 < half_peak ? fifo_s / 2 : half_peak))}
    # the preset's limits scaled with the create limit (its GET limit is 2.5 times the create one)
    local sim=(--preset launch --rate-limit "create=$c/$c" --rate-limit "delete=$c/$c"
        --rate-limit "get=$((c * 5 / 2))/$((c * 5 / 2))" --sockets 6 --deploy-ms "3000,6000" --webhook-queue 100000
        --log-level warn)
    # No player may be cut by our own limits in a run meant to measure the line. The longest wait in
    # line is about the best FIFO's last one (fifo_s); every limit gets twice that plus a minute:
    # the matchmakers' --max-line-wait-ms (budget on: default 300 s, under a minute's line at a
    # scaled C; at most 1 h) and --session-timeout-ms (counts from leaving the line with the budget,
    # from arrival without it, where a request waits for a free Edgegap slot), the front's
    # --matchmaker-timeout-ms and --request-timeout-ms (restarted by every ProgressReport, but not
    # in the budget-off run, which has none), mm_bench's --timeout above them
    local front_s=$((fifo_s * 2 + 60))
    [ "$front_s" -le 3600 ] || front_s=3600
    local mm=(--webhook-poll-ms 10000 "${LAUNCH_REAPER[@]}" --session-timeout-ms "$(((front_s - 10) * 1000))")
    # budget on: the fleet's budgets per class are the simulator's limits (creates C/s, GETs 2.5 C/s,
    # DELETEs C/s), so what Edgegap refuses is only what a replica's death or a burst adds
    [ "$budget" = on ] && mm+=(--edgegap-budget "$c" --edgegap-get-budget "$((c * 5 / 2))" --edgegap-delete-budget "$c"
        --waiting-room-max "$LAUNCH_LINE_MAX" --max-line-wait-ms "$((front_s * 1000))")
    log "launch (budget $budget): $players players at $rate/s for ${LAUNCH_PEAK}s against $c creates/s," \
        "$LAUNCH_REPLICAS replicas, kill -9 matchmaker-2 at ${kill_at}s"
    mkdir -p "$dir"
    STACK_WEBHOOKS=1
    STACK_FRONT_FLAGS=(--matchmaker-timeout-ms "$((front_s * 1000))" --request-timeout-ms "$((front_s * 1000 + 5000))")
    stack_start "split$LAUNCH_REPLICAS" "${sim[@]}" -- "${mm[@]}"
    STACK_WEBHOOKS=0
    STACK_FRONT_FLAGS=()
    (while :; do printf '{"t":%s,"sim":%s}\n' "$(date +%s.%N)" "$(sim_sample)"; sleep 1; done) >"$dir/sim-samples.jsonl" &
    local sampler=$!
    HELPER_PIDS+=("$sampler")
    local t0 t_kill="" t_end rc=0
    t0=$(date +%s.%N)
    "$BIN"/mm_bench --url "$STACK_URL" --no-progress --rate-curve "0s:$rate,${LAUNCH_PEAK}s:$rate" --fluid-ceiling "$ceiling" \
        --timeout "$((front_s + 30))s" --requests-csv "$dir/requests.csv" --json "$dir/mm_bench.json" \
        >"$dir/mm_bench.txt" 2>&1 &
    local bench=$!
    HELPER_PIDS+=("$bench")
    local impatient_rate impatient=""
    impatient_rate=$(awk "BEGIN {print $rate * $LAUNCH_IMPATIENT / 100}")
    if [ "$LAUNCH_IMPATIENT" -gt 0 ]; then
        "$BIN"/mm_bench --url "$STACK_URL" --no-progress --rate-curve "0s:$impatient_rate,${LAUNCH_PEAK}s:$impatient_rate" \
            --timeout "${LAUNCH_PATIENCE}s" --requests-csv "$dir/impatient.csv" --json "$dir/impatient.json" \
            >"$dir/impatient.txt" 2>&1 &
        impatient=$!
        HELPER_PIDS+=("$impatient")
    fi
    if [ "$kill_at" -gt 0 ]; then
        while kill -0 "$bench" 2>/dev/null && [ "$(awk "BEGIN {print ($(date +%s.%N) - $t0 < $kill_at)}")" = 1 ]; do
            sleep 0.2
        done
        local victim
        victim=$(stack_pid matchmaker-2) || true
        if [ -n "$victim" ] && kill -0 "$bench" 2>/dev/null; then
            kill -KILL "$victim"
            wait "$victim" 2>/dev/null || true
            stack_forget matchmaker-2
            t_kill=$(date +%s.%N)
            log "  matchmaker-2 (pid $victim) killed"
        fi
    fi
    wait "$bench" || rc=$?
    [ -z "$impatient" ] || wait "$impatient" || true
    t_end=$(date +%s.%N)
    sim_sample >"$dir/sim-end-of-run.json"
    # the matchmakers may go on creating sessions for players who are gone (in split mode they do
    # not hear that a client left): the horizon starts when the creates stop (at most front_s)
    local created last_created=-1 quiet=0 waited=0
    while [ $quiet -lt 2 ] && [ $waited -lt "$front_s" ]; do
        created=$(sim_sample created)
        if [ "$created" = "$last_created" ]; then quiet=$((quiet + 1)); else quiet=0; fi
        last_created=$created
        sleep 2
        waited=$((waited + 2))
    done
    local t_quiet
    t_quiet=$(date +%s.%N)
    log "  mm_bench done (exit $rc); session creates stopped ${waited}s later; waiting ${LAUNCH_HORIZON_S}s, the reaper's horizon"
    sleep "$LAUNCH_HORIZON_S"
    # then as long as the live sessions still fall (the deleter works through its backlog at the
    # DELETE budget, or against Edgegap's 429s without it), 10 s at a time, at most 10 minutes more:
    # what stays live after that is leaked, not late
    local live last_live horizon=$LAUNCH_HORIZON_S
    last_live=$(sim_sample live)
    while [ "$last_live" -gt 0 ] && [ $horizon -lt $((LAUNCH_HORIZON_S + 600)) ]; do
        sleep 10
        horizon=$((horizon + 10))
        live=$(sim_sample live)
        [ "$live" -lt "$last_live" ] || break
        last_live=$live
    done
    [ $horizon -eq $LAUNCH_HORIZON_S ] || log "  the live sessions fell until ${horizon}s after the creates stopped"
    sim_sample >"$dir/sim-after-horizon.json"
    sim_sample ids >"$dir/live-after-horizon.json"
    kill -TERM "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
    stack_alive || log "warning: a process of the launch stack exited (see above)"
    printf '{"t_creates_stopped":%s,"budget":"%s","impatient_pct":%s,"patience_s":%s,"players_ceiling":%s,"gets_per_session":%s,"ceiling":%s,"factor":%s,"peak_s":%s,"players":%s,"replicas":%s,"line_max":%s,"t0":%s,"t_kill":%s,"t_end":%s,"horizon_s":%s,"mm_bench_rc":%s,"sim_flags":"%s","mm_flags":"%s"}\n' \
        "$t_quiet" "$budget" "$LAUNCH_IMPATIENT" "$LAUNCH_PATIENCE" "$ceiling" "$LAUNCH_GETS" "$c" "$LAUNCH_FACTOR" "$LAUNCH_PEAK" "$players" "$LAUNCH_REPLICAS" "$LAUNCH_LINE_MAX" "$t0" \
        "${t_kill:-null}" "$t_end" "$horizon" "$rc" "${sim[*]}" "${mm[*]} | front: --matchmaker-timeout-ms $((front_s * 1000))" \
        >"$dir/launch.json"
    stack_stop
    grep -h -e 'provisioner: .* sessions polled with' -e 'budget: .* waiting room:' "$STACK_DIR"/logs/bevygap_matchmaker-*.log \
        >"$dir/mm-stats.txt" || true
    cp -r "$STACK_DIR/logs" "$dir/logs" 2>/dev/null || true
    [ $rc -le 1 ] || { echo "baseline: mm_bench failed (exit $rc):" >&2; tail -3 "$dir/mm_bench.txt" >&2; return 1; }
}
if wants launch; then
    launch_check
    for m in ${LAUNCH_MODES//,/ }; do launch_point "$m"; done
    python3 "$ROOT/bench/launch_report.py" "$RESULTS/launch" | tee "$RESULTS/launch/report.md"
fi

# ---- the report -----------------------------------------------------------------------------------
log "writing the report"
cat /proc/loadavg >"$RESULTS/loadavg_end"
echo $(($(date +%s) - START_S)) >"$RESULTS/elapsed_s"
doc_arg=()
case $DOC in /*) ;; *) DOC="$ROOT/$DOC" ;; esac
if wants 1 && wants 2 && wants 3 && wants 4 && wants 5; then doc_arg=(--doc "$DOC"); fi
if wants 1 || wants 2 || wants 3 || wants 4 || wants 5; then $REPORT report "$RESULTS" "${doc_arg[@]}"; fi
log "done: results in $RESULTS${doc_arg:+, ${doc_arg[1]}}"
