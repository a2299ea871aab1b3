"""``prlstm.ops.chunked`` against ``reference``: exact bracketing for every chunk size, the
same combines as levelwise, every path of the op and of the layer, values and gradients."""

import pytest
import torch

from prlstm import schedule
from prlstm.ops import chunked, reference

from .pinning import (
    LayerPinning,
    check_exact_paths,
    int_combine,
)
from .test_levelwise import Counter, hash_leaves


@pytest.mark.parametrize("chunk", [1, 2, 4, 8, 16])
def test_bracketing_is_exact(chunk):
    backend = chunked.Chunked(chunk)
    for n in list(range(1, 70)) + [127, 128, 129]:
        leaves = (torch.arange(1, 2 * n + 1, dtype=torch.int64).reshape(2, n, 1) * 1_000_003,)
        ref = reference.scan(int_combine, leaves)[0][0]
        assert torch.equal(backend.scan(int_combine, leaves)[0][0], ref), n


@pytest.mark.parametrize("chunk", [2, 8])
@pytest.mark.parametrize("n", [8, 16, 96, 128])
def test_does_the_same_combines(chunk, n):
    c = Counter()
    chunked.Chunked(chunk).scan(c, hash_leaves(n))
    assert c.rows == schedule.scan_combines(n)


def test_rejects_bad_chunk():
    with pytest.raises(ValueError, match="chunk must be a power of two"):
        chunked.Chunked(3).scan(lambda a, b: a, hash_leaves(4))


@pytest.mark.parametrize("chunk", [1, 4, 64])
def test_exact_paths(chunk):
    for n in list(range(1, 34)) + [64, 65, 100]:
        check_exact_paths(chunked.Chunked(chunk), n)



class TestChunkedLayer(LayerPinning):
    backend = "chunked"
