"""The meaning guard: what it vetoes, what it lets through, and that its verdict is a function of
the two texts (symmetric, never against a text itself)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from platform_assets.nlp.guard import veto
from platform_assets.nlp.synthetic import PERTURBATIONS, goal_text
from tests.nlp.search_budget import bounded


@pytest.mark.parametrize(
    "a, b, reason",
    [
        ("The man is playing the guitar.", "The girl is playing the guitar.", "subjects differ: man / girl"),
        ("A man is slicing a tomato.", "A woman is slicing a tomato.", "opposites"),
        ("Reduce staff turnover by 10% this year.", "Reduce staff turnover by 20% this year.", "numbers differ"),
        ("Three children enrolled in the program.", "Five children enrolled in the program.", "numbers differ"),
        ("The program will serve infants.", "The program will not serve infants.", "one text is negated"),
        ("Chinese stocks open lower Wednesday", "China stocks open lower Friday", "dates differ"),
        ("Increase enrollment of eligible families.", "Decrease enrollment of eligible families.", "opposites"),
        ("Partner with schools in Denver on transitions.", "Partner with schools in Boston on transitions.", "names"),
    ],
)
def test_vetoes_pairs_that_differ_in_what_they_say(a, b, reason):
    assert reason in (veto(a, b) or "")


@pytest.mark.parametrize(
    "a, b",
    [
        ("The recipient will improve family engagement.", "Improve family engagement"),
        ("Reduce staff turnover by 10% this year.", "reduce staff turnover by 10 % this year"),
        ("The program will not close centers.", "The program won't close centers."),
        ("A kid is playing in the water.", "A child is playing in the water."),  # synonym subjects, with vectors
        ("NEW JERSEY SCHOOL BANS HUGGING", "New Jersey school bans hugging"),  # capitals in caps text: no names
        ("Develop ERSEA processes through staff training.", "develop ERSEA processes through staf training"),
    ],
)
def test_lets_retyped_goals_through(a, b):
    def synonyms(x: str, y: str) -> float:
        return 0.9 if {x, y} == {"kid", "child"} else 0.0

    assert veto(a, b, synonyms) is None


texts = st.one_of(
    st.text(max_size=80),
    st.builds(lambda seed: goal_text(random.Random(seed)), st.integers(0, 10**6)),
)


@bounded(200)
@given(a=texts, b=texts)
def test_the_verdict_is_symmetric_and_a_text_never_vetoes_itself(a, b):
    """Invariant: veto(a, b) and veto(b, a) agree on whether to veto (the pair, not its order,
    is judged), and no rule objects to a text paired with itself."""
    assert (veto(a, b) is None) == (veto(b, a) is None)
    assert veto(a, a) is None


@bounded(200)
@given(seed=st.integers(0, 10**6), edit=st.sampled_from(sorted(set(PERTURBATIONS) - {"lead"})))
def test_typing_edits_that_keep_the_meaning_are_never_vetoed(seed, edit):
    """Invariant: case, punctuation, spacing and one transposed-letter typo change no number,
    negation, date, opposite, subject or name, so the guard lets such a copy through."""
    rng = random.Random(seed)
    text = goal_text(rng)
    assert veto(text, PERTURBATIONS[edit](text, rng)) is None
