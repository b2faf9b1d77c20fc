"""The training worker of :class:`~dataquality_thresholds.backends.tinker.TinkerBackend`.

Run as ``python -m dataquality_thresholds.backends.tinker._worker JOB_DIR`` with the
API key in ``TINKER_API_KEY`` (the backend starts it so). It reads
``JOB_DIR/spec.json`` and ``JOB_DIR/train.jsonl`` and runs the supervised LoRA loop
against Tinker; the weights live on the service, this process only sends tokens.

1. **Look before training.** The key's runs and checkpoints are listed through the
   service (:func:`~._service.survey`). Final sampler weights mean the job is done:
   they are adopted. A training checkpoint means a run got that far: a new
   training client is created from it with its optimizer state
   (``create_training_client_from_state_with_optimizer``) and the loop goes on
   from its step. Only when neither exists is a LoRA run created from the base
   model (``create_lora_training_client``), and its state saved at once (step 0), so
   any later crash resumes from a checkpoint instead of starting afresh.
2. **The loop.** Each step sends one batch (``forward_backward(..., "cross_entropy")``,
   loss on the answer's tokens through per-token weights) and an Adam step
   (``optim_step``, linearly decaying or constant learning rate). The batches
   follow :func:`~._render.batch_schedule` (seeded), so a resumed run trains
   exactly the batches an uninterrupted one would have. Every ``save_every``
   steps the state is saved (``save_state``) under the job's checkpoint name.
3. **The end.** ``save_weights_for_sampler`` under the job's sampler name; its
   ``tinker://`` path is the fine-tuned model.

Progress goes to ``JOB_DIR/state.json`` (step, loss, tokens trained, runs);
failures too, with a code: ``config_mismatch``, ``load_error``, ``service_error``,
``training_error``. SIGTERM ends it as ``cancelled``. While it runs it holds an
exclusive lock on ``JOB_DIR/worker.lock``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

from dataquality_thresholds.backends.tinker._files import (
    checkpoint_name,
    now,
    read_json,
    sampler_name,
    write_json,
)
from dataquality_thresholds.backends.tinker._render import (
    batch_schedule,
    load_tokenizer,
    render_example,
)
from dataquality_thresholds.backends.tinker._service import (
    ApiKey,
    rest_client,
    run_metadata,
    sdk,
    service_client,
    survey,
)
from dataquality_thresholds.errors import BackendError


class _Cancelled(BaseException):
    pass


class _Failed(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class _State:
    """``state.json``: read once, updated and rewritten atomically."""

    def __init__(self, job_dir: Path) -> None:
        self.path = job_dir / "state.json"
        self.data: dict[str, Any] = read_json(self.path) or {}
        self.data.setdefault("events", [])

    def update(self, event: str | None = None, **fields: Any) -> None:
        self.data.update(fields)
        if event:
            self.data["events"] = [*self.data["events"], f"{now().isoformat()} {event}"][-200:]
        self.data["heartbeat"] = now().isoformat()
        write_json(self.path, self.data)


def _fault(point: str, attempt: int) -> None:
    """Test hook: ``_DQT_TINKER_FAULT=<point>`` kills this worker there, on its first attempt."""
    if attempt == 1 and os.environ.get("_DQT_TINKER_FAULT") == point:
        os.kill(os.getpid(), signal.SIGKILL)


def train(job_dir: Path) -> int:
    """Run the job in ``job_dir``; return the process exit code."""
    lock_fh = (job_dir / "worker.lock").open("a")
    try:
        fcntl.flock(lock_fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return 3  # another worker runs this job
    spec = json.loads((job_dir / "spec.json").read_text(encoding="utf-8"))
    state = _State(job_dir)
    attempt = int(state.data.get("attempt", 0)) + 1
    state.update(
        f"worker started (attempt {attempt})",
        status="running",
        attempt=attempt,
        started_at=state.data.get("started_at") or now().isoformat(),
        pid=os.getpid(),
    )

    def _on_term(signum: int, frame: Any) -> None:
        raise _Cancelled()

    signal.signal(signal.SIGTERM, _on_term)
    try:
        _run(job_dir, spec, state, attempt)
        return 0
    except _Cancelled:
        state.update("cancelled", status="cancelled", finished_at=now().isoformat())
        return 1
    except BaseException as exc:  # every failure becomes a typed state, never a hang
        if isinstance(exc, KeyboardInterrupt):
            state.update("interrupted", status="cancelled", finished_at=now().isoformat())
            return 1
        if isinstance(exc, _Failed):
            code = exc.code
        elif isinstance(exc, BackendError) or type(exc).__module__.startswith("tinker"):
            code = "service_error"
        else:
            code = "training_error"
        msg = f"{type(exc).__name__}: {exc}"
        (job_dir / "traceback.txt").write_text(traceback.format_exc(), encoding="utf-8")
        state.update(
            f"failed: {msg}",
            status="failed",
            error_code=code,
            error_message=msg,
            finished_at=now().isoformat(),
        )
        return 1


def _datums(spec: dict[str, Any], job_dir: Path, state: _State) -> list[tuple[list[int], Any]]:
    """Render every row: ``(tokens, weights)`` truncated to ``max_seq_len``."""
    try:
        tok = load_tokenizer(spec["tokenizer"])
    except BackendError as exc:
        raise _Failed("load_error", str(exc)) from exc
    limit = int(spec["max_seq_len"])
    out = []
    for line in (job_dir / "train.jsonl").open(encoding="utf-8"):
        tokens, weights = render_example(
            tok, json.loads(line)["messages"], spec.get("template_kwargs")
        )
        out.append((tokens[:limit], weights[:limit]))
    return out


def _lr(spec: dict[str, Any], step: int, total: int) -> float:
    lr = float(spec["learning_rate"])
    if spec.get("lr_schedule", "linear") == "linear":
        return lr * (1.0 - step / total)
    return lr


def _run(job_dir: Path, spec: dict[str, Any], state: _State, attempt: int) -> None:
    tinker = sdk()
    types = tinker.types
    key, job_id = spec["key"], spec["job_id"]
    rows = _datums(spec, job_dir, state)
    schedule = batch_schedule(
        len(rows),
        batch_size=int(spec["batch_size"]),
        epochs=int(spec["epochs"]),
        seed=int(spec["seed"]),
    )
    total = len(schedule)
    per_epoch = max(1, total // int(spec["epochs"]))
    save_every = int(spec.get("save_every") or per_epoch)
    api_key = ApiKey(os.environ.get("TINKER_API_KEY"))
    rest = rest_client(spec.get("base_url"), api_key)
    found = survey(rest, key, job_id)
    if found.specs - {spec["spec_hash"]} or found.fingerprints - {spec["fingerprint"]}:
        raise _Failed(
            "config_mismatch",
            f"the key's runs on Tinker ({', '.join(found.runs)}) were trained with another "
            "spec or other data; use a new key",
        )
    state.update(None, max_steps=total, runs=list(found.runs))
    if found.final_path is not None:
        state.update(
            f"adopted finished weights {found.final_path}",
            status="succeeded",
            model_path=found.final_path,
            step=total,
            finished_at=now().isoformat(),
        )
        return
    meta = run_metadata(
        key=key, job_id=job_id, fingerprint=spec["fingerprint"], spec=spec["spec_hash"]
    )
    service = service_client(spec.get("base_url"), api_key)
    if found.last_path is not None:
        start = int(found.last_step or 0)
        state.update(f"resuming from {found.last_path} (step {start})", phase="resume")
        tc = service.create_training_client_from_state_with_optimizer(
            found.last_path, user_metadata={**meta, "dqt_resumed_from": found.last_path}
        ).result()
    else:
        if found.runs:
            state.update(f"runs {', '.join(found.runs)} have no checkpoint; starting afresh")
        start = 0
        tc = service.create_lora_training_client(
            base_model=spec["base_model"],
            rank=int(spec["lora_rank"]),
            seed=int(spec["seed"]),
            user_metadata=meta,
        ).result()
        state.update(f"created training run {tc.model_id}")
        _fault("after_create", attempt)
        tc.save_state(
            checkpoint_name(job_id, 0), user_metadata={"dqt_key": key, "dqt_step": "0"}
        ).result()
    runs = [*state.data.get("runs", []), tc.model_id]
    state.update(None, runs=sorted(set(runs)), run_id=tc.model_id, step=start)
    trained = int(state.data.get("trained_tokens", 0))
    for step in range(start, total):
        batch = [rows[i] for i in schedule[step]]
        data = [
            types.Datum(
                model_input=types.ModelInput.from_ints(tokens[:-1]),
                loss_fn_inputs={"target_tokens": tokens[1:], "weights": weights[1:]},
            )
            for tokens, weights in batch
        ]
        fb = tc.forward_backward(data, "cross_entropy")
        op = tc.optim_step(types.AdamParams(learning_rate=_lr(spec, step, total)))
        out = fb.result()
        op.result()
        nll = weight = 0.0
        for (_, weights), lo in zip(batch, out.loss_fn_outputs, strict=True):
            lp = lo["logprobs"].tolist()
            w = weights[1:]
            nll -= sum(a * b for a, b in zip(lp, w, strict=False))
            weight += sum(w)
        trained += sum(len(tokens) - 1 for tokens, _ in batch)
        done = step + 1
        state.update(
            None,
            step=done,
            epoch=done / per_epoch,
            trained_tokens=trained,
            metrics={"train_loss": nll / weight if weight else 0.0},
        )
        _fault(f"after_step:{done}", attempt)
        if done % save_every == 0 and done < total:
            tc.save_state(
                checkpoint_name(job_id, done),
                user_metadata={"dqt_key": key, "dqt_step": str(done)},
            ).result()
            state.update(f"checkpoint at step {done}/{total}")
            _fault(f"after_checkpoint:{done}", attempt)
    path = (
        tc.save_weights_for_sampler(
            sampler_name(job_id), user_metadata={"dqt_key": key, "dqt_job": job_id}
        )
        .result()
        .path
    )
    _fault("after_sampler_save", attempt)
    state.update(
        f"saved sampler weights {path}",
        status="succeeded",
        model_path=path,
        finished_at=now().isoformat(),
    )
    with contextlib.suppress(Exception):  # closing is best effort
        service.close("success").result()


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``python -m dataquality_thresholds.backends.tinker._worker JOB_DIR``."""
    args = sys.argv[1:] if argv is None else argv
    # The SDK uses torch only when it is installed (tensors from/to torch); the
    # worker sends plain lists, so it keeps torch's ~1.5 s import out.
    sys.modules.setdefault("torch", None)  # type: ignore[arg-type]
    if len(args) != 1:
        print(
            "usage: python -m dataquality_thresholds.backends.tinker._worker JOB_DIR",
            file=sys.stderr,
        )
        return 2
    return train(Path(args[0]))


if __name__ == "__main__":
    sys.exit(main())
