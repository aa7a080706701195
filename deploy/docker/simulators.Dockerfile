# syntax=docker/dockerfile:1
#
# The local demo's stand-ins (docs/edgegap_sim.md, docs/gameserver_sim.md): edgegap_sim (the
# Edgegap API) and gameserver_sim (every game server and, with --auto, its players). For
# deploy/compose/docker-compose.demo.yaml only; never deploy them next to a real Edgegap account.
# Build from the repository root:
#
#   docker build -f deploy/docker/simulators.Dockerfile -t bevygap-simulators .
#
# Pick the program with --entrypoint or the compose file's entrypoint (default edgegap_sim).

# ---- build: Debian 12's -dev packages, CMake, only the targets we ship ----
FROM debian:bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config \
      libnats-dev libh2o-evloop-dev libwslay-dev libck-dev libsodium-dev libjansson-dev libcurl4-openssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo \
 && cmake --build /build -j "$(nproc)" --target edgegap_sim gameserver_sim

# ---- runtime: the shared libraries both programs need, and curl for the health check ----
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates libnats3.4 libh2o-evloop0.13 libcurl4 libjansson4 libsodium23 libck0 curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 sim \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin sim
COPY --from=build /build/edgegap_sim /build/gameserver_sim /usr/local/bin/
USER 10001:10001
EXPOSE 8800
STOPSIGNAL SIGTERM
# For edgegap_sim, the default program. gameserver_sim listens on no port: the demo's compose
# file disables the check for it.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD curl -fsS --max-time 2 http://127.0.0.1:8800/__sim/stats >/dev/null || exit 1
ENTRYPOINT ["/usr/local/bin/edgegap_sim"]
CMD ["--listen", "0.0.0.0:8800"]
