"""The paper's quantitative claims, each checked on a set of results with a stated rule.

:func:`claims_table` turns the results of one or more scales (the book's CI run, the stored
``results/<name>/``) into one row per claim: the paper's evidence, ours at each scale and a
verdict. Every number comes from the result tables; the rules below are fixed before looking at
them and say what "reproduced" means for a claim the paper states only with a figure.

Synthetic benchmark (Algorithm 1; rows of :func:`ibcore.synthetic.read_results`, noiseless cells
of Gaussian bumps and rectangles):

* ``ae-tracks-gaussians`` / ``ae-tracks-rectangles``: weighted KL on the autoencoder codes stays
  within 0.5 nats of weighted KL on the latent parameters for every MI value <= 6 nats and size;
* ``knn-most-accurate``: on autoencoder codes, the smaller mean absolute error (vs the truth) of
  kl and wkl is below the smaller one of kde-ml and kde-lse, over the MI values all four share;
* ``kde-degrades``: each KDE estimator's mean absolute error at I >= 6 exceeds its error at
  I <= 2 by more than 0.5 nats;
* ``mine-worse-high-mi``: at I >= 6, MINE on the raw images errs more than weighted KL on the
  autoencoder codes (mean absolute error over the MI values both have);
* ``ae-beats-pca``: on rectangles, the autoencoder's mean absolute error is below PCA's for each
  estimator run on both.

Information plane (Algorithm 2; ``{seed: PlaneResults}``), phases from
:func:`ibcore.plane.phase_frequencies` (significant at 95 %), leaving out the estimates the
tracker flagged as manifold-valued (they diverge, so they are not results):

* ``fitting`` / ``compression``: a significant fitting phase (a compression phase after a fitting
  one) in more than half of the usable seeds, for at least half of the usable layers;
* ``alternations``: at least two changes between fitting and compression (fitting, compression,
  fitting or longer) in more than half of the (seed, layer) pairs;
* ``first-compression-at-loss-drop``: the first compression phase overlaps the interval of the
  fastest training-loss decrease (:func:`ibcore.plane.steepest_loss_drop`) in more than half of
  the (seed, layer) pairs that have a compression phase;
* ``ily-bound``: every I(L;Y) estimate is below log 10 + 1.96 std (a mathematical bound: 10
  balanced classes);
* ``ily-last-layers``: the final I(L;Y) of the last two layers reaches 2.2 nats within 1.96 std
  (the paper's MNIST classifier reaches about 98 % accuracy; on harder data this need not hold).
"""
from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

__all__ = ["CLAIMS", "synthetic_evidence", "plane_evidence", "claims_table", "Evidence"]

#: (id, claim, the paper's evidence)
CLAIMS = (
    ("ae-tracks-gaussians", "Autoencoder + weighted KL tracks the estimate on the latent parameters (Gaussian bumps)",
     "Fig. 3: the compressed estimate follows the latent one up to about 6-8 nats (no number given)"),
    ("ae-tracks-rectangles", "Autoencoder + weighted KL tracks the estimate on the latent parameters (rectangles)",
     "Fig. 4: the same on rectangles (no number given)"),
    ("knn-most-accurate", "KL and weighted KL are the most accurate of the four non-parametric estimators",
     "Figs. 3-4, text"),
    ("kde-degrades", "The KDE estimates degrade at high MI", "Figs. 3-4: KDE bends away from the truth at high MI"),
    ("mine-worse-high-mi", "MINE on raw images is less accurate than compression + weighted KL at high MI",
     "Comparison with MINE (direction stated, size not)"),
    ("ae-beats-pca", "An autoencoder beats PCA as the compressor (rectangles)",
     "Appendix: PCA underestimates by 0.5-3.5 nats"),
    ("fitting", "A fitting phase: I(X;L) grows", "Fig. 5, text"),
    ("compression", "A compression phase: I(X;L) decreases after fitting", "Fig. 5, text"),
    ("alternations", "More than one fitting/compression alternation per layer", "Fig. 5, text"),
    ("first-compression-at-loss-drop", "The first compression phase coincides with the fastest loss decrease",
     "Fig. 5 (colour = loss difference), text"),
    ("ily-bound", "0 <= I(L;Y) <= log 10 (10 balanced classes)", "identity"),
    ("ily-last-layers", "I(L;Y) of the last layers approaches 2.2-2.3 nats", "Fig. 5 (MNIST, about 98 % accuracy)"),
)
_SYNTHETIC = {c[0] for c in CLAIMS[:6]}


class Evidence:
    """What one scale says about one claim: a short text with the numbers, and whether the rule
    holds (``None``: not measurable there)."""

    def __init__(self, text: str, holds: bool | None):
        self.text, self.holds = text, holds

    def __repr__(self):
        return f"Evidence({self.text!r}, {self.holds})"


def _cells(rows, dataset, estimator, inp, compressor=None) -> dict:
    out = {}
    for r in rows:
        if (r["dataset"] == dataset and r["estimator"] == estimator and r["input"] == inp
                and (compressor is None or r["compressor"] == compressor) and not r.get("noise_std")
                and math.isfinite(r["estimate"])):
            out[(int(r["size"]), round(float(r["true_mi"]), 9))] = float(r["estimate"])
    return out


def _mae(cells: dict, keys) -> float:
    keys = [k for k in keys if k in cells]
    return float(np.mean([abs(cells[k] - k[1]) for k in keys])) if keys else math.nan


def _tracks(rows, dataset) -> Evidence:
    ae, lat = _cells(rows, dataset, "wkl", "compressed", "ae"), _cells(rows, dataset, "wkl", "latent")
    keys = sorted(k for k in ae.keys() & lat.keys() if k[1] <= 6 + 1e-9)
    if not keys:
        return Evidence("not run", None)
    gap = max(abs(ae[k] - lat[k]) for k in keys)
    truth = max(abs(ae[k] - k[1]) for k in keys)
    sizes = sorted({k[0] for k in keys})
    return Evidence(f"max |AE − latent| {gap:.2f} nats (max |AE − truth| {truth:.2f}) over {len(keys)} cells, "
                    f"I ≤ 6, sizes {', '.join(map(str, sizes))}", gap <= 0.5)


def _paper_estimators(family: str) -> tuple:
    """The paper's entropy estimators of one family of the registry (knn: KL and weighted KL;
    kde: the two KDE bandwidths)."""
    from ..estimators import estimator_names

    return estimator_names("entropy", family=family, in_paper=True)


def _knn_best(rows) -> Evidence:
    knn, kde = _paper_estimators("knn"), _paper_estimators("kde")
    per = {}
    for e in knn + kde:
        per[e] = {(d, *k): v for d in ("gaussians", "rectangles") for k, v in _cells(rows, d, e, "compressed", "ae").items()}
    if any(not v for v in per.values()):
        return Evidence(f"not run (needs {', '.join(knn + kde)} on AE codes)", None)
    common = set.intersection(*(set(v) for v in per.values()))
    mae = {e: float(np.mean([abs(v[k] - k[2]) for k in common])) for e, v in per.items()} if common else {}
    if not mae:
        return Evidence("no common cells", None)
    text = ", ".join(f"{e} {m:.2f}" for e, m in mae.items())
    return Evidence(f"MAE vs truth on AE codes over {len(common)} cells: {text}",
                    min(mae[e] for e in knn) < min(mae[e] for e in kde))


def _kde_degrades(rows) -> Evidence:
    parts, holds = [], []
    for e in _paper_estimators("kde"):
        cells = {(d, *k): v for d in ("gaussians", "rectangles") for k, v in _cells(rows, d, e, "compressed", "ae").items()}
        low = [abs(v - k[2]) for k, v in cells.items() if k[2] <= 2 + 1e-9]
        high = [abs(v - k[2]) for k, v in cells.items() if k[2] >= 6 - 1e-9]
        if low and high:
            lo, hi = float(np.mean(low)), float(np.mean(high))
            parts.append(f"{e}: {lo:.2f} at I ≤ 2, {hi:.2f} at I ≥ 6")
            holds.append(hi - lo > 0.5)
    if not holds:
        return Evidence("not run", None)
    return Evidence("MAE on AE codes, " + "; ".join(parts), all(holds))


def _mine(rows) -> Evidence:
    mine = {(d, *k): v for d in ("gaussians", "rectangles") for k, v in _cells(rows, d, "mine", "raw").items()}
    wkl = {(d, *k): v for d in ("gaussians", "rectangles") for k, v in _cells(rows, d, "wkl", "compressed", "ae").items()}
    keys = [k for k in mine.keys() & wkl.keys() if k[2] >= 6 - 1e-9]
    if not keys:
        return Evidence("not run", None)
    m = float(np.mean([abs(mine[k] - k[2]) for k in keys]))
    w = float(np.mean([abs(wkl[k] - k[2]) for k in keys]))
    return Evidence(f"MAE at I ≥ 6 over {len(keys)} cells: MINE {m:.2f}, AE + wkl {w:.2f}", m > w)


def _pca(rows) -> Evidence:
    parts, holds = [], []
    for e in ("kl", "wkl"):
        ae, pca = _cells(rows, "rectangles", e, "compressed", "ae"), _cells(rows, "rectangles", e, "compressed", "pca")
        keys = sorted(ae.keys() & pca.keys())
        if keys:
            a, p = _mae(ae, keys), _mae(pca, keys)
            bias = float(np.mean([pca[k] - k[1] for k in keys]))
            parts.append(f"{e}: AE {a:.2f}, PCA {p:.2f} (PCA mean error {bias:+.2f})")
            holds.append(a < p)
    if not holds:
        return Evidence("not run", None)
    return Evidence("MAE on rectangles, " + "; ".join(parts), all(holds))


def synthetic_evidence(rows) -> dict:
    """``{claim id: Evidence}`` for the six synthetic claims (module docstring) from Algorithm 1 rows."""
    rows = list(rows)
    return {"ae-tracks-gaussians": _tracks(rows, "gaussians"), "ae-tracks-rectangles": _tracks(rows, "rectangles"),
            "knn-most-accurate": _knn_best(rows), "kde-degrades": _kde_degrades(rows), "mine-worse-high-mi": _mine(rows),
            "ae-beats-pca": _pca(rows)}


def _majority(per_layer: dict, usable: dict) -> tuple[str, bool]:
    text = ", ".join(f"{layer} {k}/{usable[layer]}" for layer, k in per_layer.items() if usable[layer])
    counted = [la for la in per_layer if usable[la]]
    layers = sum(per_layer[la] > usable[la] / 2 for la in counted)
    return text, bool(counted) and layers >= len(counted) / 2


def _flags(row) -> set:
    """The estimates of a plane row the tracker flagged as manifold-valued (``"ixl+ily"``)."""
    return set(str(row.get("manifold") or "").split("+"))


def _flagged(res, layer: str, what: str) -> bool:
    return any(r["layer"] == layer and what in _flags(r) for r in res.rows)


def plane_evidence(runs: dict) -> dict:
    """``{claim id: Evidence}`` for the six information-plane claims from ``{seed: PlaneResults}``.

    Estimates the tracker flagged as lying on a lower-dimensional set (its ``manifold`` column:
    the entropy-based estimate diverges there, see :class:`ibcore.ManifoldWarning`) are not
    results: a (seed, layer) series with a flagged ``I(X;L)`` is left out of the phase rules and a
    flagged ``I(L;Y)`` out of the two ``I(L;Y)`` rules; the texts say how many.
    """
    from ..plane import phase_frequencies, steepest_loss_drop

    if not runs:
        return {c[0]: Evidence("not run", None) for c in CLAIMS if c[0] not in _SYNTHETIC}
    _, segments = phase_frequencies(runs)
    by = defaultdict(list)
    for s in segments:
        by[(s["seed"], s["layer"])].append(s)
    layers = list(next(iter(runs.values())).layers)
    fit, comp, usable = ({la: 0 for la in layers} for _ in range(3))
    alt = overlap = with_comp = pairs = skipped = 0
    for seed, res in runs.items():
        m = res.metric_columns()
        try:
            a, b = steepest_loss_drop(m["epoch"], m["train_loss"])
        except ValueError:
            a = b = math.nan
        for layer in layers:
            if _flagged(res, layer, "ixl"):
                skipped += 1
                continue
            segs = by.get((seed, layer), [])
            pairs += 1
            usable[layer] += 1
            first_fit = next((s["start"] for s in segs if s["phase"] == "fitting"), None)
            fit[layer] += first_fit is not None
            comps = [s for s in segs if s["phase"] == "compression" and first_fit is not None and s["start"] > first_fit]
            comp[layer] += bool(comps)
            kinds = [s["phase"] for s in segs if s["phase"] != "flat"]
            alt += sum(x != y for x, y in zip(kinds, kinds[1:])) >= 2
            first = next((s for s in segs if s["phase"] == "compression"), None)
            if first is not None:
                with_comp += 1
                overlap += bool(first["start"] <= b and first["end"] >= a)
    left_out = f"; {skipped} (seed, layer) series with a manifold-flagged I(X;L) left out" if skipped else ""
    ev = {}
    text, ok = _majority(fit, usable)
    ev["fitting"] = Evidence(f"seeds with a fitting phase: {text}{left_out}", ok)
    text, ok = _majority(comp, usable)
    ev["compression"] = Evidence(f"seeds with compression after fitting: {text}{left_out}", ok)
    ev["alternations"] = Evidence(f"{alt} of {pairs} (seed, layer) pairs with ≥ 2 alternations{left_out}",
                                  pairs > 0 and alt > pairs / 2)
    ev["first-compression-at-loss-drop"] = (
        Evidence(f"{overlap} of {with_comp} (seed, layer) pairs with a compression phase overlap the fastest loss drop"
                 f"{left_out}", overlap > with_comp / 2) if with_comp
        else Evidence(f"no compression phase in any layer{left_out}", False))
    worst, where, over, last, flagged = -math.inf, "", 0, [], 0
    for seed, res in runs.items():
        good = [r for r in res.rows if "ily" not in _flags(r) and math.isfinite(r["ily"])]
        flagged += len(res.rows) - len(good)
        for r in good:
            excess = r["ily"] - 1.96 * r["ily_std"] - math.log(10)
            over += excess > 0
            if excess > worst:
                worst, where = excess, f"seed {seed}, epoch {r['epoch']}, {r['layer']}"
        final = max(r["epoch"] for r in res.rows)
        last += [r for r in good if r["epoch"] == final and r["layer"] in layers[-2:]]
    note = f" ({flagged} manifold-flagged estimates left out)" if flagged else ""
    ev["ily-bound"] = (Evidence(f"{over} estimates above log 10 beyond their 95 % interval; largest excess "
                                f"{worst:+.3f} nats ({where}){note}", worst <= 0)
                       if math.isfinite(worst) else Evidence(f"no usable estimate{note}", None))
    if last:
        mean = float(np.mean([r["ily"] for r in last]))
        ok = all(r["ily"] + 1.96 * r["ily_std"] >= 2.2 for r in last)
        ev["ily-last-layers"] = Evidence(f"final I(L;Y) of {', '.join(layers[-2:])}: mean {mean:.2f} nats "
                                         f"over {len(last)} (seed, layer) pairs{note}", ok)
    else:
        ev["ily-last-layers"] = Evidence(f"every final estimate of the last layers is flagged{note}", None)
    return ev


def _verdict(evidence: list) -> str:
    known = [e for e in evidence if e is not None and e.holds is not None]
    if not known:
        return "not run"
    largest = known[-1]  # the scales come from the smallest to the largest
    word = "reproduced" if largest.holds else "not reproduced"
    if len(known) > 1 and any(e.holds != largest.holds for e in known[:-1]):
        word += " (the smaller scale disagrees)"
    return word


def claims_table(scales: dict) -> list[dict]:
    """One row per claim of :data:`CLAIMS`: ``id``, ``claim``, ``evidence`` (the paper's), one text
    column per scale and ``verdict`` (from the largest scale with a number: ``reproduced``, ``not
    reproduced`` or ``not run``).

    Parameters
    ----------
    scales : dict
        ``{scale name: {claim id: Evidence}}`` (the merged output of :func:`synthetic_evidence`
        and :func:`plane_evidence`), ordered from the smallest scale to the largest.
    """
    rows = []
    for cid, claim, paper in CLAIMS:
        row = {"id": cid, "claim": claim, "evidence": paper}
        evs = []
        for name, ev in scales.items():
            e = ev.get(cid)
            row[name] = e.text if e is not None else "not run"
            evs.append(e)
        row["verdict"] = _verdict(evs)
        rows.append(row)
    return rows
