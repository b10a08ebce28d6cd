"""Does MLX refuse to differentiate through a bare custom kernel (no VJP)?
If it raises, a product launched bare on a tracer fails loudly instead of
giving a silent zero gradient.

    python -m benchmarks.kernel_vjp_probe        # on a GPU machine
"""
import mlx.core as mx

mx.set_default_device(mx.gpu)
if hasattr(mx.fast, "cuda_kernel"):
    k = mx.fast.cuda_kernel(name="msp_copy", input_names=["x"], output_names=["y"],
                            source="auto i = blockIdx.x * blockDim.x + threadIdx.x;"
                                   " if (i < x_shape[0]) y[i] = x[i];")
else:
    k = mx.fast.metal_kernel(name="msp_copy", input_names=["x"], output_names=["y"],
                             source="uint i = thread_position_in_grid.x; y[i] = x[i];")


def bare(x):
    return k(inputs=[x], grid=(256, 1, 1), threadgroup=(256, 1, 1),
             output_shapes=[x.shape], output_dtypes=[x.dtype])[0]


x = mx.arange(8, dtype=mx.float32)
for label, f in (("grad of sum(bare(x))", lambda v: mx.sum(bare(v))),
                 ("grad of sum(bare(x)) with x evaluated", lambda v: (mx.eval(v), mx.sum(bare(v)))[1])):
    try:
        g = mx.grad(f)(x)
        mx.eval(g)
        print(f"{label}: no error, gradient {g.tolist()}")
    except Exception as e:          # noqa: BLE001
        print(f"{label}: {type(e).__name__}: {e}")
