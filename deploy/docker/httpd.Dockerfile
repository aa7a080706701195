# syntax=docker/dockerfile:1
#
# bevygap_matchmaker_httpd: the web front game clients talk to (WebSocket /matchmaker/ws, POST
# /matchmaker/request/..., /matchmaker/wannaplay), passing requests to the matchmaker over NATS
# (docs/DEPLOY.md). Build from the repository root:
#
#   docker build -f deploy/docker/httpd.Dockerfile -t bevygap-matchmaker-httpd .
#
# Listens on 0.0.0.0:3000 (--bind) for clients and on 0.0.0.0:9090 (--admin-bind) for /healthz
# (the process serves), /readyz (NATS is connected and requests can be passed on; 503 from
# SIGTERM on) and /metrics (Prometheus text): the admin listener is outside the client
# connection limits, so a flood of clients cannot fail the health check. The client port serves
# those three pages too. A CMD of your own without --admin-bind: set MM_HEALTHCHECK_URL to
# http://127.0.0.1:3000/healthz.
#
# Stopping: on SIGTERM the front refuses new connections at once and gives the ones in flight
# --stop-deadline-ms to finish. Keep it shorter than the orchestrator's grace period: 20000 ms
# against 30 s (compose stop_grace_period: 30s; Kubernetes terminationGracePeriodSeconds: 30, of
# which a 5 s preStop pause lets the load balancer forget the pod before SIGTERM arrives).

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
 && cmake --build /build -j "$(nproc)" --target bevygap_matchmaker_httpd

# ---- runtime: the shared libraries the program needs, and curl for the health check ----
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates libnats3.4 libh2o-evloop0.13 libjansson4 libsodium23 libck0 libssl3 curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 httpd \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin httpd
COPY --from=build /build/bevygap_matchmaker_httpd /usr/local/bin/bevygap_matchmaker_httpd
USER 10001:10001
EXPOSE 3000 9090
STOPSIGNAL SIGTERM
# Liveness only: /healthz answers while the event loop runs. Readiness (/readyz) is for load
# balancers: a front without NATS is alive but must not get traffic.
ENV MM_HEALTHCHECK_URL=http://127.0.0.1:9090/healthz
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD curl -fsS --max-time 2 "$MM_HEALTHCHECK_URL" >/dev/null || exit 1
ENTRYPOINT ["/usr/local/bin/bevygap_matchmaker_httpd"]
CMD ["--bind", "0.0.0.0:3000", "--admin-bind", "0.0.0.0:9090", "--stop-deadline-ms", "20000"]
