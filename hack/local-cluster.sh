#!/usr/bin/env bash
# A real, local Kubernetes control plane for the tests and the demo:
# etcd + kube-apiserver + kube-controller-manager (v1.20.2, built once from
# Debian 12's `kubernetes` source package), on free loopback ports, no kubelet.
# With --node also a node that runs pods (see hack/local-node.sh; needs root).
#
#   hack/local-cluster.sh build [--node]   install packages + build the binaries (cached)
#   hack/local-cluster.sh up DIR [--node]  start a control plane with its state in DIR
#   hack/local-cluster.sh down DIR   stop it and remove its data (keeps DIR/*.log)
#   hack/local-cluster.sh env DIR    print `export KUBECONFIG=...` lines for eval
#   hack/local-cluster.sh restart-apiserver DIR   stop and start kube-apiserver (etcd kept)
#
# Environment:
#   HTX_CACHE_DIR       where the binaries are cached (default ~/.cache/htx-operator)
#   HTX_E2E_KUBECONFIG  if it names another cluster's kubeconfig (kind, k3d, a real
#                       cluster), `up` only checks that this cluster answers.
#   HTX_KEEP_K8S_BUILD=1  keep the source tree and Go cache after a build
set -euo pipefail

K8S_VERSION=1.20.2
CACHE_DIR=${HTX_CACHE_DIR:-${HOME:-/root}/.cache/htx-operator}
K8S_DIR="$CACHE_DIR/kubernetes-$K8S_VERSION"
BIN_DIR="$K8S_DIR/bin"
GO_VERSION=1.19
GOROOT_DEB="/usr/lib/go-$GO_VERSION"
MARKER=.htx-local-cluster
COMPONENTS=(etcd kube-apiserver kube-controller-manager)

log() { printf '==> %s\n' "$*" >&2; }
die() {
  printf 'local-cluster: error: %s\n' "$*" >&2
  exit 1
}

usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
  exit 2
}

# ---------------------------------------------------------------- packages --

# shellcheck source=hack/packages.sh
source "$(dirname "${BASH_SOURCE[0]}")/packages.sh"
# shellcheck source=hack/local-node.sh
source "$(dirname "${BASH_SOURCE[0]}")/local-node.sh"

# Makes `apt-get source` work: adds deb-src entries mirroring the configured deb ones.
ensure_deb_src() {
  if grep -rqsE '^(deb-src|Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    return 0
  fi
  local mirror security=http://deb.debian.org/debian-security u
  mirror=$(debian_mirror)
  u=$(grep -hsoE 'https?://[^ ]+/debian-security/?( |$)' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -n1 | tr -d ' ' || true)
  [[ -n $u ]] && security=${u%/}
  log "adding deb-src entries for bookworm ($mirror)"
  as_root tee /etc/apt/sources.list.d/htx-deb-src.sources >/dev/null <<EOF
Types: deb-src
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: $security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  apt_update
}

# The kubectl to use: one on PATH, else ours.
kubectl_bin() {
  if command -v kubectl >/dev/null; then
    command -v kubectl
  elif [[ -x $BIN_DIR/kubectl ]]; then
    echo "$BIN_DIR/kubectl"
  else
    return 1
  fi
}

# A cached binary runs only while it is the file that was built: its SHA-256 is recorded beside
# it (FILE.sha256) when it is built. A cache restored without its large files, or cut short by a
# full disk, is built again rather than started as a server that exits without a word.
seal_binary() {
  sha256sum "$1" | cut -d' ' -f1 >"$1.sha256.tmp"
  mv "$1.sha256.tmp" "$1.sha256"
}

# binary_intact FILE [VERSION]: FILE matches its recorded checksum. One built before checksums
# were recorded is trusted, and sealed, if `FILE --version` names VERSION.
binary_intact() {
  local bin=$1 version=${2:-} says
  [[ -x $bin && -s $bin ]] || return 1
  if [[ ! -f $bin.sha256 ]]; then
    [[ -n $version ]] && says=$("$bin" --version 2>/dev/null) && [[ $says == *"$version"* ]] || return 1
    seal_binary "$bin"
    return 0
  fi
  [[ $(sha256sum "$bin" | cut -d' ' -f1) == "$(<"$bin.sha256")" ]]
}

binaries_cached() {
  all_built kube-apiserver kube-controller-manager || return 1
  kubectl_bin >/dev/null || return 1
}

# ------------------------------------------------------------------- build --

# Are all of these built (in BIN_DIR), and intact?
all_built() {
  local t
  for t in "$@"; do
    binary_intact "$BIN_DIR/$t" "v$K8S_VERSION" || return 1
  done
}

# cmd_build [--node]: the control plane's binaries, and with --node the node's (NODE_BINARIES).
cmd_build() {
  # Runtime packages, always.
  apt_install etcd-server openssl curl ca-certificates util-linux
  local targets=(kube-apiserver kube-controller-manager)
  if ! kubectl_bin >/dev/null; then
    # Debian 12 ships kubectl 1.20 as kubernetes-client; build it ourselves otherwise.
    if apt_has kubernetes-client; then
      apt_install kubernetes-client
    else
      targets+=(kubectl)
    fi
  fi
  [[ ${1:-} == --node ]] && targets+=("${NODE_BINARIES[@]}")
  all_built "${targets[@]}" && return 0

  # One build at a time (parallel test processes may all ask for it).
  mkdir -p "$CACHE_DIR"
  exec 8>"$CACHE_DIR/build.lock"
  if ! flock -n 8; then
    log "another build is running, waiting for it ($CACHE_DIR/build.lock)"
    flock 8
  fi
  if all_built "${targets[@]}"; then
    exec 8>&-
    return 0
  fi

  local start=$SECONDS
  apt_install "golang-$GO_VERSION-go" golang-github-modern-go-reflect2-dev dpkg-dev
  ensure_deb_src

  local work="$K8S_DIR/build"
  local gopath="$work/gopath"
  local src="$gopath/src/k8s.io/kubernetes"
  export GOROOT="$GOROOT_DEB" GOPATH="$gopath" GOCACHE="$work/gocache" GO111MODULE=off CGO_ENABLED=0 GOFLAGS='' GOTOOLCHAIN=local
  export PATH="$GOROOT/bin:$PATH"
  mkdir -p "$work"

  if [[ ! -f $src/.htx-prepared ]]; then
    log "fetching Debian 12's kubernetes source package"
    rm -rf "$work/dl" "$gopath"
    mkdir -p "$work/dl" "$(dirname "$src")"
    (cd "$work/dl" && apt-get source --download-only kubernetes >"$work/dl/apt-source.log" 2>&1) ||
      { tail -n 20 "$work/dl/apt-source.log" >&2; die "apt-get source kubernetes failed"; }
    local dsc
    dsc=$(ls "$work"/dl/kubernetes_*.dsc)
    [[ $dsc == *"$K8S_VERSION"* ]] || log "warning: expected kubernetes $K8S_VERSION, Debian gave $(basename "$dsc")"
    log "unpacking it"
    (cd "$work/dl" && dpkg-source --no-check -x ./*.dsc "$src" >/dev/null 2>"$work/dl/dpkg-source.log") ||
      { tail -n 20 "$work/dl/dpkg-source.log" >&2; die "dpkg-source -x failed"; }

    # Trap 1: reflect2 1.0.1 (vendored) crashes kube-apiserver under Go >= 1.18
    # on the first custom-resource create; use Debian's 1.0.2.
    local r2src=/usr/share/gocode/src/github.com/modern-go/reflect2 r2dst="$src/vendor/github.com/modern-go/reflect2"
    [[ -d $r2src && -d $r2dst ]] || die "reflect2 sources not found ($r2src, $r2dst)"
    log "replacing vendored github.com/modern-go/reflect2 with Debian's $(dpkg-query -W -f='${Version}' golang-github-modern-go-reflect2-dev)"
    find "$r2dst" -maxdepth 1 -type f \( -name '*.go' -o -name '*.s' \) -delete
    cp "$r2src"/*.go "$r2src"/*.s "$r2dst"/

    log "generating pkg/generated/openapi (openapi-gen)"
    (
      cd "$src"
      go build -p 2 -o "$work/openapi-gen" ./vendor/k8s.io/kube-openapi/cmd/openapi-gen
      # Same package set as upstream's Makefile.generated_files (KUBE_OPENAPI_TAG_FILES).
      find -H . \( -path './_*' -o -path './.*' -o -path ./vendor \) -prune -o -type f -name '*.go' -print0 |
        { xargs -0 grep -l --null '^// *+k8s:' || true; } | { xargs -0 grep -l '+k8s:openapi-gen=' || true; } |
        sed -e 's|/[^/]*$||' -e 's|^\./||' -e 's|^staging/src/|vendor/|' |
        grep -vE '^vendor/k8s\.io/(code-generator|sample-apiserver)/' | LC_ALL=C sort -u |
        sed 's|^|k8s.io/kubernetes/|' | paste -sd, - >"$work/openapi-dirs"
      "$work/openapi-gen" --logtostderr \
        -i "$(cat "$work/openapi-dirs")" \
        -p k8s.io/kubernetes/pkg/generated/openapi \
        -O zz_generated.openapi \
        -h hack/boilerplate/boilerplate.generatego.txt \
        -r "$work/openapi-violations.report" >"$work/openapi-gen.log" 2>&1
    ) || { tail -n 30 "$work/openapi-gen.log" >&2 || true; die "openapi-gen failed"; }
    [[ -s $src/pkg/generated/openapi/zz_generated.openapi.go ]] || die "openapi-gen produced no zz_generated.openapi.go"
    touch "$src/.htx-prepared"
  fi

  # Version stamps, as upstream's hack/lib/version.sh sets them (the tarball only has
  # "v0.0.0-master+<commit>"): --version and the /version endpoint say v1.20.2.
  local ldflags="-s -w" pkg kv
  for pkg in k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version k8s.io/kubernetes/vendor/k8s.io/component-base/version; do
    for kv in "gitVersion=v$K8S_VERSION" gitMajor=1 gitMinor=20 gitTreeState=clean "buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"; do
      ldflags+=" -X $pkg.$kv"
    done
  done
  mkdir -p "$BIN_DIR"
  local t
  for t in "${targets[@]}"; do
    all_built "$t" && continue
    log "building $t (first time only, several minutes)"
    local t0=$SECONDS
    if [[ $t == pause ]]; then
      build_pause "$src" "$BIN_DIR/$t.tmp" >"$work/build-$t.log" 2>&1
    else
      (cd "$src" && go build -p 2 -trimpath -ldflags "$ldflags" -o "$BIN_DIR/$t.tmp" "./cmd/$t") >"$work/build-$t.log" 2>&1
    fi || { tail -n 30 "$work/build-$t.log" >&2; die "building $t failed (full log: $work/build-$t.log)"; }
    mv "$BIN_DIR/$t.tmp" "$BIN_DIR/$t"
    seal_binary "$BIN_DIR/$t"
    log "built $t in $((SECONDS - t0))s"
  done
  log "kubernetes $K8S_VERSION binaries ready in $BIN_DIR ($((SECONDS - start))s)"
  if [[ ${HTX_KEEP_K8S_BUILD:-0} != 1 ]]; then
    rm -rf "$work"
  fi
  exec 8>&-
}

# ------------------------------------------------------------- processes --

abspath() {
  realpath -m -- "$1"
}

pidfile() { echo "$1/pids/$2.pid"; }

# Is the process recorded for component $2 in DIR $1 alive (and ours)?
component_alive() {
  local f pid
  f=$(pidfile "$1" "$2")
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # Guard against pid reuse: every process we start names DIR on its command line.
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$1/" || return 1
  # A zombie is dead.
  [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]]
}

port_free() {
  # Nothing answers a TCP connect on it (and ss, when present, does not list it).
  if command -v ss >/dev/null && ss -Htln "sport = :$1" 2>/dev/null | grep -q .; then
    return 1
  fi
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

TAKEN_PORTS=" "
free_port() {
  local p i
  for ((i = 0; i < 200; i++)); do
    p=$((20000 + (RANDOM * 32768 + RANDOM) % 30000))
    [[ $TAKEN_PORTS == *" $p "* ]] && continue
    if port_free "$p"; then
      TAKEN_PORTS+="$p "
      echo "$p"
      return 0
    fi
  done
  die "no free loopback port found"
}

fail_component() {
  local dir=$1 comp=$2 msg=$3
  printf 'local-cluster: error: %s\n--- last lines of %s/%s.log ---\n' "$msg" "$dir" "$comp" >&2
  tail -n 40 "$dir/$comp.log" >&2 2>/dev/null || true
  printf -- '--- end of %s.log ---\n' "$comp" >&2
  stop_all "$dir"
  exit 1
}

# Starts "$@" detached from us (own session, no inherited fds) and records its pid.
launch() {
  local dir=$1 comp=$2
  shift 2
  : >"$dir/$comp.log"
  setsid "$@" </dev/null >>"$dir/$comp.log" 2>&1 8>&- 9>&- &
  echo $! >"$(pidfile "$dir" "$comp")"
}

# How a component this shell launched ended: "exited with status N" or "was killed by signal N".
how_it_ended() {
  local pid status=0
  pid=$(<"$(pidfile "$1" "$2")")
  wait "$pid" 2>/dev/null || status=$?
  if ((status == 127)); then
    echo "exited" # not our child: its status is not ours to read
  elif ((status > 128)); then
    echo "was killed by signal $((status - 128))"
  else
    echo "exited with status $status"
  fi
}

# wait_until DIR COMPONENT SECONDS DESCRIPTION CMD...
wait_until() {
  local dir=$1 comp=$2 secs=$3 what=$4
  shift 4
  local deadline=$((SECONDS + secs))
  while ((SECONDS < deadline)); do
    if "$@" >/dev/null 2>&1; then
      return 0
    fi
    component_alive "$dir" "$comp" || fail_component "$dir" "$comp" "$comp $(how_it_ended "$dir" "$comp") while waiting for $what"
    sleep 0.5
  done
  fail_component "$dir" "$comp" "timed out after ${secs}s waiting for $what"
}

stop_pid() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) == Z ]] && return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
}

# Pids of our components (each runs a binary of its name; containerd also its shims) that run
# with DIR on their command line (whether or not a pid file still names them).
strays() {
  local dir=$1 p argv0
  for p in /proc/[0-9]*; do
    [[ -r $p/cmdline ]] || continue
    argv0=$(tr '\0' '\n' <"$p/cmdline" 2>/dev/null | head -n1) || continue
    [[ " ${COMPONENTS[*]} ${NODE_COMPONENTS[*]} containerd-shim-runc-v2 " == *" ${argv0##*/} "* ]] || continue
    tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF -- " $dir/" && echo "${p#/proc/}"
  done
  return 0
}

stop_all() {
  local dir=$1 i comp pid
  node_down "$dir"
  for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
    comp=${COMPONENTS[i]}
    if component_alive "$dir" "$comp"; then
      stop_pid "$(<"$(pidfile "$dir" "$comp")")"
    fi
    rm -f "$(pidfile "$dir" "$comp")"
  done
  for pid in $(strays "$dir"); do
    log "stopping stray process $pid of $dir"
    stop_pid "$pid"
  done
}

# Removes everything `up` created in DIR but the logs.
clean_dir() {
  local dir=$1
  rm -rf "$dir/etcd" "$dir/pki" "$dir/pids" "$dir/auth" "$dir/kubeconfig" \
    "$dir/kubeconfig-unprivileged" "$dir/kubeconfig-controller-manager" "$dir/kubeconfig-kubelet" \
    "$dir/kubeconfig-scheduler" "$dir/cluster.env" "$dir/${MARKER:?}"
}

apiserver_ready() {
  local dir=$1
  local API_PORT
  # shellcheck disable=SC1091
  source "$dir/cluster.env"
  [[ $(curl -sS --max-time 5 --cacert "$dir/pki/ca.crt" -H "@$dir/auth/admin-header" \
    "https://127.0.0.1:$API_PORT/readyz" 2>/dev/null) == ok ]]
}

# cluster_healthy DIR [--node]: runs, with a node or without as asked.
cluster_healthy() {
  local dir=$1 comp components=("${COMPONENTS[@]}")
  [[ -f $dir/$MARKER && -f $dir/cluster.env && -f $dir/kubeconfig ]] || return 1
  if [[ ${2:-} == --node ]]; then
    components+=("${NODE_COMPONENTS[@]}")
  else
    [[ ! -d $dir/node ]] || return 1
  fi
  for comp in "${components[@]}"; do
    component_alive "$dir" "$comp" || return 1
  done
  apiserver_ready "$dir"
}

write_kubeconfig() {
  local file=$1 user=$2 token=$3 ca_data=$4 port=$5
  (
    umask 077
    cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: htx-local
  cluster:
    server: https://127.0.0.1:$port
    certificate-authority-data: $ca_data
users:
- name: $user
  user:
    token: $token
contexts:
- name: htx-local
  context:
    cluster: htx-local
    user: $user
    namespace: default
current-context: htx-local
EOF
  )
}

make_pki() {
  local pki=$1
  mkdir -p "$pki"
  (
    cd "$pki"
    umask 077
    openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
    cat >ca.cnf <<'EOF'
[req]
distinguished_name = dn
prompt = no
x509_extensions = v3_ca
[dn]
CN = htx-local-cluster-ca
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign, digitalSignature
subjectKeyIdentifier = hash
EOF
    openssl req -x509 -new -key ca.key -sha256 -days 3650 -config ca.cnf -out ca.crt 2>/dev/null
    # The serving certificate is signed by the CA, not self-signed: rustls refuses
    # a server certificate that is its own CA.
    openssl ecparam -name prime256v1 -genkey -noout -out apiserver.key 2>/dev/null
    cat >apiserver.cnf <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = kube-apiserver
[ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost, DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local, IP:10.0.0.1
authorityKeyIdentifier = keyid
subjectKeyIdentifier = hash
EOF
    openssl req -new -key apiserver.key -config apiserver.cnf -out apiserver.csr 2>/dev/null
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 -days 3650 \
      -extfile apiserver.cnf -extensions ext -out apiserver.crt 2>/dev/null
    # The API server's client certificate for kubelets (logs, exec), when there is a node.
    openssl ecparam -name prime256v1 -genkey -noout -out kubelet-client.key 2>/dev/null
    openssl req -new -key kubelet-client.key -subj /CN=kube-apiserver-kubelet-client -out kubelet-client.csr 2>/dev/null
    openssl x509 -req -in kubelet-client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 -days 3650 \
      -extfile <(echo "extendedKeyUsage = clientAuth") -out kubelet-client.crt 2>/dev/null
    # Service-account token signing keys.
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    rm -f apiserver.csr kubelet-client.csr ca.srl
  ) || die "generating certificates with openssl failed"
}

# start_apiserver DIR ETCD_PORT API_PORT: launches kube-apiserver and waits until it is ready.
start_apiserver() {
  local dir=$1 etcd_port=$2 api_port=$3
  log "kube-apiserver on https://127.0.0.1:$api_port"
  launch "$dir" kube-apiserver "$BIN_DIR/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address 127.0.0.1 \
    --advertise-address 127.0.0.1 \
    --secure-port "$api_port" \
    --insecure-port 0 \
    --cert-dir "$dir/pki" \
    --tls-cert-file "$dir/pki/apiserver.crt" \
    --tls-private-key-file "$dir/pki/apiserver.key" \
    --client-ca-file "$dir/pki/ca.crt" \
    --token-auth-file "$dir/auth/tokens.csv" \
    --authorization-mode Node,RBAC \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$dir/pki/sa.pub" \
    --service-account-signing-key-file "$dir/pki/sa.key" \
    --service-cluster-ip-range 10.0.0.0/24 \
    --kubelet-client-certificate "$dir/pki/kubelet-client.crt" \
    --kubelet-client-key "$dir/pki/kubelet-client.key" \
    --kubelet-preferred-address-types InternalIP \
    --endpoint-reconciler-type none \
    --allow-privileged=true \
    --profiling=false \
    --v 1
  wait_until "$dir" kube-apiserver 120 "kube-apiserver /readyz" apiserver_ready "$dir"
}

# cmd_up DIR [--node]
cmd_up() {
  local dir node=${2:-}
  dir=$(abspath "$1")

  # Someone else's cluster (kind, k3d, a real one): only check that it answers.
  if [[ -n ${HTX_E2E_KUBECONFIG:-} && $HTX_E2E_KUBECONFIG != "$dir/kubeconfig" ]]; then
    [[ -f $HTX_E2E_KUBECONFIG ]] || die "HTX_E2E_KUBECONFIG=$HTX_E2E_KUBECONFIG does not exist"
    local kc
    kc=$(kubectl_bin) || die "HTX_E2E_KUBECONFIG is set but no kubectl on PATH to check it"
    local out
    out=$("$kc" --kubeconfig "$HTX_E2E_KUBECONFIG" get --raw /readyz 2>&1) ||
      die "the cluster of HTX_E2E_KUBECONFIG=$HTX_E2E_KUBECONFIG does not answer: $out"
    log "using the existing cluster of HTX_E2E_KUBECONFIG=$HTX_E2E_KUBECONFIG (readyz: $out)"
    return 0
  fi

  # One `up`/`down` at a time per DIR.
  mkdir -p "$dir"
  exec 9>"$dir/.lock"
  flock 9

  if cluster_healthy "$dir" "$node"; then
    log "control plane in $dir is already up"
    return 0
  fi
  if [[ -f $dir/$MARKER || -d $dir/pids ]]; then
    log "control plane in $dir is stale or unhealthy: cleaning it up and restarting"
    stop_all "$dir"
    clean_dir "$dir"
  fi

  if ! binaries_cached || { [[ -n $node ]] && ! all_built "${NODE_BINARIES[@]}"; }; then
    cmd_build "$node"
  fi

  local etcd_bin kc
  etcd_bin=$(command -v etcd) || die "etcd not found (Debian package etcd-server)"
  kc=$(kubectl_bin) || die "kubectl not found"

  log "starting a Kubernetes $K8S_VERSION control plane in $dir"
  mkdir -p "$dir/pids" "$dir/auth"
  touch "$dir/$MARKER"
  make_pki "$dir/pki"

  local admin_token kcm_token tester_token kubelet_token scheduler_token
  admin_token=$(openssl rand -hex 32)
  kcm_token=$(openssl rand -hex 32)
  tester_token=$(openssl rand -hex 32)
  kubelet_token=$(openssl rand -hex 32)
  scheduler_token=$(openssl rand -hex 32)
  (
    umask 077
    {
      printf '%s,htx-admin,htx-admin,"system:masters"\n' "$admin_token"
      printf '%s,system:kube-controller-manager,system:kube-controller-manager,"system:masters"\n' "$kcm_token"
      printf '%s,htx-tester,htx-tester\n' "$tester_token"
      [[ -z $node ]] || node_tokens "$kubelet_token" "$scheduler_token"
    } >"$dir/auth/tokens.csv"
    printf 'Authorization: Bearer %s\n' "$admin_token" >"$dir/auth/admin-header"
  )

  local etcd_port etcd_peer_port api_port kcm_port
  etcd_port=$(free_port)
  etcd_peer_port=$(free_port)
  api_port=$(free_port)
  kcm_port=$(free_port)
  cat >"$dir/cluster.env" <<EOF
ETCD_PORT=$etcd_port
ETCD_PEER_PORT=$etcd_peer_port
API_PORT=$api_port
KCM_PORT=$kcm_port
EOF

  local ca_data
  ca_data=$(base64 -w0 <"$dir/pki/ca.crt")
  write_kubeconfig "$dir/kubeconfig" htx-admin "$admin_token" "$ca_data" "$api_port"
  write_kubeconfig "$dir/kubeconfig-unprivileged" htx-tester "$tester_token" "$ca_data" "$api_port"
  write_kubeconfig "$dir/kubeconfig-controller-manager" system:kube-controller-manager "$kcm_token" "$ca_data" "$api_port"
  if [[ -n $node ]]; then
    write_kubeconfig "$dir/kubeconfig-kubelet" "system:node:$NODE_NAME" "$kubelet_token" "$ca_data" "$api_port"
    write_kubeconfig "$dir/kubeconfig-scheduler" system:kube-scheduler "$scheduler_token" "$ca_data" "$api_port"
  fi

  log "etcd on 127.0.0.1:$etcd_port"
  launch "$dir" etcd "$etcd_bin" \
    --name htx-local \
    --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" \
    --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" \
    --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
    --initial-cluster "htx-local=http://127.0.0.1:$etcd_peer_port" \
    --initial-cluster-state new \
    --logger zap --log-level warn
  wait_until "$dir" etcd 60 "etcd to be healthy" \
    bash -c "curl -sS --max-time 3 http://127.0.0.1:$etcd_port/health | grep -q '\"health\":\"true\"'"

  start_apiserver "$dir" "$etcd_port" "$api_port"

  log "kube-controller-manager (health on https://127.0.0.1:$kcm_port)"
  launch "$dir" kube-controller-manager "$BIN_DIR/kube-controller-manager" \
    --kubeconfig "$dir/kubeconfig-controller-manager" \
    --authentication-kubeconfig "$dir/kubeconfig-controller-manager" \
    --authorization-kubeconfig "$dir/kubeconfig-controller-manager" \
    --bind-address 127.0.0.1 \
    --secure-port "$kcm_port" \
    --port 0 \
    --cert-dir "$dir/pki/kcm" \
    --leader-elect=false \
    --service-account-private-key-file "$dir/pki/sa.key" \
    --root-ca-file "$dir/pki/ca.crt" \
    --cluster-signing-cert-file "$dir/pki/ca.crt" \
    --cluster-signing-key-file "$dir/pki/ca.key" \
    --profiling=false \
    --v 1
  wait_until "$dir" kube-controller-manager 120 "kube-controller-manager /healthz" \
    bash -c "[[ \$(curl -sS -k --max-time 3 https://127.0.0.1:$kcm_port/healthz) == ok ]]"

  [[ -z $node ]] || node_up "$dir" "$api_port"

  cluster_healthy "$dir" "$node" || fail_component "$dir" kube-apiserver "control plane did not come up healthy"
  log "control plane up: export KUBECONFIG=$dir/kubeconfig  (kubectl: $kc)"
}

cmd_down() {
  local dir=$1
  dir=$(abspath "$dir")
  if [[ ! -d $dir ]]; then
    return 0
  fi
  exec 9>"$dir/.lock"
  flock 9
  if [[ -d $dir/pids || -f $dir/$MARKER ]]; then
    log "stopping the control plane in $dir"
  fi
  stop_all "$dir"
  clean_dir "$dir"
  rm -f "$dir/.lock"
}

# Stops kube-apiserver and starts it again on the same port, etcd and data untouched: what a
# control-plane upgrade or crash looks like to clients (their watches break and must recover).
cmd_restart_apiserver() {
  local dir
  dir=$(abspath "$1")
  [[ -f $dir/cluster.env ]] || die "no control plane in $dir"
  exec 9>"$dir/.lock"
  flock 9
  # shellcheck disable=SC1091 # written by cmd_up
  source "$dir/cluster.env"
  if component_alive "$dir" kube-apiserver; then
    log "stopping kube-apiserver"
    stop_pid "$(<"$(pidfile "$dir" kube-apiserver)")"
  fi
  # shellcheck disable=SC2153 # ETCD_PORT and API_PORT come from cluster.env
  start_apiserver "$dir" "$ETCD_PORT" "$API_PORT"
}

cmd_env() {
  local dir kc
  if [[ -n ${HTX_E2E_KUBECONFIG:-} && -f $HTX_E2E_KUBECONFIG && $HTX_E2E_KUBECONFIG != "$(abspath "$1")/kubeconfig" ]]; then
    kc=$HTX_E2E_KUBECONFIG
  else
    dir=$(abspath "$1")
    kc="$dir/kubeconfig"
  fi
  printf 'export KUBECONFIG=%q\n' "$kc"
  printf 'export HTX_E2E_KUBECONFIG=%q\n' "$kc"
  if ! command -v kubectl >/dev/null && [[ -x $BIN_DIR/kubectl ]]; then
    # shellcheck disable=SC2016 # $PATH is for the eval-ing shell
    printf 'export PATH=%q:"$PATH"\n' "$BIN_DIR"
  fi
}

main() {
  local cmd=${1:-}
  case $cmd in
  build)
    [[ $# -eq 1 || ($# -eq 2 && $2 == --node) ]] || usage
    cmd_build "${2:-}"
    ;;
  up)
    [[ ($# -eq 2 || ($# -eq 3 && $3 == --node)) && -n $2 ]] || usage
    cmd_up "$2" "${3:-}"
    ;;
  down | env | restart-apiserver)
    [[ $# -eq 2 && -n $2 ]] || usage
    "cmd_${cmd//-/_}" "$2"
    ;;
  *) usage ;;
  esac
}

# Sourced (by hack/current-apiserver.sh), it only defines its functions.
[[ ${BASH_SOURCE[0]} != "$0" ]] || main "$@"
