#!/usr/bin/env bash
# End-to-end test of the Python example: a py_binary with rules_python and
# the system Python toolchain, on the distroless example's :python3 base,
# checked with umoci and run in containerd.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
. ../lib.sh
expect_checks 14

work=$(mktemp -d /tmp/e2e-python.XXXXXX)
trap 'containerd_down; bazel shutdown >/dev/null 2>&1; rm -rf "$work"' EXIT

check "python: bazel build //:image with the oci_layout output group" \
  bazel build //:image //:image_without_python //:hello //:app_layer --output_groups=+oci_layout
check_eq "python: the launcher starts the system Python directly" "#!/usr/bin/python3" "$(head -n1 bazel-bin/hello 2>&1)"

check "python: umoci unpack accepts the image" umoci unpack --rootless --image bazel-bin/image.oci_layout:latest "$work/bundle"
rootfs=$work/bundle/rootfs
runfiles=$rootfs/app/bin/hello.runfiles
check "python: the program and its library sit in the runfiles" \
  test -f "$runfiles/_main/hello.py" -a -f "$runfiles/_main/lib/greeting.py" -a -f "$runfiles/_main/lib/message.txt"
# rules_python's canonical name, as Bazel gives it.
rules_python=$(repo_name rules_python)
check "python: rules_python's runfiles module sits under its canonical name" \
  test -n "$rules_python" -a -f "$runfiles/$rules_python/python/runfiles/runfiles.py"
check "python: _repo_mapping maps the main repository's rules_python to it" \
  grep -qxF ",rules_python,$rules_python" "$runfiles/_repo_mapping"
# python3_under ROOT: what ROOT/usr/bin/python3 links to, and the sha256 of
# the file the link reaches.
python3_under() { echo "$(readlink -v "$1/usr/bin/python3" 2>&1) $(sha256_of "$1/usr/bin/python3")"; }
check_eq "python: /usr/bin/python3 in the image is the host's interpreter" \
  "$(python3_under "")" "$(python3_under "$rootfs")"
# The layers as skopeo reads them: the base manifest's four, then the blob
# of the app layer.
base_manifest=$(bazel cquery --output=files @e2e_distroless//python3 2>/dev/null | grep 'manifest\.json$')
base_layers=$(jq -r 'if (.layers | length) == 4 then [.layers[].digest] | join(" ")
  else "the base has \(.layers | length) layers, not 4" end' "$base_manifest" 2>&1)
check_eq "python: the image is the :python3 base's 4 layers plus the app layer" \
  "$base_layers $(sha256_of bazel-bin/app_layer.tar.gz)" \
  "$(skopeo inspect oci:bazel-bin/image.oci_layout:latest 2>&1 | jq -r '.Layers | join(" ")' 2>&1)"

containerd_start "$work/ctd"
version=$(/usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
cas=$(SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt /usr/bin/python3 -c \
  'import ssl; print(ssl.create_default_context().cert_store_stats()["x509_ca"])')
check_eq "python: the image runs in containerd: interpreter, runfiles, users, zones and CA certificates" \
  "Hello from Python $version in a rules_img image
user: nonroot (65532)
Europe/Berlin at the epoch: 1970-01-01 01:00:00 CET
CA certificates: $cas
message: a data file from the runfiles
runfiles library: $rules_python/python/runfiles/runfiles.py" \
  "$(containerd_run_layout bazel-bin/image.oci_layout localhost/e2e/python 2>&1)"
check_fails "python: without the Python of the base, the launcher can't start" \
  "exec /app/bin/hello: no such file or directory" \
  containerd_run_layout bazel-bin/image_without_python.oci_layout localhost/e2e/python-without-python
containerd_down

# Reproducible: a second output base, no cache, the same digests.
check "python: rebuild in a fresh output base without any cache" \
  bazel --output_base="$work/ob2" build //:image --disk_cache= --noremote_accept_cached
ob2_bin=$work/ob2/execroot/_main/bazel-out/k8-fastbuild/bin
check_eq "python: the app layer is reproducible" \
  "$(sha256_of bazel-bin/app_layer.tar.gz)" "$(sha256_of "$ob2_bin/app_layer.tar.gz")"
check_eq "python: the image digest is reproducible" \
  "$(sha256_of bazel-bin/image.manifest.json)" "$(sha256_of "$ob2_bin/image.manifest.json")"
bazel --output_base="$work/ob2" shutdown >/dev/null 2>&1
# The structure test claims what the checks above saw (umoci, skopeo).
check "python: the image's structure test passes (its files, its config, the base's)" \
  bazel test //imagetests:structure_test
finish
