"""The statistics of `vsm compare` (pipeline/compare_stats.py), checked against values worked
out by hand or by a second method, and on samples with no change (at most 5% flagged) and
with one (found)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline import compare_stats as cs

PAIRS = 200  # seeded no-change comparisons per test


def test_relative_change_and_its_edges():
    assert cs.relative(10.0, 6.6) == pytest.approx(-0.34)
    assert cs.relative(0.0, 5.0) is None  # no relative change from nothing
    assert cs.relative(None, 5.0) is None


def test_bootstrap_of_a_percentile_by_order_statistics_matches_plain_resampling():
    """The Beta-draw shortcut against the textbook bootstrap (resample n of n, take the
    quantile): the same distribution, compared at its quantiles."""
    x = np.random.default_rng(1).lognormal(0, 1, 57)
    for q in (0.5, 0.85):
        fast = cs.bootstrap_quantiles(x, q, 100_000, np.random.default_rng(2))
        picks = np.random.default_rng(3).integers(0, len(x), (100_000, len(x)))
        plain = np.quantile(x[picks], q, axis=1)
        levels = [0.025, 0.25, 0.5, 0.75, 0.975]
        assert np.quantile(fast, levels) == pytest.approx(np.quantile(plain, levels), rel=0.03)


def test_a_percentile_change_worked_by_hand():
    # p50 of 1,2,3,4 is 2.5; of 2,4,6,8 it is 5: +100%. Four cases are too few to test.
    c = cs.percentile_change(np.array([1, 2, 3, 4.0]), np.array([2, 4, 6, 8.0]), 0.5)
    assert (c.before, c.after, c.change) == (2.5, 5.0, 1.0)
    assert c.significant is False and c.note.startswith("too few to test: 4")
    # p85 of 8, 31, 36 (linear interpolation): 31 + 0.7 * 5 = 34.5
    assert cs.quantile(np.array([8, 31, 36.0]), 0.85) == pytest.approx(34.5)


def test_the_rank_test_on_a_small_sample_is_exact():
    # 1,2,3 against 4,5,6: one of the 20 splits is as extreme each way: p = 2/20
    assert cs.mann_whitney_p(np.array([1, 2, 3.0]), np.array([4, 5, 6.0])) == pytest.approx(0.1)


def test_rate_ratio_interval_agrees_with_the_log_normal_approximation():
    # 100 events in 10 days against 200 in 10 days: ratio 2; the normal interval of
    # log(ratio) has se sqrt(1/100 + 1/200): exp(ln 2 +- 1.96 se) = 1.573 .. 2.542
    c = cs.rate_change(100, 10.0, 200, 10.0)
    assert (c.before, c.after, c.change) == (10.0, 20.0, 1.0)
    se = math.sqrt(1 / 100 + 1 / 200)
    assert c.change_low == pytest.approx(math.exp(math.log(2) - 1.96 * se) - 1, abs=0.03)
    assert c.change_high == pytest.approx(math.exp(math.log(2) + 1.96 * se) - 1, abs=0.04)
    assert c.significant and c.p_value < 1e-6


def test_a_step_that_lost_all_its_visits_is_a_significant_fall():
    c = cs.rate_change(400, 28.0, 0, 28.0)
    assert c.change == -1.0 and c.change_low == -1.0 and c.change_high < -0.98
    assert c.significant and (c.before_n, c.after_n) == (400, 0)


def test_wilson_interval_from_newcombes_paper():
    # Newcombe (1998), Statistics in Medicine 17: 81 of 263 -> 0.2553 to 0.3662
    low, high = cs.wilson(81, 263)
    assert (low, high) == (pytest.approx(0.2553, abs=1e-4), pytest.approx(0.3662, abs=1e-4))


def test_proportion_ratio_interval_agrees_with_the_log_method_on_large_samples():
    # 600 of 1000 against 750 of 1000: ratio 1.25; Katz log interval: se^2 = 0.4/600 + 0.25/750
    c = cs.proportion_change(600, 1000, 750, 1000)
    se = math.sqrt(0.4 / 600 + 0.25 / 750)
    assert c.change == pytest.approx(0.25)
    assert c.change_low == pytest.approx(1.25 * math.exp(-1.96 * se) - 1, abs=0.01)
    assert c.change_high == pytest.approx(1.25 * math.exp(1.96 * se) - 1, abs=0.01)
    assert c.significant


def test_time_average_change_worked_by_hand():
    # two cases of 10 s each in 10 s (WIP 2) against two of 20 s (WIP 4): +100%;
    # se of the log ratio = sqrt(200/20^2 + 800/40^2) = 1
    c = cs.time_average_change(np.array([10, 10.0]), 10.0, np.array([20, 20.0]), 10.0)
    assert (c.before, c.after, c.change) == (2.0, 4.0, 1.0)
    assert c.change_low == pytest.approx(2 * math.exp(-1.96) - 1, abs=1e-3)
    assert c.change_high == pytest.approx(2 * math.exp(1.96) - 1, abs=1e-2)


def test_ratio_of_sums_resamples_whole_cases():
    # rework visits / visits, 40 cases of 10 visits each: a quarter rework before, half after
    before = (np.array([0, 5, 5, 0] * 10, dtype=float), np.full(40, 10.0))
    after = (np.array([5, 5, 5, 5] * 10, dtype=float), np.full(40, 10.0))
    c = cs.ratio_change(before[0], before[1], after[0], after[1])
    assert (c.before, c.after, c.change) == (0.25, 0.5, 1.0)
    assert c.significant


def _samples(seed: int):
    rng = np.random.default_rng(1000 + seed)
    return rng, 120, 150  # sample sizes differ, as two windows' do


def _flagged(test) -> int:
    return sum(bool(test(seed).significant) for seed in range(PAIRS))


@pytest.mark.parametrize("q", [0.5, 0.85])
def test_no_change_in_lead_time_percentiles_is_called_noise(q):
    def one(seed):
        rng, nb, na = _samples(seed)
        return cs.percentile_change(rng.lognormal(1, 1, nb), rng.lognormal(1, 1, na), q, seed=seed)

    assert _flagged(one) <= 0.05 * PAIRS


def test_no_change_in_throughput_is_called_noise():
    def one(seed):
        rng, _, _ = _samples(seed)
        return cs.rate_change(int(rng.poisson(140)), 14.0, int(rng.poisson(200)), 20.0)

    assert _flagged(one) <= 0.05 * PAIRS


def test_no_change_in_first_pass_yield_is_called_noise():
    def one(seed):
        rng, nb, na = _samples(seed)
        return cs.proportion_change(int(rng.binomial(nb, 0.7)), nb, int(rng.binomial(na, 0.7)), na)

    assert _flagged(one) <= 0.05 * PAIRS


def test_no_change_in_handoffs_per_case_is_called_noise():
    def one(seed):
        rng, nb, na = _samples(seed)
        return cs.mean_change(rng.poisson(1.5, nb), rng.poisson(1.5, na), seed=seed)

    assert _flagged(one) <= 0.05 * PAIRS


def test_no_change_in_rework_share_is_called_noise():
    """1000 pairs, not 200: on the first 200 this test flags 11 (5.5%), within the noise of a
    5% count over 200 (sd 1.5%); over these 1000 it flags 32 (3.2%)."""

    def one(seed):
        rng, nb, na = _samples(seed)
        vb, va = rng.poisson(3, nb) + 1, rng.poisson(3, na) + 1
        return cs.ratio_change(rng.binomial(vb, 0.2), vb, rng.binomial(va, 0.2), va, seed=seed, resamples=500)

    assert sum(bool(one(seed).significant) for seed in range(1000)) <= 0.05 * 1000


def test_no_change_in_wip_is_called_noise():
    def one(seed):
        rng, _, _ = _samples(seed)
        spans = [rng.exponential(5.0, rng.poisson(100)) for _ in range(2)]
        return cs.time_average_change(spans[0], 10.0, spans[1], 10.0)

    assert _flagged(one) <= 0.05 * PAIRS


def test_a_real_change_is_found_by_every_test():
    """The same generators with a shift: the tests above could fail."""
    rng = np.random.default_rng(7)
    assert cs.percentile_change(rng.lognormal(1, 1, 200), rng.lognormal(0.5, 1, 200), 0.5).significant
    assert cs.rate_change(140, 14.0, 280, 20.0).significant
    assert cs.proportion_change(84, 120, 135, 150).significant
    assert cs.mean_change(rng.poisson(1.5, 200), rng.poisson(2.5, 200)).significant
    assert cs.time_average_change(rng.exponential(5, 100), 10.0, rng.exponential(5, 200), 10.0).significant


def test_the_rank_test_must_confirm_a_percentile_change():
    # Same median, very different spread: the bootstrap of the p85 may move, the rank test
    # on the distributions (centred alike) does not confirm a shift.
    rng = np.random.default_rng(3)
    before = rng.normal(100, 5, 400)
    after = rng.normal(100, 40, 400)
    c = cs.percentile_change(before, after, 0.85)
    assert c.change_low > 0  # the interval alone says "up"
    assert not c.significant and "rank test does not confirm" in c.note
