#!/usr/bin/env bash
# A current Kubernetes API server for the CRDs: Kubernetes' apiextensions-apiserver (from Debian
# sid's golang-k8s-apiextensions-apiserver-dev, 1.36 today) behind our own small main
# (hack/crd-apiserver), with sid's etcd, on free loopback ports. It serves CRDs and custom
# resources only: no Namespaces, Secrets, Events or RBAC. It is where the CRDs' CEL rules, printer
# columns and server-side apply are tested with a current kubectl; the operator itself is tested
# on hack/local-cluster.sh's Kubernetes 1.20.
#
#   hack/current-apiserver.sh build      fetch sid's packages and build the server (cached)
#   hack/current-apiserver.sh up DIR     start it with its state in DIR (DIR/kubeconfig: system:masters)
#   hack/current-apiserver.sh down DIR   stop it and remove its data (keeps DIR/*.log)
#   hack/current-apiserver.sh env DIR    print `export KUBECONFIG=...` lines for eval
#
# The build uses an apt configuration of its own (sources, lists, cache, an empty dpkg status)
# in its build directory, so the machine's apt is left alone; the Go build runs offline (GOPATH
# mode, GOPROXY=off). It unpacks about 2 GB, into /dev/shm when there is room.
#
# Environment:
#   HTX_CACHE_DIR           where the binaries are cached (default ~/.cache/htx-operator)
#   HTX_KEEP_CRD_BUILD=1    keep the unpacked packages and Go cache after a build
set -euo pipefail

HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Its process helpers (launch, wait_until, stop_all, make_pki, free_port ...), the packages
# helpers, CACHE_DIR and log.
# shellcheck source=hack/local-cluster.sh
source "$HACK_DIR/local-cluster.sh"

die() {
  printf 'current-apiserver: error: %s\n' "$*" >&2
  exit 1
}

SERVER_DIR="$CACHE_DIR/crd-apiserver"
SERVER_BIN="$SERVER_DIR/bin"
MAIN_GO="$HACK_DIR/crd-apiserver/main.go"
MARKER=.htx-current-apiserver
COMPONENTS=(etcd crd-apiserver)
# The Debian packages: the library with its closure of Go sources, Debian's default Go, etcd.
PACKAGES=(golang-k8s-apiextensions-apiserver-dev golang-go etcd-server)

# ------------------------------------------------------------------- build --

# What the cached binaries were built from: the sources of our main, and (after a build) the
# Debian versions used.
main_digest() {
  sha256sum "$MAIN_GO" | cut -d' ' -f1
}

binaries_current() {
  binary_intact "$SERVER_BIN/crd-apiserver" && binary_intact "$SERVER_BIN/etcd" &&
    [[ -f $SERVER_DIR/main.sha256 && $(<"$SERVER_DIR/main.sha256") == "$(main_digest)" ]]
}

# sid_apt DIR ARGS...: apt-get with a configuration of its own under DIR.
sid_apt() {
  local dir=$1
  shift
  APT_CONFIG="$dir/apt.conf" apt-get -q "$@"
}

write_apt_config() {
  local dir=$1
  mkdir -p "$dir/lists/partial" "$dir/archives/partial" "$dir/sources.list.d" "$dir/preferences.d"
  : >"$dir/status"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(debian_mirror) sid main" >"$dir/sources.list"
  cat >"$dir/apt.conf" <<EOF
Dir::State "$dir";
Dir::State::Lists "$dir/lists";
Dir::State::status "$dir/status";
Dir::Cache "$dir";
Dir::Cache::archives "$dir/archives";
Dir::Etc::SourceList "$dir/sources.list";
Dir::Etc::SourceParts "$dir/sources.list.d";
Dir::Etc::Preferences "$dir/preferences";
Dir::Etc::PreferencesParts "$dir/preferences.d";
APT::Architecture "amd64";
APT::Architectures { "amd64"; };
Acquire::Languages "none";
Acquire::IndexTargets::deb::DEP-11::DefaultEnabled "false";
Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled "false";
Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled "false";
EOF
}

# Where the build unpacks its 2 GB of sources: in memory when there is room, because on a disk
# mounted with `discard` deleting them afterwards takes minutes.
build_parent() {
  local free_kb
  free_kb=$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 {print $4}')
  if [[ -w /dev/shm && ${free_kb:-0} -gt $((6 * 1024 * 1024)) ]]; then
    echo /dev/shm
  else
    mkdir -p "$SERVER_DIR"
    echo "$SERVER_DIR"
  fi
}

cmd_build() {
  apt_install openssl curl ca-certificates util-linux
  binaries_current && return 0

  mkdir -p "$CACHE_DIR"
  exec 7>"$CACHE_DIR/crd-apiserver.lock"
  if ! flock -n 7; then
    log "another build is running, waiting for it ($CACHE_DIR/crd-apiserver.lock)"
    flock 7
  fi
  if binaries_current; then
    exec 7>&-
    return 0
  fi

  local start=$SECONDS logs="$SERVER_DIR/logs" work
  work=$(mktemp -d "$(build_parent)/htx-crd-apiserver.XXXXXX")
  if [[ ${HTX_KEEP_CRD_BUILD:-0} != 1 ]]; then
    # shellcheck disable=SC2064 # $work is fixed now
    trap "rm -rf '$work'" EXIT
  fi
  rm -rf "$logs"
  mkdir -p "$work/debs" "$work/root" "$logs"
  write_apt_config "$work/apt"
  log "reading Debian sid's package lists (own apt configuration in $work/apt)"
  sid_apt "$work/apt" update >"$logs/apt-update.log" 2>&1 ||
    { tail -n 20 "$logs/apt-update.log" >&2; die "apt-get update of sid failed"; }

  # The closure as apt would install it on an empty system; the Go sources, the Go toolchain
  # and etcd are all the build and the server need (not libc, systemd and the like).
  sid_apt "$work/apt" -s install --no-install-recommends "${PACKAGES[@]}" >"$logs/apt-closure.log" 2>&1 ||
    { tail -n 20 "$logs/apt-closure.log" >&2; die "apt-get cannot resolve ${PACKAGES[*]} in sid"; }
  local closure=()
  mapfile -t closure < <(awk '/^Inst / {print $2}' "$logs/apt-closure.log" | grep -E '^(golang-|etcd-server$)')
  local version
  version=$(awk '/^Inst golang-k8s-apiextensions-apiserver-dev / {gsub(/[()]/, "", $3); print $3}' "$logs/apt-closure.log")
  [[ ${version%%-*} =~ ^0\.([0-9]+)\.([0-9]+)$ ]] || die "unexpected golang-k8s-apiextensions-apiserver-dev version '$version'"
  local minor=${BASH_REMATCH[1]} k8s_version="v1.${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"

  log "downloading ${#closure[@]} packages (apiextensions-apiserver $k8s_version, Go, etcd)"
  (cd "$work/debs" && sid_apt "$work/apt" download "${closure[@]}" >"$logs/apt-download.log" 2>&1) ||
    { tail -n 20 "$logs/apt-download.log" >&2; die "apt-get download failed"; }
  log "unpacking them into $work (tests and test data left out)"
  local deb
  for deb in "$work"/debs/*.deb; do
    dpkg-deb --fsys-tarfile "$deb" |
      tar -x -C "$work/root" --exclude='*_test.go' --exclude=testdata --exclude=./usr/share/doc ||
      die "unpacking $deb failed"
  done
  local goroot
  goroot=$(printf '%s\n' "$work"/root/usr/lib/go-1.* | sort -V | tail -n1)
  [[ -x $goroot/bin/go ]] || die "no Go toolchain among the unpacked packages"

  log "building crd-apiserver $k8s_version with $("$goroot/bin/go" version | cut -d' ' -f3) (offline, a few minutes)"
  # Clients parse the version the server reports: stamp it as upstream's build does.
  local ldflags="-s -w" kv
  for kv in "gitVersion=$k8s_version" gitMajor=1 "gitMinor=$minor" gitTreeState=clean "buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"; do
    ldflags+=" -X k8s.io/component-base/version.$kv"
  done
  mkdir -p "$SERVER_BIN"
  (
    cd "$(dirname "$MAIN_GO")"
    GOROOT=$goroot GOPATH="$work/root/usr/share/gocode" GOCACHE="$work/gocache" GO111MODULE=off \
      GOTOOLCHAIN=local GOPROXY=off GOFLAGS='' CGO_ENABLED=0 \
      "$goroot/bin/go" build -p 2 -trimpath -ldflags "$ldflags" -o "$SERVER_BIN/crd-apiserver.tmp" .
  ) >"$logs/build.log" 2>&1 || { tail -n 30 "$logs/build.log" >&2; die "building crd-apiserver failed (log: $logs/build.log)"; }
  mv "$SERVER_BIN/crd-apiserver.tmp" "$SERVER_BIN/crd-apiserver"
  cp "$work/root/usr/bin/etcd" "$SERVER_BIN/etcd"
  seal_binary "$SERVER_BIN/crd-apiserver"
  seal_binary "$SERVER_BIN/etcd"
  "$SERVER_BIN/etcd" --version >/dev/null || die "sid's etcd does not run here"
  main_digest >"$SERVER_DIR/main.sha256"
  log "crd-apiserver $k8s_version and etcd $("$SERVER_BIN/etcd" --version | awk '/etcd Version/ {print $3}') ready in $SERVER_BIN ($((SECONDS - start))s)"
  if [[ ${HTX_KEEP_CRD_BUILD:-0} != 1 ]]; then
    rm -rf "$work"
    trap - EXIT
  fi
  exec 7>&-
}

# --------------------------------------------------------------- processes --

# A client certificate of the group system:masters, signed by the cluster's CA.
make_admin_certificate() {
  local pki=$1
  (
    cd "$pki"
    umask 077
    openssl ecparam -name prime256v1 -genkey -noout -out admin.key 2>/dev/null
    printf 'basicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\nextendedKeyUsage = clientAuth\n' >admin.ext
    openssl req -new -key admin.key -subj '/O=system:masters/CN=htx-admin' -out admin.csr 2>/dev/null
    openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 -days 3650 \
      -extfile admin.ext -out admin.crt 2>/dev/null
    rm -f admin.csr admin.ext ca.srl
  ) || die "generating the client certificate with openssl failed"
}

write_cert_kubeconfig() {
  local dir=$1 port=$2
  (
    umask 077
    cat >"$dir/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: htx-current
  cluster:
    server: https://127.0.0.1:$port
    certificate-authority-data: $(base64 -w0 <"$dir/pki/ca.crt")
users:
- name: htx-admin
  user:
    client-certificate-data: $(base64 -w0 <"$dir/pki/admin.crt")
    client-key-data: $(base64 -w0 <"$dir/pki/admin.key")
contexts:
- name: htx-current
  context:
    cluster: htx-current
    user: htx-admin
    namespace: default
current-context: htx-current
EOF
  )
}

server_ready() {
  local dir=$1 port
  port=$(<"$dir/port")
  [[ $(curl -sS --max-time 5 --cacert "$dir/pki/ca.crt" --cert "$dir/pki/admin.crt" --key "$dir/pki/admin.key" \
    "https://127.0.0.1:$port/readyz" 2>/dev/null) == ok ]]
}

server_healthy() {
  local dir=$1 comp
  [[ -f $dir/$MARKER && -f $dir/port && -f $dir/kubeconfig ]] || return 1
  for comp in "${COMPONENTS[@]}"; do
    component_alive "$dir" "$comp" || return 1
  done
  server_ready "$dir"
}

clean_server_dir() {
  local dir=$1
  rm -rf "$dir/etcd" "$dir/pki" "$dir/pids" "$dir/kubeconfig" "$dir/port" "$dir/${MARKER:?}"
}

cmd_up() {
  local dir
  dir=$(abspath "$1")
  mkdir -p "$dir"
  exec 9>"$dir/.lock"
  flock 9
  if server_healthy "$dir"; then
    log "the API server in $dir is already up"
    return 0
  fi
  if [[ -f $dir/$MARKER || -d $dir/pids ]]; then
    log "the API server in $dir is stale or unhealthy: cleaning it up and restarting"
    stop_all "$dir"
    clean_server_dir "$dir"
  fi
  cmd_build

  mkdir -p "$dir/pids"
  touch "$dir/$MARKER"
  make_pki "$dir/pki"
  make_admin_certificate "$dir/pki"
  local etcd_port etcd_peer_port api_port
  etcd_port=$(free_port)
  etcd_peer_port=$(free_port)
  api_port=$(free_port)
  echo "$api_port" >"$dir/port"
  write_cert_kubeconfig "$dir" "$api_port"

  log "etcd on 127.0.0.1:$etcd_port"
  launch "$dir" etcd "$SERVER_BIN/etcd" \
    --name htx-current \
    --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" \
    --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" \
    --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
    --initial-cluster "htx-current=http://127.0.0.1:$etcd_peer_port" \
    --initial-cluster-state new \
    --logger zap --log-level warn
  wait_until "$dir" etcd 60 "etcd to be healthy" \
    bash -c "curl -sS --max-time 3 http://127.0.0.1:$etcd_port/health | grep -q '\"health\":\"true\"'"

  log "crd-apiserver on https://127.0.0.1:$api_port"
  launch "$dir" crd-apiserver "$SERVER_BIN/crd-apiserver" \
    --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address 127.0.0.1 \
    --secure-port "$api_port" \
    --cert-dir "$dir/pki" \
    --tls-cert-file "$dir/pki/apiserver.crt" \
    --tls-private-key-file "$dir/pki/apiserver.key" \
    --client-ca-file "$dir/pki/ca.crt" \
    --profiling=false \
    --v 1
  wait_until "$dir" crd-apiserver 120 "crd-apiserver /readyz" server_ready "$dir"
  log "API server up: export KUBECONFIG=$dir/kubeconfig"
}

cmd_down() {
  local dir
  dir=$(abspath "$1")
  [[ -d $dir ]] || return 0
  exec 9>"$dir/.lock"
  flock 9
  stop_all "$dir"
  clean_server_dir "$dir"
  rm -f "$dir/.lock"
}

cmd_env() {
  local kc
  kc="$(abspath "$1")/kubeconfig"
  printf 'export KUBECONFIG=%q\n' "$kc"
  printf 'export HTX_CURRENT_KUBECONFIG=%q\n' "$kc"
}

case ${1:-} in
build)
  [[ $# -eq 1 ]] || usage
  cmd_build
  ;;
up | down | env)
  [[ $# -eq 2 && -n $2 ]] || usage
  "cmd_$1" "$2"
  ;;
*) usage ;;
esac
