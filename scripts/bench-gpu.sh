#!/usr/bin/env bash
# GPU benchmark and smoke test, from binaries built beforehand (a GPU machine may have no network).
#
#   scripts/bench-gpu.sh --build [--features cuda]     # here: build the binaries into $BIN
#   scripts/bench-gpu.sh [--device wgpu,cuda] [--quick] [--bin DIR] [--kernels on,off] [--no-smoke]
#                        [--launches-only]
#
# Measures, per device, with nucleate's graph kernels on and off (--kernels; NUCLEATE_GRAPH_KERNELS;
# "off" is burn's select_assign/select path, i.e. before the kernels):
#   - ET and CT 256/8/8 inference and training (forward+backward) molecules/s at batch 32 and
#     128 (native/examples/backbone_bench.rs, real QM9 molecules);
#   - an SCD training step of CT 256/8/8 and a UniGEM training step of its EGNN 256×9
#     (configs/unigem-qm9-unigem.toml) at batch 32 and 128, through `nucleate pretrain` and
#     `nucleate train unigem` (the one training engine), molecules/s from the logged step times;
#   - kernel launches per training step (CubeCL's execution log) for the SCD step;
#   - peak GPU memory of each job where `nvidia-smi` exists (polled every 0.2 s);
#   - TorchMD-Net's ET in PyTorch on the same molecules where `python3 -c 'import torchmdnet'` works
#     (or $PYTHON), on CUDA when torch sees it.
# And, unless --no-smoke, the smoke test: 30 SCD steps of CT 256/8/8 at batch 128 on the device
# (loss finite, and lower over the last 5 steps than over the first 5), and a small CT (32/2/4)
# trained 3 steps at batch 8 from the same seed on the CPU and on the device, dropouts off
# (losses agree to 1e-5 relative, 2.2e-7 measured on lavapipe; the same batches and noise, f32
# summation order is all that differs).
#
# --quick: small sizes so that lavapipe (Mesa's software Vulkan, no GPU) finishes in minutes
# (`scripts/bench-gpu.sh --device wgpu --quick`): ET/CT 64/2/4 at batch 8, SCD of CT 64/2/4
# (its rate from the smoke run's 30 steps), configs/unigem-qm9-tiny.toml, graph kernels on
# only (add `--kernels on,off` for the comparison, which roughly doubles the time).
#
# Every device process runs in $work with a cubecl.toml that keeps CubeCL's autotune results and
# throughput probes in one cache for the whole run (the `autotune-cache` feature of the build):
# each kernel shape is tuned once per run, by the first process that meets it. Launches per step
# are counted in runs whose shapes are all tuned already, so tuning executions stay out of them.
#
# $BIN (default $CARGO_TARGET_DIR/bench-gpu) holds `nucleate` and `backbone_bench`. A CUDA build
# (`--build --features cuda`) downloads an LLVM bundle at build time (README, "CUDA"): build on
# a machine with network and carry $BIN to the GPU machine. Data: the committed QM9 slices
# (tests/data/datasets), so the repository alone is enough.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/nucleate-target}"
DEVICES=wgpu QUICK=0 BUILD=0 FEATURES="" KERNELS="" SMOKE=1 ALL=1
BIN="$CARGO_TARGET_DIR/bench-gpu"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --device) DEVICES="$2"; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --build) BUILD=1; shift ;;
    --features) FEATURES="$2"; shift 2 ;;
    --bin) BIN="$2"; shift 2 ;;
    --kernels) KERNELS="$2"; shift 2 ;;
    --no-smoke) SMOKE=0; shift ;;
    --launches-only) ALL=0; shift ;;  # per kernel setting: SCD steps at the first batch, launches
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

if [[ $BUILD = 1 ]]; then
  # autotune-cache: CubeCL's autotune results and throughput probes on disk, shared by the
  # processes of one run (native/Cargo.toml).
  cargo build --release -q -p nucleate --locked --features "autotune-cache${FEATURES:+,$FEATURES}" \
    --bin nucleate --example backbone_bench
  mkdir -p "$BIN"
  cp "$CARGO_TARGET_DIR/release/nucleate" "$CARGO_TARGET_DIR/release/examples/backbone_bench" "$BIN/"
  echo "built $BIN/nucleate and $BIN/backbone_bench${FEATURES:+ (features $FEATURES)}"
  exit 0
fi
for b in nucleate backbone_bench; do
  [[ -x "$BIN/$b" ]] || { echo "no $BIN/$b: run scripts/bench-gpu.sh --build first" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
zcat tests/data/datasets/qm9_stride650.extxyz.gz > "$work/qm9.extxyz"
qm9="$root/tests/data/datasets/qm9_stride200.csv.gz"
data="[\"$qm9\"]"
if [[ $QUICK = 1 ]]; then
  SIZES=64/2/4 BATCHES=8 STEPS=6 UNIGEM_STEPS=21 SMOKE_SIZE=64/2/4 SMOKE_BATCH=8 AGREE_SIZE=64/2/4
  UNIGEM="$root/configs/unigem-qm9-tiny.toml" KERNELS=${KERNELS:-on}
else
  SIZES=256/8/8 BATCHES=32,128 STEPS=12 UNIGEM_STEPS=31 SMOKE_SIZE=256/8/8 SMOKE_BATCH=128 AGREE_SIZE=32/2/4
  UNIGEM="$root/configs/unigem-qm9-unigem.toml" KERNELS=${KERNELS:-on,off}
fi
# One CubeCL cache for every process of this run (found from the working directory upwards).
cubecl_env="[environment]
path = { directory = \"$work/cubecl-cache\" }"
echo "$cubecl_env" > "$work/cubecl.toml"
cd "$work"

# Peak GPU memory (MiB) while "$@" runs, where nvidia-smi exists; "-" elsewhere.
peak_mem() { # out_file cmd...
  local out=$1; shift
  if ! command -v nvidia-smi >/dev/null; then "$@"; echo "-" > "$out"; return; fi
  ( peak=0; while :; do
      m=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -1)
      if (( m > peak )); then peak=$m; echo "$peak" > "$out"; fi; sleep 0.2; done ) &
  local poller=$!
  "$@"; local rc=$?
  kill "$poller" 2>/dev/null; wait "$poller" 2>/dev/null || true
  return $rc
}

# SCD pretraining of CT F/L/H: device dir batch steps F/L/H [extra --set ...]
scd() {
  local device=$1 dir=$2 batch=$3 steps=$4 size=$5; shift 5
  IFS=/ read -r f l h <<<"$size"
  "$BIN/nucleate" pretrain --config "$root/configs/ct-qm9-scd.toml" --device "$device" --run "$dir" --fresh \
    --set model.ct.et.hidden_channels="$f" --set model.ct.et.num_layers="$l" \
    --set model.ct.et.num_heads="$h" --set model.ct.et.num_rbf=$(( f >= 256 ? 64 : 32 )) \
    --set train.batch_size="$batch" --set train.steps="$steps" --set train.warmup=1 \
    --set train.log_every=1 --set train.checkpoint_every="$steps" --set train.eval_every=1000000 \
    --set "data.paths=$data" --set data.test=100 --set data.val=100 "$@" >"$dir.out" 2>"$dir.err"
}
unigem() { # device dir batch steps
  "$BIN/nucleate" train unigem --config "$UNIGEM" --device "$1" -o "$2" --data "$qm9" \
    --batch "$3" --steps "$4" --checkpoint-every "$4" --holdout 50 >"$2.out" 2>"$2.err"
}
# molecules/s of a run from its logged `seconds`, leaving out the first logged row (the first step
# compiles and autotunes kernels) and the last (it writes a checkpoint): with a row per step (SCD)
# the batch over the median step time, so that a step meeting a new shape (compiling) does not
# count; with a row every 10 steps (UniGEM) the batch over the mean between the rows.
rate() { # dir batch
  python3 - "$1" "$2" <<'EOF'
import json, pathlib, statistics, sys
d, batch = pathlib.Path(sys.argv[1]), int(sys.argv[2])
rows = [r for r in map(json.loads, (d / "metrics.jsonl").read_text().splitlines()) if r.get("split", "train") == "train"]
rows = rows[:-1]
if len(rows) < 2:
    print("- (too few logged steps)")
    sys.exit()
steps = [r["step"] for r in rows]
secs = [r["seconds"] for r in rows]
if all(b - a == 1 for a, b in zip(steps, steps[1:])):
    print(f"{batch / statistics.median(b - a for a, b in zip(secs, secs[1:])):.1f}")
else:
    print(f"{batch * (steps[-1] - steps[0]) / (secs[-1] - secs[0]):.1f}")
EOF
}
t_start=$SECONDS
elapsed() { echo "[$(( SECONDS - t_start )) s]"; }

fail=0
for device in ${DEVICES//,/ }; do
  echo "=== $device"
  if [[ $SMOKE = 1 || -n "${NUCLEATE_GPU_SMOKE:-}" ]]; then
    echo "--- smoke test: 30 SCD steps of CT $SMOKE_SIZE at batch $SMOKE_BATCH"
    if peak_mem "$work/mem" scd "$device" "$work/smoke" "$SMOKE_BATCH" 30 "$SMOKE_SIZE"; then
      python3 - "$work/smoke/metrics.jsonl" <<'EOF' || fail=1
import json, math, sys
rows = [r for r in map(json.loads, open(sys.argv[1])) if r.get("split", "train") == "train"]
loss = [r["loss"] for r in rows]
first, last = sum(loss[:5]) / 5, sum(loss[-5:]) / 5
ok = len(loss) >= 30 and all(map(math.isfinite, loss)) and last < first
print(f"steps {len(loss)}, loss first 5 {first:.4f}, last 5 {last:.4f}: {'ok' if ok else 'FAILED'}")
sys.exit(0 if ok else 1)
EOF
      echo "SCD CT $SMOKE_SIZE batch $SMOKE_BATCH: $(rate "$work/smoke" "$SMOKE_BATCH") mol/s (median step of 2-29), peak $(cat "$work/mem") MiB $(elapsed)"
    else
      echo "smoke run failed:"; tail -5 "$work/smoke.err"; fail=1
    fi
    echo "--- smoke test: CT $AGREE_SIZE, 3 steps at batch 8 from the same seed on cpu and $device"
    # Drop-path and condition dropout off: they draw on each device's own generator.
    for d in cpu "$device"; do
      scd "$d" "$work/agree-$d" 8 3 "$AGREE_SIZE" --set model.ct.p_droppath=0.0 --set model.ct.p_dropcond=0.0 \
        || { tail -5 "$work/agree-$d.err"; fail=1; }
    done
    python3 - "$work/agree-cpu/metrics.jsonl" "$work/agree-$device/metrics.jsonl" <<'EOF' || fail=1
import json, sys
a, b = ([r["loss"] for r in map(json.loads, open(p)) if r.get("split", "train") == "train"] for p in sys.argv[1:])
rel = max(abs(x - y) / abs(x) for x, y in zip(a, b))
ok = len(a) == len(b) == 3 and rel <= 1e-5
print(f"losses cpu {a}, device {b}: worst relative difference {rel:.2e} (limit 1e-5): {'ok' if ok else 'FAILED'}")
sys.exit(0 if ok else 1)
EOF
    elapsed
  fi

  for k in ${KERNELS//,/ }; do
    export NUCLEATE_GRAPH_KERNELS=$k
    echo "--- graph kernels $k: training steps (molecules/s; peak GPU MiB)"
    for b in ${BATCHES//,/ }; do
      dir="$work/scd-$device-$k-$b"
      if [[ $QUICK = 1 && $SMOKE = 1 && $k = on && $b = "$SMOKE_BATCH" && -d "$work/smoke" ]]; then
        : # the smoke run above measured this one
      elif peak_mem "$work/mem" scd "$device" "$dir" "$b" "$STEPS" "$SIZES"; then
        echo "SCD CT $SIZES batch $b: $(rate "$dir" "$b") mol/s, peak $(cat "$work/mem") MiB $(elapsed)"
      else echo "SCD batch $b failed:"; tail -3 "$dir.err"; fail=1; fi
      [[ $ALL = 1 ]] || break
      dir="$work/unigem-$device-$k-$b"
      if peak_mem "$work/mem" unigem "$device" "$dir" "$b" "$UNIGEM_STEPS"; then
        echo "UniGEM $(basename "$UNIGEM" .toml) batch $b: $(rate "$dir" "$b") mol/s, peak $(cat "$work/mem") MiB $(elapsed)"
      else echo "UniGEM batch $b failed:"; tail -3 "$dir.err"; fail=1; fi
    done
    # Launches per step: CubeCL logs every kernel it executes; runs of 3 and 6 steps differ by 3
    # steps' launches (start-up, validation and the checkpoint cancel out). The training runs
    # above met these batches' shapes first, so no autotuning runs inside either.
    b=${BATCHES%%,*}
    for s in 3 6; do
      mkdir -p "$work/launch-$k-$s"
      printf '%s\n\n[profiling.logger]\nlevel = "minimal"\nfile = "%s"\n' "$cubecl_env" "$work/launch-$k-$s.log" \
        > "$work/launch-$k-$s/cubecl.toml"
      (cd "$work/launch-$k-$s" && scd "$device" "$work/launch-$k-$s/run" "$b" "$s" "$SIZES") || fail=1
    done
    n3=$(grep -c Executing "$work/launch-$k-3.log" 2>/dev/null || true)
    n6=$(grep -c Executing "$work/launch-$k-6.log" 2>/dev/null || true)
    echo "graph kernels $k: SCD step of CT $SIZES, batch $b: $(( (${n6:-0} - ${n3:-0}) / 3 )) kernel launches per step ($n3 in 3 steps, $n6 in 6) $(elapsed)"
    [[ $ALL = 1 ]] || continue
    echo "--- graph kernels $k: backbones (molecules/s; peak GPU MiB)"
    peak_mem "$work/mem" "$BIN/backbone_bench" "$work/qm9.extxyz" --device "$device" --batches "$BATCHES" \
      --sizes "$SIZES" --repeats 2 --json "$work/ours-$device-$k.json" || fail=1
    echo "peak GPU memory: $(cat "$work/mem") MiB $(elapsed)"
  done
  unset NUCLEATE_GRAPH_KERNELS
done

PYTHON="${PYTHON:-python3}"
if "$PYTHON" -c "import torchmdnet.models.model, ase" 2>/dev/null; then
  echo "=== TorchMD-Net ET in PyTorch, same molecules (ratios against ours with kernels on)"
  tdev=$("$PYTHON" -c "import torch; print('cuda' if torch.cuda.is_available() else 'cpu')")
  for device in ${DEVICES//,/ }; do
    [[ -f "$work/ours-$device-on.json" ]] || continue
    "$PYTHON" "$root/native/examples/backbone_bench.py" "$work/qm9.extxyz" "$work/ours-$device-on.json" \
      --batches "$BATCHES" --sizes "$SIZES" --repeats 2 --device "$tdev" 2>&1 | grep -v -i -e warn -e "load on device"
  done
else
  echo "=== TorchMD-Net: not installed here ($PYTHON -c 'import torchmdnet' fails), no PyTorch figures"
fi
echo "total $(elapsed)"
exit $fail
