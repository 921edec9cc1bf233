#!/usr/bin/env bash
# demo.sh: installs what is needed, builds the example Go image with Bazel,
# and runs it in a private containerd, printing what the program prints.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/tools/setup/setup.sh" >&2

cd "$root/e2e/go"
bazel build //:image --output_groups=+oci_layout >&2
echo "built $(jq -r .digest bazel-bin/image.descriptor.json) (bazel-bin/image.oci_layout)" >&2

. "$root/e2e/lib.sh"
state=$(mktemp -d /tmp/rules-img-demo.XXXXXX)
trap 'containerd_down; bazel shutdown >/dev/null 2>&1; rm -rf "$state"' EXIT
containerd_up "$state"
echo "running it in containerd:" >&2
run_in_containerd bazel-bin/image.oci_layout localhost/rules-img/demo
