"""Image generators: formulas, injectivity (parameters recovered from images), exact coverage."""
import numpy as np
import pytest
from scipy.spatial.distance import pdist
from scipy.special import ndtri

from ibcore.synthetic import AntiPCA, CovarianceBumps, GaussianBumps, ImagePair, Rectangles, image_pair
from ibcore.synthetic import CorrelatedNormal, CorrelatedUniform

F64 = np.float64


def latent(n, d, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d))


# --- formulas against direct (meshgrid) reference computations ----------------------------

@pytest.mark.parametrize("size", [16, 32])
def test_gaussian_bumps_match_spec_formula(size):
    gen = GaussianBumps(size, dtype=F64)
    mu = np.random.default_rng(0).uniform(size=(5, 2))
    img = gen.render(mu)
    gx, gy = np.meshgrid(np.linspace(0, 1, size), np.linspace(0, 1, size), indexing="ij")
    ref = np.exp(-10 * ((gx[None] - mu[:, 0, None, None]) ** 2 + (gy[None] - mu[:, 1, None, None]) ** 2))
    np.testing.assert_allclose(img, ref, rtol=1e-12)
    assert img.shape == (5, size, size)
    assert gen.latent_dim == 2 and gen.shape == (size, size)


def test_covariance_bumps_match_spec_formula():
    gen = CovarianceBumps(32, dtype=F64)
    p = np.random.default_rng(1).uniform(size=(4, 5))
    img = gen.render(p)
    g = np.linspace(0, 1, 32)
    for n in range(len(p)):
        p1, p2, p3, p4, p5 = p[n]
        x, y = np.meshgrid(g, g, indexing="ij")
        q = (1 + p3) ** 2 * (x - p1) ** 2 + (1 + p4) ** 2 * (y - p2) ** 2 \
            + (2 * p5 - 1) * (1 + p3) * (1 + p4) * (x - p1) * (y - p2)
        np.testing.assert_allclose(img[n], np.exp(-10 * q), rtol=1e-12)


def test_anti_pca_matches_spec_formula():
    gen = AntiPCA(dtype=F64)
    x = np.array([-0.9, -0.1, 0.0, 0.4, 0.95])
    z = np.array([0.5, -0.7, 0.3, -0.02, 0.9])
    out = gen.embed(x, z)
    assert out.shape == (5, 32)
    for n in range(5):
        a = [x[n] + z[n] * k for k in range(32)]
        ref = [max(ak, 0.1 * k * ak) for k, ak in enumerate(a)]
        ref[0], ref[1] = x[n], z[n]
        np.testing.assert_allclose(out[n], ref, rtol=1e-12)


# --- value ranges, shapes, dtypes ---------------------------------------------------------------

@pytest.mark.parametrize("gen", [GaussianBumps(16), GaussianBumps(32), CovarianceBumps(16),
                                 CovarianceBumps(32), Rectangles(16), Rectangles(32)],
                         ids=repr)
def test_images_shape_dtype_range(gen):
    img = gen(latent(300, gen.latent_dim))
    assert img.shape == (300, gen.size, gen.size)
    assert img.dtype == np.float32
    assert img.min() >= 0.0 and img.max() <= 1.0
    assert np.isfinite(img).all()
    peak = img.reshape(300, -1).max(axis=1)
    if isinstance(gen, Rectangles):
        # sides >= 2 px: every rectangle covers at least one pixel fully
        np.testing.assert_array_equal(peak, 1.0)
    else:
        # the centre lies in (0, 1)², at most half a grid step h = 1/(2(W-1)) per axis from a
        # pixel: the exponent there is <= 10 (4h² + 4h² + 4h²) = 120 h², i.e. peak >= 0.875 at W = 16
        assert (peak >= np.exp(-120 / (2 * (gen.size - 1)) ** 2) - 1e-6).all()


def test_sample_marginal_and_dtype_option():
    gen = GaussianBumps(16, dtype=F64)
    a = gen.sample_marginal(50, random_state=3)
    np.testing.assert_array_equal(a, gen.sample_marginal(50, random_state=3))
    assert a.dtype == F64 and a.shape == (50, 16, 16)
    pts = AntiPCA().sample_marginal(40, random_state=0)
    assert pts.shape == (40, 32) and pts.dtype == np.float32
    assert ((pts[:, :2] > -1) & (pts[:, :2] < 1)).all()


# --- injectivity: parameters recovered from the images ---------------------------------------

@pytest.mark.parametrize("size", [16, 32])
def test_gaussian_bump_centres_recovered(size):
    gen = GaussianBumps(size, dtype=F64)
    params = gen.latent_to_params(latent(500, 2, seed=size))
    # log image is exactly quadratic in the grid: the weighted fit returns the centre up to rounding
    np.testing.assert_allclose(gen.invert(gen.render(params)), params, atol=1e-9)
    # float32 images still determine the centre to ~1e-6 of the side
    gen32 = GaussianBumps(size)
    np.testing.assert_allclose(gen32.invert(gen32.render(params)), params, atol=1e-5)


def test_covariance_bump_parameters_recovered():
    gen = CovarianceBumps(32, dtype=F64)
    params = gen.latent_to_params(latent(500, 5, seed=2))
    np.testing.assert_allclose(gen.invert(gen.render(params)), params, atol=1e-7)


@pytest.mark.parametrize("size", [16, 32])
def test_rectangle_edges_recovered_exactly(size):
    gen = Rectangles(size, dtype=F64)
    edges = gen.latent_to_params(latent(2000, 4, seed=size))
    img = gen.render(edges)
    np.testing.assert_allclose(gen.invert(img), edges, atol=1e-9)
    # an independent check of the coverage profile along x: row sums / height are the
    # covered length of each pixel column, and their sum is the width
    width, height = edges[:, 1] - edges[:, 0], edges[:, 3] - edges[:, 2]
    cov_x = img.sum(axis=2) / height[:, None]
    np.testing.assert_allclose(cov_x.sum(axis=1), width, atol=1e-9)
    i = np.arange(size)
    expected = np.clip(np.minimum(edges[:, 1:2], i + 1) - np.maximum(edges[:, 0:1], i), 0, 1)
    np.testing.assert_allclose(cov_x, expected, atol=1e-9)


def test_distinct_latents_give_distinct_rectangles():
    gen = Rectangles(16, dtype=F64)
    img = gen(latent(400, 4, seed=5)).reshape(400, -1)
    assert pdist(img).min() > 0


def test_anti_pca_latent_recovered():
    gen = AntiPCA(dtype=F64)
    xi = latent(300, 1)
    out = gen(xi, random_state=4)
    np.testing.assert_allclose(gen.invert(out), gen.latent_to_params(xi), atol=1e-15)


# --- rectangles: exact coverage, edges at the border, the latent map ----------------------------

@pytest.mark.parametrize("size", [16, 32])
def test_pixel_sum_equals_rectangle_area(size):
    gen = Rectangles(size, dtype=F64)
    edges = gen.latent_to_params(latent(3000, 4, seed=7))
    area = (edges[:, 1] - edges[:, 0]) * (edges[:, 3] - edges[:, 2])
    np.testing.assert_allclose(gen.render(edges).sum(axis=(1, 2)), area, rtol=0, atol=1e-9)


def test_edges_on_the_border_and_on_pixel_lines():
    gen = Rectangles(32, dtype=F64)
    # u = 1 puts the upper edges exactly at W (the authors' rasteriser indexed pixel W there)
    full = gen.from_uniform(np.array([[0.0, 1.0, 0.0, 1.0], [1.0, 1.0, 1.0, 1.0]]))
    np.testing.assert_array_equal(full[0], np.ones((32, 32)))
    corner = np.zeros((32, 32))
    corner[30:, 30:] = 1.0
    np.testing.assert_array_equal(full[1], corner)
    np.testing.assert_allclose(gen.invert(full), [[0, 32, 0, 32], [30, 32, 30, 32]], atol=1e-12)
    edges = np.array([[3.0, 5.0, 7.25, 10.5], [0.5, 2.5, 29.9, 32.0]])
    img = gen.render(edges)
    assert img[0, 3, 7] == pytest.approx(0.75) and img[0, 2, 7] == 0 and img[0, 5, 7] == 0
    assert img[0, 4, 10] == pytest.approx(0.5) and img[1, 0, 31] == pytest.approx(0.5)
    np.testing.assert_allclose(gen.invert(img), edges, atol=1e-12)


def test_rectangle_latent_map_is_uniform_bijection_with_min_side():
    gen = Rectangles(32, min_side=2, dtype=F64)
    u = np.random.default_rng(3).uniform(size=(20_000, 4))
    edges = gen.params_from_uniform(u)
    sides = np.stack([edges[:, 1] - edges[:, 0], edges[:, 3] - edges[:, 2]], 1)
    assert sides.min() >= 2 - 1e-12
    assert edges.min() >= 0 and edges.max() <= 32
    np.testing.assert_allclose(gen.uniform_from_params(edges), u, atol=1e-10)
    # (a, b) = edges / W uniform on the triangle {0 <= a, a + m <= b <= 1}, centroid
    # ((1 - m)/3, (2 + m)/3); coordinates have std <= 0.25, so the means have std <= 0.002
    m = 2 / 32
    ab = edges / 32
    np.testing.assert_allclose(ab[:, 0::2].mean(0), (1 - m) / 3, atol=0.01)
    np.testing.assert_allclose(ab[:, 1::2].mean(0), (2 + m) / 3, atol=0.01)


# --- image_pair --------------------------------------------------------------------------------

@pytest.mark.parametrize("gen", [GaussianBumps(16), CovarianceBumps(32), Rectangles(32), AntiPCA()], ids=repr)
def test_image_pair(gen):
    pair = image_pair(gen, 3.0, 200, random_state=0)
    assert isinstance(pair, ImagePair)
    x, y, lx, ly, mi = pair
    assert x.shape == y.shape == (200, *gen.shape)
    assert mi == 3.0
    assert len(lx) == len(ly) == 200
    np.testing.assert_allclose(gen.invert(x), lx, atol=1e-4)   # float32 images
    again = image_pair(gen, 3.0, 200, random_state=0)
    np.testing.assert_array_equal(again.x, x)
    np.testing.assert_array_equal(again.latent_y, ly)


def test_image_pair_with_sampler_objects():
    gen = GaussianBumps(16, dtype=F64)
    normal = CorrelatedNormal(2, 2, 4.0, random_state=1)
    pair = image_pair(gen, normal, 3000, random_state=2)
    assert pair.mutual_information == 4.0
    # the latents are Phi of the sampled Gaussian pair: their normal scores keep its covariance
    z = np.hstack([ndtri(pair.latent_x), ndtri(pair.latent_y)])
    np.testing.assert_allclose(np.cov(z, rowvar=False), normal.covariance, atol=0.06)
    uniform = CorrelatedUniform(2, 2, 4.0, random_state=1)
    upair = image_pair(gen, uniform, 3000, random_state=2)
    # a uniform sampler feeds its u directly as the centres: same draws, same images
    np.testing.assert_allclose(upair.x, pair.x, atol=1e-12)


# --- bad inputs ----------------------------------------------------------------------------------

@pytest.mark.parametrize("cls", [GaussianBumps, CovarianceBumps, Rectangles])
def test_unsupported_image_size(cls):
    with pytest.raises(ValueError, match="unsupported image size 3"):
        cls(3)
    with pytest.raises(ValueError, match="unsupported image size 0"):
        cls(0)
    with pytest.raises(TypeError, match="image size must be an integer"):
        cls(16.5)
    with pytest.raises(TypeError, match="image size must be an integer"):
        cls("32")


def test_bad_rectangle_options_and_params():
    with pytest.raises(ValueError, match="min_side must be >= 2"):
        Rectangles(32, min_side=1)
    with pytest.raises(ValueError, match="unsupported image size 4 for min_side=4"):
        Rectangles(4, min_side=4)
    gen = Rectangles(16)
    with pytest.raises(ValueError, match="x0 <= x1"):
        gen.render([[5.0, 3.0, 1.0, 4.0]])
    with pytest.raises(ValueError, match="blank"):
        gen.invert(np.zeros((1, 16, 16)))


def test_bad_latents_and_images():
    gen = GaussianBumps(16)
    with pytest.raises(ValueError, match=r"latent must have shape \(n, 2\)"):
        gen(np.zeros((10, 3)))
    with pytest.raises(ValueError, match="NaN"):
        gen(np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        gen.from_uniform([[0.5, 1.5]])
    with pytest.raises(ValueError, match=r"images must have shape \(n, 16, 16\)"):
        gen.invert(np.zeros((2, 32, 32)))
    with pytest.raises(ValueError, match="n must be >= 1"):
        gen.sample_marginal(0)
    with pytest.raises(ValueError, match="same length"):
        AntiPCA().embed(np.zeros(3), np.zeros(4))


def test_bad_image_pair_inputs():
    gen = Rectangles(16)
    with pytest.raises(ValueError, match=">= 0"):
        image_pair(gen, -1.0, 10)
    with pytest.raises(ValueError, match="n must be >= 1"):
        image_pair(gen, 1.0, 0)
    with pytest.raises(ValueError, match="do not match the generator's latent dimension 4"):
        image_pair(gen, CorrelatedNormal(2, 2, 1.0), 10)
    with pytest.raises(TypeError, match="sampler"):
        image_pair(gen, "1 nat", 10)
    with pytest.raises(TypeError, match="generator"):
        image_pair(lambda z: z, 1.0, 10)
