# syntax=docker/dockerfile:1
#
# The operator's tools: mm_bench, the load-test tool for /matchmaker/ws (docs/mm_bench.md). Used
# by the load-test Job of deploy/k8s/loadtest (N pods, one result each, merged with
# `mm_bench merge` on a workstation) or by hand next to a deployment. Build from the
# repository root:
#
#   docker build -f deploy/docker/tools.Dockerfile -t bevygap-tools .
#
# No gnuplot here: --plot is drawn where the results are merged.

# ---- build: Debian 12's -dev packages, CMake, only the targets we ship ----
FROM debian:bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config \
      libnats-dev libh2o-evloop-dev libwslay-dev libck-dev libsodium-dev libjansson-dev libcurl4-openssl-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo \
 && cmake --build /build -j "$(nproc)" --target mm_bench

# ---- runtime: the shared libraries mm_bench needs (the SHA-1 of the WebSocket accept key is libcrypto's) ----
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libjansson4 libsodium23 libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 tools \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin tools
COPY --from=build /build/mm_bench /usr/local/bin/
USER 10001:10001
# SIGTERM ends a run early and mm_bench still writes its table and --json (requests in flight
# count as interrupted).
STOPSIGNAL SIGTERM
# A load test is a batch program with no port to ask: its exit status is its health.
HEALTHCHECK NONE
ENTRYPOINT ["/usr/local/bin/mm_bench"]
CMD ["--help"]
