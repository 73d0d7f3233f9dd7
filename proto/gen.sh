#!/usr/bin/env bash
# Regenerates the Go code of proto/ (protoc with pinned protoc-gen-go and
# protoc-gen-connect-go). With --check it generates into a scratch directory and fails
# if the committed code differs: CI runs it so the code cannot drift from the .proto.
set -euo pipefail
cd "$(dirname "$0")/.."

PROTOC_GEN_GO=google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
PROTOC_GEN_CONNECT_GO=connectrpc.com/connect/cmd/protoc-gen-connect-go@v1.19.1
OUT=internal/messaging/messagingv1

if ! command -v protoc >/dev/null || [ ! -f /usr/include/google/protobuf/timestamp.proto ]; then
  echo "protoc and the well-known types are needed: apt-get install protobuf-compiler libprotobuf-dev" >&2
  exit 1
fi
bin=$(mktemp -d)
scratch=$(mktemp -d)
trap 'rm -rf "$bin" "$scratch"' EXIT
GOBIN="$bin" go install "$PROTOC_GEN_GO"
GOBIN="$bin" go install "$PROTOC_GEN_CONNECT_GO"

protoc -I proto -I /usr/include \
  --plugin=protoc-gen-go="$bin/protoc-gen-go" --plugin=protoc-gen-connect-go="$bin/protoc-gen-connect-go" \
  --go_out="$scratch" --go_opt=paths=source_relative \
  --connect-go_out="$scratch" --connect-go_opt=paths=source_relative \
  proto/signet/messaging/v1/messaging.proto
gen="$scratch/signet/messaging/v1"

if [ "${1:-}" = "--check" ]; then
  if ! diff -r "$gen" "$OUT" >/dev/null 2>&1; then
    diff -r "$gen" "$OUT" || true
    echo "the generated code in $OUT is not current: run proto/gen.sh" >&2
    exit 1
  fi
  echo "generated code is current"
  exit 0
fi
rm -rf "$OUT"
mkdir -p "$OUT"
cp -r "$gen"/. "$OUT"/
echo "generated $OUT"
