#!/usr/bin/env bash
# Prints the path of a Python interpreter that has hack/requirements.txt installed (Helm 4's SDK,
# PyYAML, pytest), creating or updating a virtualenv for it first. Also makes sure `lua5.4` is
# installed (the Argo CD health-check tests run the Lua scripts). Idempotent and safe to run
# from parallel test processes (one at a time under a lock).
#
#   "$(hack/python-env.sh)" hack/helm.py lint
#
# Environment: HTX_CACHE_DIR (default ~/.cache/htx-operator) holds the virtualenv.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE_DIR=${HTX_CACHE_DIR:-${HOME:-/root}/.cache/htx-operator}
VENV="$CACHE_DIR/python-venv"
REQUIREMENTS=hack/requirements.txt

log() { printf '==> %s\n' "$*" >&2; }
die() {
  printf 'python-env: error: %s\n' "$*" >&2
  exit 1
}

# shellcheck source=hack/packages.sh
source hack/packages.sh

mkdir -p "$CACHE_DIR"
exec 7>"$CACHE_DIR/python-env.lock"
flock 7

command -v lua5.4 >/dev/null || apt_install lua5.4

PYTHON=$(command -v python3) || {
  apt_install python3 python3-venv
  PYTHON=$(command -v python3)
}
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv

# Every installed file still matches the hash pip recorded for it: a cache restored without its
# large files (Helm's 85 MB library) is installed again, not loaded and crashed on.
venv_intact() {
  "$VENV/bin/python" - "$REQUIREMENTS" <<'PY' 2>/dev/null
import base64, hashlib, re, sys
from importlib import metadata

for line in open(sys.argv[1]):
    requirement = re.match(r"\s*([A-Za-z0-9_.-]+)==", line)
    if not requirement:
        continue
    for file in metadata.distribution(requirement.group(1)).files or []:
        if file.hash is None or file.hash.mode != "sha256":
            continue
        digest = hashlib.sha256(file.locate().read_bytes()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != file.hash.value:
            sys.exit(1)
PY
}

stamp="$VENV/.requirements.sha256"
want=$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)
if [[ ! -x $VENV/bin/python || ! -f $stamp || $(<"$stamp") != "$want" ]] || ! venv_intact; then
  log "preparing the Python environment in $VENV ($REQUIREMENTS)"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV" || die "cannot create a virtualenv with $PYTHON"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS" >&2 ||
    die "pip install -r $REQUIREMENTS failed"
  echo "$want" >"$stamp"
fi
echo "$VENV/bin/python"
