#!/usr/bin/env bash
# Upstream rvspecfit and our rvs_desi_fit on the same coadd, one core each,
# one after the other (issue 4's per-core comparison).  Each side reads its
# own copy of one template library (scripts/make-upstream-parity-library).
# Prints user/system/wall seconds and seconds per fitted spectrum, and the
# parity of the two outputs (rvs_accuracy --compare).
# Usage: bench/side_by_side.sh BUILD LIBDIR COADD OUTDIR
#   LIBDIR: the OUT of make-upstream-parity-library (upstream/ and ours/)
set -euo pipefail
BIN=$1; LIB=$2; COADD=$3; OUT=$4
mkdir -p "$OUT"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u +%FT%TZ)"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
run() { # name, command...
  local name=$1; shift
  /usr/bin/time -f "%U %S %e" -o "$OUT/$name.time" "$@" > "$OUT/$name.log" 2>&1
  local n
  n=$(python3 -c "from astropy.io import fits; import sys; print(len(fits.getdata(sys.argv[1], 'RVTAB')))" \
      "$OUT/$name/rvtab_$(basename "$COADD")")
  read -r u s e < "$OUT/$name.time"
  awk -v nm="$name" -v u="$u" -v s="$s" -v e="$e" -v n="$n" \
    'BEGIN { printf "%-9s %4d fits  user %7.1f s  sys %5.1f s  wall %7.1f s  %.3f CPU-s per fit\n", nm, n, u, s, e, (u+s)/n }'
}
run upstream rvs_desi_fit --config "$LIB/upstream/config.yaml" --output_dir "$OUT/upstream" \
  --no_subdirs --nthreads 1 "$COADD"
run ours "$BIN/rvs_desi_fit" --config "$LIB/ours/config.yaml" --output_dir "$OUT/ours" \
  --no_subdirs --nthreads 1 "$COADD"
"$BIN/rvs_accuracy" --compare "$OUT/upstream/rvtab_$(basename "$COADD")" \
  "$OUT/ours/rvtab_$(basename "$COADD")" --tol 0.1 --min_sn 5 | tail -1
