# syntax=docker/dockerfile:1
#
# bevygap_matchmaker: serves session requests over NATS, creates Edgegap sessions, mints
# Lightyear connect tokens (docs/matchmaker.md, docs/DEPLOY.md). Build from the repository root:
#
#   docker build -f deploy/docker/matchmaker.Dockerfile -t bevygap-matchmaker .
#
# Run it with the NATS environment (NATS_HOST, NATS_USER, NATS_PASSWORD, NATS_CA or
# NATS_INSECURE), EDGEGAP_API_KEY, and the Lightyear key as a file
# (--lightyear-private-key-file /run/secrets/...) or as LIGHTYEAR_PRIVATE_KEY: never on the
# command line, where ps and the container's spec show it.
#
# Stopping: SIGTERM makes the matchmaker leave its queue groups at once (new requests go to the
# other replicas) and gives the requests in flight --stop-deadline-ms to finish. Keep that
# deadline shorter than the orchestrator's grace period: we use 20000 ms against 30 s
# (compose stop_grace_period: 30s, Kubernetes terminationGracePeriodSeconds: 30); Docker's
# own default grace is only 10 s (docker run --stop-timeout 30).

# ---- build: Debian 12's -dev packages, CMake, only the target we ship ----
FROM debian:bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config \
      libnats-dev libh2o-evloop-dev libwslay-dev libck-dev libsodium-dev libjansson-dev libcurl4-openssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo \
 && cmake --build /build -j "$(nproc)" --target bevygap_matchmaker

# ---- runtime: the shared libraries the program needs, nothing else ----
FROM debian:bookworm-slim
# libh2o-evloop0.13 and libssl3: the optional all-in-one web front (--http).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates libnats3.4 libcurl4 libjansson4 libsodium23 libck0 libh2o-evloop0.13 libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 matchmaker \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin matchmaker
COPY --from=build /build/bevygap_matchmaker /usr/local/bin/bevygap_matchmaker
USER 10001:10001
STOPSIGNAL SIGTERM
# No HEALTHCHECK: without --http the matchmaker listens on no port, and a check that the process
# runs says nothing Docker does not know already (the container ends when it does). Its health is
# its NATS connection (logged on every disconnect and reconnect) and, for the fleet, the web
# front's /readyz and "no responders" counts. With --http ADDR, check http://ADDR/healthz in the
# compose file or the Kubernetes probes instead.
HEALTHCHECK NONE
ENTRYPOINT ["/usr/local/bin/bevygap_matchmaker"]
CMD ["--stop-deadline-ms", "20000"]
