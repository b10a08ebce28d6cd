"""Matrices and partitions the rank scripts share (every rank builds the
same ones from fixed seeds, so each can compute the single-process answer)."""
import numpy as np
import scipy.sparse as ss


def poisson2d(nx, ny):
    """5-point Laplacian on an nx x ny grid (SPD, banded: a stencil)."""
    tx = ss.diags([-1., 2., -1.], [-1, 0, 1], shape=(nx, nx))
    ty = ss.diags([-1., 2., -1.], [-1, 0, 1], shape=(ny, ny))
    return (ss.kron(ss.eye(ny), tx) + ss.kron(ty, ss.eye(nx))).tocsr()


def random_spd(n, density=0.06, seed=3):
    """A random pattern (entries anywhere), symmetric and diagonally dominant."""
    S = ss.random(n, n, density=density, random_state=seed, format="csr")
    return (S + S.T + 12 * ss.eye(n)).tocsr()


def random_general(n, density=0.06, seed=5):
    return (ss.random(n, n, density=density, random_state=seed, format="csr")
            + 4 * ss.eye(n)).tocsr()


def partitions(n, size):
    """name -> per-rank row counts: even, uneven, and one with an empty rank."""
    out = {"even": None}
    if size == 2:
        out["uneven"] = [n // 3, n - n // 3]
        out["empty"] = [0, n]
    elif size >= 3:
        out["empty"] = [n // 5, 0] + [0] * (size - 3) + [n - n // 5]
    return out
