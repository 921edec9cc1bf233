#!/usr/bin/env bash
# Supply chain: an SBOM (SPDX 2.3) and a provenance (SLSA v1) built with the
# image, pushed with it as artifacts whose subject is the image, and signed
# at push time in cosign's and notation's formats, on distribution 2.8
# (which has no referrers API: the sha256-<hex> tag schema). Judged by
# cosign, notation, pyspdxtools, jsonschema (against the SPDX 2.3 JSON
# schema, spdx/), tar, sha256sum and `go version -m`.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
. ../lib.sh
expect_checks 29

work=$(mktemp -d /tmp/e2e-supplychain.XXXXXX)
ws=$work/ws
cleanup() {
  [ ! -d "$ws" ] || (cd "$ws" && bazel shutdown >/dev/null 2>&1)
  "$REPO_ROOT/tools/setup/peers/registry.sh" down "$work" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
# cosign keeps its TUF cache, notation its keys and trust policy, here.
export TUF_ROOT=$work/tuf XDG_CONFIG_HOME=$work/xdg

err=$("$REPO_ROOT/tools/setup/peers/registry.sh" up "$work" 2>&1) || { fail "supplychain: start the registry" "$err"; finish; }
. "$work/registry.env"
reglog=$work/logs/registry.log

# The base: one layer with /etc/os-release, linux/amd64.
mkdir -p "$work/base/etc"
echo "ID=scbase" >"$work/base/etc/os-release"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$work/base" -cf "$work/base.tar" etc
base=$(crane append --insecure --oci-empty-base -f "$work/base.tar" -t "$REGISTRY/e2e/scbase:1" >/dev/null 2>&1 &&
  crane mutate --insecure --set-platform linux/amd64 "$REGISTRY/e2e/scbase:1" -t "$REGISTRY/e2e/scbase:1" >/dev/null 2>&1 &&
  crane digest --insecure "$REGISTRY/e2e/scbase:1" 2>&1) || { fail "supplychain: push the base" "$base"; finish; }

# Keys: cosign's, another cosign pair that signed nothing, notation's.
(cd "$work" && mkdir other && COSIGN_PASSWORD=e2e-pass cosign generate-key-pair >/dev/null 2>&1 &&
  cd other && COSIGN_PASSWORD=x cosign generate-key-pair >/dev/null 2>&1) || { fail "supplychain: cosign generate-key-pair" ""; finish; }
notation cert generate-test --default e2e >/dev/null 2>&1 || { fail "supplychain: notation cert generate-test" ""; finish; }
nkeys=$XDG_CONFIG_HOME/notation/localkeys
printf '%s' '{"version":"1.0","trustPolicies":[{"name":"e2e","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["ca:e2e"],"trustedIdentities":["*"]}]}' >"$work/policy.json"
notation policy import --force "$work/policy.json" >/dev/null 2>&1 || { fail "supplychain: notation policy import" ""; finish; }

mkdir -p "$ws"
cp -r . "$ws" && rm -f "$ws/test.sh"
cp "$(command -v crane)" "$ws/crane"
sed -i "s#REGISTRY_UNDER_TEST#$REGISTRY#; s#DIGEST_UNDER_TEST#$base#; s#path = \"../..\"#path = \"$REPO_ROOT\"#" "$ws/MODULE.bazel"
sed -i "s#REGISTRY_UNDER_TEST#$REGISTRY#" "$ws/BUILD.bazel"
printf '#!/bin/sh\necho STABLE_GIT_COMMIT 0123456789abcdef0123456789abcdef01234567\n' >"$ws/status.sh" && chmod +x "$ws/status.sh"
cat >"$ws/.bazelrc" <<RC
try-import $REPO_ROOT/.bazel-offline/offline.bazelrc
build --disk_cache=~/.cache/rules_img/bazel-disk-cache
build --remote_download_outputs=all
# The checkout is under /tmp: Bazel 8's hermetic /tmp would hide it.
build --noincompatible_sandbox_hermetic_tmp
RC
cd "$ws" || finish

# ---- The documents, as built.
check "supplychain: the SBOM and the provenance build" bazel build //:sbom //:provenance //:image --output_groups=+default,+oci_layout
sbom=bazel-bin/sbom.spdx.json
cp "$sbom" "$work/sbom.first" 2>/dev/null
check "supplychain: the SBOM again, from a clean output tree without caches" \
  sh -c 'bazel clean >/dev/null 2>&1 && bazel build //:sbom --disk_cache= >/dev/null 2>&1'
check_eq "supplychain: the SBOM is the same bytes (sha256sum)" "$(sha256_of "$work/sbom.first")" "$(sha256_of "$sbom")"
check "supplychain: pyspdxtools parses and validates the SBOM as SPDX 2.3" pyspdxtools -i "$sbom"
check "supplychain: the SBOM validates against the SPDX 2.3 JSON schema (/usr/bin/python3 -m jsonschema)" \
  /usr/bin/python3 -m jsonschema -i "$sbom" spdx/spdx-schema-2.3.json
# The validator must refuse what the schema forbids: a file without checksums.
jq 'del(.files[0].checksums)' "$sbom" >"$work/sbom.broken" 2>/dev/null
check "supplychain: ... and the validator refuses a copy whose first file has no checksums" \
  sh -c '[ -s "$1" ] && ! /usr/bin/python3 -m jsonschema -i "$1" spdx/spdx-schema-2.3.json >/dev/null 2>&1' _ "$work/sbom.broken"
bazel build //:image --output_groups=+oci_layout >/dev/null 2>&1
layout=bazel-bin/image.oci_layout
files_of_layers() {
  local m l
  m=$(jq -r '.manifests[0].digest' "$layout/index.json") || return 1
  for l in $(jq -r '.layers[].digest' "$layout/blobs/sha256/${m#sha256:}"); do
    tar -tvzf "$layout/blobs/sha256/${l#sha256:}" | awk '$1 ~ /^-/ {print $NF}' | sed 's#^\./##; s#^#./#'
  done | LC_ALL=C sort
}
check_eq "supplychain: the SBOM lists every regular file of every layer (tar -tv of the OCI layout's blobs)" \
  "$(files_of_layers 2>&1)" "$(jq -r '.files[].fileName' "$sbom" 2>&1 | LC_ALL=C sort)"
check_eq "supplychain: with their SHA-1 and SHA-256 (sha1sum, sha256sum of motd.txt)" \
  "$(sha1sum <motd.txt | cut -d' ' -f1) $(sha256sum <motd.txt | cut -d' ' -f1)" \
  "$(jq -r '.files[] | select(.fileName == "./app/motd.txt") | [(.checksums[] | select(.algorithm == "SHA1") | .checksumValue), (.checksums[] | select(.algorithm == "SHA256") | .checksumValue)] | join(" ")' "$sbom" 2>&1)"
check_eq "supplychain: the Go modules of the Go program are packages (go version -m)" \
  "$(go version -m crane | awk '$1 == "dep" {print "pkg:golang/" $2 "@" $3}' | LC_ALL=C sort)" \
  "$(jq -r '[.packages[] | .externalRefs[]? | .referenceLocator | select(startswith("pkg:golang/"))] | .[]' "$sbom" 2>&1 | grep -v '^pkg:golang/github.com/google/go-containerregistry@' | LC_ALL=C sort)"
check_eq "supplychain: the base image is a package, by digest" "${base#sha256:}" \
  "$(jq -r '.packages[] | select(.SPDXID == "SPDXRef-Base") | .checksums[0].checksumValue' "$sbom" 2>&1)"

check "supplychain: the provenance, stamped with a source revision" \
  bazel build //:provenance --stamp --workspace_status_command="$ws/status.sh"
prov=bazel-bin/provenance.intoto.json
check_eq "supplychain: the provenance names the image's digest (sha256sum of its manifest), the target, the revision and the base" \
  "$(sha256_of bazel-bin/image.manifest.json)|https://slsa.dev/provenance/v1|//:image|0123456789abcdef0123456789abcdef01234567|${base#sha256:}" \
  "$(jq -r '"sha256:" + .subject[0].digest.sha256 + "|" + .predicateType + "|" + .predicate.buildDefinition.externalParameters.target + "|" + ([.predicate.buildDefinition.resolvedDependencies[] | .digest.gitCommit // empty] | join(",")) + "|" + ([.predicate.buildDefinition.resolvedDependencies[] | .digest.sha256 // empty] | join(","))' "$prov" 2>&1)"

# ---- Signing at push.
uploads() { grep -a -c "POST /v2/e2e/signed/blobs/uploads/" "$reglog"; }
check_fails "supplychain: --sign without a key fails before anything is pushed" \
  "--sign: no key: give --sign_key=cosign.key" bazel run //:push -- --sign
check_eq "supplychain: ... and the registry saw no request for the repository (its log)" 0 "$(grep -a -c "/v2/e2e/signed/" "$reglog")"
check_fails "supplychain: a wrong \$COSIGN_PASSWORD fails before anything is pushed" \
  "decrypting with \$COSIGN_PASSWORD" env COSIGN_PASSWORD=wrong bazel run //:push -- --sign_key="$work/cosign.key"
check "supplychain: bazel run //:push -- --sign_key=cosign.key --notation_key=... --notation_cert=..." \
  env COSIGN_PASSWORD=e2e-pass bazel run //:push -- --sign_key="$work/cosign.key" \
  --notation_key="$nkeys/e2e.key" --notation_cert="$nkeys/e2e.crt"
digest=$(crane digest --insecure "$REGISTRY/e2e/signed:v1" 2>/dev/null)
ref=$REGISTRY/e2e/signed@${digest:-none}
cosign_() { cosign "$@" --insecure-ignore-tlog=true 2>&1; }
check "supplychain: cosign verify --key accepts the signature" cosign_ verify --key "$work/cosign.pub" "$ref"
att=$(cosign_ verify-attestation --key "$work/cosign.pub" --type spdxjson "$ref")
check_eq "supplychain: cosign verify-attestation --type spdxjson accepts the SBOM, which is the one built (jq -S)" \
  "$(jq -S . "$sbom" 2>&1)" "$(grep '^{' <<<"$att" | head -1 | jq -r '.payload' 2>&1 | base64 -d 2>&1 | jq -S '.predicate' 2>&1)"
check "supplychain: cosign verify-attestation --type slsaprovenance1 accepts the provenance" \
  cosign_ verify-attestation --key "$work/cosign.pub" --type slsaprovenance1 "$ref"
check_fails "supplychain: cosign verify with another key refuses it" "" cosign_ verify --key "$work/other/cosign.pub" "$ref"
check "supplychain: notation verify accepts the notation signature" \
  notation verify --insecure-registry "$ref"
fallback=$REGISTRY/e2e/signed:sha256-${digest#sha256:}
sbom_artifact=$(crane manifest --insecure "$fallback" 2>/dev/null | jq -r '.manifests[] | select(.artifactType == "application/spdx+json") | .digest')
check_eq "supplychain: the SBOM is also an artifact of the sha256-<hex> tag schema, its layer the SBOM built (sha256sum)" \
  "$(sha256_of "$sbom")" \
  "$(crane manifest --insecure "$REGISTRY/e2e/signed@${sbom_artifact:-none}" 2>&1 | jq -r '.layers[0].digest' 2>&1)"

before_uploads=$(uploads) before_index=$(crane digest --insecure "$fallback" 2>&1)
check "supplychain: the same push again" env COSIGN_PASSWORD=e2e-pass bazel run //:push -- --sign_key="$work/cosign.key" \
  --notation_key="$nkeys/e2e.key" --notation_cert="$nkeys/e2e.crt"
check_eq "supplychain: ... uploads no blob and signs nothing new (registry log; the referrers index is unchanged)" \
  "$before_uploads $before_index" "$(uploads) $(crane digest --insecure "$fallback" 2>&1)"

crane mutate --insecure --label tampered=yes "$REGISTRY/e2e/signed:v1" -t "$REGISTRY/e2e/signed:v1" >/dev/null 2>&1
check_fails "supplychain: a tampered tag fails cosign verify" "" cosign_ verify --key "$work/cosign.pub" "$REGISTRY/e2e/signed:v1"
check_fails "supplychain: ... and notation verify" "" notation verify --insecure-registry "$REGISTRY/e2e/signed:v1"

# ---- multi_deploy signs the index and its image.
check "supplychain: bazel run //:deploy -- --sign_key=cosign.key" \
  env COSIGN_PASSWORD=e2e-pass bazel run //:deploy -- --sign_key="$work/cosign.key"
idx=$(crane digest --insecure "$REGISTRY/e2e/signed-index:v1" 2>/dev/null)
child=$(crane manifest --insecure "$REGISTRY/e2e/signed-index:v1" 2>/dev/null | jq -r '.manifests[0].digest')
check "supplychain: cosign verify accepts the index and its image" sh -c '
  cosign verify --key "$1" --insecure-ignore-tlog=true "$2@$3" >/dev/null 2>&1 &&
  cosign verify --key "$1" --insecure-ignore-tlog=true "$2@$4" >/dev/null 2>&1' _ "$work/cosign.pub" "$REGISTRY/e2e/signed-index" "${idx:-none}" "${child:-none}"
check "supplychain: cosign verify-attestation --type spdxjson accepts the SBOM of the index's image" \
  cosign_ verify-attestation --key "$work/cosign.pub" --type spdxjson "$REGISTRY/e2e/signed-index@${child:-none}"
finish
