#!/usr/bin/env bash
# Sourced by scripts/setup.sh and scripts/vm-setup.sh: install_missing WHO PACKAGE... installs
# the Debian packages that are not installed yet (apt-get update only when something is
# missing), or, without root, names them in one sentence and exits 1.
install_missing() {
  local who=$1
  shift
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "$who: missing Debian packages: ${missing[*]}; run this script as root (or apt-get install -y --no-install-recommends ${missing[*]})" >&2
    exit 1
  fi
  echo "$who: installing ${missing[*]}" >&2
  apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
}
