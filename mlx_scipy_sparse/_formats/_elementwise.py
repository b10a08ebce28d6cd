"""scipy's elementwise value ops (its `_data_matrix`: abs, round, power,
real/imag and the zero-preserving ufuncs sin ... sqrt) in MLX.

Each maps the stored values through one function, so the pattern stays and
the values keep their graph: lazy, differentiable, compilable.  scipy sums
duplicates first (in place, on the operand); ours take the MLX path only on
a canonical array and leave the rest to scipy through the bridge.  Result
dtypes are numpy's for the same function on the values.
"""
import numpy as np
import mlx.core as mx

from .. import _arrays, _kernels
from . import _bridge


def _trunc(x):
    return mx.where(x < 0, mx.ceil(x), mx.floor(x))


# name -> (numpy function, MLX function)
UFUNCS = {
    "sin": (np.sin, mx.sin), "tan": (np.tan, mx.tan), "arcsin": (np.arcsin, mx.arcsin),
    "arctan": (np.arctan, mx.arctan), "sinh": (np.sinh, mx.sinh), "tanh": (np.tanh, mx.tanh),
    "arcsinh": (np.arcsinh, mx.arcsinh), "arctanh": (np.arctanh, mx.arctanh),
    "rint": (np.rint, mx.round), "sign": (np.sign, mx.sign), "expm1": (np.expm1, mx.expm1),
    "log1p": (np.log1p, mx.log1p), "deg2rad": (np.deg2rad, mx.radians),
    "rad2deg": (np.rad2deg, mx.degrees), "floor": (np.floor, mx.floor),
    "ceil": (np.ceil, mx.ceil), "trunc": (np.trunc, _trunc), "sqrt": (np.sqrt, mx.sqrt),
}


def _scalar(x):
    return np.isscalar(x) and not isinstance(x, (str, bytes)) or \
        (isinstance(x, np.ndarray) and x.ndim == 0)


def _result_dtype(np_fn, dtype):
    with np.errstate(all="ignore"):
        return np.asarray(np_fn(np.ones(1, dtype=dtype))).dtype


class ElementwiseOps:
    """Mixin of the formats whose values are an MLX array (CSR, CSC, COO)."""

    def _map_values(self, name, np_fn, mx_fn, args=(), kwargs=None, dtype=None):
        """self with every stored value mapped, or scipy's answer."""
        kwargs = kwargs or {}
        base = None if self._on_host() or self.ndim != 2 else self._canonical_form()
        if base is None:
            return _bridge.call(self, name, args, kwargs)
        src = self.dtype if dtype is None else np.dtype(dtype)
        out = _result_dtype(np_fn, src)
        if not _arrays.supported_dtype(out) or out.kind not in "biufc":
            return _bridge.call(self, name, args, kwargs)
        vals = base._values()
        if dtype is not None:
            vals = _kernels.map_values(lambda d: d.astype(_arrays.mx_dtype(src)),
                                       vals, _arrays.mx_dtype(src))
        mo = _arrays.mx_dtype(out)
        return base._with_values(_kernels.elementwise(vals, np_fn, mx_fn, mo))

    def _canonical_form(self):
        """This array with duplicates summed and entries sorted (what scipy
        maps), computed from the index arrays alone; None where scipy must do
        it (index arrays that cannot be read, traced)."""
        try:
            return self if self.has_canonical_format else None
        except ValueError:
            return None

    @property
    def real(self):
        if self._on_host() or self.ndim != 2:
            return _bridge.call(self, "_real", (), {})
        vals = self._values()
        if mx.issubdtype(vals.dtype, mx.complexfloating):
            return self._with_values(_kernels.map_values(mx.real, vals, mx.float32))
        return self._with_values(_arrays.own(vals))

    @property
    def imag(self):
        if self._on_host() or self.ndim != 2:
            return _bridge.call(self, "_imag", (), {})
        vals = self._values()
        if mx.issubdtype(vals.dtype, mx.complexfloating):
            return self._with_values(_kernels.map_values(mx.imag, vals, mx.float32))
        return self._with_values(_kernels.map_values(mx.zeros_like, vals))

    # -- in place: the values object is written, so views sharing it see it ----------
    def __imul__(self, other):
        return self._scale_in_place(other, other, "__imul__")

    def __itruediv__(self, other):
        if not _scalar(other):
            return _bridge.call(self, "__itruediv__", (other,), {})
        return self._scale_in_place(1.0 / other, other, "__itruediv__")

    def _scale_in_place(self, s, arg, name):
        """self.data *= s with numpy's in-place rules (same-kind casting back
        to the values' dtype, out-of-range Python ints raise), written into
        the public values object: `A.T` and other views taken before share it
        (scipy's arrays share .data the same way)."""
        own = self.__dict__.get("_owned")      # taken before anything reads _data
        if own is not None and _scalar(s) and np.result_type(own.dtype, s) == own.dtype:
            # a buffer this object made from free values and nobody else holds or
            # reads later: scaled in place by numpy in its own dtype, as scipy
            # scales its data (40k entries: 6 us, not 18)
            np.multiply(own, np.array(s, dtype=own.dtype), out=own)
            return self
        if not _scalar(s) or self._on_host() or self.ndim != 2:
            return _bridge.call(self, name, (arg,), {})
        out = np.result_type(self.dtype, s)
        if not _arrays.supported_dtype(out) or not np.can_cast(out, self.dtype, "same_kind"):
            return _bridge.call(self, name, (arg,), {})    # scipy's (numpy's) error
        value = np.array(s, dtype=out)
        d = self._values_to_write()
        mo, mine = _arrays.mx_dtype(out), d.dtype
        if type(d) is not _arrays.PublicArray and mo == mine and mine != mx.bfloat16 \
                and _kernels.bare_cpu(d):
            # nobody else holds these values (no view, no public object): a copy
            # of our own, scaled in place by numpy's loop before anyone sees it,
            # not an MLX evaluation (13-20 us here against numpy's 5 us for 40k
            # values; a numpy result copied into MLX paid fresh pages: 17 us)
            made = _arrays.fresh_copy(_arrays.to_np(d), mine)
            if made is not None:
                new, w = made
                np.multiply(w, value, out=w)
                _arrays.note_free(new)          # made here from free values
                self._set_values(new)
                self.__dict__["_owned"] = w
                return self
        with mx.stream(_kernels.stream_for(mo)):
            scaled = d * mx.array(value, dtype=mo) if mo == mine else \
                (d.astype(mo) * mx.array(value, dtype=mo)).astype(mine)
            _arrays.forget(d)
            d[...] = scaled
        return self

    def __abs__(self):
        return self._map_values("__abs__", np.abs, mx.abs)

    def __round__(self, ndigits=0):
        return self._map_values("__round__", lambda d: np.round(d, decimals=ndigits),
                                lambda d: mx.round(d, ndigits), (ndigits,))

    def power(self, n, dtype=None):
        if not np.isscalar(n) and not (isinstance(n, np.ndarray) and n.ndim == 0):
            raise NotImplementedError("input is not scalar")
        if not n:
            raise NotImplementedError("zero power is not supported as it would densify the "
                                      "matrix.\nUse `np.ones(A.shape, dtype=A.dtype)` for this "
                                      "case.")
        return self._map_values("power", lambda d: d ** n, lambda d: mx.power(d, n),
                                (n,), {"dtype": dtype}, dtype=dtype)


def _ufunc_method(name, np_fn, mx_fn):
    def method(self):
        return self._map_values(name, np_fn, mx_fn)
    method.__name__ = name
    method.__doc__ = f"Elementwise {name} of the stored values (scipy's; in MLX)."
    return method


for _name, (_np_fn, _mx_fn) in UFUNCS.items():
    setattr(ElementwiseOps, _name, _ufunc_method(_name, _np_fn, _mx_fn))
del _name, _np_fn, _mx_fn
