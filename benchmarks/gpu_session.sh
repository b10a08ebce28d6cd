#!/usr/bin/env bash
# The GPU measurements of one device session, step by step (each bounded in
# time, logs under $OUT).  On the lent GPU machine, after
# `source .mlxcuda/b/env.sh` (see ../shared/tools/mlx-cuda-carry):
#   bash benchmarks/gpu_session.sh tests surface      # any of the steps below
set -u
OUT=${OUT:-/tmp/gpu_out}; mkdir -p "$OUT"
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
step() {  # name, seconds, command...
  local name=$1 secs=$2; shift 2
  echo "== $name ($(date +%T))" | tee -a "$OUT/summary.txt"
  timeout "$secs" "$@" > "$OUT/$name.log" 2>&1
  echo "   rc=$? $(tail -n 1 "$OUT/$name.log" | cut -c1-160)" | tee -a "$OUT/summary.txt"
}
for s in "$@"; do case $s in
  tests) step gpu_tests 330 python -m pytest -q -p no:cacheprovider -m "not slow" \
      tests/test_device_rule.py tests/test_device_rule_select.py tests/test_mx_operands.py tests/test_inplace_writes.py \
      tests/test_compile_loop.py tests/test_value_ops.py tests/test_csgraph_frontier.py \
      tests/test_linalg_iterative.py tests/test_linalg_grad.py tests/test_linalg_eigen.py \
      tests/test_linalg_direct.py \
      tests/test_flags.py tests/test_surface_gradients.py tests/test_cg_one_kernel.py \
      tests/test_device_patterns.py tests/test_compile_exact_values.py \
      tests/test_traced_axis_extremes.py tests/test_traced_diags.py tests/test_traced_surface.py ;;
  cgcheck) step cg_check 150 python tests/gpu_check.py --quick --only cg_step
      step cg_sanitize 300 compute-sanitizer --tool memcheck --error-exitcode 3 \
      python tests/gpu_check.py --quick --only cg_step --sanitize ;;
  gpucheck) step gpu_check 240 python tests/gpu_check.py ;;
  csgraph) step csgraph_gpu 300 python -m benchmarks.csgraph --gpu --png "$OUT/csgraph_gpu.png" ;;
  surface) step surface_gpu 220 python -m benchmarks.surface --n 1000000 --per-row 16 \
      --repeats 3 --gpu --no-cpu --no-checks --range 0:55 ;;
  surface2) step surface_gpu2 220 python -m benchmarks.surface --n 1000000 --per-row 16 \
      --repeats 3 --gpu --no-cpu --no-checks --range 55:110 ;;
  surface3) step surface_gpu3 220 python -m benchmarks.surface --n 1000000 --per-row 16 \
      --repeats 3 --gpu --no-cpu --no-checks --range 110: ;;
  spmvgraphs) step spmv_graphs_on 150 python -m benchmarks.run --suite gpu --ops spmv
      step spmv_graphs_off 150 env MLX_USE_CUDA_GRAPHS=0 python -m benchmarks.run --suite gpu --ops spmv
      step seed_graphs_on 120 python examples/seed_notebook.py
      step seed_graphs_off 120 env MLX_USE_CUDA_GRAPHS=0 python examples/seed_notebook.py ;;
  overhead) step overhead 150 python -m benchmarks.overhead ;;
  solvers) step solvers_gpu 240 python -m benchmarks.solvers --gpu --repeats 3 ;;
  solverscpu) step solvers_cpu 200 python -m benchmarks.solvers ;;
  eigen) step eigen_gpu 200 python benchmarks/eigen_direct.py --n 1000000 --gpu --repeat 1 ;;
  distributed) step distributed_scaling 330 python benchmarks/distributed_scaling.py \
      --ranks 1,2,4,8 --cores 2 --threads 1 --timeout 150 --json "$OUT/dscale.json" ;;
  *) echo "unknown step $s" ;;
esac; done
