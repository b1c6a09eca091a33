"""Is a change between two windows beyond noise? Pure functions: samples in, a `Change` out.

Every function compares a figure measured on a *before* sample with the same figure on an
*after* sample and gives the relative change ((after - before) / before: -0.34 = -34%), a 95%
interval for it, the test used and whether the change is significant: the interval excludes
no change, both samples hold at least MIN_N cases (visits, for a step), and, for percentiles,
the Mann-Whitney rank test on the two distributions agrees at ALPHA. The tests, by figure:

- percentiles (lead time p50 / p85, a step's queue and process time p50): percentile
  bootstrap of the relative change, RESAMPLES resamples of each sample with a fixed seed,
  plus the Mann-Whitney U test (`percentile_change`);
- means (handoffs per case) and ratios of sums (rework share: rework visits / visits, cases
  resampled whole): the same bootstrap, confirmed by Welch's t test (means) or the
  Mann-Whitney test on each case's share (`mean_change`, `ratio_change`);
- counts per day (throughput, a step's visits): Poisson rate ratio, exact interval
  conditional on the total (Clopper-Pearson), with the binomial test (`rate_change`); the
  count is the evidence, so MIN_N applies to the two counts together;
- proportions (first-pass yield): Wilson score interval of each, combined into an interval
  for their ratio by MOVER-R (Donner and Zou), confirmed by Fisher's exact test
  (`proportion_change`);
- a time average (WIP): a sum over the cases in flight, Var(sum) ~ sum of squares (a
  compound Poisson count of cases), normal interval on the log of the ratio
  (`time_average_change`).

The bootstrap is vectorised and costs no more for a million cases than for a hundred: a
resample's k-th order statistic is the sample's ``floor(n U)``-th, with U the k-th of n
uniforms (a Beta(k, n - k + 1) draw), so a resampled percentile takes two Beta draws, not a
sort; a resampled sum is a multinomial draw over the sample's distinct values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

ALPHA = 0.05
RESAMPLES = 2000
SEED = 19  # fixed: the same data always gives the same interval
MIN_N = 30  # fewer cases in a window: the change is shown, never called significant
_DISTINCT_MAX = 4096  # resampled sums by a multinomial draw up to this many distinct rows
_CHUNK_CELLS = 4_000_000  # else direct resampling, this many draws at a time


@dataclass(frozen=True)
class Change:
    """One figure before and after, and whether the difference is beyond noise."""

    before: float | None
    after: float | None
    change: float | None  # (after - before) / before; None when before is 0 or either is missing
    change_low: float | None  # the 95% interval of `change` (None: unbounded or not computed)
    change_high: float | None
    significant: bool | None  # None: not tested (see `test`)
    test: str
    p_value: float | None = None
    before_n: int = 0
    after_n: int = 0
    note: str = ""  # why it is not significant though the interval says so, or why not tested


def relative(before: float | None, after: float | None) -> float | None:
    """(after - before) / before; None when either is missing or before is 0."""
    if before is None or after is None or _nan(before) or _nan(after) or before == 0:
        return None
    return (after - before) / before


def untested(before: float | None, after: float | None, why: str, before_n: int = 0, after_n: int = 0):
    """A figure shown before and after with no test (snapshots: no per-case data)."""
    return Change(
        before, after, relative(before, after), None, None, None, "none", None, before_n, after_n, why
    )


# ---------------------------------------------------------------- percentiles


def quantile(values: np.ndarray, q: float) -> float | None:
    """The q-quantile with linear interpolation (DuckDB's quantile_cont, numpy's default)."""
    return None if len(values) == 0 else float(np.quantile(values, q))


def bootstrap_quantiles(values: np.ndarray, q: float, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """`resamples` draws of the q-quantile of a resample (with replacement, same size) of `values`.

    Exact in distribution, without resampling: the sorted resample's j-th value (0-based) is
    the sample's floor(n U)-th, U the (j+1)-th smallest of n uniforms, a Beta(j+1, n-j) draw;
    the next order statistic lies at U + (1 - U) Beta(1, n-j-1) (the least of the uniforms above U)."""
    x = np.sort(np.asarray(values, dtype=float))
    n = len(x)
    if n == 1:
        return np.full(resamples, x[0])
    h = (n - 1) * q
    k = int(math.floor(h))
    frac = h - k
    u = rng.beta(k + 1, n - k, size=resamples)
    low = x[np.minimum((n * u).astype(np.int64), n - 1)]
    if frac == 0 or k + 1 > n - 1:
        return low
    u_next = u + (1 - u) * rng.beta(1, n - k - 1, size=resamples)
    high = x[np.minimum((n * u_next).astype(np.int64), n - 1)]
    return low + frac * (high - low)


def mann_whitney_p(before: np.ndarray, after: np.ndarray) -> float | None:
    """Two-sided p-value of the Mann-Whitney U test (exact for small samples without ties,
    else the normal approximation with the tie correction)."""
    if len(before) == 0 or len(after) == 0:
        return None
    a, b = np.asarray(before, dtype=float), np.asarray(after, dtype=float)
    if np.all(a == a[0]) and np.all(b == a[0]):
        return 1.0  # one value everywhere: no difference to test
    return float(stats.mannwhitneyu(a, b, alternative="two-sided", method="auto").pvalue)


def percentile_change(
    before: np.ndarray, after: np.ndarray, q: float, *, resamples: int = RESAMPLES, seed: int = SEED
) -> Change:
    """The q-quantile before and after: bootstrap interval of its relative change, and the
    Mann-Whitney test on the two distributions (both must agree for `significant`)."""
    before, after = _array(before), _array(after)
    b, a = quantile(before, q), quantile(after, q)
    if b is None or a is None:
        return _missing(b, a, "bootstrap+mann_whitney", len(before), len(after))
    rng = np.random.default_rng(seed)
    ratios = _ratios(
        bootstrap_quantiles(after, q, resamples, rng), bootstrap_quantiles(before, q, resamples, rng)
    )
    p = mann_whitney_p(before, after)
    return _decide(b, a, ratios, "bootstrap+mann_whitney", p, len(before), len(after), confirm=("rank", p))


# ---------------------------------------------------------------- means and ratios of sums


def bootstrap_sums(rows: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(resamples, k) column sums of resamples (rows drawn with replacement, n of n) of the
    (n, k) array `rows`. A multinomial draw over the distinct rows when they are few (handoff
    counts, visit counts), else direct resampling a chunk at a time."""
    rows = np.asarray(rows, dtype=float)
    if rows.ndim == 1:
        rows = rows[:, None]
    n = rows.shape[0]
    distinct, counts = np.unique(rows, axis=0, return_counts=True)
    if len(distinct) <= _DISTINCT_MAX:
        draws = rng.multinomial(n, counts / n, size=resamples)
        return draws @ distinct
    out = np.empty((resamples, rows.shape[1]))
    step = max(1, _CHUNK_CELLS // n)
    for start in range(0, resamples, step):
        stop = min(start + step, resamples)
        picks = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = rows[picks].sum(axis=1)
    return out


def mean_change(
    before: np.ndarray, after: np.ndarray, *, resamples: int = RESAMPLES, seed: int = SEED
) -> Change:
    """The mean before and after (handoffs per case): the bootstrap interval of its relative
    change, confirmed by Welch's t test."""
    before, after = _array(before), _array(after)
    test = "bootstrap_mean+welch"
    ones_b, ones_a = np.ones(len(before)), np.ones(len(after))
    b, a, ratios = _bootstrap_ratio(before, ones_b, after, ones_a, resamples, seed)
    if b is None or a is None:
        return _missing(b, a, test, len(before), len(after))
    p = _welch_p(before, after)
    return _decide(b, a, ratios, test, p, len(before), len(after), confirm=("t", p))


def ratio_change(
    num_before: np.ndarray,
    den_before: np.ndarray,
    num_after: np.ndarray,
    den_after: np.ndarray,
    *,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> Change:
    """sum(num) / sum(den) before and after (rework share: rework visits / visits), one
    (num, den) pair per case, cases resampled whole (a case's visits stay together): the
    bootstrap interval of its relative change, confirmed by the Mann-Whitney test on the
    cases' own shares (num / den per case)."""
    nb, db, na, da = (_array(v) for v in (num_before, den_before, num_after, den_after))
    test = "bootstrap_ratio+mann_whitney"
    b, a, ratios = _bootstrap_ratio(nb, db, na, da, resamples, seed)
    if b is None or a is None:
        return _missing(b, a, test, len(nb), len(na))
    # each case's own share, rank-tested: did the cases' rework move, not only its total
    with np.errstate(divide="ignore", invalid="ignore"):
        p = mann_whitney_p(_array(nb / db), _array(na / da))
    return _decide(b, a, ratios, test, p, len(nb), len(na), confirm=("rank", p))


def _bootstrap_ratio(nb, db, na, da, resamples: int, seed: int):
    b = float(nb.sum() / db.sum()) if len(nb) and db.sum() else None
    a = float(na.sum() / da.sum()) if len(na) and da.sum() else None
    if b is None or a is None:
        return b, a, None
    rng = np.random.default_rng(seed)
    sums_b = bootstrap_sums(np.column_stack([nb, db]), resamples, rng)
    sums_a = bootstrap_sums(np.column_stack([na, da]), resamples, rng)
    with np.errstate(divide="ignore", invalid="ignore"):
        return b, a, _ratios(sums_a[:, 0] / sums_a[:, 1], sums_b[:, 0] / sums_b[:, 1])


def _welch_p(before: np.ndarray, after: np.ndarray) -> float | None:
    if len(before) < 2 or len(after) < 2:
        return None
    if before.var() == 0 and after.var() == 0:
        return 1.0 if before[0] == after[0] else 0.0
    return float(stats.ttest_ind(before, after, equal_var=False).pvalue)


# ---------------------------------------------------------------- rates


def rate_change(count_before: int, days_before: float, count_after: int, days_after: float) -> Change:
    """Events per day before and after (throughput: completions; a step: its visits).

    Poisson rate ratio R: given the total n, the after count is Binomial(n, pi) with
    pi = t_a R / (t_b + t_a R); the Clopper-Pearson interval of pi gives R's, and the binomial
    test of pi = t_a / (t_b + t_a) its p-value. n: the two counts."""
    b = count_before / days_before if days_before > 0 else None
    a = count_after / days_after if days_after > 0 else None
    test = "poisson_rate_ratio"
    if b is None or a is None:
        return _missing(b, a, test, count_before, count_after)
    total = count_before + count_after
    if count_before == 0:  # no relative change from nothing: not tested
        why = "none in either window" if total == 0 else "none before: no relative change from nothing"
        return Change(b, a, None, None, None, None, test, None, count_before, count_after, why)
    ci = stats.binomtest(count_after, total).proportion_ci(confidence_level=1 - ALPHA, method="exact")
    scale = days_before / days_after

    def ratio(pi: float) -> float:
        return math.inf if pi >= 1 else pi / (1 - pi) * scale

    low, high = ratio(ci.low) - 1, ratio(ci.high) - 1
    p = float(stats.binomtest(count_after, total, days_after / (days_before + days_after)).pvalue)
    # The count is the evidence, exact at any size: MIN_N applies to the two counts together
    # (a step that had 500 visits and has none is gone, not "too few").
    counts = (count_before, count_after)
    return _verdict(b, a, low, high, test, p, total, total, confirm=("binomial", p), shown_n=counts)


# ---------------------------------------------------------------- proportions


def wilson(successes: int, n: int, z: float | None = None) -> tuple[float, float]:
    """The Wilson score interval of a proportion."""
    z = _z() if z is None else z
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def proportion_change(successes_before: int, n_before: int, successes_after: int, n_after: int) -> Change:
    """A proportion before and after (first-pass yield): the interval of the ratio
    after / before by MOVER-R over the two Wilson intervals, less 1, confirmed by Fisher's
    exact test."""
    test = "wilson_mover+fisher"
    b = successes_before / n_before if n_before else None
    a = successes_after / n_after if n_after else None
    if b is None or a is None:
        return _missing(b, a, test, n_before, n_after)
    if b == 0:
        return Change(b, a, None, None, None, False, test, None, n_before, n_after, "zero before")
    l1, u1 = wilson(successes_before, n_before)
    l2, u2 = wilson(successes_after, n_after)
    both = b * a
    low_disc = max(both * both - l2 * u1 * (2 * b - u1) * (2 * a - l2), 0.0)
    high_disc = max(both * both - u2 * l1 * (2 * b - l1) * (2 * a - u2), 0.0)
    low = (both - math.sqrt(low_disc)) / (u1 * (2 * b - u1))
    high_den = l1 * (2 * b - l1)
    high = (both + math.sqrt(high_disc)) / high_den if high_den > 0 else math.inf
    table = [[successes_before, n_before - successes_before], [successes_after, n_after - successes_after]]
    p = float(stats.fisher_exact(table).pvalue)
    return _verdict(b, a, low - 1, high - 1, test, p, n_before, n_after, confirm=("Fisher exact", p))


# ---------------------------------------------------------------- time averages


def time_average_change(
    spans_before: np.ndarray, length_before_s: float, spans_after: np.ndarray, length_after_s: float
) -> Change:
    """A time average (WIP: the seconds each case in flight spent inside the window, summed,
    over the window's length) before and after. The number of cases in flight varies as a
    Poisson count would, so Var(sum) ~ sum of squares; interval of the ratio from the normal
    interval of its log. n: the cases in flight."""
    sb, sa = _array(spans_before), _array(spans_after)
    test = "compound_poisson"
    b = float(sb.sum() / length_before_s) if length_before_s > 0 else None
    a = float(sa.sum() / length_after_s) if length_after_s > 0 else None
    if b is None or a is None:
        return _missing(b, a, test, len(sb), len(sa))
    if sb.sum() <= 0 or sa.sum() <= 0:
        why = "none before" if sb.sum() <= 0 else "none after"
        return Change(b, a, relative(b, a), None, None, False, test, None, len(sb), len(sa), why)
    log_ratio = math.log(a / b)
    se = math.sqrt((sb**2).sum() / sb.sum() ** 2 + (sa**2).sum() / sa.sum() ** 2)
    z = _z()
    p = float(2 * stats.norm.sf(abs(log_ratio) / se)) if se > 0 else 0.0
    low, high = math.exp(log_ratio - z * se) - 1, math.exp(log_ratio + z * se) - 1
    return _verdict(b, a, low, high, test, p, len(sb), len(sa))


# ---------------------------------------------------------------- the verdict


def _decide(
    before: float, after: float, ratios: np.ndarray, test: str, p, nb: int, na: int, confirm=None
) -> Change:
    low, high = _interval(ratios)
    return _verdict(before, after, low, high, test, p, nb, na, confirm=confirm)


def _verdict(
    before: float,
    after: float,
    low: float,
    high: float,
    test: str,
    p,
    nb: int,
    na: int,
    confirm=None,
    shown_n: tuple[int, int] | None = None,
) -> Change:
    """Significant: the interval excludes 0 (no change), both samples hold MIN_N, and the
    confirming test (`confirm`: its name and p-value), where there is one, agrees at ALPHA."""
    excludes = low > 0 or high < 0
    note = ""
    if min(nb, na) < MIN_N:
        note = f"too few to test: {min(nb, na)} in a window (at least {MIN_N} needed)"
        if shown_n is not None:
            note = f"too few to test: {nb} in the two windows together (at least {MIN_N} needed)"
    elif excludes and confirm is not None and (confirm[1] is None or confirm[1] >= ALPHA):
        shown = "n/a" if confirm[1] is None else f"{confirm[1]:.2f}"
        note = f"within noise: the {confirm[0]} test does not confirm it (p = {shown})"
    significant = bool(excludes and not note)
    nb, na = shown_n or (nb, na)
    change = relative(before, after)
    return Change(before, after, change, _finite(low), _finite(high), significant, test, p, nb, na, note)


def _missing(before, after, test: str, nb: int, na: int) -> Change:
    if before is None and after is None:
        why = "not measured in either window"
    else:
        why = f"nothing to measure {'before' if before is None else 'after'}"
    return Change(before, after, None, None, None, None, test, None, nb, na, why)


def _interval(ratios: np.ndarray) -> tuple[float, float]:
    """The central 1 - ALPHA of the bootstrap's relative changes (no interpolation, so an
    unbounded replicate (a resample whose before is 0) stays an unbounded bound)."""
    low, high = np.quantile(ratios, [ALPHA / 2, 1 - ALPHA / 2], method="inverted_cdf")
    return float(low), float(high)


def _ratios(after: np.ndarray, before: np.ndarray) -> np.ndarray:
    """Relative changes of paired replicates: 0/0 is no change, x/0 unbounded."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = after / before - 1
    out[(before == 0) & (after == 0)] = 0.0
    return out


def _array(values) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    return arr[~np.isnan(arr)]


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _nan(value: float) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _z() -> float:
    return float(stats.norm.ppf(1 - ALPHA / 2))
