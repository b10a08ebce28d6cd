"""One SpMV of ours and one of torch.sparse (cuSPARSE) per case, for a
profiler (Nsight Compute) to compare kernel by kernel:

    ncu -k 'regex:msp_|csrmv|spmv|SpMV|csr' --metrics ... python -m benchmarks.profile_spmv
"""
import sys

import numpy as np
import mlx.core as mx

import mlx_scipy_sparse as sp
from benchmarks.run import power_law, uniform

mx.set_default_device(mx.gpu)
rng = np.random.default_rng(0)
cases = {"uniform": uniform(1_000_000, 16, rng), "powerlaw": power_law(1_000_000, 16, rng)}
variant = sys.argv[1] if len(sys.argv) > 1 else None
import torch  # noqa: E402
for name, A in cases.items():
    As = sp.csr_array(A)
    x = mx.array(rng.standard_normal(A.shape[1]).astype(np.float32))
    mx.eval(As @ x)                       # plan, blocks, compile: outside the profile
    At = torch.sparse_csr_tensor(torch.from_numpy(A.indptr.astype(np.int64)).cuda(),
                                 torch.from_numpy(A.indices.astype(np.int64)).cuda(),
                                 torch.from_numpy(A.data).cuda(), size=A.shape)
    xt = torch.from_numpy(np.array(x)).cuda()
    torch.cuda.synchronize()
    print(name, "max row", int(np.diff(A.indptr).max()), flush=True)
    mx.eval(As @ x)
    mx.synchronize()
    (At @ xt)
    torch.cuda.synchronize()
