"""The Metal expansion of every GPU kernel compiles (as C++ against a shim).

No Metal compiler exists off Apple hardware, so each instantiation the
launcher may ask for is written out exactly as ``mx.fast.metal_kernel`` would
(MLX's signature: inputs as ``const device T*`` -- ``constant`` when smaller
than 8 elements --, outputs as ``device T*`` or ``device atomic<T>*``, thread
attributes found in the body, template parameters and the explicit
instantiation) and compiled with the host C++ compiler against
``tests/metal_shim.h``, which stands in for Metal's qualifiers and builtins.
The CUDA expansion is compiled and run on a GPU by ``tests/gpu_check.py``.
"""
import os
import shutil
import subprocess

import pytest

from mlx_scipy_sparse._kernels import _dialect

HERE = os.path.dirname(os.path.abspath(__file__))
CXX = os.environ.get("CXX") or shutil.which("g++") or shutil.which("clang++")

# mx.fast.metal_kernel's attribute table (name, type), in MLX's order
METAL_ATTRIBUTES = [
    ("dispatch_quadgroups_per_threadgroup", "uint"), ("dispatch_simdgroups_per_threadgroup", "uint"),
    ("dispatch_threads_per_threadgroup", "uint3"), ("grid_origin", "uint3"), ("grid_size", "uint3"),
    ("quadgroup_index_in_threadgroup", "uint"), ("quadgroups_per_threadgroup", "uint"),
    ("simdgroup_index_in_threadgroup", "uint"), ("simdgroups_per_threadgroup", "uint"),
    ("thread_execution_width", "uint"), ("thread_index_in_quadgroup", "uint"),
    ("thread_index_in_simdgroup", "uint"), ("thread_index_in_threadgroup", "uint"),
    ("thread_position_in_grid", "uint3"), ("thread_position_in_threadgroup", "uint3"),
    ("threadgroup_position_in_grid", "uint3"), ("threadgroups_per_grid", "uint3"),
    ("threads_per_grid", "uint3"), ("threads_per_simdgroup", "uint"), ("threads_per_threadgroup", "uint3"),
]
METAL_TYPES = {"float32": "float", "float16": "float16_t", "bfloat16": "bfloat16_t",
               "int32": "int32_t", "int64": "int64_t"}
INPUT_KIND = {"a": "T", "x": "T", "l": "T", "ci": "IT", "rp": "IT", "P": "int64", "bk": "int64", "pm": "int32",
              # the CG iteration's float32 vectors and state
              "V": "float32", "aux": "float32"}


def metal_source(name, targs):
    """What mx.fast.metal_kernel would hand the Metal compiler."""
    spec = _dialect.KERNELS[name]
    header, body = _dialect.expand(name, "metal")
    tv = dict(targs)
    fname = "custom_kernel_msp_" + name + "_" + "_".join(
        METAL_TYPES.get(v, str(v)) if isinstance(v, str) else str(v) for _, v in targs)
    params = []
    for i, inp in enumerate(spec["inputs"]):
        kind = INPUT_KIND[inp]
        dt = METAL_TYPES[tv[kind] if kind in tv else kind]
        # MLX: inputs smaller than 8 elements are constant (P)
        where = "constant" if inp == "P" else "device"
        params.append(f"  const {where} {dt}* {inp} [[buffer({i})]]")
    for j, (out, kind) in enumerate(_dialect.outputs(name)):
        out_t = "float" if spec["atomic"] else METAL_TYPES[tv[kind] if kind in tv else kind]
        out_t = f"atomic<{out_t}>" if spec["atomic"] else out_t
        params.append(f"  device {out_t}* {out} [[buffer({len(spec['inputs']) + j})]]")
    params += [f"  {t} {a} [[{a}]]" for a, t in METAL_ATTRIBUTES if a in body]
    tparams = ", ".join(("typename " if isinstance(v, str) else "int ") + k for k, v in targs)
    targ_vals = ", ".join(METAL_TYPES[v] if isinstance(v, str) else str(v) for _, v in targs)
    src = ['#include "metal_shim.h"', header,
           f"template <{tparams}>", f"[[kernel]] void {fname}(", ",\n".join(params) + ") {",
           body, "}",
           f'template [[host_name("{fname}")]] [[kernel]] decltype({fname}<{targ_vals}>) '
           f"{fname}<{targ_vals}>;"]
    return "\n".join(src)


@pytest.mark.skipif(CXX is None, reason="no C++ compiler")
def test_every_metal_instantiation_compiles(tmp_path):
    insts = _dialect.instantiations()
    assert {n for n, _ in insts} == set(_dialect.KERNELS)
    path = tmp_path / "kernels_metal.cpp"
    # one translation unit: every kernel and instantiation (fast, one compiler run)
    srcs = []
    for name, targs in insts:
        s = metal_source(name, targs)
        srcs.append(s.replace('#include "metal_shim.h"', ""))
    path.write_text('#include "metal_shim.h"\n' + "\n".join(srcs))
    res = subprocess.run([CXX, "-std=c++17", "-fsyntax-only", "-Wno-attributes",
                          "-Werror=return-type", "-I", HERE, str(path)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-6000:]


@pytest.mark.skipif(CXX is None, reason="no C++ compiler")
def test_metal_shim_rejects_broken_kernel(tmp_path):
    """The check has teeth: a typo in a body fails to compile."""
    name, targs = _dialect.instantiations()[0]
    s = metal_source(name, targs).replace("msp_f(", "msp_ff(", 1)
    path = tmp_path / "broken.cpp"
    path.write_text(s)
    res = subprocess.run([CXX, "-std=c++17", "-fsyntax-only", "-Wno-attributes", "-I", HERE, str(path)],
                         capture_output=True, text=True)
    assert res.returncode != 0


def test_expansions_have_no_leftover_tokens():
    for name in _dialect.KERNELS:
        for be in ("cuda", "metal"):
            header, body = _dialect.expand(name, be)
            assert "@" not in body
        # the Metal body names the attributes MLX must declare
        _, mbody = _dialect.expand(name, "metal")
        assert "thread_position_in_grid" in mbody or "threadgroup_position_in_grid" in mbody
