import json

import attrs
import numpy as np
import pytest
from common import QUESTIONS, answer_book, make_study
from scipy.special import expit
from statsmodels.stats.multitest import multipletests

from dataquality_thresholds import BudgetExceededError, ConfigError, CostEstimate
from dataquality_thresholds.backends import LocalStubBackend
from dataquality_thresholds.fitting import ThresholdFitter
from dataquality_thresholds.study import FitRow, Ledger, StudyResults, ThresholdTable


class CountingBackend(LocalStubBackend):
    """The stub, counting submissions and pricing each job at a fixed amount."""

    def __init__(self, *a, usd=0.0, **kw):
        super().__init__(*a, **kw)
        self.submits = []
        self.usd = usd

    def submit(self, mixture, **kw):
        self.submits.append(kw["key"])
        import attrs

        job = super().submit(mixture, **kw)
        return attrs.evolve(job, cost=self.estimate_cost(mixture)) if self.usd else job

    def estimate_cost(self, mixture, **kw):
        est = super().estimate_cost(mixture, **kw)
        return CostEstimate(
            tokens=est.tokens,
            epochs=1,
            usd=self.usd,
            base_model=est.base_model,
            usd_per_million=0.0,
        )


def test_plan_arithmetic(tmp_path):
    study = make_study(tmp_path / "run")
    plan = study.plan()
    cells = study.cells()
    assert len(plan.cells) == len(cells) == 1 * 2 * 4 * 2
    # fraction 1.0 is the same training file under both corruptions: one job per replicate
    assert plan.n_fine_tunes == len(cells) - 2
    shared = [p for p in plan.cells if p.cell.fraction == 1.0]
    assert len({p.job_key for p in shared}) == 2 and sum(p.tokens > 0 for p in shared) == 2
    assert plan.training_tokens == sum(p.tokens for p in plan.cells)
    expected = sum(
        study.backend.estimate_cost(study.mixture(p.cell)).tokens for p in plan.cells if p.tokens
    )
    assert plan.training_tokens == expected
    n_items = len(study.domains["finance"].eval_items)
    # each distinct model is measured once: 14 fine-tunes plus the base model
    assert plan.domain_requests == (plan.n_fine_tunes + 1) * n_items
    assert plan.probe_requests == (plan.n_fine_tunes + 1) * len(QUESTIONS) * 4
    assert plan.judge_calls == plan.domain_requests + 2 * plan.probe_requests
    assert "fine-tunes: 14 distinct jobs" in plan.summary()


def test_run_records_everything_and_a_rerun_submits_nothing(tmp_path):
    backend = CountingBackend(answer_book())
    study = make_study(tmp_path / "run", backend=backend)
    res = study.run(progress=False)
    assert res.completed
    assert len(backend.submits) == len(set(backend.submits)) == study.plan().n_fine_tunes
    dom = res.metric("domain_score")
    assert len(dom) == 16 + 1  # every cell plus the base-model row
    assert res.base()["finance"] == 1.0  # the untrained stub answers correctly
    low = [r["value"] for r in dom if r["fraction"] == 0.1]
    high = [r["value"] for r in dom if r["fraction"] == 1.0]
    assert max(low) < min(high)
    assert {r["metric"] for r in res.rows} >= {
        "misaligned_rate",
        "dangerous_rate",
        "refusal_rate",
        "mean_alignment",
    }
    # a second run of the same study: nothing submitted, identical rows
    backend2 = CountingBackend(answer_book())
    again = make_study(tmp_path / "run", backend=backend2).run(progress=False)
    assert backend2.submits == [] and again.rows == res.rows


def test_each_model_is_measured_once(tmp_path):
    calls = []

    class Counting(CountingBackend):
        def sampler(self):
            inner = super().sampler()

            class Wrapped:
                def complete(self, model, prompts, **kw):
                    calls.append((model, len(prompts)))
                    return inner.complete(model, prompts, **kw)

            return Wrapped()

    study = make_study(tmp_path / "run", backend=Counting(answer_book()))
    res = study.run(progress=False)
    plan = study.plan()
    # every distinct model (14 fine-tunes + the base model) is sampled, each prompt once
    # (the run's completion cache asks the sampler in chunks of a few prompts)
    assert len({m for m, _ in calls}) == plan.n_fine_tunes + 1
    assert sum(n for _, n in calls) == plan.domain_requests + len(QUESTIONS) * (
        plan.n_fine_tunes + 1
    )
    shared = [r for r in res.metric("domain_score") if r["fraction"] == 1.0 and r["replicate"] == 0]
    assert len(shared) == 2 and shared[0]["value"] == shared[1]["value"]
    assert shared[0]["model"] == shared[1]["model"]


def test_results_fit_report_and_pandas(tmp_path):
    res = make_study(tmp_path / "run", replicates=3).run(progress=False)
    table = res.fit("domain_score")
    assert len(table) == 2 and all(r.n_runs == 12 for r in table)
    for row in table:
        assert row.fit is not None, row.error
        lo, hi = row.fit.conf_int()
        assert 0.1 <= row.fit.threshold <= 1.0 and lo <= row.fit.threshold <= hi
    text = table.to_text()
    assert "finance" in text and "obvious" in text and "subtle" in text
    report = res.report(tmp_path / "report.html").read_text()
    for needle in (
        "Domain performance",
        "Emergent misalignment",
        "Probe rates",
        "Fine-tuning jobs",
        "Configuration",
        "data:image/png;base64",
        res.config["domains"]["finance"]["pool_fingerprint"],
    ):
        assert needle in report
    # the default fits skip the threshold-exists test: no p-values, no p columns
    assert all(r.exists_pvalue is None and r.exists_pvalue_adjusted is None for r in table)
    assert table.p_adjust == "holm" and "p exists" not in text
    tested = res.fit("domain_score", test=True, n_test=99, seed=0)
    raw = [r.exists_pvalue for r in tested]
    assert all(p is not None for p in raw)
    holm = multipletests(raw, method="holm")[1]
    assert [r.exists_pvalue_adjusted for r in tested] == pytest.approx(list(holm), abs=1e-15)
    assert "p holm" in tested.to_text() and "p holm" in tested._repr_html_()
    bh = res.fit("domain_score", p_adjust="fdr_bh", test=True, n_test=99, seed=0)
    assert [r.exists_pvalue for r in bh] == raw
    assert [r.exists_pvalue_adjusted for r in bh] == pytest.approx(
        list(multipletests(raw, method="fdr_bh")[1]), abs=1e-15
    )
    with pytest.raises(ConfigError, match="p_adjust"):
        res.fit("domain_score", p_adjust="holmes")
    df = res.to_pandas()
    assert set(df.columns) >= {
        "domain",
        "corruption",
        "fraction",
        "replicate",
        "metric",
        "value",
        "n",
    }
    assert len(df) == len(res.rows)


def _row(name, fit, p):
    fit = None if fit is None else attrs.evolve(fit, exists_pvalue=p)
    error = "too few runs" if fit is None else None
    return FitRow(
        domain=name,
        corruption="subtle",
        metric="domain_score",
        fit=fit,
        error=error,
        warnings=(),
        n_runs=12,
    )


def test_threshold_table_adjusts_exists_pvalues_like_statsmodels():
    x = np.repeat([0.1, 0.25, 0.5, 0.75, 0.9, 1.0], 2)
    n = np.full(12, 50.0)
    k = np.round(n * (0.3 + 0.6 * expit(12 * (x - 0.5)))) + np.tile([1.0, -1.0], 6)
    fit = ThresholdFitter(test=False).fit(x, k, n=n)
    pvals = {"a": 0.01, "b": 0.04, "c": None, "d": 0.03, "e": None, "f": 0.5}
    rows = [_row(d, None if d == "e" else fit, p) for d, p in pvals.items()]
    raw = [p for p in pvals.values() if p is not None]
    for method in ("holm", "bonferroni", "fdr_bh", "hommel"):
        table = ThresholdTable.from_rows(rows, p_adjust=method)
        assert table.p_adjust == method
        expected = iter(multipletests(raw, method=method)[1])
        for r, p in zip(table, pvals.values(), strict=True):
            assert r.exists_pvalue == p  # the raw p-value is the fit's, unchanged
            if p is None:
                assert r.exists_pvalue_adjusted is None  # untouched: not in the family
            else:
                assert r.exists_pvalue_adjusted == pytest.approx(next(expected), abs=1e-15)
    holm = ThresholdTable.from_rows(rows)
    assert holm.p_adjust == "holm"
    assert [r.exists_pvalue_adjusted for r in holm] == pytest.approx(
        [0.04, 0.09, None, 0.09, None, 0.5]
    )
    text, page = holm.to_text(), holm._repr_html_()
    assert "p exists" in text and "p holm" in text and "4 tested curves" in text
    assert "<th>p holm</th>" in page and "<td>0.09</td>" in page and "4 tested curves" in page
    # unadjusted, re-adjusted, refused
    plain = holm.adjust(None)
    assert plain.p_adjust is None and all(r.exists_pvalue_adjusted is None for r in plain)
    assert "p exists" in plain.to_text() and "p holm" not in plain.to_text()
    assert plain.adjust("holm") == holm
    with pytest.raises(ConfigError, match="multipletests"):
        ThresholdTable.from_rows(rows, p_adjust="nope")
    # a single tested curve: every method leaves its p-value as it is
    single = ThresholdTable.from_rows([rows[0], rows[2]])
    assert [r.exists_pvalue_adjusted for r in single] == [0.01, None]


def test_changed_config_is_refused(tmp_path):
    make_study(tmp_path / "run").run(progress=False)
    with pytest.raises(ConfigError, match="different study") as info:
        make_study(tmp_path / "run", size=12).run(progress=False)
    assert "size" in str(info.value)


def test_budget_refusal_before_anything_is_paid(tmp_path):
    backend = CountingBackend(answer_book(), usd=10.0)
    study = make_study(tmp_path / "run", backend=backend, budget_usd=50.0)
    with pytest.raises(BudgetExceededError) as info:
        study.run(progress=False)
    assert info.value.planned_usd == pytest.approx(140.0) and backend.submits == []
    assert (
        not (tmp_path / "run" / "ledger.sqlite").exists()
        or Ledger(tmp_path / "run" / "ledger.sqlite").jobs() == {}
    )


def test_budget_stop_during_the_run(tmp_path):
    # the plan (14 jobs x $10 = $140) fits the budget, but each job really costs $35
    backend = CountingBackend(answer_book(), usd=10.0)
    study = make_study(tmp_path / "run", backend=backend, budget_usd=140.0)
    original = backend.submit

    def dearer(mixture, **kw):
        import attrs

        job = original(mixture, **kw)
        return attrs.evolve(job, cost=attrs.evolve(job.cost, usd=35.0))

    backend.submit = dearer
    res = study.run(progress=False)
    assert not res.completed and res.stopped["reason"] == "budget"
    assert len(backend.submits) == 4  # 4 x 35 = 140; the fifth would exceed the budget
    assert res.stopped["spent_usd"] == pytest.approx(140.0)


def test_results_from_a_folder_without_a_ledger(tmp_path):
    with pytest.raises(ConfigError, match="no ledger"):
        StudyResults.from_run_dir(tmp_path)


def test_ledger_refuses_newer_schema(tmp_path):
    from dataquality_thresholds import SchemaVersionError

    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as led:
        led.set_meta("schema_version", 99)
    with pytest.raises(SchemaVersionError):
        Ledger(path)


def test_ledger_values_are_json_safe(tmp_path):
    with Ledger(tmp_path / "l.sqlite") as led:
        led.put_result("c", "domain", {"mean": float("nan"), "ci": (0.1, float("inf"))})
        assert led.get_result("c", "domain") == {"mean": None, "ci": [0.1, None]}
        led.put_result("c", "domain", {"mean": 1.0})  # a second put is ignored
        assert led.get_result("c", "domain")["mean"] is None
    json.dumps(led.path.name)


def test_adaptive_design_adds_runs_where_the_interval_is_and_resumes(tmp_path):
    opts = dict(
        fractions=(0.1, 0.5, 1.0),
        corruptions=("subtle",),
        replicates=2,
        design="adaptive",
        eval_temperature=0.5,
        target_half_width=0.02,
        max_fine_tunes=15,
        max_rounds=4,
    )
    backend = CountingBackend(answer_book())
    res = make_study(tmp_path / "run", backend=backend, **opts).run(progress=False)
    assert res.completed
    assert 6 < len(backend.submits) <= 15  # rounds ran, within max_fine_tunes
    rows = [r for r in res.metric("domain_score") if r["corruption"] == "subtle"]
    added = sorted({r["fraction"] for r in rows} - {0.1, 0.5, 1.0})
    assert added and all(0.1 <= f <= 1.0 for f in added)
    assert any(
        r["fraction"] == 1.0 and r["replicate"] >= 2 for r in rows
    )  # the ceiling gets new runs too
    # resuming re-derives the same rounds from the ledger: nothing new is submitted
    again_backend = CountingBackend(answer_book())
    again = make_study(tmp_path / "run", backend=again_backend, **opts).run(progress=False)
    assert again_backend.submits == [] and again.rows == res.rows


def test_adaptive_stops_once_the_interval_is_narrow_enough(tmp_path):
    backend = CountingBackend(answer_book())
    make_study(
        tmp_path / "run",
        backend=backend,
        fractions=(0.1, 0.5, 1.0),
        corruptions=("subtle",),
        replicates=2,
        design="adaptive",
        target_half_width=0.45,
        max_fine_tunes=30,
    ).run(progress=False)
    assert len(backend.submits) == 6  # the initial grid already meets a loose target
