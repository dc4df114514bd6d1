#!/usr/bin/env bash
# Prints the path of a kubectl 1.20 (Debian 12's kubernetes-client, unpacked into the cache, not
# installed), whatever kubectl is on PATH. Its embedded kustomize is v2.0.3: the tests build
# config/ with it so that `kubectl apply -k` keeps working on 1.20 clients.
set -euo pipefail

CACHE_DIR=${HTX_CACHE_DIR:-${HOME:-/root}/.cache/htx-operator}
DIR="$CACHE_DIR/kubectl-1.20"
BIN="$DIR/usr/bin/kubectl"

log() { printf '==> %s\n' "$*" >&2; }

if [[ -x $BIN ]]; then
  echo "$BIN"
  exit 0
fi
# A kubectl 1.20 on PATH serves as it is.
if command -v kubectl >/dev/null && kubectl version --client 2>/dev/null | grep -q 'Minor:"20"'; then
  command -v kubectl
  exit 0
fi
mkdir -p "$CACHE_DIR"
exec 7>"$CACHE_DIR/kubectl-1.20.lock"
flock 7
if [[ ! -x $BIN ]]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  log "fetching Debian's kubernetes-client (kubectl 1.20) into $DIR"
  if ! (cd "$work" && apt-get download kubernetes-client >/dev/null 2>&1); then
    apt-get update -qq >/dev/null 2>&1 || true
    (cd "$work" && apt-get download kubernetes-client >/dev/null 2>&1) ||
      { echo "kubectl-1.20: apt-get download kubernetes-client failed" >&2; exit 1; }
  fi
  rm -rf "$DIR.tmp"
  dpkg-deb -x "$work"/kubernetes-client_*.deb "$DIR.tmp"
  rm -rf "$DIR"
  mv "$DIR.tmp" "$DIR"
fi
echo "$BIN"
