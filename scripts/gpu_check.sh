#!/usr/bin/env bash
# The kit's GPU check: one run on a CUDA machine that records the GPU figures docs/benchmarks.md ("On a GPU") asks for.
#
#   scripts/gpu_check.sh wheels            # on a machine that reaches PyPI: the Python 3.12 wheels a bare CUDA image
#                                          # with PyTorch lacks (nbval, ipywidgets, ...) into .gpu-wheels/
#   scripts/gpu_check.sh run OUT           # on the GPU machine: every step below, results in OUT/
#   scripts/gpu_check.sh run OUT --cpu     # the same steps on a CPU, small: checks the script itself
#
# Steps, each under its own time limit so that one slow step cannot cost the others; together they fit one
# 10-minute command (STEPS=bench,notebooks runs only those, e.g. for a second try):
#   1. environment   torch, CUDA, the GPU                                            -> OUT/environment.json
#   2. tests         tests/bench/test_gpu.py on the device: the CPU's logits, compiled tokens equal to eager in float32,
#                    bfloat16 parting from eager only at near ties, hooks through the compiled step, bfloat16
#                    loading, autocast training, NF4 codes as the CPU's, int8, int4 and NF4 models decoding
#                    through the compiled step with the plain model's tokens, a QLoRA step with gradient
#                    checkpointing (its peak memory)                                -> OUT/gpu_figures.json
#   3. qlora         the QLoRA step at Llama 2 7B's shape (test_gpu.py's 7b_shaped test: random weights drawn on the
#                    GPU and quantized to NF4 a layer at a time, LoRA r=64 on every projection, gradient checkpointing,
#                    1 x 2048 tokens): its peak GPU memory and tokens/s              -> OUT/gpu_figures.json
#   4. bench         python -m llama_lab.bench on the device with the 7B-shaped model (random bfloat16 weights in
#                    Llama 2 7B's shape) against transformers, eager and compiled, batch 1 and 8 -> OUT/bench.json
#   5. notebooks     every course notebook under nbval with the tiny models on the device (LLAMA_LAB_DEVICE): the
#                    saved outputs must not change                                   -> OUT/notebooks.txt
# Every step's exit status and seconds go to OUT/summary.json; everything printed goes to OUT/log.txt. The script
# exits with status 1 when a step failed, and with status 2, before anything runs, when `run` finds no CUDA GPU.
set -uo pipefail
cd "$(dirname "$0")/.."

WHEELS=.gpu-wheels
NEEDED=(nbval nbclient nbformat ipykernel ipywidgets)  # what the CUDA image lacks for the notebooks

fetch_wheels() {
    # Pure-Python wheels plus manylinux ones for CPython 3.12 (the CUDA image's Python); what the image already has
    # (torch, numpy, matplotlib, transformers, ...) is removed again so that only what is missing travels.
    mkdir -p "$WHEELS"
    python3 -m pip download -q -d "$WHEELS" --only-binary=:all: --python-version 3.12 \
        --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
        "${NEEDED[@]}"
    (cd "$WHEELS" && rm -f numpy-* matplotlib-* pillow-* contourpy-* fonttools-* kiwisolver-* pyparsing-* \
        packaging-* python_dateutil-* six-* pygments-* psutil-* coverage-* pytest-* pluggy-* iniconfig-* \
        cycler-* attrs-* typing_extensions-*)
    du -sh "$WHEELS"
}

run_checks() {
    local out=$1 mode=${2:-gpu}
    local python=${PYTHON:-python3}
    [ -x .venv/bin/python ] && [ -z "${PYTHON:-}" ] && [ "$mode" = --cpu ] && python=.venv/bin/python
    if [ "$mode" != --cpu ]; then  # every step would fail or skip without a GPU: say so, and run none of them
        local why probe='import torch; print(torch.cuda.is_available() or "torch.cuda.is_available() is False")'
        why=$("$python" -c "$probe" 2>&1 | tail -n 1)
        if [ "$why" != True ]; then
            echo "error: no CUDA GPU here: $python says: $why; use --cpu to check the script on a CPU" >&2
            exit 2
        fi
    fi
    mkdir -p "$out"
    out=$(cd "$out" && pwd)
    local device=cuda bench_args=(--sizes 7b --batches 1,8 --repeats 3 --new-tokens 64 --measure decode,prefill
                                  --compile)
    local limits=(30 110 80 170 180)  # seconds: environment, tests, qlora, bench, notebooks (570 in all)
    if [ "$mode" = --cpu ]; then
        device=cpu bench_args=(--quick --compile --threads 1)
        limits=(120 900 300 900 1200)
    fi
    export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
    exec > >(tee "$out/log.txt") 2>&1
    echo "gpu_check: $(date -u +%FT%TZ), device $device, python $python, commit $(git rev-parse --short HEAD 2>/dev/null)"
    local summary="{" failed=()

    step() {  # step NAME LIMIT COMMAND...: run it under its time limit, note its status and seconds
        local name=$1 limit=$2 start status
        shift 2
        if [ -n "${STEPS:-}" ] && [[ ",$STEPS," != *",$name,"* ]]; then
            return
        fi
        echo; echo "=== $name (limit ${limit} s) ==="
        start=$(date +%s)
        timeout --kill-after=10 "$limit" "$@"
        status=$?
        echo "=== $name: exit status $status, $(( $(date +%s) - start )) s ==="
        summary+="\"$name\": {\"status\": $status, \"seconds\": $(( $(date +%s) - start ))}, "
        [ "$status" -eq 0 ] || failed+=("$name")
    }

    if ! "$python" -c "import nbval, nbclient, ipykernel, ipywidgets" 2>/dev/null && [ -d "$WHEELS" ]; then
        "$python" -m pip install -q --no-index --find-links "$WHEELS" "${NEEDED[@]}"
    fi
    step environment "${limits[0]}" "$python" - "$out/environment.json" <<'EOF'
import json, platform, sys
import torch
info = {"python": sys.version.split()[0], "torch": torch.__version__, "cuda": torch.version.cuda,
        "platform": platform.platform()}
if torch.cuda.is_available():
    props = torch.cuda.get_device_properties(0)
    info |= {"gpu": props.name, "gpu_memory_gib": round(props.total_memory / 2**30, 1),
             "multiprocessors": props.multi_processor_count}
print(json.dumps(info, indent=2))
open(sys.argv[1], "w").write(json.dumps(info, indent=2))
EOF
    rm -f "$out/gpu_figures.json"
    local gpu_tests=(env LLAMA_LAB_TEST_DEVICE=$device LLAMA_LAB_GPU_REPORT="$out/gpu_figures.json"
                     "$python" -m pytest tests/bench/test_gpu.py -q -p no:cacheprovider -W ignore::DeprecationWarning)
    step tests "${limits[1]}" "${gpu_tests[@]}" -k "not 7b_shaped"
    step qlora "${limits[2]}" "${gpu_tests[@]}" -k 7b_shaped -s  # -s: the step prints its figures
    step bench "${limits[3]}" "$python" -m llama_lab.bench --device $device "${bench_args[@]}" --json "$out/bench.json"
    # the notebooks' saved outputs name the device the course model runs on ("float32 on cpu"): the same line on the
    # GPU says "cuda", which is not a change of output
    sed 's/\r$//' tests/nbval_sanitize.cfg > "$out/sanitize.cfg"
    printf '\n[the device]\nregex: on cuda(:[0-9]+)?\nreplace: on cpu\n' >> "$out/sanitize.cfg"
    step notebooks "${limits[4]}" env -u LLAMA2_DIR -u LLAMA2_TOKENIZER LLAMA_LAB_DEVICE=$device \
        "$python" -m pytest notebooks/ --nbval -p no:cacheprovider --nbval-current-env \
        --nbval-sanitize-with "$out/sanitize.cfg" -q -rf
    echo "${summary%, }}" > "$out/summary.json"
    echo; echo "summary: $(cat "$out/summary.json")"
    if [ ${#failed[@]} -gt 0 ]; then
        echo "gpu_check: failed: ${failed[*]} (see $out/log.txt)" >&2
        exit 1
    fi
}

case "${1:-}" in
    wheels) fetch_wheels ;;
    run) [ $# -ge 2 ] || { echo "usage: scripts/gpu_check.sh run OUT [--cpu]" >&2; exit 2; }
         run_checks "$2" "${3:-gpu}" ;;
    *) echo "usage: scripts/gpu_check.sh wheels | run OUT [--cpu]" >&2; exit 2 ;;
esac
