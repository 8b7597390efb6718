#!/usr/bin/env bash
# Makes sure this machine has the Debian packages the tests need; installs only what is missing.
# Idempotent: with everything present it only runs `dpkg -s` and exits 0.
set -euo pipefail

# The peers the tests compare with (gunicorn, h11, uvicorn, hypercorn, nginx), the frameworks real
# projects use (Flask, Django, Starlette, FastAPI, Quart), and what the tests drive them with.
PACKAGES=(
  python3-flask python3-django python3-gunicorn python3-debugpy wrk openssl
  python3-hypothesis python3-h11
  python3-starlette python3-fastapi python3-quart python3-websockets
  python3-uvicorn python3-hypercorn python3-uvloop python3-httptools python3-gevent
  python3-prometheus-client python3-dotenv python3-yaml nginx systemd
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  # dpkg -s also knows removed-but-configured packages; only "install ok installed" counts.
  if ! dpkg -s "$pkg" 2>/dev/null | grep -q '^Status: install ok installed$'; then
    missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "setup-deps: missing Debian packages: ${missing[*]} — install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi

echo "setup-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# .ci/run has just updated the lists; do not do it twice.
if [ "${UNICORN_APT_UPDATED:-}" != 1 ]; then
  apt-get update -q </dev/null
fi
# Wait for another apt/dpkg run (a second checkout setting up) instead of failing on its lock.
apt-get install -y -q -o DPkg::Lock::Timeout=600 "${missing[@]}" </dev/null
