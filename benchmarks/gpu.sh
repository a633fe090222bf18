#!/usr/bin/env bash
# Check a CUDA GPU machine: install what is missing, then run benchmarks/gpu_check.py (the torch
# engine and Aer on the GPU against the CPU on the same circuit, GPU / CPU step-time ratios, the
# main job on Aer GPU), writing OUT/gpu.json and OUT/gpu.log. See --help.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: benchmarks/gpu.sh [--wheels DIR | --pip] --out DIR [--qubits "N ..."] [--budget SECONDS]
                         [--threads N] [--cpu-only] [--dry-run] [-- DRIVER-OPTIONS...]

Checks a CUDA GPU machine for qmoe-qiskit: the torch statevector engine (complex128, complex64)
and Aer on the GPU against the CPU on the same circuit (outputs and weight gradients), the time
of one training step on each at every qubit count with GPU / CPU ratios, and the README's main
job (jobs/digits4.toml) on Aer GPU. Cases that would not finish within the budget are skipped
and recorded with the reason.

install (at most one; neither: use what is installed):
  --wheels DIR       offline: pip-install every DIR/*.whl (no index, no dependencies) into
                     $QMOE_GPU_SITE (default: /tmp/qmoe-gpu-site) and put it on PYTHONPATH.
                     DIR holds qiskit-aer-gpu or qiskit-aer, never both (one import name)
  --pip              online: CUDA torch from the PyTorch index ($QMOE_TORCH_INDEX, default
                     https://download.pytorch.org/whl/cu128), this project (pip install -e),
                     then qiskit-aer-gpu in place of qiskit-aer (uninstalled first)

run:
  --out DIR          folder for gpu.json and gpu.log (required unless --dry-run)
  --qubits "N ..."   qubit counts, each >= 6 (default: "10 12 14 16 18 20 22")
  --budget SECONDS   total seconds for the checks, the timings and the main job; the install
                     comes on top (default: 480)
  --threads N        torch threads (default: the cores available)
  --cpu-only         only what needs no GPU: the environment, the CPU comparisons (complex64
                     vs complex128, torch vs Aer) and the CPU step times
  --dry-run          print every command it would run, the install commands included, and
                     run nothing
  -h, --help         this text
  -- OPTIONS...      passed on to benchmarks/gpu_check.py (e.g. -- --engines torch-c128
                     --no-main-job; python3 benchmarks/gpu_check.py --help lists them)

The interpreter is $PYTHON (default: python3). Exit status: the driver's (1 when a comparison
exceeded its tolerance), 2 for a bad argument.
EOF
}

die() {
    echo "gpu.sh: error: $*" >&2
    exit 2
}

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
python="${PYTHON:-python3}"
site="${QMOE_GPU_SITE:-/tmp/qmoe-gpu-site}"
torch_index="${QMOE_TORCH_INDEX:-https://download.pytorch.org/whl/cu128}"

wheels="" pip=0 out="" qubits="10 12 14 16 18 20 22" budget=480 threads="" cpu_only=0 dry_run=0
extra=()
need_value() { [[ $# -ge 2 && -n "$2" && "$2" != --* ]] || die "$1 needs a value (see --help)"; }
while [[ $# -gt 0 ]]; do
    case "$1" in
    --wheels) need_value "$@"; wheels="$2"; shift 2 ;;
    --pip) pip=1; shift ;;
    --out) need_value "$@"; out="$2"; shift 2 ;;
    --qubits) need_value "$@"; qubits="$2"; shift 2 ;;
    --budget) need_value "$@"; budget="$2"; shift 2 ;;
    --threads) need_value "$@"; threads="$2"; shift 2 ;;
    --cpu-only) cpu_only=1; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; extra=("$@"); break ;;
    *) die "unknown argument '$1' (see --help)" ;;
    esac
done

# Check everything before anything runs.
[[ -n "$wheels" && $pip -eq 1 ]] && die "--wheels and --pip exclude each other"
[[ -z "$out" && $dry_run -eq 0 ]] && die "--out DIR is required (or --dry-run)"
read -r -a qubit_list <<<"$qubits"
[[ ${#qubit_list[@]} -gt 0 ]] || die "--qubits needs at least one qubit count"
for n in "${qubit_list[@]}"; do
    [[ "$n" =~ ^[0-9]+$ ]] || die "--qubits: '$n' is not a whole number"
    ((10#$n >= 6)) || die "--qubits: $n qubits: the model needs at least 6"
done
if ! [[ "$budget" =~ ^[0-9]+([.][0-9]+)?$ ]] || ! awk "BEGIN { exit !($budget > 0) }"; then
    die "--budget: '$budget' is not a positive number of seconds"
fi
[[ -z "$threads" || "$threads" =~ ^[1-9][0-9]*$ ]] || die "--threads: '$threads' is not a positive whole number"
if [[ -n "$wheels" ]]; then
    [[ -d "$wheels" ]] || die "--wheels: no folder '$wheels'"
    shopt -s nullglob
    wheel_files=("$wheels"/*.whl)
    shopt -u nullglob
    [[ ${#wheel_files[@]} -gt 0 ]] || die "--wheels: no .whl file in '$wheels'"
    aer_cpu=0 aer_gpu=0
    for f in "${wheel_files[@]}"; do
        case "$(basename "$f")" in
        qiskit_aer_gpu-* | qiskit_aer_gpu_cu11-*) aer_gpu=1 ;;
        qiskit_aer-*) aer_cpu=1 ;;
        esac
    done
    [[ $aer_cpu -eq 1 && $aer_gpu -eq 1 ]] &&
        die "--wheels: '$wheels' holds qiskit-aer and qiskit-aer-gpu: keep one (same import name)"
fi
if [[ -n "$out" && -e "$out" && ! -d "$out" ]]; then
    die "--out: '$out' exists and is not a folder"
fi

# Show a command (--dry-run) or run it.
run() {
    if [[ $dry_run -eq 1 ]]; then
        printf '+'
        printf ' %q' "$@"
        printf '\n'
    else
        "$@"
    fi
}

# Install.
pythonpath="$root${PYTHONPATH:+:$PYTHONPATH}" # this checkout's qmoe_qiskit, installed or not
if [[ -n "$wheels" ]]; then
    run "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$site" "${wheel_files[@]}"
    pythonpath="$site:$pythonpath"
elif [[ $pip -eq 1 ]]; then
    run "$python" -m pip install --upgrade --index-url "$torch_index" torch
    run "$python" -m pip install -e "$root"
    run "$python" -m pip uninstall -y qiskit-aer
    run "$python" -m pip install qiskit-aer-gpu
fi

# Run the driver.
driver=("$python" "$here/gpu_check.py" --out "${out:-OUT}" --qubits "${qubit_list[@]}"
    --budget "$budget")
[[ -n "$threads" ]] && driver+=(--threads "$threads")
[[ $cpu_only -eq 1 ]] && driver+=(--cpu-only)
driver+=("${extra[@]}")
if [[ $dry_run -eq 1 ]]; then
    printf '+ export PYTHONPATH=%q PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1\n' "$pythonpath"
    run mkdir -p "${out:-OUT}"
    printf '+'
    printf ' %q' "${driver[@]}"
    printf ' 2>&1 | tee %q\n' "${out:-OUT}/gpu.log"
    exit 0
fi
export PYTHONPATH="$pythonpath" PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
mkdir -p "$out"
"${driver[@]}" 2>&1 | tee "$out/gpu.log"
