#!/usr/bin/env bash
# Copies the header-only libraries tapegrad builds with (nlohmann-json, CLI11: headers and
# their CMake package files) from this machine into a prefix folder, for a machine that has
# no network and lacks them — the GPU machine of scripts/gpu-check.sh. Carry the folder with
# the tree; gpu-check.sh and `make` (TG_DEPS_PREFIX=folder) find them there.
#
# Usage: scripts/stage-deps.sh [DIR]   (default: build-deps, git-ignored)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build-deps}
mkdir -p "$dir/include" "$dir/share/cmake"
for pkg in nlohmann_json:nlohmann CLI11:CLI; do
  name=${pkg%%:*}
  inc=${pkg##*:}
  found=""
  for prefix in /usr /usr/local; do
    if [[ -d $prefix/include/$inc && -d $prefix/share/cmake/$name ]]; then
      cp -a "$prefix/include/$inc" "$dir/include/"
      cp -a "$prefix/share/cmake/$name" "$dir/share/cmake/"
      found=$prefix
      break
    fi
  done
  if [[ -z $found ]]; then
    echo "stage-deps: $name is not installed here (run scripts/install-deps.sh first)" >&2
    exit 1
  fi
done
echo "stage-deps: $(du -sh "$dir" | cut -f1) in $dir"
