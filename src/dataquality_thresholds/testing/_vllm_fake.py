"""FakeVLLMServer: the parts of vLLM's OpenAI-compatible server that serve LoRA adapters.

It is :class:`~dataquality_thresholds.testing.FakeOpenAIServer` (same handler,
faults, request log, bearer-token check and responders) with the routes of a vLLM
server started with ``--enable-lora`` and ``VLLM_ALLOW_RUNTIME_LORA_UPDATING=True``:

* ``POST /v1/load_lora_adapter`` ``{"lora_name", "lora_path"}``: 200 and a plain-text
  ``Success: ...``; 400 when the name is loaded already, or the adapter's rank
  (``r`` in its ``adapter_config.json``) is above ``max_lora_rank``; 404 when
  there is no adapter at the path;
* ``POST /v1/unload_lora_adapter`` ``{"lora_name"}``: 200, or 404 for a name not loaded;
* ``GET /v1/models``: the base model and each adapter (``root``: its path,
  ``parent``: the base);
* ``POST /v1/chat/completions``: answered (by the responder) only for the base
  model and loaded adapters; any other model is a 404, as vLLM answers.

With ``runtime_lora_updating=False`` the two adapter routes do not exist (404,
FastAPI's ``{"detail": "Not Found"}``), as on a server started without the variable.

>>> import openai
>>> from dataquality_thresholds.testing import FakeVLLMServer
>>> with FakeVLLMServer("base") as server:
...     client = openai.OpenAI(base_url=server.base_url, api_key="EMPTY")
...     reply = client.chat.completions.create(
...         model="base", messages=[{"role": "user", "content": "hi"}]
...     )
>>> reply.choices[0].message.content
'fake answer 0 from base'
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dataquality_thresholds.testing._fake_state import ApiError, Responder
from dataquality_thresholds.testing._server import FakeOpenAIServer

__all__ = ["FakeVLLMServer"]


class FakeVLLMServer(FakeOpenAIServer):
    """A fake vLLM server on ``127.0.0.1`` that loads LoRA adapters; use it as a context manager.

    Parameters
    ----------
    base_model : str
        The served name of the base model (``--served-model-name``).
    responder : callable, optional
        Answers chat completions, as for :class:`FakeOpenAIServer`.
    lora_modules : mapping of str to str, optional
        Adapters loaded at start (``--lora-modules name=path``); not checked.
    max_lora_rank : int
        Adapters of a higher rank are refused (``--max-lora-rank``).
    runtime_lora_updating : bool
        Whether the load/unload routes exist (``VLLM_ALLOW_RUNTIME_LORA_UPDATING``).
    check_paths : bool
        Refuse a path without ``adapter_config.json`` (404), as vLLM does.
    port : int
        0 picks a free port.

    Attributes
    ----------
    base_url : str
        ``http://127.0.0.1:<port>/v1``.
    adapters : dict of str to str
        The loaded adapters, name -> path (a copy).
    load_calls : int
        ``POST /v1/load_lora_adapter`` requests received (refused ones included).
    """

    def __init__(
        self,
        base_model: str = "base",
        *,
        responder: Responder | None = None,
        lora_modules: Mapping[str, str] | None = None,
        max_lora_rank: int = 16,
        runtime_lora_updating: bool = True,
        check_paths: bool = True,
        port: int = 0,
    ) -> None:
        super().__init__(responder=responder, port=port)
        self.base_model = base_model
        self.max_lora_rank = int(max_lora_rank)
        self.runtime_lora_updating = bool(runtime_lora_updating)
        self.check_paths = bool(check_paths)
        self._adapters: dict[str, str] = {str(k): str(v) for k, v in (lora_modules or {}).items()}
        self._created = int(time.time())

    def __repr__(self) -> str:
        state = "running" if self._server is not None else "stopped"
        return (
            f"FakeVLLMServer({state}, base_model={self.base_model!r}, "
            f"adapters={len(self._adapters)})"
        )

    @property
    def adapters(self) -> dict[str, str]:
        """The loaded adapters, name -> path (a copy)."""
        with self._lock:
            return dict(self._adapters)

    @property
    def load_calls(self) -> int:
        """``POST /v1/load_lora_adapter`` requests received."""
        return self.count("POST", "/load_lora_adapter")

    def restart(self) -> None:
        """Forget every adapter loaded at runtime, as a restarted server does."""
        with self._lock:
            self._adapters.clear()

    # ------------------------------------------------------------------ routes
    def _load(self, body: Mapping[str, Any]) -> bytes:
        name, path = body.get("lora_name"), body.get("lora_path")
        if not name or not path:
            raise ApiError(400, "Both 'lora_name' and 'lora_path' must be provided.",
                           kind="InvalidUserInput")  # fmt: skip
        if name in self._adapters:
            raise ApiError(400, f"The lora adapter '{name}' has already been loaded.",
                           kind="InvalidUserInput")  # fmt: skip
        if self.check_paths:
            config = Path(str(path)) / "adapter_config.json"
            try:
                rank = int(json.loads(config.read_text(encoding="utf-8")).get("r", 0))
            except (OSError, ValueError):
                raise ApiError(404, f"Loading lora {name} failed: No adapter found for {path}",
                               kind="NotFoundError") from None  # fmt: skip
            if rank > self.max_lora_rank:
                raise ApiError(
                    400,
                    f"LoRA rank {rank} is greater than max_lora_rank {self.max_lora_rank}.",
                    kind="BadRequestError",
                )
        self._adapters[str(name)] = str(path)
        return f"Success: LoRA adapter '{name}' added successfully.".encode()

    def _unload(self, body: Mapping[str, Any]) -> bytes:
        name = body.get("lora_name")
        if name not in self._adapters:
            raise ApiError(404, f"The lora adapter '{name}' cannot be found.",
                           kind="NotFoundError")  # fmt: skip
        del self._adapters[str(name)]
        return f"Success: LoRA adapter '{name}' removed successfully.".encode()

    def _models(self) -> dict[str, Any]:
        def card(name: str, root: str, parent: str | None) -> dict[str, Any]:
            return {"id": name, "object": "model", "created": self._created,
                    "owned_by": "vllm", "root": root, "parent": parent}  # fmt: skip

        cards = [card(self.base_model, self.base_model, None)]
        cards += [card(n, p, self.base_model) for n, p in self._adapters.items()]
        return {"object": "list", "data": cards}

    def _route(
        self, method: str, path: str, query: dict[str, str], raw: bytes, content_type: str
    ) -> tuple[int, Any]:
        segs = [s for s in path.split("/") if s]

        def body() -> dict[str, Any]:
            try:
                data = json.loads(raw or b"{}")
            except ValueError as exc:
                raise ApiError(400, f"invalid JSON body: {exc}") from None
            if not isinstance(data, dict):
                raise ApiError(400, "the JSON body must be an object")
            return data

        match method, segs:
            case "POST", ["load_lora_adapter"] if self.runtime_lora_updating:
                return 200, self._load(body())
            case "POST", ["unload_lora_adapter"] if self.runtime_lora_updating:
                return 200, self._unload(body())
            case "GET", ["models"]:
                return 200, self._models()
            case "POST", ["chat", "completions"]:
                model = body().get("model")
                if model != self.base_model and model not in self._adapters:
                    raise ApiError(404, f"The model `{model}` does not exist.",
                                   kind="NotFoundError")  # fmt: skip
                return super()._route(method, path, query, raw, content_type)
        return 404, {"detail": "Not Found"}
