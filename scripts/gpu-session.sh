#!/bin/bash
# One device call for a kernel change: bitwise parity of both likelihood
# variants (fused / split), then DESI end to end (1 worker each: fused, split,
# and a baseline binary .gpucarry/bin/rvs_desi_fit_base when present), the
# outputs compared with each other, and the multi-worker rates.
# Usage (device, carry .gpucarry): scripts/gpu-session.sh [WORKERS...]
here=$(cd "$(dirname "$0")/.." && pwd)
C="$here/.gpucarry"
out=${OUT:-$here/gpu-session-out}
mkdir -p "$out"
export LD_LIBRARY_PATH="$C/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
for v in fused split; do
  t=$(date +%s)
  RVS_CUDA_NE=$v "$C/bin/gpu_parity" 4242 "$out/parity-$v.txt" > "$out/parity-$v.log" 2>&1
  echo "gpu_parity ($v): exit $?, $(grep -c PASS "$out/parity-$v.log") PASS, $(grep -c FAIL "$out/parity-$v.log") FAIL, $(( $(date +%s) - t )) s"
  grep FAIL "$out/parity-$v.log" | head -5
done
# an optional second build of gpu_parity (e.g. a refactor of the kernels
# checked in the same call): .gpucarry/bin/gpu_parity_fold
if [ -x "$C/bin/gpu_parity_fold" ]; then
  for v in fused split; do
    RVS_CUDA_NE=$v "$C/bin/gpu_parity_fold" 4243 "$out/parity-fold-$v.txt" > "$out/parity-fold-$v.log" 2>&1
    echo "gpu_parity_fold ($v): exit $?, $(grep -c PASS "$out/parity-fold-$v.log") PASS, $(grep -c FAIL "$out/parity-fold-$v.log") FAIL"
    grep FAIL "$out/parity-fold-$v.log" | head -5
  done
fi
export RVS_CUDA_PROFILE=1 DESI_NFILES=${DESI_NFILES:-10} DESI_NFIB_FIRST=${DESI_NFIB_FIRST:-1000}
DESI_STEPS="prep gpu" "$C/gpu-check" desi | grep -v "^date\|^host\|^NVIDIA"
if [ -x "$C/bin/rvs_desi_fit_base" ]; then
  DESI_FIT_BIN=rvs_desi_fit_base DESI_TAG=base DESI_STEPS=gpu "$C/gpu-check" desi | grep -v "^date\|^host\|^NVIDIA"
fi
RVS_CUDA_NE=split DESI_TAG=split DESI_STEPS=gpu "$C/gpu-check" desi | grep -v "^date\|^host\|^NVIDIA"
w=/tmp/rvs-desi
for o in base split; do
  [ -d "$w/out-gpu-$o" ] || continue
  echo "end to end, gpu vs gpu-$o (file 1):"
  "$C/bin/rvs_accuracy" --compare "$w/out-gpu-$o/rvtab_coadd-sim-1.fits" "$w/out-gpu/rvtab_coadd-sim-1.fits" --list 3 | tail -6
done
[ $# -gt 0 ] && DESI_STEPS=two DESI_WORKERS="$*" "$C/gpu-check" desi | grep -v "^date\|^host\|^NVIDIA"
grep -h "CUDA backend" "$out"/*.log | sed 's/^.*CUDA backend/CUDA backend/'
# NCU=1: Nsight Compute on one pass of each kernel (gpu_bench, 1,024 spectra,
# batch 20,000), both likelihood variants, when ncu is installed
if [ "${NCU:-0}" = 1 ] && command -v ncu >/dev/null; then
  for v in fused split; do
    RVS_CUDA_NE=$v timeout 90 ncu --launch-skip 40 --launch-count 12 \
      --section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats \
      "$C/bin/gpu_bench" 1024 20000 > "$out/ncu-$v.txt" 2>&1
    echo "ncu ($v): exit $?"
    grep -E "^  [a-z_0-9]+\(|Duration|Registers Per|Achieved Occupancy|Theoretical Occupancy|Memory Throughput|Compute \(SM\) Throughput|Stall" "$out/ncu-$v.txt" | head -80
  done
fi
