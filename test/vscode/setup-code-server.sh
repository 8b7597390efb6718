#!/usr/bin/env bash
# Installs what the in-VS-Code tests need on a fresh Debian 12 machine: the Debian packages
# (gssapi headers for code-server's native kerberos module, ripgrep, Chromium) and code-server
# itself, pinned, into .vscode-test/code-server/ (git-ignored). Idempotent: when everything is
# there it only checks and exits 0. See ../shared/VSCODE_TESTING.md for why each step exists.
#
# Environment: UNICORN_APT_UPDATED=1 skips `apt-get update` (.ci/run has just run it).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
CODE_SERVER_VERSION=4.100.3
# The @vscode/ripgrep that code-server 4.100.3 depends on, and the ripgrep release its postinstall fetches.
VSCODE_RIPGREP_VERSION=1.15.11
RIPGREP_RELEASE=v13.0.0-10
INSTALL_DIR="$ROOT/.vscode-test/code-server"
BIN="$INSTALL_DIR/node_modules/.bin/code-server"
PACKAGES=(libkrb5-dev ripgrep chromium)

log() { echo "setup-code-server: $*"; }

# --- Debian packages -------------------------------------------------------------------------
missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg -s "$pkg" 2>/dev/null | grep -q '^Status: install ok installed$'; then
    missing+=("$pkg")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup-code-server: missing Debian packages: ${missing[*]} — install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if [ "${UNICORN_APT_UPDATED:-}" != 1 ]; then
    apt-get update -q </dev/null
  fi
  apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
fi

# --- code-server -------------------------------------------------------------------------------
installed_version() {
  node -p "require('$INSTALL_DIR/node_modules/code-server/package.json').version" 2>/dev/null || true
}
# The marker is written only after a complete install, so an interrupted one is redone.
if [ -x "$BIN" ] && [ -f "$INSTALL_DIR/.installed" ] && [ "$(installed_version)" = "$CODE_SERVER_VERSION" ]; then
  exit 0
fi

# @vscode/ripgrep's postinstall downloads ripgrep from GitHub, which these machines cannot reach.
# It first looks for a cached release archive in the OS temp dir: put Debian's rg there.
case "$(uname -m)" in
  x86_64) RG_TARGET=x86_64-unknown-linux-musl ;;
  aarch64) RG_TARGET=aarch64-unknown-linux-musl ;;
  *) echo "setup-code-server: no ripgrep target known for $(uname -m)" >&2; exit 1 ;;
esac
RG_CACHE_DIR="$(node -p "require('os').tmpdir()")/vscode-ripgrep-cache-$VSCODE_RIPGREP_VERSION"
RG_ARCHIVE="$RG_CACHE_DIR/ripgrep-$RIPGREP_RELEASE-$RG_TARGET.tar.gz"
if [ ! -s "$RG_ARCHIVE" ]; then
  mkdir -p "$RG_CACHE_DIR"
  staging="$(mktemp -d)"
  cp "$(command -v rg)" "$staging/rg"
  tar -czf "$RG_ARCHIVE.tmp" -C "$staging" rg
  mv "$RG_ARCHIVE.tmp" "$RG_ARCHIVE"
  rm -rf "$staging"
fi

log "installing code-server $CODE_SERVER_VERSION into ${INSTALL_DIR#"$ROOT"/} (about a minute)"
rm -rf "$INSTALL_DIR"
mkdir -p "$INSTALL_DIR"
# Its own package.json, else npm would install into the enclosing project.
cat >"$INSTALL_DIR/package.json" <<JSON
{ "name": "unicorn-code-server", "private": true, "description": "code-server for the in-VS-Code tests (test/vscode/setup-code-server.sh)" }
JSON
started=$SECONDS
# npm_config_yes: node-pty's install runs `npx node-gyp`. nodedir: native builds use the
# headers of Debian's Node rather than downloading them.
(
  cd "$INSTALL_DIR"
  npm_config_yes=true npm_config_nodedir=/usr npm install "code-server@$CODE_SERVER_VERSION" \
    --unsafe-perm --no-audit --no-fund --no-package-lock --loglevel=error </dev/null
)
if [ ! -x "$BIN" ] || [ "$(installed_version)" != "$CODE_SERVER_VERSION" ]; then
  echo "setup-code-server: code-server $CODE_SERVER_VERSION did not install into $INSTALL_DIR — see npm's output above" >&2
  exit 1
fi
"$BIN" --version >/dev/null
touch "$INSTALL_DIR/.installed"
log "code-server $CODE_SERVER_VERSION installed in $((SECONDS - started)) s"
