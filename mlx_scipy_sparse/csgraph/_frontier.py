"""Graph traversals as MLX array ops, for graphs that live on a GPU.

scipy's traversals visit one node at a time on the host; on a GPU the same
answers come from whole-array steps:

* weak components by hooking and pointer jumping: every node holds a parent
  (a node of its component, never larger than itself); each round hooks the
  root of one end of every edge under the other end's root (a scatter-min)
  and then jumps every node to its grandparent.  The parents stop changing
  when each component has one root, its smallest node, which gives scipy's
  numbering (components counted in the order of their smallest node).
* breadth-first order level by level: the frontier's edges are expanded in
  queue order, each unvisited target keeps the first slot that reaches it (a
  scatter-min of slot numbers), and the winners, in slot order, are the next
  frontier.  That is exactly the order (and the predecessors) of scipy's
  queue, which appends a node when the first queued node reaching it is
  popped, in the order of the row's stored indices.

Both work on any MLX device; they are chosen on a GPU for large graphs and
tested on the CPU stream against scipy.  Only integer index arrays are read:
edge weights play no part (explicit zeros are edges, as in scipy).
"""
import numpy as np
import mlx.core as mx

from .. import _kernels
from . import _pattern

_NO_PRED = -9999        # scipy's mark for "no predecessor"


def weak_components(A, return_labels=True):
    """(n_components, labels) of our sparse array's weakly connected
    components, as scipy numbers them; labels are numpy int32."""
    n = A.shape[0]
    src, dst = _pattern.edges(A)
    parent = mx.arange(n, dtype=mx.int32)
    if src.size:
        while True:
            ps, pd = parent[src], parent[dst]
            low = mx.minimum(ps, pd)
            hooked = parent.at[ps].minimum(low).at[pd].minimum(low)
            jumped = hooked[hooked]
            jumped = jumped[jumped]
            changed = mx.any(jumped != parent)
            parent = jumped
            if not changed.item():
                break
    roots = parent == mx.arange(n, dtype=mx.int32)
    number = _kernels.running_sum(roots.astype(mx.int32)) - 1
    count = int(mx.sum(roots).item()) if n else 0
    if not return_labels:
        return count
    return count, np.array(number[parent]).astype(np.int32, copy=False)


def breadth_first_order(A, i_start, directed=True, return_predecessors=True):
    """scipy's breadth_first_order of our sparse array, by frontier
    expansion; numpy int32 results."""
    n = A.shape[0]
    indptr, indices = _pattern.adjacency(A, directed)
    visited = mx.zeros((n + 1,), dtype=mx.bool_)      # slot n: where losers write
    visited[i_start] = True
    pred = mx.full((n + 1,), _NO_PRED, dtype=mx.int32)
    frontier = mx.array([i_start], dtype=mx.int32)
    parts = [frontier]
    big = mx.array(np.iinfo(np.int32).max, dtype=mx.int32)
    while True:
        first = indptr[frontier]
        deg = indptr[frontier + 1] - first
        total = int(mx.sum(deg).item())
        if total == 0:
            break
        start = _kernels.running_sum(deg) - deg                    # each frontier node's first slot
        slot = mx.arange(total, dtype=mx.int32)
        # frontier position of every slot: mark where each segment starts
        # (empty segments mark the same place as the next one), prefix-sum
        mark = mx.zeros((total + 1,), dtype=mx.int32).at[start].add(1)
        seg = _kernels.running_sum(mark[:total]) - 1
        target = indices[first[seg] + slot - start[seg]]
        fresh = mx.logical_not(visited[target])
        aim = mx.where(fresh, target, n)
        best = mx.full((n + 1,), big, dtype=mx.int32).at[aim].minimum(slot)
        win = mx.logical_and(fresh, best[target] == slot)
        count = int(mx.sum(win).item())
        if count == 0:
            break
        came_from = frontier[seg]
        # the winners, compacted in slot order (losers write to the spare end)
        place = mx.where(win, _kernels.running_sum(win.astype(mx.int32)) - 1, count)
        frontier = mx.zeros((count + 1,), dtype=mx.int32).at[place].add(target)[:count]
        pred = pred.at[mx.where(win, target, n)].maximum(mx.where(win, came_from, _NO_PRED))
        visited = mx.logical_or(visited, best < big)
        parts.append(frontier)
    order = np.array(mx.concatenate(parts)).astype(np.int32, copy=False)
    if not return_predecessors:
        return order
    return order, np.array(pred[:n]).astype(np.int32, copy=False)


def gpu_worthwhile(A):
    """The frontier versions run when the default device is a GPU and the
    graph is large enough to pay for whole-array steps (see
    benchmarks/csgraph.py)."""
    return _kernels.gpu_default() and A.nnz >= GPU_MIN_EDGES


GPU_MIN_EDGES = 1 << 18
