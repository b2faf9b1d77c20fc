"""State and endpoint logic of :class:`~dataquality_thresholds.testing.FakeTinkerServer`.

No HTTP here: each endpoint takes the parsed request and returns ``(status, body)``
where ``body`` is JSON-able, or ``bytes`` for protobuf payloads. The caller holds
one lock around every call, so scripted sequences are deterministic.

The fake keeps what a client can observe through the SDK: sessions, training runs
(one per ``create_model`` or create-via-``load_weights``), their checkpoints
(training state and sampler weights, with user metadata), sampling sessions and
the futures that every asynchronous call returns. It trains nothing: a
forward/backward pass answers a deterministic, slowly falling loss, and sampling
answers what a *responder* says (default: ``"fake answer {i} from {model}"``).

Requests are idempotent the way the SDK's retries assume: a training call
repeated with the same ``(model_id, seq_id)`` returns the first call's future
(it is not applied twice), ``create_model``/create-via-load with the same
``(session_id, model_seq_id)`` returns the same run, a sample with the same
``(sampling_session_id, seq_id)`` the same future.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import numpy as np

__all__ = ["TinkerApiError", "TinkerFakeState", "TinkerResponder", "default_tinker_responder"]

#: ``responder(model, prompt, *, n, temperature, seed, max_tokens) -> list`` of answers.
#: ``prompt`` is the decoded prompt text when the server has a tokenizer, else the
#: list of prompt token ids; each answer is a string (encoded with the tokenizer)
#: or a list of token ids.
TinkerResponder = Callable[..., Sequence[Any]]

#: Models the fake says it serves (any name is accepted for training and sampling).
SUPPORTED_MODELS = (
    "Qwen/Qwen3-4B-Instruct-2507",
    "Qwen/Qwen3-8B",
    "Qwen/Qwen3-30B-A3B",
    "meta-llama/Llama-3.1-8B",
    "meta-llama/Llama-3.1-8B-Instruct",
    "meta-llama/Llama-3.2-1B",
)


class TinkerApiError(Exception):
    """An error answer: HTTP ``status`` with a JSON body ``{"detail": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def body(self) -> dict[str, Any]:
        """Return the JSON error body."""
        return {"detail": self.message}


def default_tinker_responder(
    model: str,
    prompt: Any,
    *,
    n: int = 1,
    temperature: float = 1.0,
    seed: int | None = None,
    max_tokens: int | None = None,
) -> list[Any]:
    """Answer ``"fake answer {i} from {model}"`` (or short token lists without a tokenizer)."""
    if isinstance(prompt, str):
        return [f"fake answer {i} from {model}" for i in range(n)]
    return [[3 + i, 4, 5] for i in range(n)]


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _tokens_of(model_input: Mapping[str, Any]) -> list[int]:
    out: list[int] = []
    for chunk in model_input.get("chunks", ()):
        out.extend(int(t) for t in chunk.get("tokens", ()))
    return out


class TinkerFakeState:
    """In-memory Tinker service: sessions, runs, checkpoints, samplers and futures.

    Parameters
    ----------
    responder : callable, optional
        Answers samples (:data:`TinkerResponder`).
    tokenizer : object, optional
        Anything with ``encode(text, add_special_tokens=False)``,
        ``decode(ids)`` and ``eos_token_id`` (a ``transformers`` tokenizer):
        prompts are decoded for the responder and its string answers encoded.
    future_polls : int
        ``try_again`` answers to a future before its result.
    use_pyqwest : bool
        The ``use_pyqwest_transport`` flag sent in the client config.
    """

    def __init__(
        self,
        *,
        responder: TinkerResponder | None = None,
        tokenizer: Any = None,
        future_polls: int = 0,
        use_pyqwest: bool = False,
    ) -> None:
        self.responder: TinkerResponder = responder or default_tinker_responder
        self.tokenizer = tokenizer
        self.future_polls = int(future_polls)
        self.use_pyqwest = bool(use_pyqwest)
        self.sessions: dict[str, dict[str, Any]] = {}
        self.runs: dict[str, dict[str, Any]] = {}
        self.checkpoints: dict[str, dict[str, Any]] = {}
        self.samplers: dict[str, dict[str, Any]] = {}
        self.futures: dict[str, dict[str, Any]] = {}
        self.done_seq: dict[tuple[str, int], str] = {}
        self.idempotent: dict[str, tuple[int, Any]] = {}
        self.counters: dict[str, int] = {}
        self.batches: list[list[dict[str, list[Any]]]] = []
        self.tokens_trained = 0
        self.tokens_sampled = 0
        self.tokens_prefilled = 0

    # ------------------------------------------------------------------ helpers
    def _count(self, name: str, by: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + by

    def _future(self, result: Any, *, proto: bool = False, model_id: str | None = None) -> str:
        rid = f"req-{uuid.uuid4().hex[:16]}"
        self.futures[rid] = {"result": result, "proto": proto, "polls": self.future_polls}
        return rid

    def _untyped(self, rid: str, model_id: str | None = None, **extra: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"request_id": rid}
        if model_id is not None:
            out["model_id"] = model_id
        out.update(extra)
        return out

    def _run(self, model_id: str) -> dict[str, Any]:
        run = self.runs.get(model_id)
        if run is None:
            raise TinkerApiError(404, f"training run {model_id!r} not found")
        return run

    def _once(self, model_id: str, seq_id: int | None, make: Callable[[], str]) -> dict[str, Any]:
        """Return the future of ``(model_id, seq_id)``, making it (acting) the first time."""
        if seq_id is not None and (model_id, seq_id) in self.done_seq:
            return self._untyped(self.done_seq[(model_id, seq_id)], model_id)
        rid = make()
        if seq_id is not None:
            self.done_seq[(model_id, seq_id)] = rid
        self._run(model_id)["last_request_time"] = _now()
        return self._untyped(rid, model_id)

    # ------------------------------------------------------------------ service
    def client_config(self) -> dict[str, Any]:
        """POST /client/config: feature flags (API keys, no JWT exchange, no zstd)."""
        return {
            "pjwt_auth_enabled": False,
            "proto_compress_fwdbwd": False,
            "use_pyqwest_transport": self.use_pyqwest,
            "sample_use_retrieve_futures": False,
            "sample_join_sampling_session": False,
            "custom_loss_server_side": False,
        }

    def capabilities(self) -> dict[str, Any]:
        """GET /get_server_capabilities."""
        return {
            "supported_models": [
                {
                    "model_name": m,
                    "max_context_length": 32768,
                    "trainable": True,
                    "sampleable": True,
                }
                for m in SUPPORTED_MODELS
            ]
        }

    def create_session(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST /create_session."""
        sid = str(uuid.uuid4())
        self.sessions[sid] = {
            "session_id": sid,
            "tags": list(body.get("tags") or ()),
            "user_metadata": dict(body.get("user_metadata") or {}),
            "finished": False,
        }
        self._count("sessions")
        return {"type": "create_session", "session_id": sid}

    def finish_session(self, sid: str) -> None:
        """POST /sessions/{id}/finish."""
        if sid in self.sessions:
            self.sessions[sid]["finished"] = True

    # ------------------------------------------------------------------ runs
    def _new_run(
        self,
        sid: str,
        seq: int,
        *,
        base_model: str,
        lora_rank: int | None,
        seed: int | None,
        user_metadata: Mapping[str, Any] | None,
        parent: str | None,
        step: int,
    ) -> str:
        model_id = f"{sid}:train:{seq}"
        self.runs[model_id] = {
            "training_run_id": model_id,
            "base_model": base_model,
            "lora_rank": lora_rank,
            "seed": seed,
            "user_metadata": {str(k): str(v) for k, v in (user_metadata or {}).items()},
            "parent": parent,
            "step": step,
            "created": _now(),
            "last_request_time": _now(),
            "pending_grad": False,
            "tokens": 0,
        }
        self._count("runs_loaded" if parent else "runs_created")
        return model_id

    def create_model(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST /create_model: a new LoRA training run (a future of its model id)."""
        sid, seq = str(body["session_id"]), int(body["model_seq_id"])
        model_id = f"{sid}:train:{seq}"
        if model_id not in self.runs:
            if sid not in self.sessions:
                raise TinkerApiError(404, f"session {sid!r} not found")
            lora = body.get("lora_config") or {}
            self._new_run(
                sid,
                seq,
                base_model=str(body["base_model"]),
                lora_rank=lora.get("rank"),
                seed=lora.get("seed"),
                user_metadata=body.get("user_metadata"),
                parent=None,
                step=0,
            )
            self.runs[model_id]["create_rid"] = self._future(
                {"model_id": model_id, "type": "create_model"}
            )
        return self._untyped(self.runs[model_id]["create_rid"], model_id)

    def get_info(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST /get_info."""
        run = self._run(str(body["model_id"]))
        return {
            "type": "get_info",
            "model_id": run["training_run_id"],
            "model_data": {"arch": "fake", "model_name": run["base_model"], "tokenizer_id": None},
            "is_lora": True,
            "lora_rank": run["lora_rank"],
            "model_name": run["base_model"],
        }

    def training_run(self, run: Mapping[str, Any]) -> dict[str, Any]:
        """Return the ``TrainingRun`` JSON of ``run``."""
        ckpts = [c for c in self.checkpoints.values() if c["run"] == run["training_run_id"]]

        def last(kind: str) -> dict[str, Any] | None:
            found = [c for c in ckpts if c["checkpoint_type"] == kind]
            return self._ckpt_json(max(found, key=lambda c: c["time"])) if found else None

        return {
            "training_run_id": run["training_run_id"],
            "base_model": run["base_model"],
            "model_owner": "fake-user",
            "is_lora": True,
            "corrupted": False,
            "lora_rank": run["lora_rank"],
            "last_request_time": _iso(run["last_request_time"]),
            "last_checkpoint": last("training"),
            "last_sampler_checkpoint": last("sampler"),
            "user_metadata": dict(run["user_metadata"]),
        }

    def list_training_runs(self, query: Mapping[str, str]) -> dict[str, Any]:
        """GET /training_runs?limit=&offset=: newest first, like the console."""
        limit = int(query.get("limit", 20))
        offset = int(query.get("offset", 0))
        runs = sorted(self.runs.values(), key=lambda r: r["created"], reverse=True)
        page = runs[offset : offset + limit]
        return {
            "training_runs": [self.training_run(r) for r in page],
            "cursor": {"offset": offset, "limit": limit, "total_count": len(runs)},
        }

    def get_training_run(self, model_id: str) -> dict[str, Any]:
        """GET /training_runs/{id}."""
        return self.training_run(self._run(model_id))

    # ------------------------------------------------------------------ training
    def forward_backward(self, msg: Any) -> dict[str, Any]:
        """POST /forward_backward (a decoded ``ForwardBackwardRequest`` proto)."""
        model_id = str(msg.model_id)
        run = self._run(model_id)

        def act() -> str:
            lengths = []
            for datum in msg.data:
                n = sum(len(c.encoded_text.tokens) // 4 for c in datum.model_input)
                lengths.append(n)
            tokens = int(sum(lengths))
            self.batches.append([_datum_inputs(d) for d in msg.data])
            run["tokens"] += tokens
            self.tokens_trained += tokens
            run["pending_grad"] = not msg.forward_only
            self._count("forward_backward")
            loss = 2.0 / (1.0 + 0.25 * run["step"])
            return self._future(_fwdbwd_proto(lengths, loss), proto=True)

        return self._once(model_id, int(msg.seq_id), act)

    def optim_step(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST /optim_step."""
        model_id = str(body["model_id"])
        run = self._run(model_id)

        def act() -> str:
            run["step"] += 1
            run["pending_grad"] = False
            self._count("optim_step")
            lr = float((body.get("optim_params") or body.get("adam_params") or {}).get(
                "learning_rate", 0.0
            ))  # fmt: skip
            return self._future({"metrics": {"step": float(run["step"]), "learning_rate": lr}})

        return self._once(model_id, body.get("seq_id"), act)

    def _ckpt_json(self, c: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "checkpoint_id": c["checkpoint_id"],
            "checkpoint_type": c["checkpoint_type"],
            "time": _iso(c["time"]),
            "tinker_path": c["tinker_path"],
            "size_bytes": 1024,
            "public": False,
            "user_metadata": dict(c["user_metadata"]) or None,
            "expires_at": None,
        }

    def _save(self, body: Mapping[str, Any], kind: str) -> str:
        model_id = str(body["model_id"])
        run = self._run(model_id)
        name = body.get("path") or f"{run['step']:06d}"
        segment = "weights" if kind == "training" else "sampler_weights"
        path = f"tinker://{model_id}/{segment}/{name}"
        if path in self.checkpoints and not body.get("overwrite", False):
            raise TinkerApiError(409, f"checkpoint {path} already exists")
        self.checkpoints[path] = {
            "run": model_id,
            "checkpoint_id": f"{segment}/{name}",
            "checkpoint_type": kind,
            "time": _now(),
            "tinker_path": path,
            "user_metadata": {str(k): str(v) for k, v in (body.get("user_metadata") or {}).items()},
            "step": run["step"],
            "base_model": run["base_model"],
            "lora_rank": run["lora_rank"],
        }
        self._count(f"save_{kind}")
        return path

    def save_weights(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST /save_weights: a training checkpoint (weights and optimizer state)."""

        def act() -> str:
            return self._future({"path": self._save(body, "training"), "type": "save_weights"})

        return self._once(str(body["model_id"]), body.get("seq_id"), act)

    def save_weights_for_sampler(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST /save_weights_for_sampler (named sampler weights only)."""

        def act() -> str:
            if not body.get("path"):
                raise TinkerApiError(400, "the fake needs a name for sampler weights")
            path = self._save(body, "sampler")
            return self._future({"path": path, "type": "save_weights_for_sampler"})

        return self._once(str(body["model_id"]), body.get("seq_id"), act)

    def load_weights(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST /load_weights: into an existing run, or create a run from a checkpoint."""
        path = str(body["path"])
        ckpt = self.checkpoints.get(path)
        if ckpt is None or ckpt["checkpoint_type"] != "training":
            raise TinkerApiError(404, f"no training checkpoint at {path}")
        if body.get("session_id") is not None:
            sid, seq = str(body["session_id"]), int(body["model_seq_id"])
            model_id = f"{sid}:train:{seq}"
            if model_id not in self.runs:
                if sid not in self.sessions:
                    raise TinkerApiError(404, f"session {sid!r} not found")
                self._new_run(
                    sid,
                    seq,
                    base_model=str(body.get("base_model") or ckpt["base_model"]),
                    lora_rank=ckpt["lora_rank"],
                    seed=None,
                    user_metadata=body.get("user_metadata"),
                    parent=path,
                    step=int(ckpt["step"]),
                )
                self.runs[model_id]["create_rid"] = self._future(
                    {"path": path, "model_id": model_id, "type": "load_weights"}
                )
            return self._untyped(self.runs[model_id]["create_rid"], model_id)
        model_id = str(body["model_id"])
        run = self._run(model_id)

        def act() -> str:
            run["step"] = int(ckpt["step"])
            return self._future({"path": path, "model_id": model_id, "type": "load_weights"})

        return self._once(model_id, body.get("seq_id"), act)

    def list_checkpoints(self, model_id: str) -> dict[str, Any]:
        """GET /training_runs/{id}/checkpoints (oldest first)."""
        self._run(model_id)
        found = sorted(
            (c for c in self.checkpoints.values() if c["run"] == model_id), key=lambda c: c["time"]
        )
        return {"checkpoints": [self._ckpt_json(c) for c in found], "cursor": None}

    def list_user_checkpoints(self, query: Mapping[str, str]) -> dict[str, Any]:
        """GET /checkpoints?limit=&offset=."""
        limit = int(query.get("limit", 100))
        offset = int(query.get("offset", 0))
        found = sorted(self.checkpoints.values(), key=lambda c: c["time"], reverse=True)
        return {
            "checkpoints": [self._ckpt_json(c) for c in found[offset : offset + limit]],
            "cursor": {"offset": offset, "limit": limit, "total_count": len(found)},
        }

    # ------------------------------------------------------------------ sampling
    def create_sampling_session(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST /create_sampling_session."""
        path = body.get("model_path")
        base = body.get("base_model")
        if path is not None:
            ckpt = self.checkpoints.get(str(path))
            if ckpt is None or ckpt["checkpoint_type"] != "sampler":
                raise TinkerApiError(404, f"no sampler weights at {path}")
            base = ckpt["base_model"]
        if not base:
            raise TinkerApiError(400, "model_path or base_model is required")
        key = f"{body.get('session_id')}:{body.get('sampling_session_seq_id')}"
        ssid = f"{key}:sample:{hashlib.sha256(key.encode()).hexdigest()[:8]}"
        self.samplers[ssid] = {"model_path": path, "base_model": base}
        self._count("sampling_sessions")
        return {"type": "create_sampling_session", "sampling_session_id": ssid}

    def get_sampler(self, ssid: str) -> dict[str, Any]:
        """GET /samplers/{id}."""
        s = self.samplers.get(ssid)
        if s is None:
            raise TinkerApiError(404, f"sampler {ssid!r} not found")
        return {"sampler_id": ssid, "base_model": s["base_model"], "model_path": s["model_path"]}

    def asample(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST /asample: a future of a ``SampleResponse`` proto."""
        ssid = str(body.get("sampling_session_id"))
        sampler = self.samplers.get(ssid)
        if sampler is None:
            raise TinkerApiError(404, f"sampling session {ssid!r} not found")
        seq = int(body.get("seq_id") or 0)
        n = int(body.get("num_samples", 1))
        ids = [f"{ssid}:{seq}:{i}" for i in range(n)]
        if (ssid, seq) in self.done_seq:
            return self._untyped(self.done_seq[(ssid, seq)], sample_sequence_ids=ids)
        params = body.get("sampling_params") or {}
        prompt_ids = _tokens_of(body["prompt"])
        model = str(sampler["model_path"] or sampler["base_model"])
        prompt: Any = prompt_ids
        if self.tokenizer is not None:
            prompt = self.tokenizer.decode(prompt_ids)
        answers = self.responder(
            model,
            prompt,
            n=n,
            temperature=float(params.get("temperature", 1.0)),
            seed=params.get("seed"),
            max_tokens=params.get("max_tokens"),
        )
        if len(answers) != n:
            raise TinkerApiError(500, f"responder gave {len(answers)} answers for n={n}")
        seqs = [self._sequence(a, params.get("max_tokens")) for a in answers]
        self.tokens_prefilled += len(prompt_ids)
        self._count("samples", n)
        rid = self._future(_sample_proto(seqs), proto=True)
        self.done_seq[(ssid, seq)] = rid
        return self._untyped(rid, sample_sequence_ids=ids)

    def _sequence(self, answer: Any, max_tokens: int | None) -> tuple[list[int], str]:
        if isinstance(answer, str):
            if self.tokenizer is None:
                raise TinkerApiError(500, "a string answer needs the server's tokenizer")
            tokens = list(self.tokenizer.encode(answer, add_special_tokens=False))
            eos = self.tokenizer.eos_token_id
            tokens = [*tokens, eos] if eos is not None else tokens
        else:
            tokens = [int(t) for t in answer]
        reason = "stop"
        if max_tokens is not None and len(tokens) > int(max_tokens):
            tokens, reason = tokens[: int(max_tokens)], "length"
        self.tokens_sampled += len(tokens)
        return tokens, reason

    # ------------------------------------------------------------------ futures
    def retrieve_future(self, body: Mapping[str, Any]) -> tuple[Any, bool]:
        """POST /retrieve_future: ``(result, is_proto)``, or a ``try_again`` answer."""
        rid = str(body["request_id"])
        fut = self.futures.get(rid)
        if fut is None:
            raise TinkerApiError(404, f"future {rid!r} not found")
        if fut["polls"] > 0:
            fut["polls"] -= 1
            return {"type": "try_again", "request_id": rid, "queue_state": "active"}, False
        return fut["result"], bool(fut["proto"])


def _datum_inputs(datum: Any) -> dict[str, list[Any]]:
    """Return a datum's input tokens and loss inputs (``target_tokens``, ``weights``) as lists."""
    from tinker.proto import tinker_public_pb2 as pb

    out: dict[str, list[Any]] = {
        "tokens": [
            int(t)
            for c in datum.model_input
            for t in np.frombuffer(c.encoded_text.tokens, dtype=np.int32)
        ]
    }
    for name, tensor in datum.loss_fn_inputs.items():
        dtype = np.float32 if tensor.dtype == pb.DTYPE_FLOAT32 else np.int64
        out[name] = np.frombuffer(tensor.dense, dtype=dtype).tolist()
    return out


def _fwdbwd_proto(lengths: Sequence[int], loss: float) -> bytes:
    """Return a ``ForwardBackwardOutput`` proto: per-token logprobs ``-loss`` for every datum."""
    from tinker.proto import tinker_public_pb2 as pb

    out = pb.ForwardBackwardOutput()
    out.loss_fn_output_type = "ArrayRecord"
    rec = out.loss_fn_outputs.add()
    rec.num_datums = len(lengths)
    bt = rec.fields["logprobs"]
    bt.dtype = pb.DTYPE_FLOAT32
    values = np.full(int(sum(lengths)), -loss, dtype=np.float32)
    bt.data = values.tobytes()
    bt.offsets = (np.concatenate([[0], np.cumsum(lengths)]) * 4).astype(np.int64).tobytes()
    out.metrics["loss:sum"] = float(loss * sum(lengths))
    return bytes(out.SerializeToString())


def _sample_proto(seqs: Sequence[tuple[list[int], str]]) -> bytes:
    """Return a ``SampleResponse`` proto of ``(tokens, stop_reason)`` sequences."""
    from tinker.proto import tinker_public_pb2 as pb

    out = pb.SampleResponse()
    for tokens, reason in seqs:
        s = out.sequences.add()
        s.tokens = np.asarray(tokens, dtype=np.int32).tobytes()
        s.logprobs = np.full(len(tokens), -0.5, dtype=np.float32).tobytes()
        s.stop_reason = pb.STOP_REASON_STOP if reason == "stop" else pb.STOP_REASON_LENGTH
    return bytes(out.SerializeToString())
