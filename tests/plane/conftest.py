"""Fixtures shared by the information-plane tests."""
import pytest

from ibcore.plane import load_mnist


@pytest.fixture(scope="session")
def small_mnist():
    """The embedded digits with a 200-image evaluation split (offline, about a second to load)."""
    return load_mnist("embedded", n_test=200, verbose=False)
