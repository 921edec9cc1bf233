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
#   signers:        sid's cosign and notation (static Go programs), unpacked
#                   the same way under $RULES_IMG_PEERS_TOOLS/signers and
#                   linked into its bin: the verifiers of the supply-chain
#                   tests. --skip-podman skips them too.
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

# pyspdxtools (sid's python3-spdx-tools, unpacked with the signers) judges
# the SBOMs of e2e/supplychain; these are its dependencies bookworm has.
PLAIN_PKGS+=(python3-click: python3-license-expression: python3-ply: python3-rdflib: python3-semantic-version: python3-uritools: python3-xmltodict: python3-yaml:)
# And the SPDX 2.3 JSON schema is checked with jsonschema.
PLAIN_PKGS+=(python3-jsonschema:)

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

# unpack_debs NAME DIR PKG/SUITE...: downloads the packages with a private
# apt configuration (its own sources, lists and cache: /etc/apt is not
# changed, and its sources and pins are not read, whatever suites the
# machine has) and unpacks them into DIR/root.new, leaving nothing else
# behind. Sets UNPACKED_BYTES to the packages' size.
unpack_debs() {
  local name=$1 dir=$2
  shift 2
  command -v apt-get >/dev/null || die "$name: no apt-get to download its packages with"
  command -v dpkg >/dev/null || die "$name: no dpkg to unpack its packages with"
  [ -f "$ARCHIVE_KEYRING" ] || die "$name: no $ARCHIVE_KEYRING (package debian-archive-keyring)"
  local aptdir=$dir/apt debs=$dir/debs new=$dir/root.new
  rm -rf "$aptdir" "$debs" "$new"
  mkdir -p "$aptdir/lists/partial" "$aptdir/cache/archives/partial" "$aptdir/empty" "$debs" "$new"
  printf 'deb [signed-by=%s] http://deb.debian.org/debian %s main\n' \
    "$ARCHIVE_KEYRING" sid "$ARCHIVE_KEYRING" bookworm >"$aptdir/sources.list"
  local -a papt=(apt-get -q -o APT::Sandbox::User=root
    -o Dir::Etc::sourcelist="$aptdir/sources.list" -o Dir::Etc::sourceparts="$aptdir/empty"
    -o Dir::Etc::preferencesparts="$aptdir/empty" -o Dir::Etc::preferences="$aptdir/empty/none"
    -o Dir::State::Lists="$aptdir/lists" -o Dir::Cache="$aptdir/cache")
  "${papt[@]}" update >"$dir/apt-update.log" 2>&1 ||
    die "$name: apt-get update with the private sources failed (see $dir/apt-update.log)"
  (cd "$debs" && "${papt[@]}" download "$@" >"$dir/apt-download.log" 2>&1) ||
    die "$name: apt-get download $* failed (see $dir/apt-download.log)"
  local deb
  UNPACKED_BYTES=$(cat "$debs"/*.deb | wc -c)
  for deb in "$debs"/*.deb; do
    dpkg -x "$deb" "$new" || die "$name: dpkg -x $deb failed"
  done
  rm -rf "$aptdir" "$debs" "$dir"/apt-*.log
}

podman_unpack() {
  local root=$PODMAN_DIR/root version t0
  if version=$(podman_runs "$root"); then
    say "podman: $version present"
    return 0
  fi
  t0=$(now)
  unpack_debs podman "$PODMAN_DIR" "${PODMAN_DEBS[@]}"
  version=$(podman_runs "$PODMAN_DIR/root.new") ||
    die "podman: the unpacked podman does not run ($PODMAN_DIR/root.new/usr/bin/podman --version)"
  rm -rf "$root"
  mv "$PODMAN_DIR/root.new" "$root"
  say "podman: $version unpacked in $(since "$t0") s ($((UNPACKED_BYTES >> 20)) MiB of packages, $(du -sm "$root" | cut -f1) MiB in $root)"
}

# The verifiers of signatures and SBOMs, from sid, unpacked as podman is:
# cosign and notation are static Go programs, linked into $BIN; pyspdxtools
# (pure Python) gets a wrapper there that runs it with the system's Python.
SIGNERS_DIR=$TOOLS/signers
SIGNERS_DEBS=(cosign/sid notation/sid python3-spdx-tools/sid python3-beartype/sid)

signers_unpack() {
  local root=$SIGNERS_DIR/root t0 tool
  if [ -x "$root/usr/bin/cosign" ] && [ -x "$root/usr/bin/notation" ] && [ -d "$root/usr/lib/python3/dist-packages/spdx_tools" ]; then
    say "signers: cosign, notation and pyspdxtools present"
  else
    t0=$(now)
    unpack_debs signers "$SIGNERS_DIR" "${SIGNERS_DEBS[@]}"
    for tool in cosign notation; do
      "$SIGNERS_DIR/root.new/usr/bin/$tool" version >/dev/null 2>&1 ||
        die "signers: the unpacked $tool does not run"
    done
    rm -rf "$root"
    mv "$SIGNERS_DIR/root.new" "$root"
    say "signers: cosign, notation and pyspdxtools unpacked in $(since "$t0") s ($((UNPACKED_BYTES >> 20)) MiB of packages)"
  fi
  mkdir -p "$BIN"
  for tool in cosign notation; do
    ln -sfn "$root/usr/bin/$tool" "$BIN/$tool"
  done
  printf '#!/bin/sh\nPYTHONPATH=%s/usr/lib/python3/dist-packages exec /usr/bin/python3 -m spdx_tools.spdx.clitools.pyspdxtools "$@"\n' \
    "$root" >"$BIN/pyspdxtools"
  chmod 755 "$BIN/pyspdxtools"
  "$BIN/pyspdxtools" --help >/dev/null 2>&1 || die "signers: pyspdxtools does not run (see $BIN/pyspdxtools)"
}

[ "$SKIP_APT" = 1 ] || apt_install
[ "$SKIP_GO" = 1 ] || go_install
[ "$SKIP_PODMAN" = 1 ] || podman_unpack
[ "$SKIP_PODMAN" = 1 ] || signers_unpack
say "done in $(since "$T_START") s; put $BIN on PATH for crane, conformance, cosign and notation"
