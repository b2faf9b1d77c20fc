"""Serving :class:`HFBackend`'s LoRA adapters with vLLM: the server's command and adapter admin.

vLLM's OpenAI-compatible server, started on the backend's base model with
``--enable-lora``, samples any number of LoRA adapters of that base at once.
With ``VLLM_ALLOW_RUNTIME_LORA_UPDATING=True`` in its environment it also takes
adapters while it runs: ``POST /v1/load_lora_adapter`` with
``{"lora_name": ..., "lora_path": ...}`` adds one (400 when the name is
loaded already), ``POST /v1/unload_lora_adapter`` with ``{"lora_name": ...}``
removes one, and ``GET /v1/models`` lists the base model and every adapter
(``root``: the adapter's path, ``parent``: its base). A loaded adapter is
sampled by sending its name as the ``model`` of a chat completion.

:func:`vllm_serve_command` writes the command line for a backend (the base
model, ``--max-lora-rank`` from its :class:`LoRASpec`); :class:`VLLMAdmin`
speaks the three adapter endpoints over ``httpx`` (which ``openai`` brings), and
turns every refusal into :class:`AdapterLoadError` naming the adapter and its
path. Nothing here imports ``vllm``, ``openai`` or ``torch``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from dataquality_thresholds.backends.hf._common import SMOLLM2_FILE, _cached
from dataquality_thresholds.backends.hf._lora import LoRASpec
from dataquality_thresholds.errors import BackendError, BackendUnavailableError, ConfigError

if TYPE_CHECKING:
    import httpx

__all__ = [
    "KNOWN_HF_REPOS",
    "RUNTIME_LORA_ENV",
    "VLLM_LORA_RANKS",
    "AdapterHost",
    "AdapterLoadError",
    "VLLMAdmin",
    "adapter_path",
    "check_adapter",
    "served_base",
    "vllm_serve_command",
]

#: The environment variable that turns on vLLM's load/unload endpoints.
RUNTIME_LORA_ENV = "VLLM_ALLOW_RUNTIME_LORA_UPDATING"

#: The values vLLM accepts for ``--max-lora-rank``.
VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)

#: GGUF files whose original (unquantised) Hugging Face repository is known.
KNOWN_HF_REPOS: Mapping[str, str] = {SMOLLM2_FILE: "HuggingFaceTB/SmolLM2-135M-Instruct"}

# GGUF metadata keys that may name the repository a file was converted from
_GGUF_SOURCE_KEYS = (
    "general.source.huggingface.repository",
    "general.base_model.0.repo_url",
    "general.source.url",
)


class AdapterHost(Protocol):
    """What the served path needs of its backend (:class:`HFBackend` has it)."""

    @property
    def base_model(self) -> str:
        """The base model's name (the served name of the base)."""

    @property
    def source(self) -> Mapping[str, Any]:
        """Where the base model loads from."""

    @property
    def cache_dir(self) -> Path:
        """Where dequantised GGUF models are cached."""

    @property
    def lora(self) -> LoRASpec | None:
        """The adapter settings (None: full fine-tuning)."""

    def job_dir(self, job_id: str) -> Path:
        """Return the folder of job ``job_id``."""


class AdapterLoadError(BackendError):
    """vLLM did not load (or cannot be asked to load) a fine-tune's LoRA adapter.

    Parameters
    ----------
    message : str
        What happened and what to try.
    adapter : str
        The adapter's name (the fine-tuned model's name).
    path : str
        The adapter's folder.
    status : int, optional
        The server's HTTP status, when it answered.
    """

    def __init__(self, message: str, *, adapter: str, path: str, status: int | None = None):
        super().__init__(message)
        self.adapter = adapter
        self.path = path
        self.status = status


# ---------------------------------------------------------------------- the command


def _gguf_repo(path: Path) -> str | None:
    """Return the repository a GGUF file names in its metadata, or None."""
    try:
        import gguf  # type: ignore[import-untyped,unused-ignore]

        fields = gguf.GGUFReader(str(path)).fields
        for key in _GGUF_SOURCE_KEYS:
            if key in fields:
                value = str(fields[key].contents()).strip()
                value = value.removeprefix("https://huggingface.co/").strip("/")
                if value.count("/") == 1:
                    return value
    except Exception:  # no gguf package, an unreadable file: no answer, not an error
        return None
    return None


def served_base(backend: AdapterHost, base: str | None = None) -> str:
    """Return what ``vllm serve`` should load as the base model of ``backend``.

    A model folder or hub id is served as it is. vLLM applies LoRA adapters to an
    unquantised base, so for a GGUF file it needs the Hugging Face repository the
    file was converted from: ``base`` when given, else the known one (SmolLM2), else
    one the file's metadata names, else the dequantised copy the backend trained on
    (``output_dir/base-cache/``, once a job has run).

    Raises
    ------
    ConfigError
        A GGUF base with none of these: pass ``base="org/name"``.
    """
    if base:
        return str(base)
    src = backend.source
    if src["kind"] != "gguf":
        return str(src["path"])
    gguf_file = str(src["gguf_file"])
    repo = KNOWN_HF_REPOS.get(gguf_file) or _gguf_repo(Path(src["path"]) / gguf_file)
    if repo:
        return repo
    cached = _cached(src, backend.cache_dir)
    if cached is not None:
        return str(cached)
    raise ConfigError(
        f"the base model {backend.base_model!r} is a GGUF file; vLLM serves LoRA adapters on "
        "the unquantised model it was converted from: pass base='org/name' (its Hugging Face "
        "repository or a local folder with config.json and safetensors)",
        field="base",
    )


def _rank_for(lora: LoRASpec, max_lora_rank: int | None) -> int:
    if max_lora_rank is None:
        fits = [r for r in VLLM_LORA_RANKS if r >= lora.r]
        if not fits:
            raise ConfigError(
                f"LoRA rank {lora.r} is above vLLM's largest --max-lora-rank "
                f"({VLLM_LORA_RANKS[-1]})",
                field="max_lora_rank",
            )
        return fits[0]
    if max_lora_rank not in VLLM_LORA_RANKS or max_lora_rank < lora.r:
        raise ConfigError(
            f"max_lora_rank must be one of {VLLM_LORA_RANKS} and at least the adapters' rank "
            f"{lora.r}, got {max_lora_rank!r}",
            field="max_lora_rank",
        )
    return int(max_lora_rank)


def vllm_serve_command(
    backend: AdapterHost,
    *,
    port: int = 8000,
    host: str | None = None,
    base: str | None = None,
    max_loras: int = 4,
    max_lora_rank: int | None = None,
    max_cpu_loras: int | None = None,
    gpu_memory_utilization: float | None = None,
    extra_args: Sequence[str] = (),
) -> list[str]:
    """Return the command that serves ``backend``'s base model and adapters with vLLM.

    The command starts with ``env VLLM_ALLOW_RUNTIME_LORA_UPDATING=True`` (the
    adapters are loaded while the server runs, as jobs finish), so it runs as it
    is (``subprocess.Popen(cmd)``) and prints as one shell line with
    ``shlex.join(cmd)``. The base model is served under the backend's
    ``base_model`` name (``--served-model-name``), so the base samples under the
    same name as with :class:`HFSampler`.

    Parameters
    ----------
    backend : AdapterHost
        An :class:`HFBackend` that trains LoRA adapters.
    port : int
        The server's port.
    host : str, optional
        The address to bind (vLLM's default: all interfaces).
    base : str, optional
        What vLLM loads as the base; see :func:`served_base` (needed for a GGUF
        base other than SmolLM2).
    max_loras : int
        Adapters in one GPU batch at once (``--max-loras``).
    max_lora_rank : int, optional
        Default: the backend's LoRA rank rounded up to a value vLLM accepts
        (:data:`VLLM_LORA_RANKS`).
    max_cpu_loras : int, optional
        Adapters kept in CPU memory (``--max-cpu-loras``; vLLM's default: ``max_loras``).
    gpu_memory_utilization : float, optional
        Share of GPU memory vLLM may take (``--gpu-memory-utilization``); lower it
        when training runs on the same GPU.
    extra_args : sequence of str
        Appended as they are (e.g. ``["--max-model-len", "4096"]``).

    Returns
    -------
    list of str

    Raises
    ------
    ConfigError
        The backend fine-tunes all weights (``lora=None``: serve each model with
        ``vllm serve JOB_DIR/model``), a GGUF base without ``base``, or a bad value.
    """
    lora = backend.lora
    if lora is None:
        raise ConfigError(
            "this HFBackend fine-tunes all weights (lora=None): there are no adapters to load; "
            "serve one fine-tune at a time with `vllm serve <job_dir>/model`",
            field="lora",
        )
    for name, value in (("port", port), ("max_loras", max_loras)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be an int >= 1, got {value!r}", field=name)
    rank = _rank_for(lora, max_lora_rank)
    cmd = ["env", f"{RUNTIME_LORA_ENV}=True", "vllm", "serve", served_base(backend, base)]
    cmd += ["--served-model-name", backend.base_model, "--enable-lora"]
    cmd += ["--max-lora-rank", str(rank), "--max-loras", str(max_loras)]
    if max_cpu_loras is not None:
        cmd += ["--max-cpu-loras", str(int(max_cpu_loras))]
    if host is not None:
        cmd += ["--host", str(host)]
    cmd += ["--port", str(port)]
    if gpu_memory_utilization is not None:
        if not 0 < gpu_memory_utilization <= 1:
            raise ConfigError(
                f"gpu_memory_utilization must be in (0, 1], got {gpu_memory_utilization!r}",
                field="gpu_memory_utilization",
            )
        cmd += ["--gpu-memory-utilization", f"{gpu_memory_utilization:g}"]
    return cmd + [str(a) for a in extra_args]


# ---------------------------------------------------------------------- adapters


def adapter_path(backend: AdapterHost, model: str) -> Path | None:
    """Return the folder that holds fine-tune ``model``'s weights, or None.

    ``ft:<base>:<job_id>`` (a job of this backend) is ``job_dir(job_id)/model``,
    as :class:`HFSampler` resolves it; an existing folder names itself. Anything
    else (the base model, a name the server was started with) is None: it is sent
    to the server as it is.
    """
    job_id = model.rsplit(":", 1)[-1]
    if model.startswith("ft:") and job_id.startswith("hfjob-"):
        return (backend.job_dir(job_id) / "model").resolve()
    if model != backend.base_model and Path(model).is_dir():
        return Path(model).resolve()
    return None


def check_adapter(model: str, path: Path) -> None:
    """Refuse a fine-tune whose folder holds no LoRA adapter (before asking the server).

    Raises
    ------
    AdapterLoadError
        No folder (the job has not finished, or belongs to another ``output_dir``),
        or a fully fine-tuned model (no ``adapter_config.json``).
    """
    if not path.is_dir():
        raise AdapterLoadError(
            f"no adapter for {model!r} at {path}: the job has not finished, or it belongs to "
            "another output_dir (the server must see the adapter at this path)",
            adapter=model,
            path=str(path),
        )
    if not (path / "adapter_config.json").is_file():
        raise AdapterLoadError(
            f"{model!r} at {path} is a full fine-tune, not a LoRA adapter: serve it on its own "
            f"with `vllm serve {path}`",
            adapter=model,
            path=str(path),
        )


def _message(raw: bytes) -> str:
    """Return the message of a vLLM/FastAPI error body (``error.message``, ``message``...)."""
    try:
        data = json.loads(raw or b"null")
    except ValueError:
        return raw.decode("utf-8", "replace").strip()
    if isinstance(data, Mapping):
        err = data.get("error")
        if isinstance(err, Mapping) and err.get("message"):
            return str(err["message"])
        for key in ("message", "detail"):
            if data.get(key):
                return str(data[key])
    return str(data)


def _same_path(a: str, b: Path) -> bool:
    return os.path.normpath(a) == os.path.normpath(str(b)) or Path(a).resolve() == b.resolve()


class VLLMAdmin:
    """The adapter endpoints of one vLLM server: list, load, unload.

    Parameters
    ----------
    base_url : str
        The server's OpenAI-compatible root, ``http://host:port/v1``.
    api_key : str
        Sent as the bearer token (vLLM checks it when started with ``--api-key``);
        never shown in a repr.
    timeout : float
        Seconds per request (loading a large adapter takes a while).

    Attributes
    ----------
    loads : int
        Adapters this object loaded (successful ``load_lora_adapter`` calls).
    """

    def __init__(self, base_url: str, *, api_key: str, timeout: float = 120.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self.timeout = float(timeout)
        self.loads = 0

    def __repr__(self) -> str:
        return f"VLLMAdmin({self.base_url!r})"

    def __reduce__(self) -> Any:
        raise TypeError("VLLMAdmin holds an API key; build it again in the new process")

    def _call(
        self, method: str, route: str, body: Mapping[str, Any] | None, what: str
    ) -> httpx.Response:
        import httpx

        try:
            return httpx.request(
                method,
                f"{self.base_url}/{route}",
                json=dict(body) if body is not None else None,
                headers=self._headers,
                timeout=self.timeout,
            )
        except httpx.HTTPError as exc:
            raise BackendUnavailableError(
                f"{what}: cannot reach the vLLM server at {self.base_url} "
                f"({type(exc).__name__}); is it running? (HFBackend.serve_command() prints "
                "the command that starts it)"
            ) from exc

    def models(self) -> dict[str, dict[str, Any]]:
        """Return ``GET /v1/models``: model id -> its card (``root``, ``parent`` ...).

        Raises
        ------
        BackendUnavailableError
            The server cannot be reached.
        BackendError
            It answered with an error.
        """
        resp = self._call("GET", "models", None, "listing the served models")
        if resp.status_code != 200:
            raise BackendError(
                f"listing the served models at {self.base_url}: HTTP {resp.status_code}: "
                f"{_message(resp.content)}"
            )
        data = resp.json()
        rows = data.get("data") if isinstance(data, Mapping) else None
        return {str(r["id"]): dict(r) for r in rows or () if isinstance(r, Mapping) and "id" in r}

    def adapters(self) -> dict[str, str]:
        """Return the loaded LoRA adapters: name -> path (the cards with a ``parent``)."""
        return {
            name: str(card.get("root") or "")
            for name, card in self.models().items()
            if card.get("parent") is not None
        }

    def _confirm(self, name: str, path: Path, card: Mapping[str, Any] | None) -> None:
        """Accept an adapter the server has under ``name`` when it came from ``path``."""
        if card is None:
            raise AdapterLoadError(
                f"the vLLM server at {self.base_url} says {name!r} is loaded but does not list "
                "it; try again",
                adapter=name,
                path=str(path),
            )
        root = card.get("root")
        if root and not _same_path(str(root), path):
            raise AdapterLoadError(
                f"the vLLM server at {self.base_url} serves {name!r} from {root}, not {path}: "
                "unload it (VLLMSampler.unload_adapter) or use another output_dir",
                adapter=name,
                path=str(path),
            )

    def load(self, name: str, path: Path, *, known: Mapping[str, Any] | None = None) -> bool:
        """Load the adapter at ``path`` as ``name`` unless the server has it already.

        Parameters
        ----------
        name : str
            The adapter's served name.
        path : Path
            Its folder, as the server sees it.
        known : mapping, optional
            A ``GET /v1/models`` answer to check first (saves a request).

        Returns
        -------
        bool
            True when this call loaded it; False when it was there (from ``path``).

        Raises
        ------
        AdapterLoadError
            The server refused it (the message says why: runtime loading off,
            no adapter at the path, a rank above ``--max-lora-rank`` ...), or it
            serves another adapter under ``name``.
        BackendUnavailableError
            The server cannot be reached.
        """
        listed = self.models() if known is None else known
        if name in listed:
            self._confirm(name, path, listed[name])
            return False
        body = {"lora_name": name, "lora_path": str(path)}
        what = f"loading adapter {name!r} from {path}"
        resp = self._call("POST", "load_lora_adapter", body, what)
        if resp.status_code == 200:
            self.loads += 1
            return True
        message = _message(resp.content)
        if resp.status_code == 400 and "already" in message and "loaded" in message:
            # another sampler or process loaded it between our listing and our POST
            self._confirm(name, path, self.models().get(name))
            return False
        raise AdapterLoadError(
            f"{what}: HTTP {resp.status_code}: {message}{_hint(resp.status_code, message)}",
            adapter=name,
            path=str(path),
            status=resp.status_code,
        )

    def unload(self, name: str) -> bool:
        """Unload adapter ``name``; return False when the server did not have it.

        Raises
        ------
        BackendError
            The server refused (e.g. runtime loading is off).
        BackendUnavailableError
            The server cannot be reached.
        """
        what = f"unloading adapter {name!r}"
        resp = self._call("POST", "unload_lora_adapter", {"lora_name": name}, what)
        if resp.status_code == 200:
            return True
        message = _message(resp.content)
        if resp.status_code == 404 and "adapter" in message.lower():
            return False
        raise BackendError(
            f"{what}: HTTP {resp.status_code}: {message}{_hint(resp.status_code, message)}"
        )


def _hint(status: int, message: str) -> str:
    low = message.lower()
    if status in (404, 405) and "adapter" not in low:
        return (
            f" (the server has no adapter endpoints: start it with {RUNTIME_LORA_ENV}=True "
            "and --enable-lora, as HFBackend.serve_command() does)"
        )
    if "rank" in low:
        return " (start the server with a larger --max-lora-rank)"
    if "lora" in low and "enable" in low:
        return " (start the server with --enable-lora)"
    return ""
