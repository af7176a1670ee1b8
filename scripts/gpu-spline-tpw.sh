#!/bin/bash
# Spline kernel of branch s8-gpu-spline: templates per warp 1 and 2
# (RVS_CUDA_SPLINE_TPW) against a baseline binary .gpucarry/bin/rvs_desi_fit_base,
# in one device call: gpu_parity, DESI prep, three DESI runs, outputs compared,
# device ms per phase.  Usage (device, carry .gpucarry, after
# scripts/gpu-check pack and cp of this script and the baseline into .gpucarry):
#   .gpucarry/tpw.sh   (prints and writes $OUT/s.txt)
C=$(cd "$(dirname "$0")" && pwd)
res=${OUT:-/tmp}/s.txt
exec > >(tee "$res") 2>&1
export LD_LIBRARY_PATH="$C/lib"
logs=/tmp/gl; mkdir -p $logs
for t in 1; do
  RVS_CUDA_SPLINE_TPW=$t "$C/bin/gpu_parity" 4242 $logs/p$t.txt > $logs/p$t.log 2>&1
  echo "gpu_parity tpw=$t: exit $?, $(grep -c PASS $logs/p$t.log) PASS, $(grep -c FAIL $logs/p$t.log) FAIL"
done
export OUT=$logs RVS_CUDA_PROFILE=1 DESI_NFILES=3 DESI_NFIB_FIRST=1000
DESI_STEPS="prep gpu" "$C/gpu-check" desi | grep -E "^prep|^gpu"
for t in 2; do RVS_CUDA_SPLINE_TPW=$t DESI_TAG=tpw$t DESI_STEPS=gpu "$C/gpu-check" desi | grep -E "^gpu"; done
DESI_FIT_BIN=rvs_desi_fit_base DESI_TAG=base DESI_STEPS=gpu "$C/gpu-check" desi | grep -E "^gpu"
w=/tmp/rvs-desi
for o in base tpw2; do
  "$C/bin/rvs_accuracy" --compare "$w/out-gpu-$o/rvtab_coadd-sim-1.fits" "$w/out-gpu/rvtab_coadd-sim-1.fits" | grep "^PARITY" | sed "s/^/$o vs tpw1: /" | cut -c1-200
done
for f in $logs/*.log; do grep -q "CUDA backend" "$f" || continue; echo "== $(basename $f)"; grep -h "fits in .* s (\|device ms" "$f" | sed 's/^.*INFO: //' | sed 's/.*host planning/host planning/' | cut -c1-300; done
