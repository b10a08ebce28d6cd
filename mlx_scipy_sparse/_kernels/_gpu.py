"""GPU backend (Metal / CUDA custom kernels).  Filled in by the kernel issue;
until then `supports` says no and the table falls back to composed MLX ops."""


def supports(dtype):
    return False


def spmm(data, indices, indptr, n_rows, n_cols, X, transpose, out_dtype):  # pragma: no cover
    raise NotImplementedError
