"""Distribution shift between a reference sample and a recent one: PSI, KS and the mean shift.

References: Siddiqi, 2006, "Credit Risk Scorecards", ch. 8 (the population stability index and
its conventional reading: below 0.1 stable, 0.1 to 0.25 a moderate shift, above 0.25 a
significant one); Yurdakul, 2018, "Statistical Properties of Population Stability Index" (PSI
over quantile bins of the reference); Kolmogorov, 1933, and Smirnov, 1948 (the two-sample
statistic D = sup_x |F_ref(x) - F_new(x)| of the empirical distribution functions).

PSI (:func:`population_stability_index`): the reference's values are cut at its own quantiles
(:func:`quantile_bin_edges`, deciles by default), so each bin holds about the same share of the
reference, plus two tail bins cut at its 0.1% and 99.9% quantiles. Deviation from the plain
decile PSI, and why: with deciles alone a value far beyond anything in the reference falls in the
top decile beside the reference's own highs, and a period that lies wholly in one bin scores the
same (about 8.3) whether it is a run of ordinary summer days or a jump to values never seen; the
tail bins, nearly empty in the reference, make values beyond its range score more. With
reference shares e_k and recent shares a_k,

    PSI = sum_k (a_k - e_k) * ln(a_k / e_k).

A bin the recent data leaves empty would make ln(0); every share is floored at ``PSI_FLOOR``
(1e-4) first, the usual remedy, so an emptied bin of share 0.1 adds 0.1 * ln(1000) = 0.69.
:func:`stretch_psi` gives the PSI of every stretch of consecutive reference rows against the
whole reference: how far a period of that length normally strays (a week of a seasonal series
covers a narrow slice of a year's values, and its PSI is large without anything having changed).

KS (:func:`ks_statistic`): the largest vertical distance between the two right-continuous
empirical distribution functions, evaluated at every value of both samples (where the supremum
is attained). The reference may be summarised by :func:`reference_sample`: ``size`` quantiles
of the reference at levels (k + 0.5) / size, which keeps the stored file small; its empirical
distribution is within 1 / (2 * size) of the full reference's everywhere, so the KS statistic
computed against it is within that much of the one against every reference value.

Deviation from a textbook test: no p-value is computed. Both the KS p-value and PSI's
chi-square reading assume independent draws, which consecutive rows of a time series are not
(an hour is much like the hour before), so a p-value would be overconfident.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "PSI_BINS",
    "PSI_FLOOR",
    "PSI_TAIL",
    "bin_index",
    "bin_proportions",
    "ks_statistic",
    "population_stability_index",
    "quantile_bin_edges",
    "reference_sample",
    "stretch_psi",
]

PSI_BINS = 10
PSI_TAIL = 0.001
PSI_FLOOR = 1e-4


def quantile_bin_edges(
    values: np.ndarray, bins: int = PSI_BINS, *, tail: float = PSI_TAIL
) -> np.ndarray:
    """The edges cutting ``values`` (N,) into ``bins`` bins of equal share, and two tail bins of
    share ``tail`` at either end (none when ``tail`` is 0): its quantiles at tail, 1/bins, ...,
    (bins-1)/bins, 1 - tail, with repeats removed (a column with many equal values gets fewer
    bins; a constant column gets one edge at its value, so it has two bins: the values below
    it, empty in the reference, and the rest)."""
    array = _finite_1d(values, "values")
    levels = np.arange(1, bins) / bins  # (bins - 1,)
    if tail > 0:
        levels = np.concatenate([[tail], levels, [1.0 - tail]])  # (bins + 1,)
    return np.unique(np.quantile(array, levels))  # (<= bins + 1,) increasing


def bin_index(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Each value's bin (see :func:`bin_proportions`): (N,) int64 in 0..E."""
    cuts = np.asarray(edges, dtype=np.float64).reshape(-1)  # (E,)
    return np.searchsorted(cuts, _finite_1d(values, "values"), side="right")  # (N,)


def bin_proportions(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The share of ``values`` (N,) in each bin of ``edges`` (E,) increasing: (E + 1,) summing
    to 1. Bin 0 is (-inf, edges[0]), bin k is [edges[k-1], edges[k]), the last [edges[-1], inf):
    a value equal to an edge belongs to the bin above it."""
    index = bin_index(values, edges)  # (N,) in 0..E
    return np.bincount(index, minlength=np.size(edges) + 1) / index.size  # (E + 1,)


def population_stability_index(
    expected: np.ndarray, actual: np.ndarray, *, floor: float = PSI_FLOOR
) -> float:
    """PSI of the shares ``actual`` against the reference shares ``expected`` (both (K,), each
    summing to 1), every share floored at ``floor`` first."""
    e = np.maximum(np.asarray(expected, dtype=np.float64), floor)  # (K,)
    a = np.maximum(np.asarray(actual, dtype=np.float64), floor)  # (K,)
    if e.shape != a.shape:
        raise ValueError(f"expected ({e.size} bins) and actual ({a.size} bins) must match")
    return float(np.sum((a - e) * np.log(a / e)))


def stretch_psi(
    bins: np.ndarray, expected: np.ndarray, length: int, *, floor: float = PSI_FLOOR
) -> np.ndarray:
    """PSI against ``expected`` (K,) of every stretch of ``length`` consecutive rows, given each
    row's bin ``bins`` (N,) in 0..K-1, in time order: (N - length + 1,)."""
    index = np.asarray(bins, dtype=np.int64).reshape(-1)  # (N,)
    shares = np.asarray(expected, dtype=np.float64)  # (K,)
    if not 1 <= length <= index.size:
        raise ValueError(f"length ({length}) must be between 1 and the {index.size} rows")
    if index.size and (index.min() < 0 or index.max() >= shares.size):
        raise ValueError(f"bins must lie in 0..{shares.size - 1}")
    one_hot = np.zeros((index.size + 1, shares.size))  # (N + 1, K), row 0 stays zero
    one_hot[np.arange(1, index.size + 1), index] = 1.0
    counts = np.cumsum(one_hot, axis=0)  # (N + 1, K) rows of each bin up to each row
    actual = (counts[length:] - counts[:-length]) / length  # (N - length + 1, K)
    e = np.maximum(shares, floor)  # (K,)
    a = np.maximum(actual, floor)  # (N - length + 1, K)
    return np.sum((a - e) * np.log(a / e), axis=1)  # (N - length + 1,)


def ks_statistic(reference: np.ndarray, recent: np.ndarray) -> float:
    """The two-sample Kolmogorov-Smirnov statistic D = max_x |F_ref(x) - F_new(x)|, in [0, 1]."""
    ref = np.sort(_finite_1d(reference, "reference"))  # (N,)
    new = np.sort(_finite_1d(recent, "recent"))  # (M,)
    points = np.concatenate([ref, new])  # (N + M,) every jump of either function
    cdf_ref = np.searchsorted(ref, points, side="right") / ref.size  # (N + M,)
    cdf_new = np.searchsorted(new, points, side="right") / new.size  # (N + M,)
    return float(np.max(np.abs(cdf_ref - cdf_new)))


def reference_sample(values: np.ndarray, size: int = 1000) -> np.ndarray:
    """``values`` (N,) sorted when N <= size, else its quantiles at (k + 0.5) / size for k = 0 ..
    size - 1 (each one a value of the data: numpy's "inverted_cdf" method), (min(N, size),)."""
    array = _finite_1d(values, "values")
    if array.size <= size:
        return np.sort(array)
    levels = (np.arange(size) + 0.5) / size  # (size,)
    return np.quantile(array, levels, method="inverted_cdf")  # (size,)


def _finite_1d(values: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).reshape(-1)  # (N,)
    if array.size == 0:
        raise ValueError(f"{name} is empty; give at least one value")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds a value that is not finite")
    return array
