#!/usr/bin/env bash
# End-to-end test of the distroless example: base images built from host
# files with no pull (users, CA certificates, tzdata, busybox, C++ libraries,
# Python), checked with umoci and run in containerd.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
. ../lib.sh
expect_checks 34

work=$(mktemp -d /tmp/e2e-distroless.XXXXXX)
trap 'containerd_down; bazel shutdown >/dev/null 2>&1; rm -rf "$work"' EXIT

check "distroless: bazel build the base images and their layers with the oci_layout output group" \
  bazel build //:base //debug //cc //python3 //debug:selftest \
  //:base_files //:ca_certificates //:tzdata //debug:busybox //cc:cc_libraries //python3:python --output_groups=+oci_layout

# layer_listing NAME: the layer's entries as "mode uid/gid path [-> target]".
layer_listing() {
  tar --numeric-owner -tvzf "bazel-bin/$1.tar.gz" | awk '{ s = $1 " " $2; for (i = 6; i <= NF; i++) s = s " " $i; print s }'
}
base_listing=$(layer_listing base_files 2>&1)
check_eq "distroless: /home/nonroot belongs to nonroot, mode 0700" "drwx------ 65532/65532 home/nonroot/" \
  "$(grep ' home/nonroot/$' <<<"$base_listing")"
check_eq "distroless: /tmp is world-writable and sticky" "drwxrwxrwt 0/0 tmp/" "$(grep ' tmp/$' <<<"$base_listing")"
check_eq "distroless: merged /usr: /bin is a symlink to usr/bin" "lrwxrwxrwx 0/0 bin -> usr/bin" \
  "$(grep ' bin -> ' <<<"$base_listing")"

# The structure test claims what tar's listing above shows.
check "distroless: the base's structure test passes (users, modes, /usr links, CA bundle)" \
  bazel test //:structure_test
check_eq "distroless: a failing structure test fails, naming each path, what it expected and what it found" \
  "failed|    /root: expected permissions drwxr-xr-x, found drwx------|    /bin/sh: expected to exist, found nothing at /usr/bin" \
  "$(bazel test //:failing_structure_test >/dev/null 2>&1 && echo passed || echo failed)|$(grep '^    ' bazel-testlogs/failing_structure_test/test.log 2>&1 | paste -sd'|')"
check "distroless: umoci unpack accepts the debug image" umoci unpack --rootless --image bazel-bin/debug/debug.oci_layout:latest "$work/debug"
rootfs=$work/debug/rootfs
check_eq "distroless: the image's /etc/passwd has the nonroot user (65532)" \
  "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin" "$(grep '^nonroot:' "$rootfs/etc/passwd" 2>&1)"
check_eq "distroless: the CA bundle is the host's" "$(sha256_of /etc/ssl/certs/ca-certificates.crt)" \
  "$(sha256_of "$rootfs/etc/ssl/certs/ca-certificates.crt")"
check_eq "distroless: a zone is the host's file" "$(sha256_of /usr/share/zoneinfo/Europe/Berlin)" \
  "$(sha256_of "$rootfs/usr/share/zoneinfo/Europe/Berlin")"
check_eq "distroless: a zone link stays a symlink" "America/Havana" "$(readlink "$rootfs/usr/share/zoneinfo/Cuba" 2>&1)"
check_eq "distroless: /bin/sh is busybox-static, through /bin -> usr/bin" "busybox" "$(readlink "$rootfs/bin/sh" 2>&1)"
check_eq "distroless: busybox is statically linked" "statically linked" \
  "$(file -bL "$rootfs/usr/bin/busybox" | grep -o 'statically linked')"

config() { jq -c "$1" "bazel-bin/$2.config.json" 2>&1; }
check_eq "distroless: the base runs as nonroot in its home" '"65532:65532" "/home/nonroot"' \
  "$(config '.config.User, .config.WorkingDir' base | paste -sd' ')"
check_eq "distroless: the base points SSL_CERT_FILE at the bundle" '"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"' \
  "$(config '.config.Env[] | select(startswith("SSL_CERT_FILE"))' base)"
# Every image starts with the base's layers, so a registry stores them once.
base_layers=$(jq -r 'if (.layers | length) == 3 then [.layers[].digest] | join(" ")
  else "the base has \(.layers | length) layers, not 3" end' bazel-bin/base.manifest.json 2>&1)
for image in debug/debug cc/cc python3/python3; do
  check_eq "distroless: //$image is the base's 3 layers plus one of its own" "$base_layers 4" \
    "$(jq -r '([.layers[:3][].digest] | join(" ")) + " " + (.layers | length | tostring)' "bazel-bin/$image.manifest.json" 2>&1)"
done

# The C++ and Python bases: the libraries and the loader at their /usr paths.
cc_listing=$(layer_listing cc/cc_libraries 2>&1)
for lib in libc.so.6 libm.so.6 libgcc_s.so.1 ld-linux-x86-64.so.2 libstdc++.so.6; do
  check "distroless: the cc base has $lib" grep -q " usr/lib/x86_64-linux-gnu/$lib" <<<"$cc_listing"
done
check_eq "distroless: the loader's /lib64 path is the host's relative symlink" \
  "usr/lib64/ld-linux-x86-64.so.2 -> ../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" \
  "$(grep -o 'usr/lib64/ld-linux.*' <<<"$cc_listing")"
py_listing=$(layer_listing python3/python 2>&1)
check "distroless: the python base has the interpreter and /usr/bin/python3" \
  grep -q ' usr/bin/python3 -> python3\.' <<<"$py_listing"
check "distroless: the python base has the standard library's os.py" grep -qE ' usr/lib/python3\.[0-9]+/os\.py$' <<<"$py_listing"
check "distroless: the python base has the _ssl module" grep -q 'lib-dynload/_ssl\.' <<<"$py_listing"
check "distroless: the python base has libssl, which _ssl needs" grep -q ' usr/lib/x86_64-linux-gnu/libssl\.so' <<<"$py_listing"
check_none "distroless: the python base leaves out tests and __pycache__" '/(test|__pycache__)/' \
  layer_listing python3/python

containerd_start "$work/ctd"
# An empty or missing host bundle would count 0 on both sides.
bundle_certs=$(grep -c 'BEGIN CERTIFICATE' /etc/ssl/certs/ca-certificates.crt 2>&1)
[ "$bundle_certs" -gt 0 ] 2>/dev/null || bundle_certs="no certificate in the host's bundle: $bundle_certs"
check_eq "distroless: busybox sh in the debug image sees the user, a zone, the dirs and the CA bundle" \
  "uid=65532(nonroot) gid=65532(nonroot) groups=65532(nonroot)
1970-01-01 01:00:00 CET
drwx------
drwxrwxrwt
$bundle_certs
/etc/ssl/certs/ca-certificates.crt" \
  "$(containerd_run_layout bazel-bin/debug/selftest.oci_layout localhost/e2e/distroless-selftest 2>&1)"
containerd_down

check_fails "distroless: host_files names a host path that doesn't exist" \
  "host path /nonexistent/rules_img/file does not exist" bazel build @missing_for_test//:all

# Reproducible: a second output base, no cache, the same digests.
check "distroless: rebuild in a fresh output base without any cache" \
  bazel --output_base="$work/ob2" build //debug //python3 --disk_cache= --noremote_accept_cached
for image in debug/debug python3/python3; do
  check_eq "distroless: the //$image digest is reproducible" "$(sha256_of "bazel-bin/$image.manifest.json")" \
    "$(sha256_of "$work/ob2/execroot/_main/bazel-out/k8-fastbuild/bin/$image.manifest.json")"
done
bazel --output_base="$work/ob2" shutdown >/dev/null 2>&1
finish
