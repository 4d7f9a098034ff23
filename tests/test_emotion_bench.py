"""``agent bench emotion --quick`` runs end to end on the real heads and reports every baseline."""

import pytest

pytestmark = pytest.mark.slow


def test_quick_bench_reports_model_and_baselines(shared_data):
    from agent.bench.emotion import QUICK_ROWS, run
    from agent.bench.report import BenchOptions

    suite = run(BenchOptions(quick=True))
    names = {f.name for f in suite.figures}
    for who in ("majority class", "copy preceding", "transition w/o personality", "full model"):
        for metric in ("accuracy", "macro_f1", "weighted_f1"):
            assert f"{who}: {metric}" in names
    assert all(0.0 <= f.value <= 1.0 for f in suite.figures)
    assert str(QUICK_ROWS) in " ".join(suite.notes)
    for metric in ("macro_f1", "weighted_f1"):
        assert f"bootstrap P(full > copy preceding), {metric}" in names
    assert {"appropriate responses", "appropriate responses w/o personality"} <= names


def test_the_scenario_suite_fits_the_moment_and_needs_the_personality(shared_data):
    """The appropriateness rules on the shipped personas: the full engine fits at least 90% of
    the checks, the engine without personality clearly fewer (its trait comparisons tie)."""
    from agent.bench.appropriate import checks, fraction, models
    from persona.config import load_personas

    personas, parts = load_personas(), models()
    full, base = fraction(checks(personas, True, parts=parts)), fraction(checks(personas, False, parts=parts))
    assert full >= 0.9 and base < full - 0.2, (full, base)


def test_missing_file_is_one_line():
    from agent.bench.emotion import run
    from agent.bench.report import BenchOptions
    from agent.core.errors import UserError

    with pytest.raises(UserError, match="no such PELD file"):
        run(BenchOptions(peld="/nonexistent/peld.tsv"))
