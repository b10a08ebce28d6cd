#!/usr/bin/env bash
# MLX's CPU wheel (Python 3.12, Linux x86-64) for the lent GPU machine, for
# the CPU-only distributed runs: a cluster of CPUs runs the CPU build, and
# MLX's CUDA build differs on the CPU stream.  Here, once:
#   bash benchmarks/mlx_cpu_carry.sh           # writes .mlxcpu/ (git-ignored, ~12 MB)
# on the device (carry [".mlxcpu"]):
#   source .mlxcpu/env.sh && python benchmarks/distributed_scaling.py ...
set -euo pipefail
root="$(git rev-parse --show-toplevel)"
dest="$root/.mlxcpu"
grep -qxF '/.mlxcpu/' "$root/.git/info/exclude" 2>/dev/null || echo '/.mlxcpu/' >> "$root/.git/info/exclude"
v="${MLX_VERSION:-0.32.4}"
rm -rf "$dest"; mkdir -p "$dest"
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_35_x86_64 --platform manylinux_2_31_x86_64 --platform manylinux_2_28_x86_64 \
  --platform manylinux_2_17_x86_64 -d "$dest" "mlx==$v" "mlx-cpu==$v" array-api-compat
cat > "$dest/env.sh" <<'SH'
# source me on the device from the repository root: MLX's CPU build on PYTHONPATH
_d="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ ! -f /tmp/mlxcpu-site/.done ]; then
  mkdir -p /tmp/mlxcpu-site
  for w in "$_d"/*.whl; do python3 -c 'import sys,zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$w" /tmp/mlxcpu-site; done
  touch /tmp/mlxcpu-site/.done
fi
export PYTHONPATH="$PWD:/tmp/mlxcpu-site" PYTHONUNBUFFERED=1
python3 -c 'import mlx.core as mx; print("MLX", mx.__version__, mx.default_device())'
SH
du -sh "$dest"
