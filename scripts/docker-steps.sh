#!/usr/bin/env bash
# The container image's build steps, in one place. The Dockerfile RUNs them one by one:
#   deps            npm ci (from package-lock.json)
#   build           BPF objects + TypeScript (npm run build), then drop dev dependencies
#   layout DIR      copy what the runtime stage needs into DIR (the image's /app)
# and `check DIR` starts the result. With no argument this script runs every step outside
# Docker (no Docker engine needed): it copies the sources as the Docker build context
# would see them (git ls-files minus .dockerignore) into a temporary directory, runs deps,
# build and layout there, then starts `dist/cli.js --help` and `probe` from the laid-out
# app directory, as the image's user 65532 where possible.
set -euo pipefail

step=${1:-all}

deps() {
  npm ci --no-audit --no-fund
}

build() {
  npm run build
  npm prune --omit=dev --no-audit --no-fund
}

# What the runtime stage copies: compiled JS, production node_modules, protos (loaded at
# run time), the BPF object(s) (scripts/build-bpf.sh writes build/bpf/; the collector's
# default object path is build/bpf/scaler.bpf.o next to dist/) and package.json (version).
layout() {
  local dest=$1
  mkdir -p "$dest/build"
  cp -a package.json dist node_modules proto "$dest/"
  cp -a build/bpf "$dest/build/bpf"
  # Type declarations and source maps of dependencies are never loaded at run time; they
  # are about half of node_modules (the Kubernetes client's generated models).
  find "$dest/node_modules" \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \) -delete
  # Readable by any user: the image runs as 65532.
  chmod -R a+rX "$dest"
}

check() {
  local app=$1
  cd "$app"
  local as_user=()
  if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
    as_user=(setpriv --reuid 65532 --regid 65532 --clear-groups)
  fi
  echo "docker-steps: ${as_user[*]:-} node dist/cli.js --help" >&2
  "${as_user[@]}" node dist/cli.js --help
  "${as_user[@]}" node dist/cli.js scaler --help >/dev/null
  # probe loads the BPF programs: it needs the collector's privileges (root here).
  echo "docker-steps: node dist/cli.js probe" >&2
  node dist/cli.js probe
}

tmp=''
cleanup() {
  if [ -n "$tmp" ]; then rm -rf "$tmp"; fi
}

all() {
  local repo start
  repo=$(cd "$(dirname "$0")/.." && pwd)
  tmp=$(mktemp -d /tmp/kedaebpf-image.XXXXXX)
  chmod 755 "$tmp"
  trap cleanup EXIT
  start=$(date +%s)
  mkdir -p "$tmp/src"
  # The build context: tracked and new files, minus .dockerignore's patterns.
  (cd "$repo" && git ls-files -co --exclude-standard -z) | (cd "$repo" && tar --null -T - -cf -) | tar -C "$tmp/src" -xf -
  local pattern
  shopt -s globstar nullglob
  while read -r pattern; do
    [[ -z $pattern || $pattern == \#* ]] && continue
    # Unquoted on purpose: .dockerignore patterns are globs.
    # shellcheck disable=SC2086
    rm -rf "$tmp/src/"$pattern
  done <"$repo/.dockerignore"
  shopt -u globstar nullglob
  (cd "$tmp/src" && bash scripts/docker-steps.sh deps && bash scripts/docker-steps.sh build && bash scripts/docker-steps.sh layout "$tmp/app")
  echo "docker-steps: /app is $(du -sh "$tmp/app" | cut -f1) ($(du -sh "$tmp/app/node_modules" | cut -f1) node_modules), built in $(($(date +%s) - start)) s" >&2
  if [ -n "${KEEP_APP:-}" ]; then
    rm -rf "$KEEP_APP" && cp -a "$tmp/app" "$KEEP_APP"
  fi
  (check "$tmp/app")
}

case "$step" in
  deps) deps ;;
  build) build ;;
  layout) layout "${2:?layout needs a destination directory}" ;;
  check) check "${2:?check needs the app directory}" ;;
  all) all ;;
  *)
    echo "usage: $0 [deps|build|layout DIR|check DIR]" >&2
    exit 2
    ;;
esac
