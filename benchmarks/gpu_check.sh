#!/usr/bin/env bash
# One prepared GPU check of icepaper's own code (about 8 minutes on one H100/H200).
#
# Run from the repository root, on a machine with one CUDA GPU and the package's dependencies:
#
#     bash benchmarks/gpu_check.sh                  # writes build/bench/gpu_check/ (or $OUT/ when set)
#     bash benchmarks/gpu_check.sh --out DIR        # writes DIR/
#     bash benchmarks/gpu_check.sh --tiny           # CPU, smoke sizes, about a minute (what the test runs)
#
# Python: $PYTHON, else .venv/bin/python, else python3; the package is taken from src/.
# It writes two files into the output folder:
#   gpu_check.json  every step's numbers and status (ok / failed / timeout), rewritten after each step:
#                   data (synthetic default set, 24,000 x 224 px, generated on every core),
#                   ibot_vmf_throughput (ViT-S/16, 2 x 224 + 10 x 96 crops, bf16: engine vs plain
#                   loop vs model alone vs DataLoader alone, images/s; target 5,000 for the engine),
#                   moco_throughput, byol_throughput (ResNet-50 at 224 px, images/s),
#                   embedding_throughput (ViT-S/16 over packed uint8 data with DataLoader workers,
#                   images/s, data loading included; target 10,000), ssl_run (iBOT-vMF for up to 4 min,
#                   then kNN and logistic-regression probes beside a random-init network and the
#                   13 geometric features), peak_memory (GiB per step)
#   gpu_check.log   everything printed (nvidia-smi, progress, tracebacks of failed steps)
# Each step has its own time box and a failed step does not stop the others; the whole run is
# stopped after GPU_CHECK_TIMEOUT seconds (default 480; 120 with --tiny). Exit status: 0 when
# every step is ok, 1 when one failed, 2 without a GPU (and without --tiny), 124 on the time limit.
# Details of each step: the docstring of benchmarks/gpu_check.py.
set -uo pipefail

cd "$(dirname "$0")/.."
out="${OUT:-build/bench/gpu_check}"
tiny=0
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --out=*) out="${1#--out=}"; shift ;;
    --tiny) tiny=1; args+=("$1"); shift ;;
    *) args+=("$1"); shift ;;
  esac
done
[ "${GPU_CHECK_TINY:-0}" != "0" ] && tiny=1
if [ -n "${PYTHON:-}" ]; then py="$PYTHON"
elif [ -x .venv/bin/python ]; then py=.venv/bin/python
else py=python3; fi
limit="${GPU_CHECK_TIMEOUT:-$([ "$tiny" = 1 ] && echo 120 || echo 480)}"

mkdir -p "$out"
logf="$out/gpu_check.log"
{
  echo "gpu_check: $(date -u +%Y-%m-%dT%H:%M:%SZ), python: $py, time limit: ${limit} s, out: $out"
  git log -1 --format='commit %H (%s)' 2>/dev/null || true
  if [ "$tiny" = 0 ]; then nvidia-smi 2>&1 || echo "nvidia-smi: not available"; fi
} > "$logf"
PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 \
  timeout -k 15 "$limit" "$py" benchmarks/gpu_check.py --out "$out" ${args[@]+"${args[@]}"} 2>&1 | tee -a "$logf"
rc=${PIPESTATUS[0]}
echo "gpu_check: exit status $rc" | tee -a "$logf"
exit "$rc"
