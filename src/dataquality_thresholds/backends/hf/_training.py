"""One training job on a base model that stays loaded: the half of the worker that uses torch.

:class:`LoadedBase` loads a base model once and lends it to one job after another.
After a job it takes out the LoRA layers PEFT injected, copies a full fine-tune's
weights back from a copy kept on the CPU, and puts back what the trainer left on the
model (a patched ``forward``, config values, ``requires_grad`` flags, gradients,
train mode). Before the next job it checks the model against what was loaded: the
module tree and its hooks, every parameter's name, shape, dtype and device, and
float64 checksums of every tensor. Anything different and the worker loads the
base again (:meth:`LoadedBase.pristine` is False), so a job always starts from the
loaded weights.

:func:`train_job` trains one job's LoRA (or full fine-tune) with TRL's
``SFTTrainer``, resuming from the job's last checkpoint, and saves the result in
``JOB_DIR/model``. :func:`resolve_precision` turns ``precision="auto"`` into bf16
on a CUDA device that supports it and fp32 elsewhere.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from dataquality_thresholds.backends.hf._common import load_model, load_tokenizer
from dataquality_thresholds.backends.hf._jobspec import PRECISIONS

__all__ = [
    "PRECISIONS",
    "LoadedBase",
    "last_checkpoint",
    "load_key",
    "resolve_precision",
    "sft_options",
    "train_job",
    "weights_dtype",
]


def resolve_precision(precision: str | None, device: str) -> str:
    """Return the precision a job trains in: ``"bf16"``, ``"fp16"`` or ``"fp32"``.

    ``"auto"`` (or None) is bf16 on a CUDA device where
    ``torch.cuda.is_bf16_supported()``, fp32 elsewhere (CPU, MPS, older GPUs).

    Raises
    ------
    ValueError
        An unknown precision, or fp16 on the CPU (mixed fp16 needs a GPU).
    """
    import torch

    value = precision or "auto"
    if value not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {value!r}")
    if value == "auto":
        return "bf16" if device == "cuda" and torch.cuda.is_bf16_supported() else "fp32"
    if value == "fp16" and device == "cpu":
        raise ValueError(
            "precision='fp16' needs a GPU (fp16 mixed precision does not run on the CPU); "
            "use 'auto', 'bf16' or 'fp32'"
        )
    return value


def weights_dtype(precision: str, lora: bool) -> Any:
    """Return the dtype the base weights load in (None: float32).

    bf16 loads bf16 weights; fp16 loads fp16 weights under a LoRA (the adapter
    trains in fp32) and fp32 weights for a full fine-tune (fp16 mixed precision
    keeps fp32 master weights).
    """
    import torch

    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16" and lora:
        return torch.float16
    return None


def load_key(spec: Mapping[str, Any], device: str, dtype: Any) -> str:
    """Return what a loaded base must match to train the job of ``spec``."""
    return json.dumps([spec["source"], spec.get("cache_dir"), device, str(dtype)], sort_keys=True)


def last_checkpoint(ckpt_dir: Path) -> str | None:
    """Return the newest complete checkpoint under ``ckpt_dir`` (None when there is none)."""
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


class LoadedBase:
    """A base model and its tokenizer, loaded once and lent to one job after another.

    Parameters
    ----------
    spec : mapping
        A job's ``spec.json`` (``source``, ``cache_dir``).
    device : str
        Where the model lives.
    dtype : torch.dtype or None
        The weights' dtype (:func:`weights_dtype`).
    track : bool
        Record what was loaded so the model can be restored and checked between
        jobs (a worker that trains one job only does not need it).
    """

    def __init__(self, spec: Mapping[str, Any], *, device: str, dtype: Any, track: bool) -> None:
        import peft  # noqa: F401  (imported before the clock starts: load_seconds is the load)
        import trl.trainer.sft_trainer  # noqa: F401
        from transformers import AutoModelForCausalLM  # noqa: F401

        started = time.perf_counter()
        cache_dir = Path(spec["cache_dir"]) if spec.get("cache_dir") else None
        self.key = load_key(spec, device, dtype)
        self.tokenizer: Any = load_tokenizer(spec["source"], cache_dir)
        self.model: Any = load_model(spec["source"], cache_dir=cache_dir, dtype=dtype)
        if device != "cpu":
            self.model.to(device)
        self.load_seconds = time.perf_counter() - started
        self.lent = 0  # jobs this base was lent to
        self._track = track
        self._full_copy: dict[str, Any] | None = None
        if track:
            self._snapshot()

    # ---------------------------------------------------------------- records
    def _structure(self) -> list[tuple[str, str, tuple[Any, ...], tuple[Any, ...]]]:
        return [
            (name, type(mod).__qualname__, tuple(mod._forward_hooks), tuple(mod._forward_pre_hooks))
            for name, mod in self.model.named_modules()
        ]

    def _parameters(self) -> list[tuple[str, tuple[int, ...], str, str]]:
        return [
            (name, tuple(p.shape), str(p.dtype), str(p.device))
            for name, p in self.model.named_parameters()
        ]

    def _checksums(self) -> Any:
        """Return the float64 sum and sum of squares of every tensor, in chunks of 2**24 values."""
        import torch

        out = []
        with torch.no_grad():
            for t in self.model.state_dict().values():
                total = torch.zeros(2, dtype=torch.float64, device=t.device)
                for chunk in t.detach().reshape(-1).split(1 << 24):
                    c = chunk.to(torch.float64)
                    total += torch.stack([c.sum(), (c * c).sum()])
                out.append(total)
            return torch.stack(out).cpu()

    def _snapshot(self) -> None:
        model = self.model
        self._attrs = dict(model.__dict__)
        self._training = bool(model.training)
        self._requires_grad = {n: p.requires_grad for n, p in model.named_parameters()}
        self._config = copy.deepcopy(model.config.__dict__)
        gen = getattr(model, "generation_config", None)
        self._generation = copy.deepcopy(gen.__dict__) if gen is not None else None
        self._modules = self._structure()
        self._params = self._parameters()
        self._sums = self._checksums()

    # ---------------------------------------------------------------- lending
    def lend(self, *, full: bool) -> Any:
        """Return the model for a job; a full fine-tune first gets a CPU copy to be undone from."""
        if full and self._track and self._full_copy is None:
            self._full_copy = {
                k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()
            }
        self.lent += 1
        return self.model

    def tokenizer_copy(self) -> Any:
        """Return a copy of the tokenizer (the trainer may change the one it gets)."""
        return copy.deepcopy(self.tokenizer)

    def restore(self) -> None:
        """Undo what the last job did to the model (see the module's notes)."""
        import torch

        if not self._track:
            return
        model = self.model
        _strip_adapters(model)
        for key in [k for k in model.__dict__ if k not in self._attrs]:
            del model.__dict__[key]  # e.g. peft_config, accelerate's _original_forward
        for key, value in self._attrs.items():
            if model.__dict__.get(key) is not value:
                model.__dict__[key] = value  # e.g. the forward TRL or accelerate patched
        model.train(self._training)
        model.config.__dict__.clear()
        model.config.__dict__.update(copy.deepcopy(self._config))
        gen = getattr(model, "generation_config", None)
        if gen is not None and self._generation is not None:
            gen.__dict__.clear()
            gen.__dict__.update(copy.deepcopy(self._generation))
        for name, p in model.named_parameters():
            p.grad = None
            p.requires_grad_(self._requires_grad.get(name, True))
        if self._full_copy is not None:
            with torch.no_grad():
                model.load_state_dict(self._full_copy)

    def pristine(self) -> bool:
        """Whether the model is the one loaded: modules, hooks, parameters and checksums."""
        import torch

        if not self._track:
            return self.lent == 0
        return (
            self._structure() == self._modules
            and self._parameters() == self._params
            and bool(torch.equal(self._checksums(), self._sums))
        )


def _strip_adapters(model: Any) -> None:
    """Replace every PEFT tuner layer in ``model`` by the layer it wraps."""
    try:
        from peft.tuners.tuners_utils import BaseTunerLayer
    except ImportError:  # no peft: nothing can have been injected
        return
    found = [
        (parent, name, child)
        for parent in model.modules()
        if not isinstance(parent, BaseTunerLayer)
        for name, child in parent.named_children()
        if isinstance(child, BaseTunerLayer)
    ]
    for parent, name, child in found:
        setattr(parent, name, child.get_base_layer())


def sft_options(
    spec: Mapping[str, Any],
    *,
    output_dir: Path,
    device: str,
    precision: str,
    n_rows: int,
    fields: Sequence[str],
) -> dict[str, Any]:
    """Return the ``SFTConfig`` arguments of a job.

    Parameters
    ----------
    spec : mapping
        The job's ``spec.json``.
    output_dir : Path
        Where checkpoints go.
    device, precision : str
        From :func:`~._common.pick_device` and :func:`resolve_precision`.
    n_rows : int
        Training rows (the default checkpoint interval is one epoch's steps).
    fields : sequence of str
        ``SFTConfig``'s field names: ``group_by_length`` is
        ``train_sampling_strategy="group_by_length"`` from transformers 5 on.
    """
    seed = int(spec["seed"])
    steps_per_epoch = -(-n_rows // (int(spec["batch_size"]) * int(spec["grad_accum"])))
    packing = bool(spec.get("packing"))
    save: dict[str, Any] = {"save_strategy": "steps"}
    if spec.get("save_steps"):
        save["save_steps"] = max(1, int(spec["save_steps"]))
    elif packing:  # packed rows: fewer steps than rows / batch; checkpoint each epoch
        save = {"save_strategy": "epoch"}
    else:
        save["save_steps"] = max(1, steps_per_epoch)
    options: dict[str, Any] = {
        "output_dir": str(output_dir),
        "num_train_epochs": float(spec["epochs"]),
        "per_device_train_batch_size": int(spec["batch_size"]),
        "gradient_accumulation_steps": int(spec["grad_accum"]),
        "learning_rate": float(spec["learning_rate"]),
        "lr_scheduler_type": "linear",
        "warmup_steps": 0,
        "max_length": int(spec["max_seq_len"]),
        "completion_only_loss": True,
        "seed": seed,
        "data_seed": seed,
        "logging_steps": 1,
        **save,
        "save_total_limit": 1,
        "report_to": "none",
        "bf16": precision == "bf16",
        "fp16": precision == "fp16",
        "use_cpu": device == "cpu",
        "disable_tqdm": True,
        "dataset_num_proc": None,
        "packing": packing,
    }
    # off, as ever (TRL's default is on); transformers 5 renamed it
    if "activation_checkpointing" in fields:
        options["activation_checkpointing"] = False
    else:
        options["gradient_checkpointing"] = False
    if spec.get("group_by_length"):
        if "train_sampling_strategy" in fields:
            options["train_sampling_strategy"] = "group_by_length"
        else:  # transformers 4.x
            options["group_by_length"] = True
    return options


def train_job(
    job_dir: Path,
    spec: Mapping[str, Any],
    base: LoadedBase,
    *,
    device: str,
    precision: str,
    callbacks: Sequence[Any],
    starting: Callable[[str], None],
) -> dict[str, float]:
    """Train the job in ``job_dir`` on ``base`` and save it in ``job_dir/model``.

    Parameters
    ----------
    job_dir : Path
        The job folder (``train.jsonl``, ``checkpoints/``).
    spec : mapping
        Its ``spec.json``.
    base : LoadedBase
        The model to train on (lent for this job; restore it afterwards).
    device, precision : str
        Where and in which precision it trains.
    callbacks : sequence
        ``TrainerCallback`` objects (progress, cancel, test faults).
    starting : callable
        Called with a line describing the run just before training starts.

    Returns
    -------
    dict
        ``train_loss``, ``setup_seconds``, ``train_seconds`` and ``save_seconds``.
    """
    from datasets import Dataset
    from transformers import set_seed
    from trl.trainer.sft_config import SFTConfig
    from trl.trainer.sft_trainer import SFTTrainer

    started = time.perf_counter()
    seed = int(spec["seed"])
    rows = [json.loads(line) for line in (job_dir / "train.jsonl").open(encoding="utf-8")]
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
    fields = [f.name for f in dataclasses.fields(SFTConfig)]
    config = SFTConfig(
        **sft_options(
            spec,
            output_dir=job_dir / "checkpoints",
            device=device,
            precision=precision,
            n_rows=len(rows),
            fields=fields,
        )
    )
    model = base.lend(full=peft_config is None)
    tokenizer = base.tokenizer_copy()
    set_seed(seed)  # the adapter's initialisation, whatever the process did before
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=list(callbacks),
    )
    resume = last_checkpoint(job_dir / "checkpoints")
    extras = [precision]
    if spec.get("packing"):
        extras.append("packing")
    if spec.get("group_by_length"):
        extras.append("group_by_length")
    starting(
        f"training on {device} ({', '.join(extras)}): {len(rows)} rows, "
        f"resume from {Path(resume).name if resume else 'start'}"
    )
    setup = time.perf_counter() - started
    started = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=resume)
    trained = time.perf_counter() - started
    started = time.perf_counter()
    out = job_dir / "model"
    tmp = job_dir / "model.tmp"
    trainer.save_model(str(tmp))
    if trainer.accelerator.is_main_process:
        tokenizer.save_pretrained(str(tmp))
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    return {
        "train_loss": float(result.training_loss),
        "setup_seconds": setup,
        "train_seconds": trained,
        "save_seconds": time.perf_counter() - started,
        "step": float(trainer.state.global_step),
        "max_steps": float(trainer.state.max_steps),
    }
