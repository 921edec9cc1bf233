# lib.sh: helpers for the peer scripts next to it. Sourced, never run.
# The caller has already done `set -euo pipefail`.
# shellcheck shell=bash

say() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# usage: the calling script's header comment (from line 2 up to the first
# non-comment line), so --help and the file never disagree.
usage() { awk 'NR > 1 { if (!/^#/) exit; sub(/^# ?/, ""); print }' "$0"; }

now() { date +%s.%N; }
since() { awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.2f", e - s }'; }

# abs_dir DIR: DIR made absolute with symlinks resolved (created if needed).
# PID checks compare command lines against this exact spelling.
abs_dir() {
  mkdir -p "$1"
  (cd "$1" && pwd -P)
}

# alive PID: the process exists and is not a zombie. Daemons started here are
# reparented to PID 1 once our shell exits, and PID 1 may reap them late, so
# `kill -0` alone would report a dead daemon as running.
alive() {
  local st
  st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$st" ] && [ "$st" != Z ]
}

# owned PID DIR: PID is alive and DIR/ appears in its command line. Every
# process we start names a path under DIR, so a recycled PID is never touched.
owned() {
  local pid=$1 dir=$2
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$dir/"
}

# pidfile_owner FILE DIR: print the PID in FILE if that process is still ours.
pidfile_owner() {
  local pid
  [ -f "$1" ] || return 1
  pid=$(cat "$1")
  owned "$pid" "$2" || return 1
  printf '%s\n' "$pid"
}

# spawn PIDFILE LOGFILE CMD...: run CMD detached in its own session (so it
# survives our shell and gets no terminal signals), stdin from /dev/null.
# The PID is written by the process itself just before it execs CMD: that is
# right even when setsid has to fork (it does when it is a group leader).
spawn() {
  local pidfile=$1 logfile=$2
  shift 2
  rm -f "$pidfile"
  # shellcheck disable=SC2016 # $$ and $@ are for the inner shell
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" </dev/null >"$logfile" 2>&1 &
  for _ in $(seq 1 100); do
    [ -s "$pidfile" ] && return 0
    sleep 0.02
  done
  die "$1 did not start (no PID in $pidfile)"
}

# await NAME PID LOGFILE TIMEOUT CMD...: poll CMD until it succeeds. Fails
# early when PID exits, and on failure shows the tail of LOGFILE.
await() {
  local name=$1 pid=$2 logfile=$3 timeout=$4 t0
  shift 4
  t0=$(now)
  while ! "$@" >/dev/null 2>&1; do
    if ! alive "$pid"; then
      say "$name (pid $pid) exited while starting; last lines of $logfile:"
      tail -n 20 "$logfile" >&2 || true
      return 1
    fi
    if awk -v s="$t0" -v e="$(now)" -v t="$timeout" 'BEGIN { exit !(e - s > t) }'; then
      say "$name (pid $pid) not ready after ${timeout}s; last lines of $logfile:"
      tail -n 20 "$logfile" >&2 || true
      return 1
    fi
    sleep 0.05
  done
}

# stop NAME PID DIR: SIGTERM, up to 15 s for it to exit, then SIGKILL.
# Does nothing unless PID is still ours (see owned).
stop() {
  local name=$1 pid=$2 dir=$3
  owned "$pid" "$dir" || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 300); do
    alive "$pid" || return 0
    sleep 0.05
  done
  say "$name (pid $pid) still running 15 s after SIGTERM; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    alive "$pid" || return 0
    sleep 0.05
  done
  say "$name (pid $pid) survived SIGKILL"
  return 1
}

# stop_pidfile NAME PIDFILE DIR: stop the process named in PIDFILE, if ours,
# and remove the file.
stop_pidfile() {
  local name=$1 pidfile=$2 dir=$3 pid t0
  if pid=$(pidfile_owner "$pidfile" "$dir"); then
    t0=$(now)
    stop "$name" "$pid" "$dir"
    say "stopped $name (pid $pid) in $(since "$t0") s"
  fi
  rm -f "$pidfile"
}

# free_port: a TCP port on 127.0.0.1 that was free a moment ago (the kernel
# picks it for a bind to port 0; the caller retries if someone takes it first).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# stop_leftovers PATTERN DIR: stops every process whose command name matches
# the shell PATTERN and that DIR owns (owned), such as the shims or conmons
# that outlive their daemon.
stop_leftovers() {
  local pattern=$1 dir=$2 p comm
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    comm=$(cat "/proc/$p/comm" 2>/dev/null) || continue
    # shellcheck disable=SC2053 # PATTERN is a glob
    [[ $comm == $pattern ]] || continue
    owned "$p" "$dir" || continue
    stop "$comm" "$p" "$dir" && say "stopped leftover $comm (pid $p)"
  done
}

# umount_below DIR: unmounts everything mounted below DIR (snapshots,
# container root file systems and shm), deepest first so that no parent is
# busy.
umount_below() {
  local m
  awk -v d="$1/" '{ mp = $5; if (index(mp "/", d) == 1) print length(mp) "\t" mp }' /proc/self/mountinfo |
    sort -rn | cut -f2- | while IFS= read -r m; do
    m=$(printf '%b' "$m")  # mountinfo writes space, tab, newline, backslash as \ooo
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || say "could not unmount $m"
  done
}
