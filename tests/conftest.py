"""Test-session settings.

MLX's CUDA matmuls run in TF32 by default (about 1e-3 relative error); the
tests compare our sparse products with float32/float64 dense references, so
the dense side must be exact float32.  Set before MLX is first imported.
"""
import os

os.environ.setdefault("MLX_ENABLE_TF32", "0")
