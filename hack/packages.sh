# shellcheck shell=bash
# Debian package helpers shared by the hack/ scripts. Source it after defining log() and die().

as_root() {
  if [[ $(id -u) -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    die "need root (or sudo) to run: $*"
  fi
}

pkg_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

APT_UPDATED=0
apt_update() {
  # A broken third-party source must not stop us: apt-get install says what is missing.
  as_root apt-get update -qq >/dev/null || log "warning: apt-get update reported errors, going on"
  APT_UPDATED=1
}

apt_install() {
  local missing=() p
  for p in "$@"; do
    pkg_installed "$p" || missing+=("$p")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  command -v apt-get >/dev/null || die "missing packages ${missing[*]} and no apt-get (not Debian?): install them by hand"
  if [[ $APT_UPDATED -eq 0 ]]; then
    log "apt-get update"
    apt_update
  fi
  log "installing Debian packages: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    die "apt-get install ${missing[*]} failed"
}

# Does Debian have a candidate for package $1?
apt_has() {
  local cand
  cand=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}')
  if [[ ! $cand =~ ^[0-9] && $APT_UPDATED -eq 0 ]] && command -v apt-get >/dev/null; then
    apt_update
    cand=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}')
  fi
  [[ $cand =~ ^[0-9] ]]
}

# The Debian mirror the machine's apt uses (deb.debian.org when none is configured).
debian_mirror() {
  local u
  u=$(grep -hsoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -n1 | tr -d ' ' || true)
  u=${u%/}
  echo "${u:-http://deb.debian.org/debian}"
}
