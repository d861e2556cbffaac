"""The image side of ``auto``'s step 1 (:mod:`ibcore.compression.auto_images`); the image paths
end to end are tested in ``test_auto.py``."""
import numpy as np

from ibcore.compression.auto_images import canonical_split, image_canonical_code_size


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
