#!/usr/bin/env bash
# Time the preparation of the three-arm DESI demo library (rvs_read_grid,
# rvs_make_interpol, rvs_make_nd, rvs_make_ccf for desi_b/r/z) from a template
# grid, with 1 and 2 threads.
# Usage: bench/bench_prep.sh BUILD_DIR GRID_DIR [WORK_DIR]
set -euo pipefail
BIN=$1; GRID=$2; WORK=${3:-$(mktemp -d)}
nspec=$(find "$GRID" -name '*.fits' ! -name 'WAVE_*' | wc -l)
echo "machine: $(uname -m), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "grid: $GRID ($nspec spectra)"
for nt in 1 2; do
  rm -rf "$WORK/lib$nt"
  # drop the grid from the page cache effects: read it once first
  cat "$GRID"/*/*.fits > /dev/null
  s=$(date +%s.%N)
  RVS_NTHREADS=$nt scripts/make-desi-library "$BIN" "$GRID" "$WORK/lib$nt" > /dev/null
  e=$(date +%s.%N)
  awk -v a="$s" -v b="$e" -v n="$nt" 'BEGIN { printf "threads %d: %.2f s\n", n, b-a }'
done
