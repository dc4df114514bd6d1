#!/usr/bin/env bash
# The operator's container image, built without a Docker engine.
#
#   hack/image.sh OUT            the image as an OCI layout in OUT (tag: the crate version) and as
#                                a `docker load`-able archive OUT.tar; prints the manifest digest
#   hack/image.sh --rootfs DIR   only the image's files, in DIR (the Dockerfile's build stage)
#
# The image holds the operator as a static binary (glibc with crt-static, jemalloc included), CA
# certificates, /etc/passwd and /etc/group with the non-root user 65532 and nothing else: no
# shell. It runs as 65532:65532 with the operator as its entrypoint (`run` its default argument).
# It is reproducible: the same commit and toolchain give the same digest (paths are remapped out
# of the binary; file times are SOURCE_DATE_EPOCH, default the commit's time; owners, modes and
# order are fixed; the config holds no timestamp).
#
# Builds for this machine's architecture (x86_64 or aarch64); see .github/workflows/image.yml for
# the multi-arch image.
#
# Environment:
#   HTX_IMAGE_REPOSITORY  the name in the archive (default: the chart's image.repository)
#   SOURCE_DATE_EPOCH     the files' time in the image (default: the last commit's time)
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*" >&2; }
die() {
  printf 'image: error: %s\n' "$*" >&2
  exit 1
}
usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
  exit 2
}

# shellcheck source=hack/packages.sh
source hack/packages.sh

BINARY=usr/local/bin/htx-operator
NONROOT=65532
VERSION=$(awk -F'"' '/^version *=/ { print $2; exit }' Cargo.toml)

# Compiles the operator statically for this machine and prints the binary's path.
build_binary() {
  local target
  target="$(uname -m)-unknown-linux-gnu"
  log "cargo build --release --target $target (static)"
  # With --target, RUSTFLAGS reach only the operator's code, not build scripts and proc macros.
  RUSTFLAGS="-C target-feature=+crt-static -C strip=symbols --remap-path-prefix=$PWD=/src --remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo" \
    cargo build --release --locked --target "$target" --bin htx-operator >&2
  echo "${CARGO_TARGET_DIR:-target}/$target/release/htx-operator"
}

# Writes the image's files into DIR (which must not exist).
stage_rootfs() {
  local root=$1 binary
  binary=$(build_binary)
  [[ -f /etc/ssl/certs/ca-certificates.crt ]] || apt_install ca-certificates
  install -d -m 0755 "$root" "$root/etc" "$root/etc/ssl" "$root/etc/ssl/certs" "$root/usr" "$root/usr/local" "$root/usr/local/bin"
  install -m 0755 "$binary" "$root/$BINARY"
  install -m 0644 /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
  install -m 0644 /dev/stdin "$root/etc/passwd" <<EOF
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:$NONROOT:$NONROOT:nonroot:/home/nonroot:/sbin/nologin
EOF
  install -m 0644 /dev/stdin "$root/etc/group" <<EOF
root:x:0:
nobody:x:65534:
nonroot:x:$NONROOT:
EOF
  # A static glibc resolves names with its built-in files and dns modules; without this file it
  # would ask DNS before /etc/hosts.
  install -m 0644 /dev/stdin "$root/etc/nsswitch.conf" <<'EOF'
hosts: files dns
EOF
}

# Stores stdin as a blob of the layout in DIR; prints "sha256:<hex> <size>".
put_blob() {
  local dir=$1 tmp hex
  tmp=$(mktemp "$dir/blobs/sha256/.tmp.XXXXXX")
  cat >"$tmp"
  hex=$(sha256sum "$tmp" | cut -d' ' -f1)
  mv "$tmp" "$dir/blobs/sha256/$hex"
  chmod 0644 "$dir/blobs/sha256/$hex"
  echo "sha256:$hex $(stat -c %s "$dir/blobs/sha256/$hex")"
}

# The OCI platform name of this machine.
oci_arch() {
  case $(uname -m) in
  x86_64) echo amd64 ;;
  aarch64) echo arm64 ;;
  *) die "unsupported architecture $(uname -m)" ;;
  esac
}

build_layout() {
  local out=$1 repository epoch revision
  repository=${HTX_IMAGE_REPOSITORY:-$(awk '/^image:/ { img = 1 } img && /repository:/ { print $2; exit }' charts/htx-operator/values.yaml)}
  epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
  revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
  [[ -z $(git status --porcelain --untracked-files=no 2>/dev/null) ]] || revision+="-dirty"
  apt_install jq skopeo

  local work="$out.tmp"
  rm -rf "$work"
  mkdir -p "$work/blobs/sha256"
  stage_rootfs "$work/rootfs"

  log "image layer (files dated $(date -u -d "@$epoch" +%FT%TZ))"
  local layer_tar="$work/layer.tar" diff_id layer layer_digest layer_size
  tar -C "$work/rootfs" --sort=name --format=ustar --numeric-owner --owner=0 --group=0 \
    --mtime="@$epoch" -cf "$layer_tar" etc usr
  diff_id="sha256:$(sha256sum "$layer_tar" | cut -d' ' -f1)"
  layer=$(gzip -9 -n -c "$layer_tar" | put_blob "$work")
  read -r layer_digest layer_size <<<"$layer"

  local config config_digest config_size
  config=$(jq -cnj --arg arch "$(oci_arch)" --arg diff_id "$diff_id" --arg user "$NONROOT:$NONROOT" \
    --arg entrypoint "/$BINARY" --arg version "$VERSION" --arg revision "$revision" '{
      architecture: $arch, os: "linux",
      config: {
        User: $user, Entrypoint: [$entrypoint], Cmd: ["run"], WorkingDir: "/",
        Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
              "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"],
        Labels: {"org.opencontainers.image.title": "htx-operator",
                 "org.opencontainers.image.version": $version,
                 "org.opencontainers.image.revision": $revision,
                 "org.opencontainers.image.licenses": "Apache-2.0"}
      },
      rootfs: {type: "layers", diff_ids: [$diff_id]},
      history: [{created_by: "hack/image.sh"}]
    }' | put_blob "$work")
  read -r config_digest config_size <<<"$config"

  local manifest manifest_digest manifest_size
  manifest=$(jq -cnj --arg cd "$config_digest" --argjson cs "$config_size" \
    --arg ld "$layer_digest" --argjson ls "$layer_size" '{
      schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $cd, size: $cs},
      layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: $ld, size: $ls}]
    }' | put_blob "$work")
  read -r manifest_digest manifest_size <<<"$manifest"

  jq -cnj --arg md "$manifest_digest" --argjson ms "$manifest_size" --arg tag "$VERSION" --arg arch "$(oci_arch)" '{
      schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $md, size: $ms,
                   platform: {architecture: $arch, os: "linux"},
                   annotations: {"org.opencontainers.image.ref.name": $tag}}]
    }' >"$work/index.json"
  printf '{"imageLayoutVersion":"1.0.0"}' >"$work/oci-layout"
  rm -rf "$work/rootfs" "$layer_tar"

  rm -rf "$out" "$out.tar"
  mv "$work" "$out"
  log "docker-archive $out.tar ($repository:$VERSION)"
  skopeo copy --quiet "oci:$out:$VERSION" "docker-archive:$out.tar:$repository:$VERSION" >&2
  log "image $repository:$VERSION $manifest_digest: $out ($(du -sh "$out" | cut -f1) compressed)"
  echo "$manifest_digest"
}

case ${1:-} in
--rootfs)
  [[ $# -eq 2 && ! -e $2 ]] || die "usage: hack/image.sh --rootfs DIR (DIR must not exist)"
  stage_rootfs "$2"
  ;;
-* | '') usage ;;
*)
  [[ $# -eq 1 ]] || usage
  build_layout "$1"
  ;;
esac
