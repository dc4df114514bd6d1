#!/usr/bin/env bash
# The product end to end on this machine: a local Kubernetes control plane, the HTX, WaysCloud
# and PaaS portal simulators, the CRDs, the operator, and examples/ applied and Ready.
#
#   hack/demo.sh        bring it all up (first run: installs packages, builds Kubernetes once)
#   hack/demo.sh down   stop everything the demo started
#
# With HTX_E2E_KUBECONFIG set, that cluster is used instead of a local control plane.
set -euo pipefail
cd "$(dirname "$0")/.."

DEMO_DIR="$PWD/.e2e/demo"
CLUSTER_DIR="$DEMO_DIR/cluster"
NAMESPACE=htx-system
# The examples' namespace, and the only one the demo's operator watches: on a cluster of
# HTX_E2E_KUBECONFIG it leaves every other namespace alone.
DEMO_NS=htx-demo
TOKEN=htx_demo_full_token
WAYS_KEY=wk_demo_key
PAAS_KEY=ak_live_demo_key

step() { printf '\n==> %s\n' "$*" >&2; }
die() {
  printf 'demo: error: %s\n' "$*" >&2
  exit 1
}
log() { printf 'demo: %s\n' "$*" >&2; }
# shellcheck source=hack/packages.sh
source hack/packages.sh

stop_pid() {
  local file=$1
  [[ -f $file ]] || return 0
  local pid
  pid=$(cat "$file")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

down() {
  if [[ -n ${HTX_E2E_KUBECONFIG:-} ]]; then
    # Not our own cluster: the demo's objects go while the operator still runs to delete them.
    KUBECONFIG=$HTX_E2E_KUBECONFIG kubectl delete namespace "$DEMO_NS" --ignore-not-found \
      --timeout=120s || true
  fi
  stop_pid "$DEMO_DIR/operator.pid"
  stop_pid "$DEMO_DIR/portal.pid"
  stop_pid "$DEMO_DIR/ways.pid"
  stop_pid "$DEMO_DIR/paas.pid"
  if [[ -d $CLUSTER_DIR ]]; then
    hack/local-cluster.sh down "$CLUSTER_DIR"
    # The local cluster's objects are gone: the portal's must go too, or the next demo's objects
    # would find their names taken.
    rm -f "$DEMO_DIR/portal-state.json"
  fi
  echo "demo stopped (logs kept in $DEMO_DIR)"
}

# Creates or updates Secret NAME in NAMESPACE with KEY=VALUE.
put_secret() {
  kubectl -n "$1" create secret generic "$2" --from-literal="$3=$4" \
    --dry-run=client -o yaml | kubectl apply -f - >/dev/null
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until the log file has a line matching the pattern, or the process died.
wait_for_line() {
  local log=$1 pattern=$2 pid=$3
  for _ in $(seq 300); do
    grep -q "$pattern" "$log" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { tail -20 "$log" >&2; die "process $pid exited, see $log"; }
    sleep 0.1
  done
  tail -20 "$log" >&2
  die "timed out waiting for '$pattern' in $log"
}

up() {
  mkdir -p "$DEMO_DIR"
  stop_pid "$DEMO_DIR/operator.pid"
  stop_pid "$DEMO_DIR/portal.pid"
  stop_pid "$DEMO_DIR/ways.pid"
  stop_pid "$DEMO_DIR/paas.pid"

  step "building htx-operator and the portal simulators (cargo build --release)"
  apt_install make gcc # jemalloc, the operator's allocator, is built from its C source
  cargo build --release --bins
  local bin="$PWD/target/release"

  if [[ -n ${HTX_E2E_KUBECONFIG:-} ]]; then
    step "using the cluster of HTX_E2E_KUBECONFIG=$HTX_E2E_KUBECONFIG"
    export KUBECONFIG=$HTX_E2E_KUBECONFIG
  else
    step "starting a local Kubernetes control plane (the first run builds Kubernetes 1.20.2, a few minutes)"
    hack/local-cluster.sh up "$CLUSTER_DIR"
    export KUBECONFIG=$CLUSTER_DIR/kubeconfig
  fi

  local port
  port=$(free_port)
  step "starting the HTX portal simulator on http://127.0.0.1:$port"
  "$bin/htx-portal-sim" --listen "127.0.0.1:$port" --token "$TOKEN:full" \
    --provision-delay 5s --backup-delay 5s --state "$DEMO_DIR/portal-state.json" \
    >"$DEMO_DIR/portal.log" 2>&1 &
  echo $! >"$DEMO_DIR/portal.pid"
  wait_for_line "$DEMO_DIR/portal.log" "listening on" "$(cat "$DEMO_DIR/portal.pid")"

  local ways_port
  ways_port=$(free_port)
  step "starting the WaysCloud simulator on http://127.0.0.1:$ways_port"
  "$bin/ways-portal-sim" --listen "127.0.0.1:$ways_port" --key "$WAYS_KEY:demo:all" \
    >"$DEMO_DIR/ways.log" 2>&1 &
  echo $! >"$DEMO_DIR/ways.pid"
  wait_for_line "$DEMO_DIR/ways.log" "listening on" "$(cat "$DEMO_DIR/ways.pid")"

  local paas_port
  paas_port=$(free_port)
  step "starting the PaaS simulator on http://127.0.0.1:$paas_port"
  "$bin/paas-portal-sim" --listen "127.0.0.1:$paas_port" --key "$PAAS_KEY:demo" \
    >"$DEMO_DIR/paas.log" 2>&1 &
  echo $! >"$DEMO_DIR/paas.pid"
  wait_for_line "$DEMO_DIR/paas.log" "listening on" "$(cat "$DEMO_DIR/paas.pid")"

  # Before 1.25 an API server does not know the CRDs' validation rules (and 1.20's kubectl
  # refuses them): those get the same CRDs without the rules (the operator checks the same).
  local minor
  minor=$(kubectl version -o json | python3 -c 'import json, sys; print(json.load(sys.stdin)["serverVersion"]["minor"].rstrip("+"))')
  if ((minor >= 25)); then
    step "installing the CRDs (crds/)"
    kubectl apply -f crds/
  else
    step "installing the CRDs without their validation rules (Kubernetes 1.$minor: htx-operator crds --without-rules)"
    "$bin/htx-operator" crds --without-rules | kubectl apply -f -
  fi
  kubectl wait --for=condition=Established crd --all --timeout=60s >/dev/null

  step "storing the credentials: Secret $NAMESPACE/portal-token, and the examples' Secrets in $DEMO_NS"
  for ns in "$NAMESPACE" "$DEMO_NS"; do
    kubectl create namespace "$ns" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
  done
  put_secret "$NAMESPACE" portal-token token "$TOKEN"
  put_secret "$DEMO_NS" team-a-htx token "$TOKEN"
  put_secret "$DEMO_NS" ways-key apiKey "$WAYS_KEY"
  put_secret "$DEMO_NS" paas-key token "$PAAS_KEY"
  put_secret "$DEMO_NS" stripe key sk_test_demo

  step "starting the operator (log: $DEMO_DIR/operator.log)"
  "$bin/htx-operator" run --portal-url "http://127.0.0.1:$port" \
    --token-secret "$NAMESPACE/portal-token" --metrics-addr "127.0.0.1:$(free_port)" \
    --namespace "$DEMO_NS" \
    --provider-default "WaysCloud:$DEMO_NS/ways-key,key=apiKey,url=http://127.0.0.1:$ways_port" \
    --provider-default "Paas:$DEMO_NS/paas-key,url=http://127.0.0.1:$paas_port" \
    >"$DEMO_DIR/operator.log" 2>&1 &
  echo $! >"$DEMO_DIR/operator.pid"
  wait_for_line "$DEMO_DIR/operator.log" "htx-operator starting" "$(cat "$DEMO_DIR/operator.pid")"

  step "applying examples/ in namespace $DEMO_NS"
  local applied
  applied=$(kubectl apply -n "$DEMO_NS" -f examples/ -o name)
  printf '%s\n' "$applied"

  step "waiting until everything is Ready"
  # Every kind applied (database.htx.vinacis.com/analytics -> database.htx.vinacis.com).
  for kind in $(printf '%s\n' "$applied" | cut -d/ -f1 | sort -u); do
    kubectl wait -n "$DEMO_NS" --for=condition=Ready "$kind" --all --timeout=180s
  done

  step "kubectl get htx,wayscloud,paas (every kind of the operator)"
  kubectl get -n "$DEMO_NS" htx,wayscloud,paas

  cat <<EOT

The demo is up. Try:

  export KUBECONFIG=$KUBECONFIG
  kubectl config set-context --current --namespace $DEMO_NS   # the examples' namespace
  kubectl describe database analytics             # conditions and Events
  kubectl get secret analytics-connection -o jsonpath='{.data.uri}' | base64 -d; echo
  kubectl annotate database analytics htx.vinacis.com/paused=true
  kubectl get backups,backupschedules             # the backup taken, the nightly schedule
  kubectl get waysdatabase orders -o wide          # a WaysCloud database, its firewall and backups
  kubectl get secret orders-db -o jsonpath='{.data.password}' | base64 -d; echo
  kubectl patch waysdatabase orders --type merge -p '{"spec":{"credentials":{"rotationRequestedAt":"now"}}}'
  kubectl get paaswebservice shop-api              # the application's service, wired by Secrets
  kubectl delete database analytics               # deletes it at the portal too
  curl -s http://127.0.0.1:$port/_sim/state        # what the (simulated) HTX portal holds
  tail -f $DEMO_DIR/operator.log

Stop everything with: hack/demo.sh down
EOT
}

case ${1:-up} in
  up) up ;;
  down) down ;;
  *) die "usage: hack/demo.sh [up|down]" ;;
esac
