#!/usr/bin/env bash
# Installs every build, run and test dependency from Debian 12 packages.
# Idempotent: when everything is present it only runs dpkg-query and exits.
# prometheus gives /usr/bin/prometheus and /usr/bin/promtool for the metrics tests (tests/deploy)
# and `make run` with MM_PROMETHEUS=1; its daemon is not started (below).
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config ca-certificates curl
  libnats-dev nats-server
  libh2o-evloop-dev libwslay-dev
  libck-dev libsodium-dev libjansson-dev libcurl4-openssl-dev
  python3 clang libclang-rt-14-dev
  gnuplot-nox libssl-dev
  chromium
  yamllint docker-compose linux-perf
  prometheus
)
# kubectl renders and checks the Kubernetes manifests offline (tests/deploy); a machine that has
# one from elsewhere keeps it (another package may own /usr/bin/kubectl).
if ! command -v kubectl >/dev/null 2>&1; then PKGS+=(kubernetes-client); fi
# Node.js and npm run the headless-browser tests (playwright-core). A machine that has them from
# elsewhere (e.g. NodeSource's nodejs package, which includes npm) keeps them.
if ! command -v node >/dev/null 2>&1; then PKGS+=(nodejs); fi
if ! command -v npm >/dev/null 2>&1; then PKGS+=(npm); fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
# The project starts its own servers on its own ports; a package's daemon started by the install
# (the prometheus package's init script would start one on :9090, make run's admin port) must
# not. Where the machine has no policy-rc.d, one that denies every start is in place for the
# install only.
POLICY=/usr/sbin/policy-rc.d
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\n# written by deploy/install-deps.sh for one install\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
  $SUDO chmod 755 "$POLICY"
  trap '$SUDO rm -f "$POLICY"' EXIT
fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# ...nor start at the next boot: the package enables its service; we only need the programs.
if [[ " ${missing[*]} " == *" prometheus "* ]]; then
  if [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now prometheus.service >/dev/null 2>&1 || true
  elif [ -x /etc/init.d/prometheus ]; then
    $SUDO update-rc.d prometheus disable >/dev/null 2>&1 || true
  fi
fi
