"""Row-partitioned sparse arrays over ``mx.distributed``.

Each rank holds a block of rows as an ``sp.csr_array`` in a local column map
(owned columns, then ghost columns); ``A @ x`` exchanges only the entries of
x the rows touch (a plan made once per pattern), overlapping the exchange
with the owned block's product.  Reductions go through ``all_sum``, and the
array satisfies the solver contract (``local_shape``, ``vdot``) so
``mlx_scipy_sparse.linalg``'s solvers run on it unchanged.

Launch with ``mlx.launch -n 4 -- python script.py`` (ring on one host) or
``mlx.launch --hosts ip1,ip2 -- python script.py``.  A process started
without a launcher is a group of one: no exchange, no collectives.
"""
from ._comm import comm_stream, world
from ._partition import RowPartition
from ._array import DistributedCSR
from ._vector import DistributedVector
from ._construct import (from_global, from_local_rows, like_cols, like_rows, scatter, vector,
                         vector_from_global)

__all__ = ["DistributedCSR", "DistributedVector", "RowPartition", "comm_stream", "from_global",
           "from_local_rows", "like_cols", "like_rows", "scatter", "vector",
           "vector_from_global", "world"]
