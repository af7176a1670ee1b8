#!/bin/bash
# One device call comparing fitter builds on the same DESI data: bitwise
# gpu_parity of this build, then one-worker DESI runs of each build named in
# GC_BINS (files under .gpucarry/bin; the first is this build), their
# outputs compared with the last one (the baseline) on every file, and the
# rates with more workers (GC_WORKERS) for the first and last build.
# Everything printed also goes to $OUT/session.txt (the one file to read).
# Usage (device, carry .gpucarry):
#   GC_BINS="rvs_desi_fit rvs_desi_fit_s8 rvs_desi_fit_base" GC_WORKERS="2 4" \
#     DESI_NFILES=3 scripts/gpu-compare.sh
# GC_ENV_<bin> (e.g. GC_ENV_rvs_desi_fit_base="RVS_CUDA_PROFILE=0") sets the
# environment of one build's runs.
here=$(cd "$(dirname "$0")/.." && pwd)
C="$here/.gpucarry"
out=${OUT:-$here/gpu-compare-out}
mkdir -p "$out"
exec > >(tee "$out/session.txt") 2>&1
logs=/tmp/gpu-compare-logs
mkdir -p "$logs"
export LD_LIBRARY_PATH="$C/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
bins=${GC_BINS:-rvs_desi_fit rvs_desi_fit_base}
first=${bins%% *}
last=${bins##* }
t=$(date +%s)
"$C/bin/gpu_parity" 4242 "$logs/parity.txt" > "$logs/parity.log" 2>&1
echo "gpu_parity: exit $?, $(grep -c PASS "$logs/parity.log") PASS, $(grep -c FAIL "$logs/parity.log") FAIL, $(( $(date +%s) - t )) s"
grep FAIL "$logs/parity.log" | head -5
export OUT=$logs RVS_CUDA_PROFILE=1 DESI_NFILES=${DESI_NFILES:-3} DESI_NFIB_FIRST=${DESI_NFIB_FIRST:-1000}
q() { grep -v "^date\|^host\|^NVIDIA"; }
DESI_STEPS=prep "$C/gpu-check" desi | q
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
envof() { local v="GC_ENV_$1"; echo "${!v}"; }
for b in $bins; do
  env $(envof "$b") DESI_FIT_BIN=$b DESI_TAG=$b DESI_STEPS=gpu "$C/gpu-check" desi | q
done
w=/tmp/rvs-desi
for b in $bins; do
  [ "$b" = "$last" ] && continue
  for f in $(seq 1 "$DESI_NFILES"); do
    echo "$b vs $last (file $f): $("$C/bin/rvs_accuracy" --compare "$w/out-gpu-$last/rvtab_coadd-sim-$f.fits" "$w/out-gpu-$b/rvtab_coadd-sim-$f.fits" | grep "^PARITY" | grep -o "all=.*")"
  done
done
for b in $first $last; do
  for k in ${GC_WORKERS:-}; do
    env $(envof "$b") DESI_FIT_BIN=$b DESI_TAG=$b DESI_STEPS=two DESI_WORKERS=$k "$C/gpu-check" desi | q
  done
done
for f in "$logs"/*.log; do
  grep -q "CUDA backend" "$f" || continue
  echo "== $(basename "$f")"
  grep -h "CUDA backend\|fits in .* s (" "$f" | sed 's/^.*INFO: //' | cut -c1-700
done
# GC_HEADLINE=N: N files (the first of 1,000 fibers) with the default two
# workers, this build and the baseline (the rate of earlier sessions' entries)
if [ "${GC_HEADLINE:-0}" -gt 0 ]; then
  export DESI_NFILES=$GC_HEADLINE
  DESI_STEPS=prep "$C/gpu-check" desi | q
  for b in $first $last; do
    env $(envof "$b") DESI_FIT_BIN=$b DESI_TAG=$b-n$GC_HEADLINE DESI_STEPS=two DESI_WORKERS=2 "$C/gpu-check" desi | q
  done
fi
# GC_NCU=1: Nsight Compute on a few passes of this build's kernels (gpu_bench)
if [ "${GC_NCU:-0}" = 1 ] && command -v ncu >/dev/null; then
  timeout 150 ncu --launch-skip 40 --launch-count 14 \
    --section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats \
    "$C/bin/gpu_bench" 1024 20000 > "$logs/ncu.txt" 2>&1
  echo "ncu: exit $?"
  grep -E "^  [a-z_0-9]+\(|Duration|Registers Per|Achieved Occupancy|Memory Throughput|Compute \(SM\) Throughput|Stall" "$logs/ncu.txt" | head -90
fi
