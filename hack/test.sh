#!/usr/bin/env bash
# The project's test command: cheap checks, then every test against a real
# Kubernetes control plane.
#
# On a fresh Debian 12 machine it installs what it needs (the first run builds
# Kubernetes 1.20.2 once, see hack/local-cluster.sh, and a current API server for
# the CRDs, see hack/current-apiserver.sh), brings up a control plane in
# .e2e/cluster and that server in .e2e/current, runs the tests against them and
# always stops them again.
# With HTX_E2E_KUBECONFIG set (kind, k3d, a real cluster) it uses that cluster.
# Arguments go to the test runner: `hack/test.sh control_plane` runs only those.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=hack/packages.sh
source hack/packages.sh

# The operator's allocator, jemalloc, is built from its C source.
apt_install make gcc

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

CLUSTER_DIR="$PWD/.e2e/cluster"
# The current API server for the CRDs' own tests (tests/admission.rs), unless one is given.
CURRENT_DIR="$PWD/.e2e/current"
started=()
stop_servers() {
  local rc=$? dir
  trap - EXIT
  for dir in "${started[@]}"; do
    if [[ $dir == "$CLUSTER_DIR" ]]; then
      hack/local-cluster.sh down "$dir" || true
    else
      hack/current-apiserver.sh down "$dir" || true
    fi
    if [[ $rc -ne 0 ]]; then
      log "logs kept in $dir/*.log"
    fi
  done
  exit "$rc"
}
trap stop_servers EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
if [[ -n ${HTX_E2E_KUBECONFIG:-} && ${HTX_E2E_KUBECONFIG} != "$CLUSTER_DIR/kubeconfig" ]]; then
  log "using the cluster of HTX_E2E_KUBECONFIG=$HTX_E2E_KUBECONFIG"
  hack/local-cluster.sh up "$CLUSTER_DIR" # only checks that it answers
else
  hack/local-cluster.sh build
  started+=("$CLUSTER_DIR")
  hack/local-cluster.sh up "$CLUSTER_DIR"
  export HTX_E2E_KUBECONFIG="$CLUSTER_DIR/kubeconfig"
fi
if [[ -n ${HTX_CURRENT_KUBECONFIG:-} && ${HTX_CURRENT_KUBECONFIG} != "$CURRENT_DIR/kubeconfig" ]]; then
  log "using the API server of HTX_CURRENT_KUBECONFIG=$HTX_CURRENT_KUBECONFIG"
else
  log "a current API server for the CRDs (hack/current-apiserver.sh; the first run builds it)"
  started+=("$CURRENT_DIR")
  hack/current-apiserver.sh up "$CURRENT_DIR"
  export HTX_CURRENT_KUBECONFIG="$CURRENT_DIR/kubeconfig"
fi

# Helm 4's SDK, PyYAML, pytest and lua5.4: for the chart tests below and tests/install_e2e.rs.
log "Python environment for the chart tests (hack/python-env.sh)"
PYTHON=$(hack/python-env.sh)

# The operator's image, for tests/image_e2e.rs: checked, and the chart's pod run from it with
# runc (needs root). Built here once (a static release build); with a filter, those tests build
# their own when selected.
apt_install umoci runc
if [[ $# -eq 0 ]]; then
  log "hack/image.sh .e2e/image (the operator's image)"
  hack/image.sh .e2e/image >/dev/null
  export HTX_E2E_IMAGE="$PWD/.e2e/image"
fi

status=0
if cargo nextest --version >/dev/null 2>&1; then
  # Benchmarks are run by hand (cargo bench), not as tests.
  log "cargo nextest run --workspace --lib --bins --tests"
  cargo nextest run --workspace --lib --bins --tests --no-fail-fast "$@" || status=$?
else
  log "cargo test --workspace (cargo-nextest not installed)"
  cargo test --workspace --no-fail-fast "$@" || status=$?
fi

if [[ $# -eq 0 ]]; then
  log "pytest tests/chart tests/hack (Helm chart, kustomize, helm install, Argo CD health checks; the hack scripts)"
  PYTHONDONTWRITEBYTECODE=1 "$PYTHON" -m pytest -p no:cacheprovider tests/chart tests/hack || status=$?
else
  log "a test filter was given: the Python tests (pytest tests/chart tests/hack) are left out"
fi
exit "$status"
