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
export RVS_CUDA_PROFILE=1 DESI_NFILES=${DESI_NFILES:-10} DESI_NFIB_FIRST=${DESI_NFIB_FIRST:-1000}
DESI_STEPS="prep gpu" "$C/gpu-check" desi | grep -v "^date\|^host\|^NVIDIA"
RVS_CUDA_NE=split DESI_TAG=split DESI_STEPS=gpu "$C/gpu-check" desi | grep -v "^date\|^host"
if [ -x "$C/bin/rvs_desi_fit_base" ]; then
  DESI_FIT_BIN=rvs_desi_fit_base DESI_TAG=base DESI_STEPS=gpu "$C/gpu-check" desi | grep -v "^date\|^host\|^NVIDIA"
fi
w=/tmp/rvs-desi
for o in base split; do
  [ -d "$w/out-gpu-$o" ] || continue
  echo "end to end, gpu vs gpu-$o (file 1):"
  "$C/bin/rvs_accuracy" --compare "$w/out-gpu-$o/rvtab_coadd-sim-1.fits" "$w/out-gpu/rvtab_coadd-sim-1.fits" --list 3 | tail -6
done
[ $# -gt 0 ] && DESI_STEPS=two DESI_WORKERS="$*" "$C/gpu-check" desi | grep -v "^date\|^host\|^NVIDIA"
grep -h "CUDA backend" "$out"/*.log | sed 's/^.*CUDA backend/CUDA backend/'
