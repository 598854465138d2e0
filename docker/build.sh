#!/usr/bin/env bash
# Build, push and pin the platform images; rewrite docker/images.json with the pushed digests.
#
#   REGISTRY=ghcr.io/acme/data-platform docker/build.sh pin-bases   # resolve bases.env tags -> digests
#   REGISTRY=ghcr.io/acme/data-platform docker/build.sh build [name ...]   # default: all images
#
# Needs docker with buildx and push access to $REGISTRY. `base` is built first because the
# cts/nlp/propagation/spark images are built FROM it by digest. Each image is pushed, its digest
# read from the build metadata, and docker/images.json rewritten atomically
# (name -> $REGISTRY/<name>@sha256:...). Commit images.json: the digests are part of the assets'
# code versions, and the chart is installed with --set-json images="$(cat docker/images.json)".
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
images_json="$here/images.json"
# every docker/<name>.Dockerfile is an image: the Dockerfile is its only declaration
mapfile -t all_images < <(cd "$here" && ls -1 *.Dockerfile | sed 's/\.Dockerfile$//')
zero_digest="sha256:0000000000000000000000000000000000000000000000000000000000000000"
platform="${PLATFORM:-linux/amd64}"

die() { echo "build.sh: $*" >&2; exit 1; }

pin_bases() {
  local tmp; tmp="$(mktemp)"
  while IFS= read -r line; do
    if [[ "$line" =~ ^([A-Z_]+)=([^@]+)@sha256:[0-9a-f]{64}$ ]]; then
      local name="${BASH_REMATCH[1]}" tag="${BASH_REMATCH[2]}" digest
      digest="$(docker buildx imagetools inspect "$tag" --format '{{json .Manifest.Digest}}' | tr -d '"')"
      [[ "$digest" =~ ^sha256:[0-9a-f]{64}$ ]] || die "could not resolve $tag"
      echo "$name=$tag@$digest" >>"$tmp"
    else
      echo "$line" >>"$tmp"
    fi
  done <"$here/bases.env"
  mv "$tmp" "$here/bases.env"
  echo "pinned: $(grep -c '@sha256:' "$here/bases.env") base images"
}

image_ref() {  # current reference of an image in images.json
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$images_json" "$1"
}

record_digest() {  # name digest: rewrite images.json atomically
  python3 - "$images_json" "$1" "$REGISTRY/$1@$2" <<'PY'
import json, os, sys
path, name, ref = sys.argv[1:]
refs = json.load(open(path))
refs[name] = ref
tmp = path + ".tmp"
with open(tmp, "w") as f:
    f.write(json.dumps(dict(sorted(refs.items())), indent=2) + "\n")
os.replace(tmp, path)
PY
}

build_one() {
  local name="$1" meta; meta="$(mktemp)"
  local args=(--platform "$platform" --file "$here/$name.Dockerfile" --metadata-file "$meta" --push
              --tag "$REGISTRY/$name:$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo dev)")
  while IFS='=' read -r key value; do
    [[ -z "$key" || "$key" == \#* ]] || args+=(--build-arg "$key=$value")
  done <"$here/bases.env"
  [[ "$name" == base || "$name" == kalman ]] || args+=(--build-arg "BASE_IMAGE=$(image_ref base)")
  docker buildx build "${args[@]}" "$repo"
  local digest
  digest="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["containerimage.digest"])' "$meta")"
  [[ "$digest" =~ ^sha256:[0-9a-f]{64}$ ]] || die "no digest for $name in build metadata"
  record_digest "$name" "$digest"
  echo "$name -> $REGISTRY/$name@$digest"
  rm -f "$meta"
}

build() {
  [[ -n "${REGISTRY:-}" ]] || die "set REGISTRY (e.g. ghcr.io/acme/data-platform)"
  grep -q "$zero_digest" "$here/bases.env" && die "bases.env has placeholder digests: run '$0 pin-bases' first"
  local wanted=("$@"); [[ ${#wanted[@]} -gt 0 ]] || wanted=("${all_images[@]}")
  for name in "${wanted[@]}"; do
    [[ -f "$here/$name.Dockerfile" ]] || die "unknown image '$name' (no docker/$name.Dockerfile)"
  done
  # base first: the others are built FROM its pushed digest
  for name in "${wanted[@]}"; do [[ "$name" == base ]] && build_one base; done
  for name in "${wanted[@]}"; do [[ "$name" == base ]] || build_one "$name"; done
}

case "${1:-}" in
  pin-bases) pin_bases ;;
  build) shift; build "$@" ;;
  *) sed -n '2,11p' "$0"; exit 2 ;;
esac
