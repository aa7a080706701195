#!/usr/bin/env bash
# The local stack (`make run`): builds, then starts on loopback nats-server with JetStream and the
# reference's local users, the Edgegap simulator, the game-server simulator, bevygap_matchmaker
# with the seed's flags and bevygap_matchmaker_httpd --cors http://127.0.0.1; prints every
# address and stays in the foreground. Ctrl-C (or SIGTERM) stops everything it started; nothing
# is left running.
#
# NATS users (as the reference's local setup): matchmaker, matchmaker_httpd and gameserver, each
# with its own name as password; TLS off on loopback (NATS_INSECURE=1).
#
# Overridable by environment (or as `make run NAME=value`): MM_NATS_PORT (4222), MM_EDGEGAP_PORT
# (8800), MM_HTTP_PORT (3000), MM_ADMIN_PORT (9090: the web front's /healthz, /readyz, /metrics),
# MM_MATCHMAKER_ADMIN_PORT (MM_ADMIN_PORT + 1: the matchmaker's own; 0: none),
# MM_PROTOCOL_ID (80085), MM_PRIVATE_KEY (the seed's key), MM_RUN_DIR (.run), extra flags for each
# service: MM_MATCHMAKER_ARGS, MM_HTTPD_ARGS, MM_EDGEGAP_ARGS, MM_GAMESERVER_ARGS (each a list of
# flags, split on spaces); MM_SKIP_BUILD=1 (use the programs as they are), MM_BUILD_DIR (build;
# tests point it at their own build tree). The private key reaches the matchmaker and the game
# server simulator through their environment (LIGHTYEAR_PRIVATE_KEY, MM_PRIVATE_KEY), never on
# a command line, so `ps` does not show it.
# Readiness by webhook (docs/matchmaker.md): a fresh random secret each start (48 hex digits from
# /dev/urandom) goes by environment (MM_WEBHOOK_SECRET) to bevygap_matchmaker, which sends
# Edgegap (the simulator) webhook_url http://127.0.0.1:$MM_HTTP_PORT/matchmaker/edgegap-webhook/<secret>,
# and to bevygap_matchmaker_httpd, which receives those calls; MM_WEBHOOKS=0 turns them off
# (polling every 200 ms, as the reference).
set -euo pipefail
cd "$(dirname "$0")/.."

NATS_PORT=${MM_NATS_PORT:-4222}
EDGEGAP_PORT=${MM_EDGEGAP_PORT:-8800}
HTTP_PORT=${MM_HTTP_PORT:-3000}
ADMIN_PORT=${MM_ADMIN_PORT:-9090}
MATCHMAKER_ADMIN_PORT=${MM_MATCHMAKER_ADMIN_PORT:-$((ADMIN_PORT + 1))}
PROTOCOL_ID=${MM_PROTOCOL_ID:-80085}
PRIVATE_KEY=${MM_PRIVATE_KEY:-'1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1'}
RUN_DIR=${MM_RUN_DIR:-.run}
mkdir -p "$RUN_DIR" && RUN_DIR=$(cd "$RUN_DIR" && pwd)
API_KEY='token local-dev-key'
WEBHOOK_ARGS=()
if [ "${MM_WEBHOOKS:-1}" != 0 ]; then
    MM_WEBHOOK_SECRET=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
    export MM_WEBHOOK_SECRET
    WEBHOOK_ARGS=(--webhook-public-url "http://127.0.0.1:$HTTP_PORT")
fi

BIN=${MM_BUILD_DIR:-build}
if [ "${MM_SKIP_BUILD:-0}" != 1 ]; then
    cmake -S . -B "$BIN" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$BIN" -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
fi

NATS_SERVER=$(command -v nats-server || echo /usr/sbin/nats-server)
mkdir -p "$RUN_DIR/nats" "$RUN_DIR/logs"

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
MATCHMAKER_ADMIN_ARGS=()
[ "$MATCHMAKER_ADMIN_PORT" != 0 ] && MATCHMAKER_ADMIN_ARGS=(--admin-bind "127.0.0.1:$MATCHMAKER_ADMIN_PORT")
for p in "$NATS_PORT" "$EDGEGAP_PORT" "$HTTP_PORT" "$ADMIN_PORT" ${MATCHMAKER_ADMIN_ARGS[@]+"$MATCHMAKER_ADMIN_PORT"}; do
    if port_busy "$p"; then
        echo "run-local: port $p on 127.0.0.1 is already in use (set MM_NATS_PORT / MM_EDGEGAP_PORT / MM_HTTP_PORT / MM_ADMIN_PORT / MM_MATCHMAKER_ADMIN_PORT)" >&2
        exit 1
    fi
done

pids=()
stop_all() {
    trap - INT TERM EXIT
    echo
    echo "run-local: stopping ${#pids[@]} processes"
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}
trap 'stop_all; exit 0' INT TERM
trap stop_all EXIT

wait_port() { # port name: the last process started must listen on port within 30 s
    for _ in $(seq 300); do
        port_busy "$1" && return 0
        kill -0 "${pids[-1]}" 2>/dev/null || break
        sleep 0.1
    done
    echo "run-local: $2 did not start; the end of $RUN_DIR/logs/$2.log:" >&2
    tail -5 "$RUN_DIR/logs/$2.log" >&2
    exit 1
}

cat >"$RUN_DIR/nats.conf" <<CONF
# written by deploy/run-local.sh: the reference's local users (each its own name as password)
listen: 127.0.0.1:$NATS_PORT
jetstream { store_dir: "$RUN_DIR/nats" }
authorization {
  users: [
    { user: matchmaker, password: matchmaker }
    { user: matchmaker_httpd, password: matchmaker_httpd }
    { user: gameserver, password: gameserver }
  ]
}
CONF
"$NATS_SERVER" -c "$RUN_DIR/nats.conf" >"$RUN_DIR/logs/nats-server.log" 2>&1 &
pids+=($!)
wait_port "$NATS_PORT" nats-server

# shellcheck disable=SC2086 # MM_*_ARGS are lists of flags
"$BIN"/edgegap_sim --listen "127.0.0.1:$EDGEGAP_PORT" --api-key "$API_KEY" \
    --app bevygap-spaceships --app-version 1 ${MM_EDGEGAP_ARGS:-} >"$RUN_DIR/logs/edgegap_sim.log" 2>&1 &
pids+=($!)
wait_port "$EDGEGAP_PORT" edgegap_sim

export NATS_HOST="127.0.0.1:$NATS_PORT" NATS_INSECURE=1
NATS_USER=gameserver NATS_PASSWORD=gameserver MM_PRIVATE_KEY="$PRIVATE_KEY" \
    "$BIN"/gameserver_sim --edgegap-sim "http://127.0.0.1:$EDGEGAP_PORT" \
    --protocol-id "$PROTOCOL_ID" --private-key-env MM_PRIVATE_KEY --auto ${MM_GAMESERVER_ARGS:-} \
    >"$RUN_DIR/logs/gameserver_sim.log" 2>&1 &
pids+=($!)

# shellcheck disable=SC2086
NATS_USER=matchmaker NATS_PASSWORD=matchmaker EDGEGAP_API_KEY="$API_KEY" LIGHTYEAR_PRIVATE_KEY="$PRIVATE_KEY" \
    "$BIN"/bevygap_matchmaker --app-name bevygap-spaceships --app-version 1 \
    --lightyear-protocol-id "$PROTOCOL_ID" \
    --edgegap-url "http://127.0.0.1:$EDGEGAP_PORT" ${WEBHOOK_ARGS[@]+"${WEBHOOK_ARGS[@]}"} \
    ${MATCHMAKER_ADMIN_ARGS[@]+"${MATCHMAKER_ADMIN_ARGS[@]}"} ${MM_MATCHMAKER_ARGS:-} \
    >"$RUN_DIR/logs/bevygap_matchmaker.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do
    grep -q "matchmaker ready" "$RUN_DIR/logs/bevygap_matchmaker.log" && break
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
done
if ! grep -q "matchmaker ready" "$RUN_DIR/logs/bevygap_matchmaker.log"; then
    echo "run-local: bevygap_matchmaker did not start:" >&2
    tail -5 "$RUN_DIR/logs/bevygap_matchmaker.log" >&2
    exit 1
fi

# shellcheck disable=SC2086
NATS_USER=matchmaker_httpd NATS_PASSWORD=matchmaker_httpd \
    "$BIN"/bevygap_matchmaker_httpd --cors http://127.0.0.1 --bind "0.0.0.0:$HTTP_PORT" \
    --admin-bind "127.0.0.1:$ADMIN_PORT" ${MM_HTTPD_ARGS:-} \
    >"$RUN_DIR/logs/bevygap_matchmaker_httpd.log" 2>&1 &
pids+=($!)
wait_port "$HTTP_PORT" bevygap_matchmaker_httpd

cat <<TXT
run-local: the local stack is up (logs in $RUN_DIR/logs/):
  web front       http://localhost:$HTTP_PORT/  (open it and press Play; WebSocket ws://localhost:$HTTP_PORT/matchmaker/ws)
  nats-server     nats://127.0.0.1:$NATS_PORT  (JetStream, data in $RUN_DIR/nats; users matchmaker,
                  matchmaker_httpd, gameserver, each with its own name as password)
  edgegap_sim     http://127.0.0.1:$EDGEGAP_PORT  (EDGEGAP_API_KEY='$API_KEY', app bevygap-spaceships version 1)
  gameserver_sim  plays the game servers and their players (auto mode)
  matchmaker      bevygap_matchmaker --app-name bevygap-spaceships --app-version 1 --lightyear-protocol-id $PROTOCOL_ID
                  ${WEBHOOK_ARGS[@]+"readiness by webhook: ${WEBHOOK_ARGS[*]} (secret in MM_WEBHOOK_SECRET)"}
  admin           http://127.0.0.1:$ADMIN_PORT/metrics  (also /healthz, /readyz; outside the client limits)
                  ${MATCHMAKER_ADMIN_ARGS[@]+"matchmaker's own: http://127.0.0.1:$MATCHMAKER_ADMIN_PORT/metrics (also /healthz, /readyz)"}

Open http://localhost:$HTTP_PORT/ and press Play. Press Ctrl-C to stop everything.
TXT

# Stay up until a child dies or we are told to stop.
while :; do
    for pid in "${pids[@]}"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "run-local: process $pid exited; see $RUN_DIR/logs/" >&2
            exit 1
        fi
    done
    sleep 1
done
