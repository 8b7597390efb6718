#!/usr/bin/env bash
# Makes sure this machine has the Debian packages the tests need; installs only what is missing.
# Idempotent: with everything present it only runs `dpkg -s` and exits 0.
set -euo pipefail

PACKAGES=(python3-flask python3-django python3-gunicorn python3-debugpy wrk openssl)

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
apt-get install -y -q "${missing[@]}" </dev/null
