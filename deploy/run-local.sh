#!/usr/bin/env bash
# The local stack (`make run`): builds, then starts nats-server with JetStream, the Edgegap
# simulator and the game-server simulator on loopback, prints every address, and stays in the
# foreground. Ctrl-C (or SIGTERM) stops everything it started; nothing is left running.
#
# The matchmaker and its web front join this script with the issues that build them.
#
# Overridable by environment: MM_NATS_PORT (4222), MM_EDGEGAP_PORT (8800),
# MM_PROTOCOL_ID (80085), MM_PRIVATE_KEY (the seed's key), MM_RUN_DIR (.run).
set -euo pipefail
cd "$(dirname "$0")/.."

NATS_PORT=${MM_NATS_PORT:-4222}
EDGEGAP_PORT=${MM_EDGEGAP_PORT:-8800}
PROTOCOL_ID=${MM_PROTOCOL_ID:-80085}
PRIVATE_KEY=${MM_PRIVATE_KEY:-'1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1'}
RUN_DIR=${MM_RUN_DIR:-.run}
API_KEY='token local-dev-key'

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" >/dev/null

NATS_SERVER=$(command -v nats-server || echo /usr/sbin/nats-server)
mkdir -p "$RUN_DIR/nats" "$RUN_DIR/logs"

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$NATS_PORT" "$EDGEGAP_PORT"; do
    if port_busy "$p"; then
        echo "run-local: port $p on 127.0.0.1 is already in use (set MM_NATS_PORT / MM_EDGEGAP_PORT)" >&2
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

wait_port() { # port name
    for _ in $(seq 100); do
        port_busy "$1" && return 0
        sleep 0.1
    done
    echo "run-local: $2 did not start; see $RUN_DIR/logs/$2.log" >&2
    exit 1
}

"$NATS_SERVER" -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$RUN_DIR/nats" >"$RUN_DIR/logs/nats-server.log" 2>&1 &
pids+=($!)
wait_port "$NATS_PORT" nats-server

build/edgegap_sim --listen "127.0.0.1:$EDGEGAP_PORT" --api-key "$API_KEY" \
    --app bevygap-spaceships --app-version 1 >"$RUN_DIR/logs/edgegap_sim.log" 2>&1 &
pids+=($!)
wait_port "$EDGEGAP_PORT" edgegap_sim

export NATS_HOST="127.0.0.1:$NATS_PORT" NATS_INSECURE=1
MM_PRIVATE_KEY="$PRIVATE_KEY" build/gameserver_sim --edgegap-sim "http://127.0.0.1:$EDGEGAP_PORT" \
    --protocol-id "$PROTOCOL_ID" --private-key-env MM_PRIVATE_KEY --auto \
    >"$RUN_DIR/logs/gameserver_sim.log" 2>&1 &
pids+=($!)

cat <<TXT
run-local: the local stack is up (logs in $RUN_DIR/logs/):
  nats-server     nats://127.0.0.1:$NATS_PORT  (JetStream, data in $RUN_DIR/nats)
  edgegap_sim     http://127.0.0.1:$EDGEGAP_PORT  (EDGEGAP_API_KEY='$API_KEY', app bevygap-spaceships version 1)
  gameserver_sim  NATS subjects gameserver_sim.connect / gameserver_sim.disconnect (auto mode on)

Try the Edgegap API (docs/edgegap_sim.md):
  curl -s -H 'authorization: $API_KEY' -H 'content-type: application/json' \\
       -d '{"app_name":"bevygap-spaceships","version_name":"1","ip_list":["81.128.157.100"]}' \\
       http://127.0.0.1:$EDGEGAP_PORT/v1/session

The matchmaker (bevygap_matchmaker) and its web front on http://localhost:3000 arrive with
the next issues. Press Ctrl-C to stop everything.
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
