"""The change matrix on the real code location (issue 11, item 3): every edit of
`mutation_matrix.EDITS` moves exactly the code versions it should, 0 missed, 0 needless."""

from __future__ import annotations

import pytest

from tests.provenance.mutation_matrix import EDITS, report, run_matrix

pytestmark = pytest.mark.slow  # one fresh interpreter per edit


def test_every_edit_moves_exactly_the_versions_it_should():
    outcomes = run_matrix()
    print(report(outcomes))
    assert len(outcomes) == len(EDITS)
    assert [o.edit.name for o in outcomes if o.error] == [], "rows whose edit no longer applies: update them"
    assert sum(len(o.missed) for o in outcomes) == 0, report(outcomes)
    assert sum(len(o.needless) for o in outcomes) == 0, report(outcomes)
