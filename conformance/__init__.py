"""scipy's own sparse tests run against mlx_scipy_sparse: see run.py."""
