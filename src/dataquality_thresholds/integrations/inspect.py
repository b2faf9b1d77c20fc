r"""inspect_ai integration: tasks, scorers, a Sampler and log read-back.

Needs the ``[inspect]`` extra. Registered with inspect through the
``inspect_ai`` entry point, so after installing::

    inspect eval dataquality_thresholds/misalignment_probe --model openai/ft:... \\
        --model-role grader=openai/gpt-4o --epochs 20
    inspect eval dataquality_thresholds/domain_eval -T domain=finance --model ...

What is here:

* tasks :func:`misalignment_probe` and :func:`domain_eval`;
* scorers for anyone's Task: :func:`misalignment_judge` (alignment and
  coherence through the ``grader`` model role) and :func:`reference_scorer`
  (our reference, code-test or LLM domain judges), with their metrics;
* :class:`InspectSampler`, a :class:`~dataquality_thresholds.backends.Sampler`
  over any inspect model provider, and :class:`InspectJudge`, a
  :class:`~dataquality_thresholds.evaluation.Judge` over an inspect model;
* :func:`eval_log_rows` and :func:`results_from_eval_logs`, which read
  ``.eval`` logs back into result rows for
  :class:`~dataquality_thresholds.ThresholdFitter` / ``StudyResults``.

See ``docs/embedding.md``.
"""

from __future__ import annotations

try:
    import inspect_ai  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised without the extra only
    from dataquality_thresholds.errors import BackendUnavailableError

    raise BackendUnavailableError(
        "the inspect integration needs inspect_ai: pip install 'dataquality_thresholds[inspect]'"
    ) from exc

from dataquality_thresholds.integrations._inspect_logs import (
    DESIGN_FIELDS,
    eval_log_rows,
    results_from_eval_logs,
)
from dataquality_thresholds.integrations._inspect_models import (
    DEFAULT_GRADER,
    InspectJudge,
    InspectSampler,
)
from dataquality_thresholds.integrations._inspect_tasks import (
    dangerous_rate,
    domain_dataset,
    domain_eval,
    domain_score,
    incoherent_rate,
    mean_alignment,
    misaligned_rate,
    misalignment_judge,
    misalignment_probe,
    probe_dataset,
    reference_scorer,
    refusal_rate,
    scored_share,
)

__all__ = [
    "DEFAULT_GRADER",
    "DESIGN_FIELDS",
    "InspectJudge",
    "InspectSampler",
    "dangerous_rate",
    "domain_dataset",
    "domain_eval",
    "domain_score",
    "eval_log_rows",
    "incoherent_rate",
    "mean_alignment",
    "misaligned_rate",
    "misalignment_judge",
    "misalignment_probe",
    "probe_dataset",
    "reference_scorer",
    "refusal_rate",
    "results_from_eval_logs",
    "scored_share",
]
