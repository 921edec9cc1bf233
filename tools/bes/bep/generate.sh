#!/usr/bin/env bash
# Regenerates build_event_stream.pb.go from build_event_stream.proto with
# protoc (Debian: protobuf-compiler) and protoc-gen-go at the version of
# google.golang.org/protobuf in go.sum, installed into a temporary GOBIN.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
command -v protoc >/dev/null || { echo "generate.sh: protoc not found: apt-get install protobuf-compiler" >&2; exit 1; }
version=$(cd ../../.. && go list -m -f '{{.Version}}' google.golang.org/protobuf)
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
GOBIN=$bin GOTOOLCHAIN=local go install "google.golang.org/protobuf/cmd/protoc-gen-go@$version"
PATH="$bin:$PATH" protoc --go_out=. --go_opt=paths=source_relative build_event_stream.proto
echo "generated $(pwd)/build_event_stream.pb.go with protoc-gen-go $version"
