#!/bin/bash
# One device call for a kernel change: bitwise parity of both likelihood
# variants (split and fused, on builds that have the RVS_CUDA_NE switch, as
# branch s7-gpu-kernels; main's build ignores it and runs its one kernel
# twice), then DESI end to end with one worker (this build, its fused
# variant, and a baseline binary
# .gpucarry/bin/rvs_desi_fit_base when present), the outputs compared with
# each other, and the rates with WORKERS workers for this build and the
# baseline.  Everything printed is also in $OUT/session.txt (the one file to
# read back); the full logs stay in /tmp/gpu-session-logs on the device.
# Usage (device, carry .gpucarry): scripts/gpu-session.sh [WORKERS...]
# (GS_FUSED=0 skips the fused DESI run; DESI_NFILES shortens every run)
here=$(cd "$(dirname "$0")/.." && pwd)
C="$here/.gpucarry"
out=${OUT:-$here/gpu-session-out}
mkdir -p "$out"
exec > >(tee "$out/session.txt") 2>&1
logs=/tmp/gpu-session-logs
mkdir -p "$logs"
export LD_LIBRARY_PATH="$C/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
for b in gpu_parity gpu_parity_fold; do
  [ -x "$C/bin/$b" ] || continue
  for v in split fused; do
    t=$(date +%s)
    RVS_CUDA_NE=$v "$C/bin/$b" 4242 "$logs/$b-$v.txt" > "$logs/$b-$v.log" 2>&1
    echo "$b ($v): exit $?, $(grep -c PASS "$logs/$b-$v.log") PASS, $(grep -c FAIL "$logs/$b-$v.log") FAIL, $(( $(date +%s) - t )) s"
    grep FAIL "$logs/$b-$v.log" | head -5
  done
done
export OUT=$logs RVS_CUDA_PROFILE=1 DESI_NFILES=${DESI_NFILES:-10} DESI_NFIB_FIRST=${DESI_NFIB_FIRST:-1000}
q() { grep -v "^date\|^host\|^NVIDIA"; }
DESI_STEPS="prep gpu" "$C/gpu-check" desi | q
[ "${GS_FUSED:-1}" = 1 ] && RVS_CUDA_NE=fused DESI_TAG=fused DESI_STEPS=gpu "$C/gpu-check" desi | q
base=0
[ -x "$C/bin/rvs_desi_fit_base" ] && base=1
[ $base = 1 ] && DESI_FIT_BIN=rvs_desi_fit_base DESI_TAG=base DESI_STEPS=gpu "$C/gpu-check" desi | q
w=/tmp/rvs-desi
for o in base fused; do
  [ -d "$w/out-gpu-$o" ] || continue
  for f in $(printf '%s\n' 1 2 "$DESI_NFILES" | sort -un); do # first, second, last file
    echo "end to end, gpu vs gpu-$o (file $f):"
    "$C/bin/rvs_accuracy" --compare "$w/out-gpu-$o/rvtab_coadd-sim-$f.fits" "$w/out-gpu/rvtab_coadd-sim-$f.fits" --list 3 | grep "^PARITY"
  done
done
if [ $# -gt 0 ]; then
  DESI_STEPS=two DESI_WORKERS="$*" "$C/gpu-check" desi | q
  [ $base = 1 ] && DESI_FIT_BIN=rvs_desi_fit_base DESI_TAG=base DESI_STEPS=two DESI_WORKERS="$*" "$C/gpu-check" desi | q
fi
for f in "$logs"/*.log; do
  grep -q "CUDA backend" "$f" || continue
  echo "== $(basename "$f")"
  grep -h "CUDA backend\|fits in .* s (" "$f" | sed 's/^.*INFO: //' | cut -c1-700
done
# NCU=1: Nsight Compute on one pass of each kernel (gpu_bench, 1,024 spectra,
# batch 20,000), both likelihood variants, when ncu is installed
if [ "${NCU:-0}" = 1 ] && command -v ncu >/dev/null; then
  for v in split fused; do
    RVS_CUDA_NE=$v timeout 90 ncu --launch-skip 40 --launch-count 12 \
      --section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats \
      "$C/bin/gpu_bench" 1024 20000 > "$logs/ncu-$v.txt" 2>&1
    echo "ncu ($v): exit $?"
    grep -E "^  [a-z_0-9]+\(|Duration|Registers Per|Achieved Occupancy|Memory Throughput|Compute \(SM\) Throughput" "$logs/ncu-$v.txt" | head -80
  done
fi
