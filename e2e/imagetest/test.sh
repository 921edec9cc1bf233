#!/usr/bin/env bash
# Image tests under `bazel test`: image_structure_test on an image, an index
# and a lazily pulled base, checked against what umoci unpacks; failing
# configs fail with messages that name the test, the path, what was
# expected and what was found; image_run_test runs the image in a private
# containerd, which keeps the image and no container.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
. ../lib.sh
expect_checks 20

work=$(mktemp -d /tmp/e2e-imagetest.XXXXXX)
ws=$work/ws
cleanup() {
  containerd_down
  [ ! -d "$ws" ] || (cd "$ws" && bazel shutdown >/dev/null 2>&1)
  "$REPO_ROOT/tools/setup/peers/registry.sh" down "$work" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

err=$("$REPO_ROOT/tools/setup/peers/registry.sh" up "$work" 2>&1) || { fail "imagetest: start the registry" "$err"; finish; }
. "$work/registry.env"
reglog=$work/logs/registry.log

# The base: one layer with /etc/base.txt, linux/amd64.
mkdir -p "$work/base/etc"
echo "base layer of the image test" >"$work/base/etc/base.txt"
chmod 644 "$work/base/etc/base.txt"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$work/base" -cf "$work/base.tar" etc
digest=$(crane append --insecure --oci-empty-base -f "$work/base.tar" -t "$REGISTRY/e2e/itbase:1" >/dev/null 2>&1 &&
  crane mutate --insecure --set-platform linux/amd64 "$REGISTRY/e2e/itbase:1" -t "$REGISTRY/e2e/itbase:1" >/dev/null 2>&1 &&
  crane digest --insecure "$REGISTRY/e2e/itbase:1" 2>&1) || { fail "imagetest: push the base" "$digest"; finish; }
base_layer=$(crane manifest --insecure "$REGISTRY/e2e/itbase:1" | jq -r '.layers[0].digest')

mkdir -p "$ws"
cp -r . "$ws" && rm -f "$ws/test.sh"
cp /bin/busybox "$ws/busybox"
sed -i "s#REGISTRY_UNDER_TEST#$REGISTRY#; s#DIGEST_UNDER_TEST#$digest#; s#path = \"../..\"#path = \"$REPO_ROOT\"#" "$ws/MODULE.bazel"
cat >"$ws/.bazelrc" <<RC
try-import $REPO_ROOT/.bazel-offline/offline.bazelrc
build --disk_cache=~/.cache/rules_img/bazel-disk-cache
build --remote_download_outputs=all
# The checkout is under /tmp: Bazel 8's hermetic /tmp would hide it.
build --noincompatible_sandbox_hermetic_tmp
RC
cd "$ws" || finish

# log NAME: the test log of //:NAME.
log() { cat "bazel-testlogs/$1/test.log" 2>&1; }

check "imagetest: structure tests of the image, its index and the pulled base pass" \
  bazel test //:structure_test //:index_structure_test //:base_structure_test
check_eq "imagetest: the base's layer was downloaded once, when its listing was first needed (registry log)" 1 \
  "$(grep -c "GET /v2/e2e/itbase/blobs/$base_layer" "$reglog")"
check_eq "imagetest: every test of the three ran, per the test logs" "7 passed, 0 failed|7 passed, 0 failed|3 passed, 0 failed" \
  "$(for t in structure_test index_structure_test base_structure_test; do log "$t" | grep -E '^[0-9]+ passed'; done | paste -sd'|')"

# What the structure test saw, as umoci unpacks the same image.
check "imagetest: the image's OCI layout" bazel build //:image --output_groups=+oci_layout
layout=$(find -L bazel-bin -maxdepth 1 -name 'image*layout*' -type d | head -1)
check "imagetest: umoci unpacks it" umoci unpack --rootless --image "${layout:-missing}:latest" "$work/bundle"
check_eq "imagetest: umoci's rootfs has what the structure test checked (modes, link, contents)" \
  "-rwxr-xr-x|busybox|hello from the image test|base layer of the image test|absent" \
  "$(cd "$work/bundle/rootfs" 2>/dev/null && printf '%s|%s|%s|%s|%s' "$(stat -c %A bin/busybox)" "$(readlink bin/sh)" \
    "$(cat etc/greeting.txt)" "$(cat etc/base.txt)" "$([ -e etc/shadow ] && echo present || echo absent)")"

check_fails "imagetest: a failing structure test fails" "" bazel test //:failing_structure_test
failing=$(log failing_structure_test)
check_eq "imagetest: its failures name the test, the path, what was expected and what was found" 4 \
  "$(grep -cFx -e 'FAIL [linux/amd64] File Existence Test: busybox is not setuid' \
    -e '    /bin/busybox: expected permissions urwxr-xr-x, found -rwxr-xr-x' \
    -e '    /opt/app/config.yaml: expected to exist, found nothing at /opt' \
    -e '    entrypoint: expected ["/bin/sh"], found ["/bin/cat"]' <<<"$failing")"
check "imagetest: a content failure shows the contents found" \
  grep -qF '/etc/greeting.txt: expected contents matching /^goodbye/, found "hello from the image test\n"' <<<"$failing"
check_fails "imagetest: commandTests are refused when the test is built, naming the file and image_run_test" \
  "command_tests.yaml: commandTests run a container, which image_structure_test never does: move them to an image_run_test" \
  bazel test //:refused_structure_test

check_fails "imagetest: a run test with no runtime (runc named but absent) fails, saying which flags to pass" \
  "--test_env=CONTAINERD_ADDRESS=/run/containerd/containerd.sock (and --test_env=CONTAINERD_NAMESPACE=NAME for a namespace other than default), or --test_env=DOCKER_HOST=unix:///var/run/docker.sock, or run the test as root on a machine with runc" \
  sh -c 'bazel test //:run_test --test_env=RUNC=/nonexistent/runc >/dev/null 2>&1; cat bazel-testlogs/run_test/test.log; exit 1'

# As root with runc on the machine, a run test that names no runtime
# unpacks the image and runs it with runc.
check "imagetest: run tests pass in runc when they run as root and name no runtime" \
  bazel test //:run_test //:run_test_with_args
check_eq "imagetest: runc ran them (test logs), and left no container state in runc's default root" \
  "2|" "$(grep -l "in runc (/usr/sbin/runc)" bazel-testlogs/run_test/test.log bazel-testlogs/run_test_with_args/test.log 2>/dev/null | wc -l)|$(runc list -q 2>&1 | grep rules-img-test)"
check_fails "imagetest: a failing run test in runc names what it expected and what the program printed" \
  'standard output: expected a match of /^goodbye/, found "hello from the image test"' \
  sh -c 'bazel test //:failing_run_test >/dev/null 2>&1; cat bazel-testlogs/failing_run_test/test.log; exit 1'

containerd_start "$work/containerd"
runtime=(--test_env=CONTAINERD_ADDRESS="${CONTAINERD_ADDRESS:-none}")
check "imagetest: run tests pass in containerd (the image's command; and an entrypoint, cmd, env and exit code of the test's)" \
  bazel test //:run_test //:run_test_with_args "${runtime[@]}"
ctr_() { ctr --address "${CONTAINERD_ADDRESS:-none}" "$@"; }
check_eq "imagetest: containerd keeps the tests' images and no container" \
  "rules-img-test.local/run-test-with-args:latest rules-img-test.local/run-test:latest|" \
  "$(ctr_ images ls -q 2>&1 | grep rules-img-test | LC_ALL=C sort | paste -sd' ')|$(ctr_ containers ls -q 2>&1)"
check_eq "imagetest: the image the test ran prints the greeting in ctr run too" "hello from the image test" \
  "$(ctr_ run --rm --snapshotter overlayfs rules-img-test.local/run-test:latest "e2e-$$" 2>&1)"
blobs=$(ctr_ content ls -q 2>&1 | wc -l)
check "imagetest: the run test again" bazel test //:run_test "${runtime[@]}"
check_eq "imagetest: the second run wrote no blob into containerd (its content store)" "$blobs" \
  "$(ctr_ content ls -q 2>&1 | wc -l)"
check_fails "imagetest: a failing run test names what it expected and what the program printed" \
  'standard output: expected a match of /^goodbye/, found "hello from the image test"' \
  sh -c 'bazel test //:failing_run_test "$@" >/dev/null 2>&1; cat bazel-testlogs/failing_run_test/test.log; exit 1' _ "${runtime[@]}"
finish
