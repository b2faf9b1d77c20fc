"""The training worker of :class:`~dataquality_thresholds.backends.hf.HFBackend`.

Run as ``python -m dataquality_thresholds.backends.hf._worker JOB_DIR`` (or under
``accelerate launch``). It reads ``JOB_DIR/spec.json`` and ``JOB_DIR/train.jsonl``,
fine-tunes with TRL's ``SFTTrainer`` (loss on the completion, i.e. the last
assistant turn, only), checkpoints under ``JOB_DIR/checkpoints`` and resumes from
the last one, saves the adapter (or full model) in ``JOB_DIR/model``, and reports
progress in ``JOB_DIR/state.json``. While it runs it holds an exclusive lock on
``JOB_DIR/worker.lock``, which is how the backend tells a live worker from a dead
one (no pid-reuse trouble).

Its failures are written to ``state.json`` with a code: ``out_of_memory``,
``load_error``, ``training_error``; SIGTERM (from :meth:`HFBackend.cancel`) ends
it as ``cancelled``.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import sys
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dataquality_thresholds.backends.hf._common import (
    load_model,
    load_tokenizer,
    pick_device,
    read_json,
    write_json,
)


class _Cancelled(BaseException):
    pass


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


class _State:
    def __init__(self, job_dir: Path, rank0: bool) -> None:
        self.path = job_dir / "state.json"
        self.rank0 = rank0
        self.data: dict[str, Any] = read_json(self.path) or {}
        self.data.setdefault("events", [])

    def update(self, event: str | None = None, **fields: Any) -> None:
        if not self.rank0:
            return
        self.data.update(fields)
        if event:
            self.data["events"] = [*self.data["events"], f"{_now()} {event}"][-200:]
        self.data["heartbeat"] = _now()
        write_json(self.path, self.data)


def _is_oom(exc: BaseException) -> bool:
    import torch

    oom_types: tuple[type[BaseException], ...] = (MemoryError,)
    for name in ("OutOfMemoryError",):
        t = getattr(torch, name, None) or getattr(torch.cuda, name, None)
        if isinstance(t, type):
            oom_types = (*oom_types, t)
    return isinstance(exc, oom_types) or "out of memory" in str(exc).lower()


def _last_checkpoint(ckpt_dir: Path) -> str | None:
    if not ckpt_dir.is_dir():
        return None
    done = [
        p
        for p in ckpt_dir.glob("checkpoint-*")
        if p.name.split("-")[-1].isdigit() and (p / "trainer_state.json").is_file()
    ]
    if not done:
        return None
    return str(max(done, key=lambda p: int(p.name.split("-")[-1])))


def _fault_callback(spec: str) -> Any:
    """Return a test hook (``_DQT_HF_FAULT=oom_at_step=N``): out of memory at step N."""
    import torch
    from transformers import TrainerCallback

    step = int(spec.split("=", 1)[1]) if "=" in spec else 1

    class _Fault(TrainerCallback):  # type: ignore[misc]
        def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if state.global_step + 1 >= step:
                raise torch.OutOfMemoryError("simulated: CUDA out of memory (test hook)")

    return _Fault()


def train(job_dir: Path) -> int:
    """Run the job in ``job_dir``; return the process exit code."""
    rank0 = int(os.environ.get("RANK", "0")) == 0
    lock_fh = (job_dir / "worker.lock").open("a")
    if rank0:
        try:
            fcntl.flock(lock_fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 3  # another worker runs this job
    spec = json.loads((job_dir / "spec.json").read_text(encoding="utf-8"))
    state = _State(job_dir, rank0)
    attempt = int(state.data.get("attempt", 0)) + 1
    state.update(
        f"worker started (attempt {attempt})",
        status="running",
        attempt=attempt,
        started_at=state.data.get("started_at") or _now(),
        pid=os.getpid(),
    )

    def _on_term(signum: int, frame: Any) -> None:
        raise _Cancelled()

    signal.signal(signal.SIGTERM, _on_term)
    try:
        return _train(job_dir, spec, state)
    except _Cancelled:
        state.update("cancelled", status="cancelled", finished_at=_now())
        return 1
    except BaseException as exc:  # every failure becomes a typed state, never a hang
        if isinstance(exc, KeyboardInterrupt):
            state.update("interrupted", status="cancelled", finished_at=_now())
            return 1
        code = "out_of_memory" if _is_oom(exc) else state.data.get("phase_code", "training_error")
        msg = f"{type(exc).__name__}: {exc}"
        if code == "out_of_memory":
            msg += " (try a smaller batch_size or max_seq_len, LoRA instead of full fine-tuning)"
        (job_dir / "traceback.txt").write_text(traceback.format_exc(), encoding="utf-8")
        state.update(
            f"failed: {msg}",
            status="failed",
            error_code=code,
            error_message=msg,
            finished_at=_now(),
        )
        return 1


def _train(job_dir: Path, spec: dict[str, Any], state: _State) -> int:
    import torch
    from datasets import Dataset
    from transformers import TrainerCallback, set_seed
    from trl import SFTConfig, SFTTrainer

    seed = int(spec["seed"])
    set_seed(seed)
    device = pick_device(spec.get("device"))
    cache_dir = Path(spec["cache_dir"]) if spec.get("cache_dir") else None
    state.update("loading model", phase_code="load_error")
    tokenizer = load_tokenizer(spec["source"], cache_dir)
    use_bf16 = device == "cuda" and torch.cuda.is_bf16_supported()
    model = load_model(
        spec["source"], cache_dir=cache_dir, dtype=torch.bfloat16 if use_bf16 else None
    )
    rows = [json.loads(line) for line in (job_dir / "train.jsonl").open(encoding="utf-8")]
    dataset = Dataset.from_list(rows)
    peft_config = None
    if spec.get("lora"):
        from peft import LoraConfig

        lo = spec["lora"]
        peft_config = LoraConfig(
            r=lo["r"],
            lora_alpha=lo["alpha"],
            lora_dropout=lo["dropout"],
            target_modules=lo["target_modules"] or "all-linear",
            use_rslora=lo.get("rslora", False),
            task_type="CAUSAL_LM",
        )
    steps_per_epoch = -(-len(rows) // (int(spec["batch_size"]) * int(spec["grad_accum"])))
    config = SFTConfig(
        output_dir=str(job_dir / "checkpoints"),
        num_train_epochs=float(spec["epochs"]),
        per_device_train_batch_size=int(spec["batch_size"]),
        gradient_accumulation_steps=int(spec["grad_accum"]),
        learning_rate=float(spec["learning_rate"]),
        lr_scheduler_type="linear",
        warmup_steps=0,
        max_length=int(spec["max_seq_len"]),
        completion_only_loss=True,
        seed=seed,
        data_seed=seed,
        logging_steps=1,
        save_strategy="steps",
        save_steps=max(1, int(spec.get("save_steps") or steps_per_epoch)),
        save_total_limit=1,
        report_to="none",
        bf16=use_bf16,
        fp16=False,
        gradient_checkpointing=False,
        use_cpu=device == "cpu",
        disable_tqdm=True,
        dataset_num_proc=None,
    )

    class _Progress(TrainerCallback):  # type: ignore[misc]
        def on_log(self, args: Any, st: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            logs = logs or {}
            metrics = {k: float(v) for k, v in logs.items() if isinstance(v, (int, float))}
            state.update(
                None,
                step=st.global_step,
                max_steps=st.max_steps,
                epoch=st.epoch,
                metrics={**state.data.get("metrics", {}), **metrics},
            )

        def on_save(self, args: Any, st: Any, control: Any, **kw: Any) -> None:
            state.update(f"checkpoint at step {st.global_step}/{st.max_steps}")

    callbacks: list[Any] = [_Progress()]
    fault = os.environ.get("_DQT_HF_FAULT")
    if fault:
        callbacks.append(_fault_callback(fault))
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=callbacks,
    )
    resume = _last_checkpoint(job_dir / "checkpoints")
    state.update(
        f"training on {device}: {len(rows)} rows, "
        f"resume from {Path(resume).name if resume else 'start'}",
        phase_code="training_error",
        device=device,
    )
    result = trainer.train(resume_from_checkpoint=resume)
    out = job_dir / "model"
    tmp = job_dir / "model.tmp"
    trainer.save_model(str(tmp))
    if trainer.accelerator.is_main_process:
        tokenizer.save_pretrained(str(tmp))
        if out.exists():
            import shutil

            shutil.rmtree(out)
        tmp.rename(out)
    state.update(
        "succeeded",
        status="succeeded",
        finished_at=_now(),
        step=trainer.state.global_step,
        max_steps=trainer.state.max_steps,
        metrics={**state.data.get("metrics", {}), "train_loss": float(result.training_loss)},
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``python -m dataquality_thresholds.backends.hf._worker JOB_DIR``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(
            "usage: python -m dataquality_thresholds.backends.hf._worker JOB_DIR", file=sys.stderr
        )
        return 2
    return train(Path(args[0]))


if __name__ == "__main__":
    sys.exit(main())
