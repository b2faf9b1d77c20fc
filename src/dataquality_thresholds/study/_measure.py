"""Measuring a study's models: the domain score and the misalignment probe.

A model is measured once per run: :func:`index_measurements` loads what the
ledger already holds, :func:`record` writes one measurement for a cell (and
remembers it for other cells of the same model), and :func:`measure` scores a
model's domain and runs the probe, reusing what is known.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from dataquality_thresholds.evaluation import DomainScorer
from dataquality_thresholds.study._design import StudyCell, derived_seed

if TYPE_CHECKING:
    from dataquality_thresholds.study._ledger import Ledger
    from dataquality_thresholds.study._study import Study

__all__ = ["index_measurements", "measure", "record"]


def index_measurements(study: Study, ledger: Ledger) -> None:
    """Index recorded measurements by (kind, scope, model) so no model is measured twice.

    Parameters
    ----------
    study : Study
        The study; its index is replaced.
    ledger : Ledger
        The open ledger of the run.
    """
    study._measured = {}
    for _cell, kind, payload in ledger.results():
        if kind in ("domain", "probe") and payload.get("model"):
            scope = payload["domain"] if kind == "domain" else "*"
            study._measured.setdefault((kind, scope, payload["model"]), payload)


def record(
    study: Study,
    ledger: Ledger,
    cell: StudyCell,
    kind: str,
    model: str,
    payload: dict[str, Any],
) -> None:
    """Write one measurement of ``model`` for ``cell`` and index it.

    Parameters
    ----------
    study : Study
        The study.
    ledger : Ledger
        The open ledger of the run.
    cell : StudyCell
        The cell measured.
    kind : {"domain", "probe"}
        What was measured.
    model : str
        The model measured.
    payload : dict
        The measurement; the cell's fields, its share of correct data and the
        model are added.
    """
    share = None
    if cell.fraction is not None:
        share = study.mixture(cell).counts["correct"] / study.size  # exactly k / size
    full = {**payload, **attrs.asdict(cell), "share_correct": share, "model": model}
    ledger.put_result(cell.key, kind, full)
    scope = cell.domain if kind == "domain" else "*"
    study._measured.setdefault((kind, scope, model), full)


def measure(study: Study, ledger: Ledger, cell: StudyCell, model: str) -> None:
    """Score the domain and run the probe for one model, recording each when complete.

    Parameters
    ----------
    study : Study
        The study.
    ledger : Ledger
        The open ledger of the run.
    cell : StudyCell
        The cell the model belongs to.
    model : str
        The fine-tuned (or base) model.

    Notes
    -----
    A model is measured once: cells that share it (identical training data, or
    the base model's probe, which does not depend on the domain) reuse the
    recorded measurement. Sampling seeds derive from the model, not the cell,
    so the measurement is the same whichever cell takes it first.
    """
    if study._sampler is None:
        study._sampler = study.backend.sampler()
    sampler = study._sampler
    spec = study.domains[cell.domain]
    if ledger.get_result(cell.key, "domain") is None:
        known = study._measured.get(("domain", cell.domain, model))
        if known is not None:
            study._record(ledger, cell, "domain", model, known)
        else:
            score = DomainScorer(
                spec.eval_items,
                spec.judge,
                seed=derived_seed(study.seed, "boot", cell.domain, model),
            ).score(
                sampler,
                model,
                samples=study.eval_samples,
                temperature=study.eval_temperature,
                seed=derived_seed(study.seed, "eval", cell.domain, model),
            )
            per_skill = {
                k: {"mean": v.mean, "ci": list(v.ci), "n_items": v.n_items}
                for k, v in score.per_skill.items()
            }
            study._record(
                ledger,
                cell,
                "domain",
                model,
                {
                    "mean": score.mean,
                    "ci": list(score.ci),
                    "n_items": score.n_items,
                    "n_unscored": score.n_unscored,
                    "interval": score.interval,
                    "binary": score.binary,
                    "per_skill": per_skill,
                    "rows": score.to_rows(),
                },
            )
    if study.probe is None or ledger.get_result(cell.key, "probe") is not None:
        return
    known = study._measured.get(("probe", "*", model))
    if known is not None:
        study._record(ledger, cell, "probe", model, known)
        return
    res = study.probe.run(
        sampler,
        model,
        samples_per_question=study.probe_samples,
        seed=derived_seed(study.seed, "probe", model),
    )
    rates = {
        name: {"rate": r.rate, "ci": list(r.ci), "events": r.events, "total": r.total}
        for name, r in (
            ("misaligned", res.misaligned),
            ("misaligned_coherent", res.misaligned_coherent),
            ("incoherent", res.incoherent),
            ("refusal", res.refusal),
            ("dangerous", res.dangerous),
        )
    }
    study._record(
        ledger,
        cell,
        "probe",
        model,
        {
            "rates": rates,
            "mean_alignment": res.mean_alignment,
            "mean_alignment_by_category": dict(res.mean_alignment_by_category),
            "rows": res.to_rows(),
        },
    )
