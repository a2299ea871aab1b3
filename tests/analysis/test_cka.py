"""Facts about linear CKA and the unbiased minibatch estimator.

Defined in docs/experiments.md#state-similarity-cka.
"""

import numpy as np
import pytest
import torch

from prlstm.analysis import hsic1, linear_cka, linear_hsic1, minibatch_cka


def _data(n=300, p=12, q=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, p, generator=g, dtype=torch.float64)
    Y = X[:, :q] @ torch.randn(q, q, generator=g, dtype=torch.float64)
    return X, Y + 0.7 * torch.randn(n, q, generator=g, dtype=torch.float64)


def _orthogonal(p, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.linalg.qr(torch.randn(p, p, generator=g, dtype=torch.float64))[0]


@pytest.mark.parametrize("cka", [linear_cka, lambda X, Y: minibatch_cka(X, Y, 64)])
def test_invariances_and_symmetry(cka):
    X, Y = _data()
    base = cka(X, Y)
    assert 0.2 < base < 0.99
    assert cka(X, X) == pytest.approx(1.0, abs=1e-12)
    assert cka(X @ _orthogonal(12), Y) == pytest.approx(base, abs=1e-10)
    shift = torch.randn(12, dtype=torch.float64)
    assert cka(-2.5 * X + shift, Y) == pytest.approx(base, abs=1e-10)
    assert cka(Y, X) == pytest.approx(base, abs=1e-12)
    assert cka(X.numpy(), Y.float()) == pytest.approx(base, abs=1e-5)  # arrays, float32


def test_linear_cka_range_and_hand_computed_cases():
    for seed in range(5):
        X, Y = _data(n=40, seed=seed)
        assert 0.0 <= linear_cka(X, torch.randn(40, 3)) <= 1.0
        assert 0.0 <= linear_cka(X, Y) <= 1.0
    # One column each: CKA is the squared Pearson correlation; x, y centred: (-1,0,1), (-1,1,0)
    # y'x = 1, x'x = y'y = 2 -> 1 / 4.
    assert linear_cka(np.array([[1.0], [2], [3]]), np.array([[1.0], [3], [2]])) == 0.25
    # Centred X = [(1,0),(-1,0),(0,1),(0,-1)]: X'X = 2I, ||.||_F = 2*sqrt(2); Y = X's first
    # column: Y'Y = 2, Y'X = (2, 0), ||Y'X||^2 = 4 -> 4 / (2*sqrt(2) * 2) = 1/sqrt(2).
    X = torch.tensor([[1.0, 0], [-1, 0], [0, 1], [0, -1]])
    assert linear_cka(X, X[:, :1]) == pytest.approx(2 ** -0.5, abs=1e-12)
    # Orthogonal subspaces: no similarity.
    assert linear_cka(X[:, :1], X[:, 1:]) == 0.0


def test_hsic1_matches_its_formula_on_a_small_case():
    # n = 4, K = L = all-ones off the diagonal: tr(KL) = 12, 1'K1 = 12, 1'KL1 = 4 * 9 = 36.
    K = torch.ones(4, 4, dtype=torch.float64)
    value = (12 + 12 * 12 / (3 * 2) - 2 * 36 / 2) / (4 * 1)
    assert float(hsic1(K, K)) == pytest.approx(value) == 0.0  # constants carry no dependence
    X, Y = _data(n=8, p=3, q=2)
    K, L = X @ X.T, Y @ Y.T
    n = 8
    Kt, Lt = K - torch.diag(torch.diag(K)), L - torch.diag(torch.diag(L))
    one = torch.ones(n, dtype=torch.float64)
    want = (torch.trace(Kt @ Lt) + (one @ Kt @ one) * (one @ Lt @ one) / ((n - 1) * (n - 2))
            - 2 * one @ Kt @ Lt @ one / (n - 2)) / (n * (n - 3))
    assert float(hsic1(K, L)) == pytest.approx(float(want), rel=1e-12)
    assert float(linear_hsic1(X, Y)) == pytest.approx(float(want), rel=1e-10)


def test_minibatch_estimator_is_seeded_and_close_to_linear_cka():
    X, Y = _data(n=2000)
    a = minibatch_cka(X, Y, 500, seed=3)
    assert a == minibatch_cka(X, Y, 500, seed=3)
    assert a == pytest.approx(linear_cka(X, Y), abs=0.03)


def test_bad_inputs_are_refused():
    X, _ = _data(n=10)
    with pytest.raises(ValueError, match="same n inputs"):
        linear_cka(X, X[:5])
    with pytest.raises(ValueError, match="2-D"):
        linear_cka(X[:, 0], X)
    with pytest.raises(TypeError, match="X must be a torch.Tensor or numpy array, got list"):
        linear_cka([[1.0]], X)
    with pytest.raises(ValueError, match="zero variance"):
        linear_cka(torch.ones(10, 3), X)
    with pytest.raises(ValueError, match="batch_size must be an int >= 4"):
        minibatch_cka(X, X, 2)
