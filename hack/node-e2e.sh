#!/usr/bin/env bash
# The operator as users deploy it, on a real node: `helm install` of the chart, its image (built
# by hack/image.sh) imported into the node's containerd, a pod that the kubelet starts with the
# chart's security context and probes, becomes Ready and manages a Database against the portal
# simulator; then two replicas elect one leader, and when the leader's pod is deleted the
# standby takes over and a new pod replaces it. Prints the figures BENCHMARKS.md quotes.
#
#   hack/node-e2e.sh      as root; brings up .e2e/node (hack/local-cluster.sh up --node) and
#                         always takes it down again (its logs stay in .e2e/node/*.log)
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*" >&2; }
die() {
  printf 'node-e2e: error: %s\n' "$*" >&2
  exit 1
}
# shellcheck source=hack/packages.sh
source hack/packages.sh

DIR="$PWD/.e2e/node"
IMAGE="$PWD/.e2e/image"
RELEASE=htx
NAMESPACE=htx-system
APP_NAMESPACE="node-e2e"
DEPLOYMENT=$RELEASE-htx-operator
LEASE=$DEPLOYMENT-leader
TOKEN=htx_node_e2e_full
NODE_IP=10.244.0.1 # the pods' gateway: the node's loopback services (hack/local-node.sh)

[[ $(id -u) -eq 0 ]] || die "run it as root (containerd, the pod network)"
now() { date +%s.%N; }
seconds() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

log "the image (hack/image.sh), the portal simulator and the CRDs' printer"
hack/image.sh "$IMAGE" >/dev/null
cargo build --bin htx-portal-sim --bin htx-operator
PYTHON=$(hack/python-env.sh)

cleanup() {
  local rc=$? pod
  trap - EXIT
  if [[ $rc -ne 0 && -n ${KUBECONFIG:-} ]]; then
    kubectl get pods,lease -A -o wide >&2 || true
    for pod in $(kubectl -n "$NAMESPACE" get pods -o name 2>/dev/null); do
      printf -- '--- %s\n' "$pod" >&2
      kubectl -n "$NAMESPACE" logs "$pod" --tail 20 >&2 || true
    done
  fi
  [[ -n ${SIM_PID:-} ]] && kill "$SIM_PID" 2>/dev/null
  hack/local-cluster.sh down "$DIR" || true
  [[ $rc -eq 0 ]] || log "failed: logs in $DIR/*.log"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
hack/local-cluster.sh up "$DIR" --node
eval "$(hack/local-cluster.sh env "$DIR")"
ctr --address "$DIR/node/containerd.sock" --namespace k8s.io images import "$IMAGE.tar" >/dev/null

SIM_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
target/debug/htx-portal-sim --listen "127.0.0.1:$SIM_PORT" --token "$TOKEN:full" >"$DIR/portal.log" 2>&1 &
SIM_PID=$!

operator_pods() {
  kubectl -n "$NAMESPACE" get pods -l app.kubernetes.io/name=htx-operator \
    -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}'
}
lease_holder() {
  kubectl -n "$NAMESPACE" get lease "$LEASE" -o jsonpath='{.spec.holderIdentity}' 2>/dev/null
}
# wait_until SECONDS DESCRIPTION COMMAND...
wait_until() {
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "timed out waiting for $what"
    sleep 0.2
  done
}
database() {
  kubectl -n "$APP_NAMESPACE" apply -f - <<EOF
apiVersion: htx.vinacis.com/v1alpha1
kind: Database
metadata: {name: $1}
spec:
  engine: postgresql
  sku: db-s-1vcpu-2gb
  writeConnectionSecretToRef: {name: $1-connection}
EOF
}
portal_databases() {
  curl -sS -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$SIM_PORT/api/portal/databases"
}

log "helm install: one replica, the portal at http://$NODE_IP:$SIM_PORT"
kubectl create namespace "$APP_NAMESPACE" >/dev/null
start=$(now)
# As the chart's README says for Kubernetes before 1.25: the CRDs without their rules first, then
# the chart without them. The portal is plain http on another address than loopback.
target/debug/htx-operator crds --without-rules |
  kubectl apply --server-side -f - >/dev/null
"$PYTHON" hack/helm.py install "$RELEASE" --namespace "$NAMESPACE" --create-namespace --skip-crds \
  --kubeconfig "$KUBECONFIG" \
  --set-json "portal={\"url\": \"http://$NODE_IP:$SIM_PORT\", \"tokenSecret\": {\"token\": \"$TOKEN\"}}" \
  --set-json 'extraArgs=["--allow-insecure-http"]' >/dev/null
database first >/dev/null
ready_replicas() {
  [[ $(kubectl -n "$NAMESPACE" get deployment "$DEPLOYMENT" -o jsonpath='{.status.readyReplicas}') == "$1" ]]
}
wait_until 180 "the operator pod to be Ready" ready_replicas 1
pod_ready=$(now)
kubectl -n "$APP_NAMESPACE" wait --for=condition=Ready database/first --timeout=180s >/dev/null
first_ready=$(now)
kubectl -n "$APP_NAMESPACE" get secret first-connection >/dev/null

pod=$(operator_pods)
container=$(kubectl -n "$NAMESPACE" get pod "$pod" -o jsonpath='{.status.containerStatuses[0].containerID}')
pid=$(ctr --address "$DIR/node/containerd.sock" --namespace k8s.io tasks ls |
  awk -v id="${container#containerd://}" '$1 == id { print $2 }')
status=$(cat "/proc/$pid/status")
field() { awk -v f="$1:" '$1 == f { $1 = ""; print substr($0, 2) }' <<<"$status"; }
log "the pod's process: Uid $(field Uid), CapEff $(field CapEff), NoNewPrivs $(field NoNewPrivs), Seccomp $(field Seccomp)"
[[ $(field Uid) == "65532 65532 65532 65532" && $(field CapEff) == 0000000000000000 &&
  $(field NoNewPrivs) == 1 && $(field Seccomp) == 2 ]] || die "the pod does not run with the chart's security context"
grep -q ' / ro,' <(awk '$5 == "/" { print " " $5 " " $6 "," }' "/proc/$pid/mountinfo") ||
  die "the pod's root filesystem is writable"
rss=$(field VmRSS)

log "two replicas: one leader"
kubectl -n "$NAMESPACE" scale deployment "$DEPLOYMENT" --replicas 2 >/dev/null
wait_until 180 "two Ready replicas" ready_replicas 2
leader=$(lease_holder)
standby=$(operator_pods | grep -vx "$leader")
[[ $(operator_pods | grep -cx "$leader") == 1 && $(wc -w <<<"$standby") == 1 ]] ||
  die "the Lease holder '$leader' is not one of the two pods: $(operator_pods | tr '\n' ' ')"
kubectl -n "$NAMESPACE" logs "$standby" | grep -q '"became the leader"' && die "the standby $standby leads too"

# The node is cordoned first, so that the leader's replacement cannot start (and race for the
# released Lease) before the standby had its turn.
log "the leader's pod $leader deleted: $standby takes over"
node=$(kubectl get nodes -o name)
kubectl cordon "$node" >/dev/null
deleted=$(now)
kubectl -n "$NAMESPACE" delete pod "$leader" --wait=false >/dev/null
holds_lease() { [[ $(lease_holder) == "$1" ]]; }
wait_until 120 "$standby to take the Lease" holds_lease "$standby"
taken_over=$(now)
database second >/dev/null
kubectl -n "$APP_NAMESPACE" wait --for=condition=Ready database/second --timeout=120s >/dev/null
kubectl uncordon "$node" >/dev/null
replaced() { ready_replicas 2 && ! kubectl -n "$NAMESPACE" get pod "$leader"; }
wait_until 180 "a new pod in place of $leader" replaced
[[ $(lease_holder) == "$standby" ]] || die "the new pod took the Lease from $standby"

log "the Databases deleted: nothing left at the portal"
kubectl -n "$APP_NAMESPACE" delete database first second --timeout=120s >/dev/null
[[ $(portal_databases) == '[]' ]] || die "the portal still has databases: $(portal_databases)"
restarts=$(kubectl -n "$NAMESPACE" get pods -o jsonpath='{range .items[*]}{.status.containerStatuses[0].restartCount}{" "}{end}')
[[ $restarts =~ ^(0 )+$ ]] || die "operator containers restarted (liveness): $restarts"
"$PYTHON" hack/helm.py uninstall "$RELEASE" --namespace "$NAMESPACE" --kubeconfig "$KUBECONFIG"

manifest=$(jq -r '.manifests[0].digest' "$IMAGE/index.json")
cat <<EOF
node-e2e passed
  image: $(jq '[.layers[].size] | add' "$IMAGE/blobs/sha256/${manifest#sha256:}") bytes compressed
  helm install -> operator pod Ready: $(seconds "$start" "$pod_ready") s
  helm install -> first Database Ready: $(seconds "$start" "$first_ready") s
  the pod's RSS with one Database: $rss
  leader pod deleted -> standby holds the Lease: $(seconds "$deleted" "$taken_over") s
EOF
