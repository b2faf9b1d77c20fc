"""Measuring a study's models: the domain score and the misalignment probe.

A model is measured once per run: :func:`index_measurements` loads what the
ledger already holds into the run state, :func:`record` writes one measurement for
a cell (and remembers it for other cells of the same model), and :func:`measure`
scores a model's domain and runs the probe, reusing what is known. Before each
paid sampling batch (a model's domain evaluation, its probe) the run's budget guard
is asked (:meth:`RunState.reserve`). A cell is complete (:func:`cell_complete`) only
when every measurement the design asks for is written (or its job failed).
"""

from __future__ import annotations

from typing import Any

import attrs

from dataquality_thresholds.evaluation import DomainScorer
from dataquality_thresholds.study._design import StudyCell, StudySpec, derived_seed
from dataquality_thresholds.study._state import RunState

__all__ = ["cell_complete", "index_measurements", "measure", "record", "required_kinds"]


def required_kinds(spec: StudySpec) -> frozenset[str]:
    """Return the measurements a cell of this design needs: ``domain``, and ``probe`` if any."""
    return frozenset({"domain", "probe"} if spec.probe is not None else {"domain"})


def cell_complete(recorded: set[str] | frozenset[str], required: frozenset[str]) -> bool:
    """Whether a cell with ``recorded`` kinds of measurement is complete.

    Parameters
    ----------
    recorded : set of str
        The kinds the ledger holds for the cell (``Ledger.kinds()[cell]``).
    required : frozenset of str
        :func:`required_kinds` of the design.

    Returns
    -------
    bool
        True when every required kind is written, or the cell's job did not
        produce a model (a ``job`` row).
    """
    return "job" in recorded or required <= recorded


def index_measurements(state: RunState) -> None:
    """Index recorded measurements by (kind, scope, model) so no model is measured twice.

    Parameters
    ----------
    state : RunState
        The run; its ``measured`` index is replaced by what its ledger holds.
    """
    state.measured = {}
    for _cell, kind, payload in state.ledger.results():
        if kind in ("domain", "probe") and payload.get("model"):
            scope = payload["domain"] if kind == "domain" else "*"
            state.measured.setdefault((kind, scope, payload["model"]), payload)


def record(
    spec: StudySpec,
    state: RunState,
    cell: StudyCell,
    kind: str,
    model: str,
    payload: dict[str, Any],
) -> None:
    """Write one measurement of ``model`` for ``cell`` and index it.

    Parameters
    ----------
    spec : StudySpec
        The design.
    state : RunState
        The run (its ledger and index).
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
        share = state.mixtures.mixture(cell).counts["correct"] / spec.size  # exactly k / size
    full = {**payload, **attrs.asdict(cell), "share_correct": share, "model": model}
    state.ledger.put_result(cell.key, kind, full)
    scope = cell.domain if kind == "domain" else "*"
    state.measured.setdefault((kind, scope, model), full)


def measure(spec: StudySpec, state: RunState, cell: StudyCell, model: str) -> None:
    """Score the domain and run the probe for one model, recording each when complete.

    Parameters
    ----------
    spec : StudySpec
        The design.
    state : RunState
        The run (its ledger, sampler and index).
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
    sampler = state.sampler()
    ledger = state.ledger
    domain = spec.domains[cell.domain]
    tuned = cell.fraction is not None
    if ledger.get_result(cell.key, "domain") is None:
        known = state.measured.get(("domain", cell.domain, model))
        if known is not None:
            record(spec, state, cell, "domain", model, known)
        else:
            state.reserve(
                state.costs.domain(cell.domain, tuned=tuned).usd,
                f"domain sampling of {model} ({cell.key})",
            )
            score = DomainScorer(
                domain.eval_items,
                domain.judge,
                seed=derived_seed(spec.seed, "boot", cell.domain, model),
            ).score(
                sampler,
                model,
                samples=spec.eval_samples,
                temperature=spec.eval_temperature,
                seed=derived_seed(spec.seed, "eval", cell.domain, model),
            )
            per_skill = {
                k: {"mean": v.mean, "ci": list(v.ci), "n_items": v.n_items}
                for k, v in score.per_skill.items()
            }
            record(
                spec,
                state,
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
    if spec.probe is None or ledger.get_result(cell.key, "probe") is not None:
        return
    known = state.measured.get(("probe", "*", model))
    if known is not None:
        record(spec, state, cell, "probe", model, known)
        return
    state.reserve(state.costs.probe(tuned=tuned).usd, f"probe sampling of {model} ({cell.key})")
    res = spec.probe.run(
        sampler,
        model,
        samples_per_question=spec.probe_samples,
        max_tokens=spec.probe_cap,
        seed=derived_seed(spec.seed, "probe", model),
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
    record(
        spec,
        state,
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
