# Sourced by tools/test.sh and tools/demo.sh: install_packages NAME PKG...
# installs the Debian packages among PKG... that are missing (as root, or
# through sudo); NAME prefixes its messages. On a system without dpkg and
# apt-get it only lists what is needed.
install_packages() {
  local name=$1
  shift
  if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
    echo "$name: not a Debian system; make sure the equivalents of these are installed: $*" >&2
    return 0
  fi
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q ' installed$' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null; then
      echo "$name: missing packages (${missing[*]}); run as root or install sudo" >&2
      return 1
    fi
    sudo=sudo
  fi
  echo "$name: installing ${missing[*]}"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${missing[@]}"
}
