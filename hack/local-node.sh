# shellcheck shell=bash
# The node of `hack/local-cluster.sh up DIR --node` (sourced by it): kube-scheduler, Debian's
# containerd (with runc) and a kubelet v1.20.2 built from the same source as the API server, so
# that Deployments run real pods. Its state is in DIR/node; it needs root.
#
# The pod network is a bridge of its own, htx0 (10.244.0.0/24, containernetworking-plugins'
# bridge and host-local). The control plane listens on loopback only, so two DNAT rules (chain
# HTX-LOCAL-NODE, for packets from htx0) let pods reach it: the kubernetes Service's address
# 10.0.0.1:443 is the API server, and 10.244.0.1:PORT is the node's 127.0.0.1:PORT (the
# portal simulator of a test, say). No kube-proxy: the API server's Endpoints may not name a
# loopback address, and no other Service is needed. One node per machine (the bridge's name is
# fixed); `down` removes the bridge, the rules, the mounts and the cgroups again.

# What `build --node` adds to the control plane's binaries, from the same source.
# shellcheck disable=SC2034 # used by hack/local-cluster.sh
NODE_BINARIES=(kube-scheduler kubelet pause)
NODE_COMPONENTS=(kube-scheduler containerd kubelet)
NODE_NAME=htx-node
NODE_BRIDGE=htx0
NODE_SUBNET=10.244.0.0/24
NODE_IP=10.244.0.1
NODE_CHAIN=HTX-LOCAL-NODE
PAUSE_IMAGE=localhost/htx-pause:3.4

# build_pause SRC OUT: the pod sandbox's process (Kubernetes' build/pause), static.
build_pause() {
  apt_install gcc libc6-dev
  gcc -Os -Wall -Werror -static -DVERSION=v3.4-htx -o "$2" "$1/build/pause/linux/pause.c"
}

# Lines for the API server's token file: the kubelet's and kube-scheduler's identities.
node_tokens() {
  printf '%s,system:node:%s,system:node:%s,"system:nodes"\n' "$1" "$NODE_NAME" "$NODE_NAME"
  printf '%s,system:kube-scheduler,system:kube-scheduler\n' "$2"
}

node_ctr() {
  ctr --address "$1/node/containerd.sock" --namespace k8s.io "${@:2}"
}

# node_up DIR API_PORT: starts the node's components once the control plane runs.
node_up() {
  local dir=$1 api_port=$2 node=$1/node
  [[ $(id -u) -eq 0 ]] || die "--node needs root (containerd, mounts, the pod network)"
  apt_install containerd runc containernetworking-plugins iptables iproute2 umoci
  if ip link show "$NODE_BRIDGE" >/dev/null 2>&1; then
    die "the bridge $NODE_BRIDGE exists: another node is up (hack/local-cluster.sh down ITS_DIR)"
  fi
  mkdir -p "$node/cni"
  # The kubelet writes the pods' logs to /var/log/pods whatever its root: node_down removes
  # what was not there before.
  ls -1 /var/log/pods >"$node/pod-logs-before" 2>/dev/null || true

  log "pod network: bridge $NODE_BRIDGE $NODE_IP, API server at 10.0.0.1:443"
  # What node_down restores: ip_forward, which the bridge plugin turns on.
  cat /proc/sys/net/ipv4/ip_forward >"$node/network"
  ip link add "$NODE_BRIDGE" type bridge
  ip addr add "$NODE_IP/${NODE_SUBNET#*/}" dev "$NODE_BRIDGE"
  ip link set "$NODE_BRIDGE" up
  sysctl -qw "net.ipv4.conf.$NODE_BRIDGE.route_localnet=1"
  iptables -t nat -N "$NODE_CHAIN"
  iptables -t nat -A "$NODE_CHAIN" -d 10.0.0.1/32 -p tcp --dport 443 -j DNAT --to-destination "127.0.0.1:$api_port"
  iptables -t nat -A "$NODE_CHAIN" -d "$NODE_IP/32" -p tcp -j DNAT --to-destination 127.0.0.1
  iptables -t nat -A PREROUTING -i "$NODE_BRIDGE" -j "$NODE_CHAIN"
  cat >"$node/cni/10-htx.conflist" <<EOF
{"cniVersion": "0.4.0", "name": "htx", "plugins": [{
  "type": "bridge", "bridge": "$NODE_BRIDGE", "isGateway": true, "isDefaultGateway": true,
  "ipMasq": false, "hairpinMode": true,
  "ipam": {"type": "host-local", "dataDir": "$node/cni/ipam",
           "ranges": [[{"subnet": "$NODE_SUBNET", "gateway": "$NODE_IP"}]]}}]}
EOF

  cat >"$node/containerd.toml" <<EOF
version = 2
root = "$node/containerd"
state = "$node/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "$node/containerd.sock"
[ttrpc]
  address = "$node/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$node/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  netns_mounts_under_state_dir = true
  # The kubelet asks for -998 for pod sandboxes, which needs CAP_SYS_RESOURCE: machines without
  # it (a sandboxed VM) get containerd's own score instead of a failed sandbox.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = "$node/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$node/cni"
EOF
  log "containerd ($node/containerd.sock)"
  launch "$dir" containerd containerd --config "$node/containerd.toml" --log-level warn
  wait_until "$dir" containerd 60 "containerd" node_ctr "$dir" version

  log "importing the pause image ($PAUSE_IMAGE)"
  local pause=$node/pause
  umoci init --layout "$pause"
  umoci new --image "$pause:3.4"
  umoci unpack --image "$pause:3.4" "$pause/bundle" >/dev/null
  install -m 0755 "$BIN_DIR/pause" "$pause/bundle/rootfs/pause"
  umoci repack --image "$pause:3.4" "$pause/bundle"
  umoci config --image "$pause:3.4" --config.entrypoint /pause --config.user 65535:65535
  rm -rf "$pause/bundle"
  tar -C "$pause" -cf "$pause.tar" .
  node_ctr "$dir" images import --base-name "${PAUSE_IMAGE%:*}" "$pause.tar" >/dev/null

  local scheduler_port kubelet_port healthz_port
  scheduler_port=$(free_port)
  kubelet_port=$(free_port)
  healthz_port=$(free_port)
  log "kube-scheduler (health on https://127.0.0.1:$scheduler_port)"
  launch "$dir" kube-scheduler "$BIN_DIR/kube-scheduler" \
    --kubeconfig "$dir/kubeconfig-scheduler" \
    --authentication-kubeconfig "$dir/kubeconfig-scheduler" \
    --authorization-kubeconfig "$dir/kubeconfig-scheduler" \
    --bind-address 127.0.0.1 --secure-port "$scheduler_port" --port 0 \
    --cert-dir "$node/scheduler-pki" --leader-elect=false --profiling=false --v 1
  wait_until "$dir" kube-scheduler 120 "kube-scheduler /healthz" \
    bash -c "[[ \$(curl -sS -k --max-time 3 https://127.0.0.1:$scheduler_port/healthz) == ok ]]"

  cat >"$node/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: $kubelet_port
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $healthz_port
# Only the API server has a client certificate of the cluster's CA.
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $dir/pki/ca.crt}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
failSwapOn: false
imageGCHighThresholdPercent: 100
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%}
resolvConf: /etc/resolv.conf
EOF
  log "kubelet $NODE_NAME (health on http://127.0.0.1:$healthz_port)"
  launch "$dir" kubelet "$BIN_DIR/kubelet" \
    --config "$node/kubelet.yaml" \
    --kubeconfig "$dir/kubeconfig-kubelet" \
    --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" \
    --root-dir "$node/kubelet" --cert-dir "$node/kubelet-pki" \
    --container-runtime remote --container-runtime-endpoint "unix://$node/containerd.sock" \
    --v 1
  local kc
  kc=$(kubectl_bin)
  wait_until "$dir" kubelet 120 "node $NODE_NAME to be Ready" bash -c \
    "[[ \$('$kc' --kubeconfig '$dir/kubeconfig' get node $NODE_NAME -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}') == True ]]"
}

# node_down DIR: stops the node's containers and components and removes what it set up.
node_down() {
  local dir=$1 node=$1/node i comp id
  [[ -d $node ]] || return 0
  component_alive "$dir" kubelet && stop_pid "$(<"$(pidfile "$dir" kubelet)")"
  if component_alive "$dir" containerd; then
    for id in $(node_ctr "$dir" tasks ls -q 2>/dev/null); do
      node_ctr "$dir" tasks rm -f "$id" >/dev/null 2>&1 || true
    done
  fi
  for id in $(runc --root "$node/runc/k8s.io" list -q 2>/dev/null); do
    runc --root "$node/runc/k8s.io" delete --force "$id" || true
  done
  for ((i = ${#NODE_COMPONENTS[@]} - 1; i >= 0; i--)); do
    comp=${NODE_COMPONENTS[i]}
    component_alive "$dir" "$comp" && stop_pid "$(<"$(pidfile "$dir" "$comp")")"
    rm -f "$(pidfile "$dir" "$comp")"
  done
  # Whatever is still mounted below DIR/node (container root filesystems, network namespaces,
  # the pods' volumes), deepest first.
  awk -v prefix="$node/" 'index($5, prefix) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
    while read -r mount; do umount "$mount" 2>/dev/null || umount -l "$mount"; done
  if [[ -f $node/pod-logs-before ]]; then
    for id in /var/log/pods/*; do
      if [[ -e $id ]] && ! grep -qxF "${id##*/}" "$node/pod-logs-before"; then
        rm -rf "$id"
      fi
    done
    find /var/log/containers -xtype l -delete 2>/dev/null || true
    rmdir /var/log/pods /var/log/containers 2>/dev/null || true
  fi
  # What belongs to the machine's only node: this one, if it set up the network.
  if [[ -f $node/network ]]; then
    # The pods' cgroups (the kubelet's are kubepods/…), deepest first.
    find /sys/fs/cgroup/*/kubepods -depth -type d -exec rmdir {} + 2>/dev/null || true
    iptables -t nat -D PREROUTING -i "$NODE_BRIDGE" -j "$NODE_CHAIN" 2>/dev/null || true
    iptables -t nat -F "$NODE_CHAIN" 2>/dev/null || true
    iptables -t nat -X "$NODE_CHAIN" 2>/dev/null || true
    ip link del "$NODE_BRIDGE" 2>/dev/null || true
    rmdir /run/containerd/s /run/containerd 2>/dev/null || true # the shims' sockets, if empty
    sysctl -qw "net.ipv4.ip_forward=$(<"$node/network")"
  fi
  rm -rf "$node"
}
