"""The image side of ``auto``'s step 1 (:mod:`ibcore.compression.auto_images`); the image paths
end to end are tested in ``test_auto.py``."""
import numpy as np

from ibcore.compression.auto_images import (canonical_split, encoder_seeds, image_canonical_code_size,
                                           joint_canonical_codes)


def test_canonical_code_size_doubles_from_a_thousand_fitting_pairs():
    assert [image_canonical_code_size(5, n) for n in (200, 999, 1000, 2500)] == [5, 5, 10, 10]


def test_canonical_split_halves_the_pairs_by_seed():
    fit, held = canonical_split(1001, 3)
    assert len(fit) == 500 and len(held) == 501
    assert np.array_equal(np.sort(np.concatenate([fit, held])), np.arange(1001))
    assert np.all(np.diff(fit) > 0) and np.all(np.diff(held) > 0)
    again, _ = canonical_split(1001, 3)
    other, _ = canonical_split(1001, 4)
    assert np.array_equal(fit, again) and not np.array_equal(fit, other)


def test_encoder_seeds_keep_the_single_encoders_seed_first():
    assert encoder_seeds(7, 1) == [7]
    assert encoder_seeds(7, 3) == [7, 1007, 2007]


def test_joint_canonical_codes_pool_what_each_encoder_saw():
    # two latent pairs with canonical correlations 0.95 and 0.9; each "encoder" codes one of them
    # (plus a unit of noise), so only the pooled codes hold both
    rng = np.random.default_rng(0)
    n, rho = 4000, np.array([0.95, 0.9])
    zx = rng.standard_normal((n, 2))
    zy = rho * zx + np.sqrt(1 - rho**2) * rng.standard_normal((n, 2))

    def encoder(j, z):
        return np.column_stack([np.tanh(z[:, j]) * 3.0 + 1.0, rng.standard_normal(len(z))])

    fit, held = slice(0, n // 2), slice(n // 2, n)
    fit_codes = [(encoder(j, zx[fit]), encoder(j, zy[fit])) for j in (0, 1)]
    codes = [(encoder(j, zx[held]), encoder(j, zy[held])) for j in (0, 1)]
    two, one = joint_canonical_codes(fit_codes, codes, (2, 1))
    assert two[0].shape == two[1].shape == (n // 2, 2) and one[0].shape == (n // 2, 1)
    assert np.allclose(one[0], two[0][:, :1]) and np.allclose(one[1], two[1][:, :1])
    r = [abs(np.corrcoef(two[0][:, k], two[1][:, k])[0, 1]) for k in (0, 1)]
    # tanh keeps most of a Gaussian pair's correlation: both pairs are found, the stronger first
    # (0.94 and 0.89 on three seeds: 15 and 8 standard errors of a correlation on 2,000 pairs above
    # the bounds)
    assert r[0] > 0.9 and r[1] > 0.85 and r[0] > r[1]
    # each encoder alone has one correlated pair only
    alone = joint_canonical_codes(fit_codes[:1], codes[:1], (2,))[0]
    assert abs(np.corrcoef(alone[0][:, 1], alone[1][:, 1])[0, 1]) < 0.1


def test_from_a_thousand_fitting_pairs_two_encoders_are_pooled_reproducibly():
    from ibcore.compression.auto_images import encode_image_pair
    from ibcore.synthetic import Rectangles, image_pair

    pair = image_pair(Rectangles(8), 3.0, 2000, random_state=np.random.default_rng(0))
    runs = [encode_image_pair([pair.x, pair.y], [4.0, 4.0], 2, seed=5, device="cpu", progress=False)
            for _ in range(2)]
    (cx, cy), recs, rows, (lx, ly) = runs[0]
    rec = recs[0]
    assert rec["encoders"] == 2 and len(rec["validation_canonical_mi"]) == len(rec["encoder_epochs"]) == 2
    assert rec["code_dim"] == 4 and rec["leading_canonical_pairs"] == 2
    assert rec["fitted_on_pairs"] == rec["estimated_on_pairs"] == len(rows) == 1000
    assert np.array_equal(rows, canonical_split(2000, 5)[1])
    assert cx.shape == cy.shape == (1000, 4) and lx.shape == ly.shape == (1000, 2)
    # the c leading pairs are the first of the 2c (one canonical rotation of the pooled codes)
    assert np.array_equal(lx, cx[:, :2]) and np.array_equal(ly, cy[:, :2])
    # the encoders train in two threads: the same seed gives the same codes
    assert all(np.array_equal(a, b) for a, b in zip(runs[0][0] + list(runs[0][3]), runs[1][0] + list(runs[1][3])))
    # the held-out pairs are dependent through the codes (0.85 and 0.86 for the two leading pairs
    # here; the bound leaves room for training that differs across machines, far above the noise
    # of a correlation on 1,000 pairs, about 0.01)
    assert min(abs(np.corrcoef(lx[:, k], ly[:, k])[0, 1]) for k in (0, 1)) > 0.7
