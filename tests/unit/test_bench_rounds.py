"""make bench's rounds: interleaved order, medians, spreads, and a note on a noisy line."""

from __future__ import annotations

from statistics import median

import pytest

from bench.report import Result
from bench.rounds import Figures, Samples, interleave


def test_each_round_runs_every_step_once_and_every_other_round_in_reverse() -> None:
    order: list[str] = []
    interleave([lambda: order.append("a"), lambda: order.append("b"), lambda: order.append("c")])
    assert order == ["a", "b", "c", "c", "b", "a", "a", "b", "c"]


def test_fewer_than_three_rounds_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 3 rounds"):
        interleave([lambda: None], rounds=2)


def test_samples_become_figures_with_the_median_the_spread_and_the_load_of_each_round() -> None:
    samples = Samples()
    for value in (90.0, 100.0, 120.0):
        samples.add("rate", value)
    figures = samples["rate"]
    assert figures.values == (90.0, 100.0, 120.0)
    assert figures.value == 100.0
    assert figures.spread == pytest.approx(0.3)
    assert len(figures.loads) == 3


@pytest.mark.parametrize(
    ("subject", "baseline", "note"),
    [
        ((100.0, 105.0, 110.0), (50.0, 51.0, 52.0), ""),
        ((100.0, 150.0, 110.0), (50.0, 51.0, 52.0), "value spread 45% > 15%: noisy"),
        ((100.0, 105.0, 110.0), (40.0, 51.0, 52.0), "baseline spread 24% > 15%: noisy"),
    ],
)
def test_a_line_whose_spread_passes_15_percent_says_so(
    subject: tuple[float, ...], baseline: tuple[float, ...], note: str
) -> None:
    result = Result("line", Figures(subject), "x/s", "base", Figures(baseline))
    assert result.note == note
    assert result.document()["note"] == note
    assert result.ratio == median(subject) / median(baseline)


def test_a_percentile_over_several_rounds_is_taken_over_all_their_samples() -> None:
    figures = Figures.pooled([[1.0, 9.0], [2.0, 3.0], [4.0, 5.0]], median)
    assert figures.values == (5.0, 2.5, 4.5)  # each round's own median, for the spread
    assert figures.value == 3.5  # the median of all six
    assert figures.scaled(10).value == 35.0


def test_a_constant_baseline_has_no_spread() -> None:
    assert Figures.constant(50_000).spread == 0.0
    assert Result("line", Figures((1.0, 1.0, 1.0)), "ms", "goal", Figures.constant(2.0)).document()["baseline_fixed"]
