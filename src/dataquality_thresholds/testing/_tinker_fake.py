"""A local HTTP server that the real ``tinker`` SDK talks to: the Tinker service, faked.

:class:`FakeTinkerServer` runs on ``127.0.0.1`` in a background thread. Point the
SDK at it with ``base_url=`` (``tinker.ServiceClient(base_url=..., api_key="tml-...")``)
or ``TINKER_BASE_URL``; everything above the HTTP connection is the SDK's own code:
its futures and polling, its retries, its protobuf encoding of forward/backward
passes and of samples.

>>> import tinker
>>> from dataquality_thresholds.testing import FakeTinkerServer
>>> with FakeTinkerServer() as server:  # doctest: +SKIP
...     rest = tinker.RestClient(base_url=server.base_url, api_key="tml-test")
...     rest.list_training_runs().result().training_runs
[]

Endpoints (under ``/api/v1``): client config, sessions and heartbeats, telemetry,
``create_model``, ``get_info``, ``forward_backward`` (protobuf), ``optim_step``,
``save_weights``, ``save_weights_for_sampler``, ``load_weights`` (also
create-via-load), ``retrieve_future`` (JSON or protobuf), sampling sessions and
``asample``, ``training_runs`` (list, get, checkpoints), ``checkpoints``.

Faults (:meth:`FakeTinkerServer.add_fault`, the same :class:`Fault` records as
:class:`FakeOpenAIServer`'s) answer a matching request with an error status and an
optional ``Retry-After``, add latency, or drop the connection before or after the
server acted. ``path`` is matched against the full path (``/api/v1/optim_step``).

The server checks that an ``X-API-Key`` header is present but never stores it.
"""

from __future__ import annotations

import email.message
import json
from typing import Any

from dataquality_thresholds.testing._local_server import Fault, LocalAPIServer
from dataquality_thresholds.testing._tinker_fake_state import (
    TinkerApiError,
    TinkerFakeState,
    TinkerResponder,
)

__all__ = ["FakeTinkerServer"]


class FakeTinkerServer(LocalAPIServer):
    """A stateful fake of the Tinker service on ``127.0.0.1``; use it as a context manager.

    Parameters
    ----------
    responder : callable, optional
        ``responder(model, prompt, *, n, temperature, seed, max_tokens) -> list``
        answers samples; ``model`` is the sampler path (``tinker://...``) or the base
        model, ``prompt`` the decoded prompt text when ``tokenizer`` is given (else
        the prompt's token ids). Answers are strings (encoded with ``tokenizer``,
        EOS appended) or token-id lists.
    tokenizer : object, optional
        A ``transformers`` tokenizer (or anything with ``encode``, ``decode`` and
        ``eos_token_id``) for the responder's prompts and answers.
    future_polls : int
        ``try_again`` answers before each future's result (0: at once).
    use_pyqwest : bool
        What the client config tells the SDK about its pyqwest transport.
    port : int
        0 picks a free port.

    Attributes
    ----------
    base_url : str
        ``http://127.0.0.1:<port>``, for the SDK's ``base_url=``.
    state : TinkerFakeState
        Sessions, runs, checkpoints, samplers, futures and counters.
    requests : list of RecordedRequest
        Every request received, in order (paths in full, ``/api/v1/...``).
    """

    binary_type = "application/x-protobuf"
    accepts_put = True

    def __init__(
        self,
        *,
        responder: TinkerResponder | None = None,
        tokenizer: Any = None,
        future_polls: int = 0,
        use_pyqwest: bool = False,
        port: int = 0,
    ) -> None:
        self.state = TinkerFakeState(
            responder=responder,
            tokenizer=tokenizer,
            future_polls=future_polls,
            use_pyqwest=use_pyqwest,
        )
        super().__init__(port=port)

    def __repr__(self) -> str:
        state = "running" if self._server is not None else "stopped"
        return (
            f"FakeTinkerServer({state}, runs={len(self.state.runs)}, "
            f"checkpoints={len(self.state.checkpoints)})"
        )

    # ------------------------------------------------------------------ inspection
    def runs(self, **metadata: str) -> list[dict[str, Any]]:
        """Return copies of the training runs whose user metadata has ``metadata``, oldest first."""
        with self._lock:
            found = [
                dict(r)
                for r in self.state.runs.values()
                if all(r["user_metadata"].get(k) == v for k, v in metadata.items())
            ]
        return sorted(found, key=lambda r: r["created"])

    def checkpoints(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Return copies of the checkpoints (of ``kind`` if given), oldest first."""
        with self._lock:
            found = [
                dict(c)
                for c in self.state.checkpoints.values()
                if kind is None or c["checkpoint_type"] == kind
            ]
        return sorted(found, key=lambda c: c["time"])

    def counter(self, name: str) -> int:
        """Return a counter of what the service did.

        ``runs_created`` (from the base model), ``runs_loaded`` (from a checkpoint),
        ``forward_backward``, ``optim_step``, ``save_training``, ``save_sampler``,
        ``samples``, ``sampling_sessions``, ``sessions``.
        """
        with self._lock:
            return self.state.counters.get(name, 0)

    # ------------------------------------------------------------------ internals
    def _answer(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        raw: bytes,
        headers: email.message.Message,
        fault: Fault | None,
    ) -> tuple[int, Any]:
        proto_ok = "application/x-protobuf" in headers.get("Accept", "")
        idem = headers.get("X-Idempotency-Key")
        try:
            if not headers.get("X-API-Key", "").strip():
                raise TinkerApiError(401, "missing X-API-Key")
            if fault is not None and fault.status is not None:
                raise TinkerApiError(fault.status, fault.message)
            with self._lock:
                if idem and method == "POST" and idem in self.state.idempotent:
                    return self.state.idempotent[idem]
                answer = self._route(method, path, query, raw, headers, proto_ok)
                if idem and method == "POST":
                    self.state.idempotent[idem] = answer
                return answer
        except TinkerApiError as exc:
            return exc.status, exc.body()

    def _extra_headers(self, path: str, status: int) -> list[tuple[str, str]]:
        if path.endswith("/client/config"):
            # The SDK reads its config through a one-off connection pool it never
            # closes; closing the connection here keeps its socket from leaking.
            return [("Connection", "close")]
        return []

    def _route(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        raw: bytes,
        headers: Any,
        proto_ok: bool,
    ) -> tuple[int, Any]:
        st = self.state
        if not path.startswith("/api/v1/"):
            raise TinkerApiError(404, f"unknown endpoint {method} {path}")
        segs = [s for s in path[len("/api/v1/") :].split("/") if s]

        def body() -> dict[str, Any]:
            try:
                data = json.loads(raw or b"{}")
            except ValueError as exc:
                raise TinkerApiError(400, f"invalid JSON body: {exc}") from None
            if not isinstance(data, dict):
                raise TinkerApiError(400, "the JSON body must be an object")
            return data

        match method, segs:
            case "POST", ["client", "config"]:
                return 200, st.client_config()
            case "POST", ["client", "dynamic_config"]:
                return 200, {"refresh_interval_sec": 300}
            case "GET", ["get_server_capabilities"]:
                return 200, st.capabilities()
            case "GET", ["healthz"]:
                return 200, {"status": "ok"}
            case "POST", ["create_session"]:
                return 200, st.create_session(body())
            case "POST", ["session_heartbeat"]:
                return 200, {"type": "session_heartbeat"}
            case "POST", ["sessions", sid, "finish"]:
                st.finish_session(sid)
                return 200, {}
            case "POST", ["telemetry"]:
                return 200, {"status": "accepted"}
            case "POST", ["create_model"]:
                return 200, st.create_model(body())
            case "POST", ["get_info"]:
                return 200, st.get_info(body())
            case "POST", ["forward_backward"]:
                return 200, st.forward_backward(_decode_fwdbwd(raw, headers))
            case "POST", ["optim_step"]:
                return 200, st.optim_step(body())
            case "POST", ["save_weights"]:
                return 200, st.save_weights(body())
            case "POST", ["save_weights_for_sampler"]:
                return 200, st.save_weights_for_sampler(body())
            case "POST", ["load_weights"]:
                return 200, st.load_weights(body())
            case "POST", ["retrieve_future"]:
                result, is_proto = st.retrieve_future(body())
                if is_proto and not proto_ok:
                    raise TinkerApiError(406, "this result is only served as protobuf")
                return 200, result
            case "POST", ["create_sampling_session"]:
                return 200, st.create_sampling_session(body())
            case "GET", ["samplers", ssid]:
                return 200, st.get_sampler(ssid)
            case "POST", ["asample"]:
                return 200, st.asample(body())
            case "POST", ["cancel_future"]:
                return 200, {}
            case "GET", ["training_runs"]:
                return 200, st.list_training_runs(query)
            case "GET", ["training_runs", run_id]:
                return 200, st.get_training_run(run_id)
            case "GET", ["training_runs", run_id, "checkpoints"]:
                return 200, st.list_checkpoints(run_id)
            case "GET", ["checkpoints"]:
                return 200, st.list_user_checkpoints(query)
        raise TinkerApiError(404, f"unknown endpoint {method} {path}")


def _decode_fwdbwd(raw: bytes, headers: Any) -> Any:
    from tinker.proto import tinker_public_pb2 as pb

    if headers.get("Content-Encoding", "") == "zstd":
        import zstandard

        raw = zstandard.ZstdDecompressor().decompress(raw)
    msg = pb.ForwardBackwardRequest()
    try:
        msg.ParseFromString(raw)
    except Exception as exc:  # the protobuf runtime's DecodeError
        raise TinkerApiError(400, f"invalid ForwardBackwardRequest: {exc}") from None
    return msg
