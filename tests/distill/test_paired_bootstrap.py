import numpy as np
import pytest

from distill.eval.matching import pose_auc
from distill.eval.paired_bootstrap import difference_table, differences_by_kind, paired_difference, seeds_difference


def test_identical_methods_differ_by_nothing_in_every_resample():
    values = [[0.5, 0.7], [0.2, 0.9, 0.4]]
    d = paired_difference(values, values, np.mean)
    assert (d.value, d.low, d.high, d.above) == (0.0, 0.0, 0.0, 0.0)


def test_a_shift_of_every_pair_is_the_difference_and_its_whole_interval():
    reference = [[0.5, 0.7], [0.2, 0.9, 0.4], [0.6]]
    method = [[v + 0.1 for v in s] for s in reference]
    d = paired_difference(method, reference, np.mean)
    assert d.value == pytest.approx(0.1) and d.low == pytest.approx(0.1) and d.high == pytest.approx(0.1) and d.above == 1.0


def test_a_gain_on_one_sequence_and_a_loss_on_the_other_is_not_resolved():
    """Two sequences of two pairs, +0.2 on one and -0.2 on the other: the difference is 0, and a resample is above
    only when it draws the first sequence twice (a quarter of the draws)."""
    reference = [[0.5, 0.5], [0.5, 0.5]]
    method = [[0.7, 0.7], [0.3, 0.3]]
    d = paired_difference(method, reference, np.mean, resamples=4000)
    assert d.value == pytest.approx(0.0) and d.low == pytest.approx(-0.2) and d.high == pytest.approx(0.2)
    assert 0.22 < d.above < 0.28


def test_auc_differences_take_the_pairs_of_whole_sequences():
    """AUC@3px is not a mean of per-pair values; the difference is that of the AUCs over all pairs, failures
    (inf) included, and the interval holds it."""
    reference = [[0.5, 1.0, 2.0], [0.3, float("inf")], [1.5, 0.8]]
    method = [[0.4, 1.2, 1.0], [0.2, 2.5], [1.5, 3.5]]
    auc = lambda e: pose_auc(list(e), 3)  # noqa: E731
    d = paired_difference(method, reference, auc, seed=3)
    flat = lambda groups: [v for s in groups for v in s]  # noqa: E731
    assert d.value == pytest.approx(pose_auc(flat(method), 3) - pose_auc(flat(reference), 3))
    assert d.low <= d.value <= d.high
    assert paired_difference(method, reference, auc, seed=3) == d  # seeded: the same interval every run


def test_unpaired_inputs_are_refused():
    with pytest.raises(ValueError, match="same sequences and pairs"):
        paired_difference([[0.1, 0.2]], [[0.1]], np.mean)
    with pytest.raises(ValueError, match="at least one sequence"):
        paired_difference([], [], np.mean)


def test_differences_by_kind_take_each_kinds_sequences_alone():
    """An ``i`` sequence where the method gains 0.1 and a ``v`` sequence where it loses 0.3: each kind has its own
    difference; all pairs weigh both; a kind without sequences has none."""
    method = [("i", [0.6, 0.6]), ("v", [0.2, 0.2])]
    reference = [("i", [0.5, 0.5]), ("v", [0.5, 0.5])]
    d = differences_by_kind([method], reference, np.mean)
    assert d["i"].value == pytest.approx(0.1) and d["v"].value == pytest.approx(-0.3) and d["all"].value == pytest.approx(-0.1)
    assert d["i"].low == pytest.approx(0.1) and d["v"].high == pytest.approx(-0.3)
    assert differences_by_kind([method[1:]], reference[1:], np.mean)["i"] is None


def test_difference_table_names_the_reference_and_the_sequences():
    d = differences_by_kind([[("i", [0.6, 0.6]), ("i", [0.6])]], [("i", [0.5, 0.5]), ("i", [0.5])], np.mean)
    lines = difference_table({"student": d}, "superpoint", "Repeatability", 2)
    assert "minus superpoint's" in lines[0] and "of the 2 sequences" in lines[0]
    assert lines[-1] == "| student | +0.100 [+0.100, +0.100] | +0.100 [+0.100, +0.100] | — | 1.00 |"
    assert difference_table({}, "superpoint", "x", 2) == []


def test_the_seeds_of_a_recipe_are_compared_through_the_mean_of_their_statistics():
    """Two seeds, +0.2 and 0.0 on every pair: their mean is +0.1 in every draw; an AUC is averaged over seeds, not
    computed on averaged errors."""
    reference = [[0.5, 0.5], [0.4]]
    seeds = [[[0.7, 0.7], [0.6]], [[0.5, 0.5], [0.4]]]
    d = seeds_difference(seeds, reference, np.mean)
    assert d.value == pytest.approx(0.1) and d.low == pytest.approx(0.1) and d.high == pytest.approx(0.1)
    errors = [[[0.0, 6.0]], [[6.0, 0.0]]]  # each seed: one pair right, one failed
    auc = lambda e: pose_auc(list(e), 3)  # noqa: E731
    assert seeds_difference(errors, [[6.0, 6.0]], auc).value == pytest.approx(0.5)
