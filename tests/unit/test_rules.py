"""Worked examples from docs/rules.md#words and #approval: exact fractions, strict 超过, inclusive 以上."""

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ballot.counting.rules import PRESETS, RuleError, Threshold, parse_fraction, percent

MAJORITY_OF_EXPECTED = Threshold(">", Fraction(1, 2), "expected")
TWO_THIRDS_PRESENT = Threshold(">=", Fraction(2, 3), "expected")


@pytest.mark.parametrize(
    ("yes", "expected", "passes"),
    [(6, 11, True), (5, 11, False), (5, 10, False), (6, 10, True), (0, 1, False), (1, 1, True), (3, 5, True)],
)
def test_more_than_half_is_strict(yes, expected, passes):
    assert MAJORITY_OF_EXPECTED.met(yes, expected) is passes


@pytest.mark.parametrize(("present", "expected", "ok"), [(7, 11, False), (8, 11, True), (6, 9, True), (5, 9, False)])
def test_two_thirds_or_more_includes_the_number(present, expected, ok):
    assert TWO_THIRDS_PRESENT.met(present, expected) is ok


def test_grassroots_election_quorum_is_more_than_four_fifths():
    quorum = PRESETS["grassroots_election"].quorum
    assert quorum.met(9, 10) and not quorum.met(8, 10)
    assert quorum.met(5, 5) and not quorum.met(4, 5)
    # elected with 赞成 > ½ 实到
    assert PRESETS["grassroots_election"].passing.denominator == "present"


def test_minimum_votes_and_words():
    assert MAJORITY_OF_EXPECTED.minimum(11) == 6
    assert MAJORITY_OF_EXPECTED.minimum(10) == 6
    assert TWO_THIRDS_PRESENT.minimum(11) == 8
    assert TWO_THIRDS_PRESENT.minimum(9) == 6
    assert MAJORITY_OF_EXPECTED.words("同意票") == "同意票超过应到人数的半数"


def test_unknown_base_and_empty_base():
    assert MAJORITY_OF_EXPECTED.met(3, None) is None
    assert MAJORITY_OF_EXPECTED.met(0, 0) is False


@given(
    st.integers(1, 5000),
    st.sampled_from([">", ">="]),
    st.sampled_from([Fraction(1, 2), Fraction(2, 3), Fraction(4, 5), Fraction(1, 3)]),
)
def test_minimum_is_the_exact_boundary(base, op, fraction):
    t = Threshold(op, fraction, "expected")
    m = t.minimum(base)
    assert t.met(m, base) if m <= base else m == base + 1
    assert not t.met(m - 1, base)


def test_display_rounding_is_half_up_on_the_exact_value():
    assert percent(Fraction(6, 11)) == "54.55%"
    assert percent(Fraction(1, 8)) == "12.50%"
    assert percent(Fraction(1, 3)) == "33.33%"
    assert percent(Fraction(2, 3)) == "66.67%"
    assert percent(Fraction(725, 80000)) == "0.91%"  # 0.90625 → 0.91, where float round gives 0.9
    assert percent(None) == "—"


@pytest.mark.parametrize("bad", ["abc", "0", "3/2", "1/0", "-1/2"])
def test_bad_fractions_are_refused_in_chinese(bad):
    with pytest.raises(RuleError, match="比例"):
        parse_fraction(bad)


def test_bad_comparator_refused():
    with pytest.raises(RuleError):
        Threshold("<", Fraction(1, 2), "expected")
