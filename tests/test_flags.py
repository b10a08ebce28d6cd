"""numpy's `.flags` on the public arrays: WRITEABLE = False makes every
in-place write through that array raise, as numpy does; copies are writeable."""
import numpy as np
import pytest

import mlx_scipy_sparse as sp


def test_writeable_flag_blocks_in_place_writes():
    A = sp.csr_array(np.arange(1.0, 7.0).reshape(2, 3))
    d = A.data
    assert d.flags["WRITEABLE"] and d.flags.writeable and d.flags["W"]
    d.flags["WRITEABLE"] = False
    assert A.data.flags.writeable is False          # the same public object
    for write in (lambda: d.__setitem__(0, 9.0), lambda: d.__iadd__(1.0)):
        with pytest.raises(ValueError, match="read-only"):
            write()
    with pytest.raises(ValueError, match="read-only"):
        A *= 2.0                                    # scipy's own A *= 2 raises too
    np.testing.assert_array_equal(A.toarray(), np.arange(1.0, 7.0).reshape(2, 3))
    c = d.copy()
    c[0] = 9.0
    assert c.flags.writeable and A.data[0].item() == 1.0
    d.flags.writeable = True
    d[0] = 5.0
    assert A.toarray()[0, 0] == 5.0


def test_layout_flags_and_errors():
    f = sp.csr_array(np.eye(3)).indices.flags
    assert f.c_contiguous and f.f_contiguous and f.owndata and f["ALIGNED"]
    assert not f["WRITEBACKIFCOPY"]
    with pytest.raises(KeyError):
        f["NOPE"]
    with pytest.raises(ValueError):
        f["OWNDATA"] = False
    assert "WRITEABLE : True" in repr(f)


def test_read_only_index_handle():
    A = sp.csr_array(np.eye(3))
    A.indices.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        A.indices[0] = 2
    assert A.indices.tolist() == [0, 1, 2]
