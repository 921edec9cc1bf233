#!/usr/bin/env bash
# usage: install.sh [--skip-apt] [--skip-go] [--skip-podman]
#
# Installs the third-party peers that rules_img's end-to-end tests run
# against. Run as root (apt). Idempotent: what is present is skipped, and
# when everything is there it returns in well under a second.
#
#   apt, bookworm:  docker-registry apache2-utils busybox-static curl openssl
#                   jq python3 ca-certificates nginx (Bazel's HTTP cache)
#                   tzdata g++ file nodejs npm (the examples of e2e/)
#   apt, -t sid:    containerd runc skopeo umoci   (containerd 2.x: config v3)
#                   buildbox (buildbox-casd, casupload: a REAPI CAS)
#                   docker.io (dockerd 25+: the containerd image store; the
#                   package has no client, so docker-cli is added when no
#                   `docker` is on PATH)
#   go install:     crane v0.22.1 and the OCI conformance suite into $RULES_IMG_PEERS_TOOLS/bin
#                   (default /var/tmp/rules-img-peers/bin)
#   podman:         sid's podman, libsubid6 and netavark, and bookworm's
#                   conmon (sid's needs a newer glib), downloaded with a
#                   private apt configuration under $RULES_IMG_PEERS_TOOLS/podman
#                   (its own sources, lists and cache; /etc/apt is left as
#                   it is) and unpacked with dpkg -x into
#                   $RULES_IMG_PEERS_TOOLS/podman/root, not installed:
#                   `apt-get install podman` would upgrade ~80 packages, and
#                   bookworm's podman conflicts with sid's containers-common.
#                   podman.sh runs it with a private configuration.
#
# sid is added as an apt source only when no source names it yet, and is
# pinned at priority 100 so that plain installs keep taking bookworm's
# packages. No daemon is started: containerd.sh, dockerd.sh, podman.sh and
# registry.sh do that.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SKIP_APT=0 SKIP_GO=0 SKIP_PODMAN=0
while [ $# -gt 0 ]; do
  case $1 in
    --skip-apt) SKIP_APT=1 ;;
    --skip-go) SKIP_GO=1 ;;
    --skip-podman) SKIP_PODMAN=1 ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done

TOOLS=${RULES_IMG_PEERS_TOOLS:-/var/tmp/rules-img-peers}
BIN=$TOOLS/bin
T_START=$(now)

# Same file names and contents as tools/setup/install_bazel.sh, so the two
# scripts share one sid source and one pin instead of adding their own.
SID_SOURCE=/etc/apt/sources.list.d/rules-img-sid.sources
SID_PIN=/etc/apt/preferences.d/rules-img-sid.pref

# NAME:MINIMUM (empty minimum = any version). Below the minimum counts as missing.
PLAIN_PKGS=(docker-registry: apache2-utils: busybox-static: curl: openssl: jq: python3: ca-certificates: nginx:)
# containerd 2.0 is the first to read config version 3; bookworm has 1.6.
# docker.io 25 is the first whose containerd image store loads OCI archives;
# bookworm has 20.10.
# buildbox (buildbox-casd, casupload: a REAPI CAS for lazy pushes) is only in sid.
SID_PKGS=(containerd:2.0 runc: skopeo: umoci: docker.io:25 buildbox:)

# The distroless, C++ and Python examples (e2e/) build their base images
# from the host's tzdata, CA certificates, busybox-static and Python, and
# compile with the host's C++ toolchain.
PLAIN_PKGS+=(tzdata: g++: file:)

# The JS example (e2e/js) builds its Node base from the host's node and runs
# npm ci at fetch time. npm is asked for by command, not package: NodeSource's
# nodejs package brings npm itself and conflicts with Debian's.
PLAIN_PKGS+=(nodejs:)

# missing_pkgs NAME:MIN...: print the names that are not installed at MIN or newer.
# One dpkg-query for all of them keeps the fast path fast.
missing_pkgs() {
  local -A have=()
  local e name ver status
  while IFS=$'\t' read -r name status ver; do
    [[ $status == *" ok installed" ]] && have[$name]=$ver
  done < <(dpkg-query -W -f='${Package}\t${Status}\t${Version}\n' "${@%%:*}" 2>/dev/null || true)
  for e in "$@"; do
    name=${e%%:*}
    if [ -z "${have[$name]:-}" ]; then
      echo "$name"
    elif [ -n "${e#*:}" ] && ! dpkg --compare-versions "${have[$name]}" ge "${e#*:}"; then
      echo "$name"
    fi
  done
}

# Any source for sid, ours (install_bazel.sh writes the same file) or the
# machine's own, under its codename or as "unstable".
sid_source_exists() {
  grep -rqsE '^[[:space:]]*Suites:.*[[:space:]](sid|unstable)([[:space:]]|$)|^[[:space:]]*deb(-src)?[[:space:]].*[[:space:]](sid|unstable)([[:space:]]|$)' \
    /etc/apt/sources.list /etc/apt/sources.list.d/
}

# write_if_changed FILE CONTENT: leave FILE alone when it already says CONTENT.
write_if_changed() {
  [ "$(cat "$1" 2>/dev/null)" = "$2" ] && return 0
  printf '%s\n' "$2" >"$1"
  say "wrote $1"
}

apt_install() {
  local -a plain sid
  mapfile -t plain < <(missing_pkgs "${PLAIN_PKGS[@]}")
  mapfile -t sid < <(missing_pkgs "${SID_PKGS[@]}")
  command -v docker >/dev/null || sid+=(docker-cli)
  command -v npm >/dev/null || plain+=(npm)
  if [ ${#plain[@]} -eq 0 ] && [ ${#sid[@]} -eq 0 ]; then
    say "apt: all packages present"
    return 0
  fi
  [ "$(id -u)" -eq 0 ] || die "missing packages (${plain[*]} ${sid[*]}): run as root"
  command -v apt-get >/dev/null || die "missing packages (${plain[*]} ${sid[*]}) and no apt-get"
  local t0
  t0=$(now)

  if [ ${#sid[@]} -gt 0 ]; then
    # The pin goes first: unpinned, sid would sit at 500 and win every plain
    # install, so there must never be a sid source without it.
    write_if_changed "$SID_PIN" "# rules_img: sid packages only when asked for with -t sid.
Package: *
Pin: release n=sid
Pin-Priority: 100"
    if ! sid_source_exists; then
      write_if_changed "$SID_SOURCE" "Types: deb
URIs: http://deb.debian.org/debian
Suites: sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
    fi
  fi

  # Package scripts must not start containerd (or anything else) here. Only
  # add a guard when the machine has none, and remove ours afterwards.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# rules_img install.sh: no daemon starts during install\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi

  export DEBIAN_FRONTEND=noninteractive
  # Another apt (the Bazel install, for one) may hold the lock: wait, don't fail.
  local -a apt=(apt-get -q -o DPkg::Lock::Timeout=600)
  local -a opts=(-y --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
  "${apt[@]}" update
  if [ ${#sid[@]} -gt 0 ]; then
    say "apt -t sid: ${sid[*]}"
    # -t sid: apt does not pull sid dependencies in by itself.
    # --force-overwrite: bookworm's libssl3 and sid's openssl-provider-legacy
    # both ship legacy.so.
    local -a sidopts=("${opts[@]}" -t sid -o Dpkg::Options::=--force-overwrite)
    if ! "${apt[@]}" install "${sidopts[@]}" "${sid[@]}"; then
      say "first attempt failed; repairing with apt-get -f install and trying once more"
      "${apt[@]}" -f install "${sidopts[@]}"
      "${apt[@]}" install "${sidopts[@]}" "${sid[@]}"
    fi
  fi
  if [ ${#plain[@]} -gt 0 ]; then
    say "apt: ${plain[*]}"
    "${apt[@]}" install "${opts[@]}" "${plain[@]}"
  fi
  local left
  left=$(missing_pkgs "${PLAIN_PKGS[@]}" "${SID_PKGS[@]}")
  [ -z "$left" ] || die "still missing after apt-get install: $(echo "$left" | tr '\n' ' ')"
  command -v docker >/dev/null || die "no docker client on PATH after installing docker-cli"
  command -v npm >/dev/null || die "no npm on PATH after installing npm"
  say "apt: done in $(since "$t0") s"
}

# NAME MODULE VERSION PACKAGE
GO_TOOLS=(
  "crane github.com/google/go-containerregistry v0.22.1 github.com/google/go-containerregistry/cmd/crane"
  # The OCI distribution-spec conformance suite, run against cas-registry.
  "conformance github.com/opencontainers/distribution-spec/conformance v0.0.0-20260831232431-97274622c111 github.com/opencontainers/distribution-spec/conformance"
)

go_install() {
  local line name mod ver pkg t0
  mkdir -p "$BIN"
  for line in "${GO_TOOLS[@]}"; do
    read -r name mod ver pkg <<<"$line"
    # The module line of the build info is the version really built in.
    if [ -x "$BIN/$name" ] && go version -m "$BIN/$name" 2>/dev/null |
      awk -v m="$mod" -v v="$ver" '$1 == "mod" && $2 == m && $3 == v { found = 1 } END { exit !found }'; then
      say "go: $name $ver present"
      continue
    fi
    command -v go >/dev/null || die "go not found on PATH (needed to build $name)"
    t0=$(now)
    # GOTOOLCHAIN=local: use the installed Go; never download another one.
    GOBIN=$BIN GOTOOLCHAIN=local GOFLAGS=-buildvcs=false go install "$pkg@$ver" ||
      die "go install $pkg@$ver failed"
    say "go: $name $ver installed in $(since "$t0") s"
  done
}

# The unpacked podman (see the header). Its files: podman/root; the download
# leaves nothing else behind.
PODMAN_DIR=$TOOLS/podman
PODMAN_DEBS=(podman/sid libsubid6/sid netavark/sid conmon/bookworm)
ARCHIVE_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

# podman_runs ROOT: the podman unpacked in ROOT starts, with its libsubid.
podman_runs() {
  local lib
  lib=$(find "$1/usr/lib" -name 'libsubid.so.6*' -printf '%h\n' 2>/dev/null | head -n1)
  [ -n "$lib" ] && [ -x "$1/usr/bin/podman" ] && [ -x "$1/usr/bin/conmon" ] &&
    LD_LIBRARY_PATH=$lib "$1/usr/bin/podman" --version 2>/dev/null
}

podman_unpack() {
  local root=$PODMAN_DIR/root version
  if version=$(podman_runs "$root"); then
    say "podman: $version present"
    return 0
  fi
  command -v apt-get >/dev/null || die "podman: no apt-get to download its packages with"
  command -v dpkg >/dev/null || die "podman: no dpkg to unpack its packages with"
  [ -f "$ARCHIVE_KEYRING" ] || die "podman: no $ARCHIVE_KEYRING (package debian-archive-keyring)"
  local t0 aptdir=$PODMAN_DIR/apt debs=$PODMAN_DIR/debs new=$PODMAN_DIR/root.new
  t0=$(now)
  rm -rf "$aptdir" "$debs" "$new"
  mkdir -p "$aptdir/lists/partial" "$aptdir/cache/archives/partial" "$aptdir/empty" "$debs" "$new"
  # A private apt configuration just for the download: its own sources,
  # lists and cache. /etc/apt is not changed, and its sources and pins are
  # not read, whatever suites the machine has.
  printf 'deb [signed-by=%s] http://deb.debian.org/debian %s main\n' \
    "$ARCHIVE_KEYRING" sid "$ARCHIVE_KEYRING" bookworm >"$aptdir/sources.list"
  local -a papt=(apt-get -q -o APT::Sandbox::User=root
    -o Dir::Etc::sourcelist="$aptdir/sources.list" -o Dir::Etc::sourceparts="$aptdir/empty"
    -o Dir::Etc::preferencesparts="$aptdir/empty" -o Dir::Etc::preferences="$aptdir/empty/none"
    -o Dir::State::Lists="$aptdir/lists" -o Dir::Cache="$aptdir/cache")
  "${papt[@]}" update >"$PODMAN_DIR/apt-update.log" 2>&1 ||
    die "podman: apt-get update with the private sources failed (see $PODMAN_DIR/apt-update.log)"
  (cd "$debs" && "${papt[@]}" download "${PODMAN_DEBS[@]}" >"$PODMAN_DIR/apt-download.log" 2>&1) ||
    die "podman: apt-get download ${PODMAN_DEBS[*]} failed (see $PODMAN_DIR/apt-download.log)"
  local deb bytes
  bytes=$(cat "$debs"/*.deb | wc -c)
  for deb in "$debs"/*.deb; do
    dpkg -x "$deb" "$new" || die "podman: dpkg -x $deb failed"
  done
  version=$(podman_runs "$new") || die "podman: the unpacked podman does not run ($new/usr/bin/podman --version)"
  rm -rf "$root" "$aptdir" "$debs" "$PODMAN_DIR"/apt-*.log
  mv "$new" "$root"
  say "podman: $version unpacked in $(since "$t0") s ($((bytes >> 20)) MiB of packages, $(du -sm "$root" | cut -f1) MiB in $root)"
}

[ "$SKIP_APT" = 1 ] || apt_install
[ "$SKIP_GO" = 1 ] || go_install
[ "$SKIP_PODMAN" = 1 ] || podman_unpack
say "done in $(since "$T_START") s; put $BIN on PATH for crane and conformance"
