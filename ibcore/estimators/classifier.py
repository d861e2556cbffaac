"""A held-out lower bound on the mutual information between a sample and its labels.

For labels ``Y`` with ``K`` classes and any classifier ``q(y | x)``,
``I(X;Y) = H(Y) - H(Y|X) >= H(Y) - E[-log q(Y | X)]``: the cross-entropy of any model bounds the
conditional entropy from above, with equality when ``q`` is the true conditional (Barber &
Agakov, NIPS 2003, "The IM algorithm"; McAllester & Stratos, AISTATS 2020, on why such bounds
are the ones that can certify a large MI). Scored on held-out folds, the bound is honest at any
sample size: a classifier that overfits only makes it looser. It is tight where the labels are
(nearly) a function of the sample, the regime where the kNN estimators (Ross's KSG) are biased
low, and loose where the labels are noisy, where the kNN estimators are good:
:mod:`ibcore.compression.auto` uses it beside Ross's KSG.

Two classifiers of scikit-learn are scored by cross-fitting (``folds`` folds, stratified): a
multinomial logistic regression on standardised inputs and a histogram gradient-boosting
classifier; the one with the lower held-out cross-entropy gives the bound.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..result import Estimate
from ..validation import as_labels, as_samples, check_int, check_same_length, check_seed

__all__ = ["ClassifierBound", "classifier_bound", "label_entropy"]

_PROB_FLOOR = 1e-12  # a held-out probability of 0 would make the bound -inf; it costs 27.6 nats


@dataclass(frozen=True)
class ClassifierBound:
    """The bound and what it rests on (all in nats).

    Attributes
    ----------
    bound : Estimate
        ``H(Y) - CE``, with the standard error of the mean of its per-sample terms.
    entropy : Estimate
        ``H(Y)`` of the sample's class frequencies (Miller-Madow corrected), the upper bound
        of ``I(X;Y)``.
    cross_entropy : dict
        Held-out cross-entropy of each classifier.
    classifier : str
        The classifier that gave the bound.
    """

    bound: Estimate
    entropy: Estimate
    cross_entropy: dict
    classifier: str


def label_entropy(labels) -> Estimate:
    """``H(Y)`` in nats from the class frequencies of ``labels`` (n,), with the Miller-Madow
    correction ``(K - 1) / (2 n)`` and a standard error that adds the chi-square spread of the
    plug-in, ``sqrt(2 (K - 1)) / (2 n)``, to the sampling error of ``-log p(Y)``."""
    y, _, counts = as_labels(labels, "labels")
    n, k = len(y), len(counts)
    p = counts / n
    surprisal = -np.log(p[y])
    value = float(surprisal.mean()) + (k - 1) / (2.0 * n)
    sampling = float(surprisal.std(ddof=1)) / math.sqrt(n) if n > 1 else 0.0
    std = math.hypot(sampling, math.sqrt(2.0 * (k - 1)) / (2.0 * n))
    return Estimate(value, std)


def _classifiers(random_state):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return {
        "logistic": lambda: make_pipeline(StandardScaler(), LogisticRegression(C=10.0, max_iter=2000)),
        "gradient boosting": lambda: HistGradientBoostingClassifier(max_iter=200, early_stopping=True,
                                                                    random_state=random_state),
    }


def classifier_bound(x, labels, *, folds: int = 5, random_state: int | None = 0) -> ClassifierBound:
    """Held-out lower bound ``H(Y) - CE`` on ``I(X;Y)`` (nats) for samples ``x`` (n, d) and labels (n,).

    Parameters
    ----------
    x : array_like (n, d) or (n,)
        Continuous samples (codes).
    labels : array_like (n,)
        Class labels; every class needs at least ``folds`` members (rarer classes are refused).
    folds : int, default 5
        Cross-fitting folds: each sample is scored by classifiers fitted without it.
    random_state : int or None, default 0
        Seeds the fold split and the gradient boosting.

    Returns
    -------
    ClassifierBound
    """
    import warnings

    from sklearn.model_selection import StratifiedKFold
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    x = as_samples(x, "x")
    y, classes, counts = as_labels(labels, "labels")
    check_same_length(x, y, ("x", "labels"))
    folds = check_int(folds, "folds", 2)
    random_state = check_seed(random_state, "random_state")
    if len(classes) < 2:
        raise ValueError("classifier_bound needs at least two classes")
    if counts.min() < folds:
        raise ValueError(f"every class needs at least folds={folds} samples for the held-out bound; "
                         f"the rarest has {counts.min()}")
    entropy = label_entropy(y)
    makers = _classifiers(random_state)
    losses = {name: np.empty(len(y)) for name in makers}
    split = StratifiedKFold(folds, shuffle=True, random_state=random_state)
    # one thread: as fast on these sizes, and OpenMP's spinning threads slow to a crawl when other
    # processes hold the cores (a tracker's epochs, a benchmark beside a test run)
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.simplefilter("ignore")  # convergence notes of the logistic fit on separable folds
        for train, test in split.split(x, y):
            for name, make in makers.items():
                clf = make().fit(x[train], y[train])
                proba = np.zeros((len(test), len(classes)))
                proba[:, clf.classes_] = clf.predict_proba(x[test])
                losses[name][test] = -np.log(np.clip(proba[np.arange(len(test)), y[test]], _PROB_FLOOR, 1.0))
    ce = {name: float(loss.mean()) for name, loss in losses.items()}
    best = min(ce, key=ce.get)
    terms = -np.log(counts[y] / len(y)) - losses[best]
    bound = Estimate(entropy.value - ce[best], math.hypot(float(terms.std(ddof=1)) / math.sqrt(len(y)), entropy.std))
    return ClassifierBound(bound, entropy, ce, best)
