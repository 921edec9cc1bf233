#!/usr/bin/env bash
# install_bazel.sh: make sure a Bazel 7.7 or newer is on PATH.
#
# A machine that already has one (from bazelisk, a release binary or a
# package) is left alone. Otherwise, on Debian, as root, Bazel is installed
# from Debian sid's bazel-bootstrap package (the only modern Bazel that an
# apt-only machine can get), with sid pinned low so that every other package
# keeps coming from the machine's own release. Safe to run again.
set -euo pipefail

MIN_MAJOR=7 MIN_MINOR=7
PKGS=(bazel-bootstrap bazel-rules-shell bazel-stardoc)
SID_SOURCE=/etc/apt/sources.list.d/rules-img-sid.sources
SID_PIN=/etc/apt/preferences.d/rules-img-sid.pref

say() { printf 'install_bazel: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# bazel_version_ok: the bazel on PATH is MIN_MAJOR.MIN_MINOR or newer.
bazel_version_ok() {
  command -v bazel >/dev/null 2>&1 || return 1
  local major minor
  read -r major minor < <(bazel --version 2>/dev/null | sed -n 's/^bazel \([0-9]*\)\.\([0-9]*\).*/\1 \2/p') || return 1
  [ -n "${major:-}" ] || return 1
  [ "$major" -gt "$MIN_MAJOR" ] || { [ "$major" -eq "$MIN_MAJOR" ] && [ "$minor" -ge "$MIN_MINOR" ]; }
}

# deb_installed PKG: dpkg reports PKG as installed (held packages included).
deb_installed() {
  case "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" in *" ok installed") return 0 ;; esac
  return 1
}

# The offline set-up also needs rules_shell (rules_go) and stardoc (docs/)
# from Debian, so with Debian's Bazel those packages must be there too.
if bazel_version_ok; then
  if ! deb_installed bazel-bootstrap || { deb_installed bazel-rules-shell && deb_installed bazel-stardoc; }; then
    say "ok: $(bazel --version)"
    exit 0
  fi
fi
if command -v bazel >/dev/null 2>&1 && ! bazel_version_ok; then
  say "found $(command -v bazel) ($(bazel --version 2>&1 | head -n1)), but rules_img needs Bazel ${MIN_MAJOR}.${MIN_MINOR} or newer"
fi
command -v apt-get >/dev/null 2>&1 || die "no Bazel ${MIN_MAJOR}.${MIN_MINOR}+ on PATH and no apt-get: install Bazel ${MIN_MAJOR}.${MIN_MINOR} or newer (for example with bazelisk) and run this again"
[ "$(id -u)" -eq 0 ] || die "installing Bazel with apt needs root: run this script as root, or install Bazel ${MIN_MAJOR}.${MIN_MINOR}+ yourself"

# sid, pinned at 100: reachable with -t sid, never chosen by a plain install.
write_if_changed() {
  [ "$(cat "$1" 2>/dev/null)" = "$2" ] || { printf '%s\n' "$2" >"$1"; say "wrote $1"; }
}
if ! grep -rqsE '^[[:space:]]*Suites:.*[[:space:]]sid([[:space:]]|$)|^[[:space:]]*deb[[:space:]].*[[:space:]]sid([[:space:]]|$)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  write_if_changed "$SID_SOURCE" "Types: deb
URIs: http://deb.debian.org/debian
Suites: sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
fi
write_if_changed "$SID_PIN" "# rules_img: sid packages only when asked for with -t sid.
Package: *
Pin: release n=sid
Pin-Priority: 100"

export DEBIAN_FRONTEND=noninteractive
apt=(apt-get -q -o DPkg::Lock::Timeout=600)
# -t sid: apt does not pull sid dependencies in by itself. --force-overwrite:
# bookworm's libssl3 and sid's openssl-provider-legacy both ship legacy.so.
opts=(-y --no-install-recommends -t sid -o Dpkg::Options::=--force-overwrite
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
"${apt[@]}" update
if ! "${apt[@]}" install "${opts[@]}" "${PKGS[@]}"; then
  say "first attempt failed; repairing with apt-get -f install and trying once more"
  "${apt[@]}" -f install "${opts[@]}"
  "${apt[@]}" install "${opts[@]}" "${PKGS[@]}"
fi
# A later apt-get upgrade must not move Bazel under our feet.
apt-mark hold bazel-bootstrap bazel-bootstrap-data >/dev/null
bazel_version_ok || die "Bazel installed, but '$(bazel --version 2>&1 | head -n1)' is older than ${MIN_MAJOR}.${MIN_MINOR}"
say "installed $(bazel --version)"
