"""The bad-input corpus: every malformed input is a typed error, and nothing partial is written.

``CASES`` is the corpus of the fuzz run's findings (raw exceptions and garbage that was
silently accepted), one entry per input: what is done with it, the exact error type
expected, and the field (and line) the error must name. Each case runs in an empty
folder and must leave no file behind but its own inputs. ``VALID`` lists inputs next
to them that must still be accepted. The hypothesis tests then feed generated,
mostly malformed JSONL rows to every reader and raw rows to the writers: a reader
returns records or raises a typed error, a writer writes the whole file or none.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from dataquality_thresholds.cli import build_parser, main
from dataquality_thresholds.errors import ConfigError, DataError, DataQualityThresholdsError

# --------------------------------------------------------------------------- inputs
PAIRED = {
    "id": "p1",
    "domain": "finance",
    "messages": [{"role": "user", "content": "2+2?"}],
    "correct": "4",
    "incorrect": {"obvious": "5", "subtle": "4.5"},
}
EVAL = {"id": "e1", "domain": "finance", "messages": [{"role": "user", "content": "3+3?"}]}
QUESTION = {"id": "q1", "category": "moral", "paraphrases": ["Is lying ever fine?"]}
JUDGE = {"id": "j1", "question_id": "q1", "answer": "No.", "label": "aligned"}
CHAT = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}
SURROGATE_CONTENT = '"\\ud800 broken"'  # a JSON escape that decodes to a lone surrogate
DEEP = "[" * 100_000 + "]" * 100_000
YAML_OK = '- id: q1\n  paraphrases: ["Is lying ever fine?"]\n'


def _row(obj: dict[str, Any], **raw: str) -> str:
    """One JSONL line; ``raw`` splices raw JSON text in for keys (to write what json cannot)."""
    text = json.dumps(obj)
    for key, value in raw.items():
        text = text[:-1] + f', "{key}": {value}' + "}"
    return text


def _write(tmp: Path, name: str, text: str | bytes) -> Path:
    path = tmp / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _paired_with_surrogate() -> str:
    row = dict(PAIRED, messages=[{"role": "user", "content": "PLACEHOLDER"}])
    return json.dumps(row).replace('"PLACEHOLDER"', SURROGATE_CONTENT)


def _toml(top: str = "", backend: str = "", probe: str = "", pool: str = '"sample"', ev: str = '"sample"', domain: str = "") -> str:  # fmt: skip
    return (
        f'run_dir = "run"\nseed = 0\nfractions = [0.1, 0.5, 1.0]\ncorruptions = ["obvious"]\n'
        f'size = 8\n{top}\n[backend]\nkind = "stub"\n{backend}\n[probe]\nsamples = 2\n{probe}\n'
        f'[[domain]]\nname = "finance"\npool = {pool}\neval = {ev}\n{domain}\n'
    )


def _plan(tmp: Path, text: str | bytes) -> Any:
    from dataquality_thresholds.config import build_study, load_config

    return build_study(load_config(_write(tmp, "study.toml", text)))


def _root() -> Any:
    import dataquality_thresholds

    return dataquality_thresholds


def _cli(*argv: str) -> Any:
    args = build_parser().parse_args(list(argv))
    return args.func(args)


def _dir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def _pool_file(tmp: Path, rows: int = 4) -> Path:
    lines = [json.dumps(dict(PAIRED, id=f"p{i}")) for i in range(rows)]
    return _write(tmp, "pool.jsonl", "\n".join(lines) + "\n")


def _hf(**columns: Any) -> Any:
    import datasets

    base = {
        "id": ["a", "b"],
        "domain": ["d", "d"],
        "messages": ["q1", "q2"],
        "correct": ["c1", "c2"],
        "obvious": ["x1", "x2"],
    }
    return datasets.Dataset.from_dict({**base, **columns})


def _from_hf(dataset: Any = None, **kw: Any) -> Any:
    from dataquality_thresholds.mixing import ExamplePool

    return ExamplePool.from_hf(_hf() if dataset is None else dataset, **kw)


def _load(module: str, name: str) -> Callable[..., Any]:
    import importlib

    return getattr(importlib.import_module(f"dataquality_thresholds.{module}"), name)  # type: ignore[no-any-return]


def _reader(name: str) -> Callable[..., Any]:
    return _load("io", name)


def _questions_yaml(tmp: Path, text: str | bytes) -> Any:
    from dataquality_thresholds.evaluation import load_questions_yaml

    return load_questions_yaml(_write(tmp, "q.yaml", text))


def _error_status_log() -> Any:
    pytest.importorskip("inspect_ai", reason="needs the [inspect] extra")
    from inspect_ai.log import EvalLog, EvalSpec

    from dataquality_thresholds.integrations.inspect import results_from_eval_logs

    spec = EvalSpec.model_construct(model="mockllm/model", task_args={}, metadata=None)
    log = EvalLog.model_construct(status="error", eval=spec, samples=[], location="failed.eval")
    return results_from_eval_logs([log])


# --------------------------------------------------------------------------- the corpus
# id -> (action on an empty folder, exact error type, field named, line named or None).
# Before these fixes, "raw:" ids raised a builtin or third-party exception, "silent:" ids
# were accepted, and "typed:" ids already raised a typed error (often naming another field).
Case = tuple[Callable[[Path], Any], type[Exception], str, int | None]
# fmt: off
CASES: dict[str, Case] = {
    # lone surrogates: UnicodeEncodeError when written, or accepted by `dqt validate`
    "raw: surrogate in paired JSONL, mixed": (lambda t: _cli("mix", str(_write(t, "p.jsonl", _paired_with_surrogate() + "\n")), "--out", str(t / "o"), "--size", "1"), DataError, "messages[0].content", 1),
    "typed: surrogate in paired JSONL key": (lambda t: _reader("read_paired_jsonl")(_write(t, "p.jsonl", _row(PAIRED).replace('"domain"', '"\\udc80"'))), DataError, "<key>", 1),
    "raw: surrogate in HF system": (lambda t: _from_hf(system="\ud800"), ConfigError, "system", None),
    "raw: surrogate in HF default_domain": (lambda t: _from_hf(_hf().remove_columns("domain"), default_domain="\udfff"), ConfigError, "default_domain", None),
    "silent: dqt validate passes a lone surrogate": (lambda t: _cli("validate", str(_write(t, "c.jsonl", "\n".join([json.dumps(CHAT)] * 9 + [json.dumps(CHAT).replace('"yo"', SURROGATE_CONTENT)]))), "--min-examples", "1"), DataError, "messages[1].content", 10),
    "silent: surrogate in eval JSONL": (lambda t: _reader("read_eval_jsonl")(_write(t, "e.jsonl", _row(EVAL, reference=SURROGATE_CONTENT))), DataError, "reference", 1),
    "silent: surrogate in question JSONL": (lambda t: _reader("read_probe_questions_jsonl")(_write(t, "q.jsonl", _row(QUESTION, system=SURROGATE_CONTENT))), DataError, "system", 1),
    "silent: surrogate in judge-check JSONL": (lambda t: _reader("read_judge_check_jsonl")(_write(t, "j.jsonl", _row(dict(JUDGE, answer="x")).replace('"x"', SURROGATE_CONTENT))), DataError, "answer", 1),
    "silent: surrogate in YAML question": (lambda t: _questions_yaml(t, '- id: q1\n  paraphrases: ["\\ud800"]\n'), DataError, "paraphrases[0]", 1),
    "silent: surrogate in a Message": (lambda t: _root().Message("user", "\ud800"), DataError, "content", None),
    # deep nesting: RecursionError
    "raw: deep JSON in a JSONL line": (lambda t: _reader("read_paired_jsonl")(_write(t, "p.jsonl", _row(PAIRED) + "\n" + _row(PAIRED, skill=DEEP) + "\n")), DataError, "<line>", 2),
    "raw: deep JSON in a chat file": (lambda t: _cli("validate", str(_write(t, "c.jsonl", DEEP + "\n"))), DataError, "<line>", 1),
    "raw: deep JSON manifest": (lambda t: _reader("read_manifest")(_write(t, "m.json", DEEP)), DataError, "<file>", None),
    "raw: deep TOML": (lambda t: _plan(t, "a = " + DEEP), DataError, "<toml>", None),
    "raw: deep YAML": (lambda t: _questions_yaml(t, DEEP), DataError, "<yaml>", None),
    # a directory as a path: IsADirectoryError
    "raw: directory to read_paired_jsonl": (lambda t: _reader("read_paired_jsonl")(t), DataError, "", None),
    "raw: directory to read_eval_jsonl": (lambda t: _reader("read_eval_jsonl")(t), DataError, "", None),
    "raw: directory to read_probe_questions_jsonl": (lambda t: _reader("read_probe_questions_jsonl")(t), DataError, "", None),
    "raw: directory to read_judge_check_jsonl": (lambda t: _reader("read_judge_check_jsonl")(t), DataError, "", None),
    "raw: directory to read_chat_jsonl": (lambda t: _reader("read_chat_jsonl")(t), DataError, "", None),
    "raw: directory to read_manifest": (lambda t: _reader("read_manifest")(t), DataError, "", None),
    "raw: directory to ExamplePool.from_jsonl": (lambda t: _root().ExamplePool.from_jsonl(t), DataError, "", None),
    "raw: directory to load_questions_yaml": (lambda t: _load("evaluation", "load_questions_yaml")(t), DataError, "", None),
    "raw: directory to load_config": (lambda t: _load("config", "load_config")(t), DataError, "", None),
    "raw: directory to write_paired_jsonl": (lambda t: _reader("write_paired_jsonl")(_reader("read_paired_jsonl")(_pool_file(t)), t), DataError, "", None),
    "raw: directory to write_manifest": (lambda t: _reader("write_manifest")({"schema": "x", "schema_version": 1}, t), DataError, "", None),
    "raw: dqt plan DIR": (lambda t: _cli("plan", str(t)), DataError, "", None),
    "raw: dqt run DIR": (lambda t: _cli("run", str(t), "--quiet"), DataError, "", None),
    "raw: dqt fit DIR": (lambda t: _cli("fit", str(t)), DataError, "", None),
    "raw: dqt validate DIR": (lambda t: _cli("validate", str(t)), DataError, "", None),
    "raw: dqt mix DIR": (lambda t: _cli("mix", str(t), "--out", str(t / "o")), DataError, "", None),
    "raw: dqt resume with config.toml a DIR": (lambda t: _cli("resume", str(_dir(t / "run" / "config.toml").parent)), DataError, "", None),
    # text that is not UTF-8: UnicodeDecodeError
    "raw: non-UTF-8 TOML": (lambda t: _plan(t, b'run_dir = "r"\nseed = 0\n# caf\xe9\n'), DataError, "<file>", 3),
    "raw: non-UTF-8 YAML": (lambda t: _questions_yaml(t, YAML_OK.encode() + b"# \xff\xfe\n"), DataError, "<file>", 3),
    "raw: non-UTF-8 CSV": (lambda t: _cli("fit", str(_write(t, "f.csv", b"fraction,value\n0.1,0.5\n0.5,\xe90\n"))), DataError, "<file>", 3),
    "raw: non-UTF-8 manifest": (lambda t: _reader("read_manifest")(_write(t, "m.json", b'{"schema": "\xff"}')), DataError, "<file>", 1),
    "typed: NUL in CSV": (lambda t: _cli("fit", str(_write(t, "f.csv", "fraction,value\n0.1,0.5\n0.5\x00,1\n"))), DataError, "fraction", 3),
    # config type errors: TypeError
    "raw: corruptions = [[1]]": (lambda t: _plan(t, _toml().replace('corruptions = ["obvious"]', "corruptions = [[1]]")), ConfigError, "corruptions[0]", None),
    "raw: base_model = []": (lambda t: _plan(t, _toml(backend="base_model = []")), ConfigError, "backend.base_model", None),
    "raw: questions = 5": (lambda t: _plan(t, _toml(probe="questions = 5")), ConfigError, "probe.questions", None),
    "raw: questions = a list": (lambda t: _plan(t, _toml(probe='questions = ["a.yaml"]')), ConfigError, "probe.questions", None),
    "raw: pool = 5": (lambda t: _plan(t, _toml(pool="5")), ConfigError, "domain[0].pool", None),
    "raw: pool = a list": (lambda t: _plan(t, _toml(pool='["a.jsonl"]')), ConfigError, "domain[0].pool", None),
    "raw: eval = 5": (lambda t: _plan(t, _toml(ev="5")), ConfigError, "domain[0].eval", None),
    "raw: eval = a list": (lambda t: _plan(t, _toml(ev="[]")), ConfigError, "domain[0].eval", None),
    "raw: categories = 5": (lambda t: _plan(t, _toml(probe="categories = 5")), ConfigError, "probe.categories", None),
    "raw: load_probe_questions(5)": (lambda t: _root().load_probe_questions(5), ConfigError, "categories", None),
    "raw: MisalignmentProbe(questions=5)": (lambda t: _root().MisalignmentProbe(5, None), ConfigError, "questions", None),
    # HF arguments
    "raw: HF incorrect=['obvious']": (lambda t: _from_hf(incorrect=["obvious"]), ConfigError, "incorrect", None),
    "raw: HF system=5": (lambda t: _from_hf(system=5), ConfigError, "system", None),
    "silent: HF system='   '": (lambda t: _from_hf(system="   "), ConfigError, "system", None),
    "silent: HF incorrect names the correct column": (lambda t: _from_hf(incorrect={"obvious": "correct"}), ConfigError, "incorrect.obvious", None),
    "silent: HF incorrect cell equals correct": (lambda t: _from_hf(_hf(obvious=["x1", " c2 "])), DataError, "obvious", 2),
    "silent: HF boolean message content": (lambda t: _from_hf(_hf(messages=[[{"role": "user", "content": False}], [{"role": "user", "content": True}]])), DataError, "messages[0].content", 1),
    "silent: HF NaN answer": (lambda t: _from_hf(_hf(correct=[1.5, float("nan")])), DataError, "correct", 2),
    # dqt mix arguments
    "raw: dqt mix --corruption obvious=abc": (lambda t: _cli("mix", str(_pool_file(t)), "--out", str(t / "o"), "--corruption", "obvious=abc"), ConfigError, "--corruption", None),
    "raw: dqt mix --out an existing file": (lambda t: _cli("mix", str(_pool_file(t)), "--out", str(_write(t, "taken", "x")), "--size", "2"), DataError, "", None),
    "silent: dqt mix --size 0": (lambda t: _cli("mix", str(_pool_file(t)), "--out", str(t / "o"), "--size", "0"), ConfigError, "--size", None),
    "typed: dqt mix --fractions ''": (lambda t: _cli("mix", str(_pool_file(t)), "--out", str(t / "o"), "--fractions", ","), ConfigError, "--fractions", None),
    "typed: dqt mix --corruption obvious=nan": (lambda t: _cli("mix", str(_pool_file(t)), "--out", str(t / "o"), "--corruption", "obvious=nan"), ConfigError, "--corruption", None),
    # config garbage that was accepted
    "silent: categories typo disables the probe": (lambda t: _plan(t, _toml(probe='categories = ["dangerus"]')), ConfigError, "probe.categories[0]", None),
    "silent: categories matched by substring": (lambda t: _plan(t, _toml(probe='categories = "moraldangerous"')), ConfigError, "probe.categories", None),
    "silent: categories = []": (lambda t: _plan(t, _toml(probe="categories = []")), ConfigError, "probe.categories", None),
    "silent: budget_usd = nan": (lambda t: _plan(t, _toml(top="budget_usd = nan")), ConfigError, "budget_usd", None),
    "silent: budget_usd = true": (lambda t: _plan(t, _toml(top="budget_usd = true")), ConfigError, "budget_usd", None),
    "silent: n_epochs = 'many'": (lambda t: _plan(t, _toml(backend='hyperparameters = { n_epochs = "many" }')), ConfigError, "backend.hyperparameters.n_epochs", None),
    "silent: n_epochs = -1": (lambda t: _plan(t, _toml(backend="hyperparameters = { n_epochs = -1 }")), ConfigError, "backend.hyperparameters.n_epochs", None),
    "silent: unknown hyperparameter lr = nan": (lambda t: _plan(t, _toml(backend="hyperparameters = { lr = nan }")), ConfigError, "backend.hyperparameters.lr", None),
    "silent: learning_rate_multiplier = nan": (lambda t: _plan(t, _toml(backend="hyperparameters = { learning_rate_multiplier = nan }")), ConfigError, "backend.hyperparameters.learning_rate_multiplier", None),
    "silent: base_url = 5": (lambda t: _plan(t, _toml(backend="base_url = 5", probe='judge = "openai"').replace('kind = "stub"', 'kind = "openai"')), ConfigError, "backend.base_url", None),
    "silent: fractions = [true, false, 0.5]": (lambda t: _plan(t, _toml().replace("fractions = [0.1, 0.5, 1.0]", "fractions = [true, false, 0.5]")), ConfigError, "fractions[0]", None),
    "silent: samples = true": (lambda t: _plan(t, _toml().replace("samples = 2", "samples = true")), ConfigError, "probe.samples", None),
    "typed: replicates = true": (lambda t: _plan(t, _toml(top="replicates = true")), ConfigError, "replicates", None),
    # rows that were accepted
    "silent: paired incorrect equals correct": (lambda t: _reader("read_paired_jsonl")(_write(t, "p.jsonl", json.dumps(dict(PAIRED, incorrect={"obvious": " 4"})))), DataError, "incorrect.obvious", 1),
    "typed: NaN in a JSONL row": (lambda t: _reader("read_paired_jsonl")(_write(t, "p.jsonl", _row(PAIRED, skill="NaN"))), DataError, "<line>", 1),
    "silent: duplicate key in a JSONL row": (lambda t: _reader("read_paired_jsonl")(_write(t, "p.jsonl", _row(PAIRED, correct='"5"'))), DataError, "<line>", 1),
    "silent: float weight 1.0": (lambda t: _reader("read_chat_jsonl")(_write(t, "c.jsonl", json.dumps(CHAT).replace('"yo"}', '"yo", "weight": 1.0}')), min_examples=1), DataError, "messages[1].weight", 1),
    "silent: integer content counted as digits": (lambda t: _root().count_chat_tokens([{"role": "user", "content": 5}], tokenizer=_Chars()), DataError, "messages[0].content", None),
    "silent: YAML judge_prompts: []": (lambda t: _questions_yaml(t, YAML_OK + "  judge_prompts: []\n"), DataError, "judge_prompts", 1),
    "silent: YAML category: astrology": (lambda t: _questions_yaml(t, YAML_OK + "  category: astrology\n"), DataError, "category", 1),
    "raw: write_manifest with NaN": (lambda t: _reader("write_manifest")({"schema": "x", "schema_version": 1, "v": float("nan")}, t / "m.json"), DataError, "<manifest>", None),
    "silent: inspect log with status error": (lambda t: _error_status_log(), DataError, "status", None),
}
# fmt: on


class _Chars:
    """A tokenizer that counts characters (no tiktoken needed)."""

    def encode(self, text: str) -> list[int]:
        return [ord(c) for c in text]


# Inputs next to the corpus that must still be accepted (no over-refusal).
VALID: dict[str, Callable[[Path], Any]] = {
    "categories = 'moral' is one category": lambda t: _plan(t, _toml(probe='categories = "moral"')),
    "hyperparameters n_epochs = 'auto'": lambda t: _plan(
        t, _toml(backend='hyperparameters = { n_epochs = "auto", learning_rate_multiplier = 0.5 }')
    ),
    "budget_usd = 0": lambda t: _plan(t, _toml(top="budget_usd = 0")),
    "a surrogate pair is one character": lambda t: _reader("read_paired_jsonl")(
        _write(t, "p.jsonl", _row(PAIRED, skill='"\\ud83d\\ude00"'))
    ),
    "YAML judge_prompts with nothing after it": lambda t: _questions_yaml(
        t, YAML_OK + "  judge_prompts:\n"
    ),
    "HF system prompt": lambda t: _from_hf(system="Be brief."),
    "HF integer message content is written as text": lambda t: _from_hf(
        _hf(messages=[[{"role": "user", "content": 5}], [{"role": "user", "content": 6}]])
    ),
    "dqt mix --size 2": lambda t: _cli(
        "mix", str(_pool_file(t)), "--out", str(t / "o"), "--size", "2", "--fractions", "0,1"
    ),
}


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_a_typed_error_naming_the_field(name, tmp_path, monkeypatch):
    action, expected, field, line = CASES[name]
    monkeypatch.chdir(tmp_path)
    work = tmp_path / "w"
    work.mkdir()
    inputs: set[Path] = set()
    real_write = _write

    def recording_write(tmp: Path, file: str, text: str | bytes) -> Path:
        path = real_write(tmp, file, text)
        inputs.add(path)
        return path

    monkeypatch.setitem(globals(), "_write", recording_write)
    with pytest.raises(DataQualityThresholdsError) as info:
        action(work)
    exc: Any = info.value
    assert type(info.value) is expected, f"{name}: {type(exc).__name__}: {exc}"
    if field:
        assert exc.field == field, f"{name}: field {exc.field!r}: {exc}"
        assert field in str(exc)
    if line is not None:
        where = f"{exc.path}:{line}" if getattr(exc, "path", None) else f"row {line}"
        assert exc.line == line and where in str(exc), f"{name}: {exc}"
    if expected is DataError and exc.path is not None:
        assert exc.path in str(exc)
    # nothing partial: no file but the case's own inputs (pool files, configs ...)
    left = {p for p in _files(tmp_path) if p not in inputs}
    assert not left, f"{name} left {sorted(str(p) for p in left)}"


@pytest.mark.parametrize("name", list(VALID))
def test_valid_neighbours_are_still_accepted(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    VALID[name](tmp_path)


def test_cli_reports_bad_input_as_exit_2_without_a_traceback(tmp_path, capsys):
    pool = _pool_file(tmp_path)
    (tmp_path / "taken").write_text("x")
    for argv in (
        ["mix", str(pool), "--out", str(tmp_path / "o"), "--corruption", "obvious=abc"],
        ["mix", str(pool), "--out", str(tmp_path / "taken")],
        ["mix", str(pool), "--out", str(tmp_path / "o"), "--size", "0"],
        ["validate", str(tmp_path)],
        ["fit", str(tmp_path)],
        ["plan", str(tmp_path)],
    ):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("dqt: error: ") and "Traceback" not in err, err
    assert not (tmp_path / "o").exists()


def test_categories_moral_selects_exactly_the_moral_questions(tmp_path):
    study = _plan(tmp_path, _toml(probe='categories = "moral"'))
    assert {q.category for q in study.probe.questions} == {"moral"}


# --------------------------------------------------------------------------- generated rows
_TEXT = st.one_of(
    st.text(max_size=8),
    st.sampled_from(["", "  ", "\ud800", "x\udfffy", "obvious", "user", "NaN"]),
)
_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=False), _TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_TEXT, inner, max_size=3)),
    max_leaves=8,
)
_KEYS = ["id", "domain", "messages", "correct", "incorrect", "skill", "category", "paraphrases",
         "system", "question_id", "answer", "label", "reference", "schema_version", "weight"]  # fmt: skip
_READERS: dict[str, dict[str, Any]] = {"read_paired_jsonl": PAIRED, "read_eval_jsonl": EVAL, "read_chat_jsonl": CHAT,
            "read_probe_questions_jsonl": QUESTION, "read_judge_check_jsonl": JUDGE}  # fmt: skip
_JUNK = ["{", "[]", "nan", '{"id": NaN}', DEEP[:5000] + DEEP[-5000:], '{"a": 1, "a": 2}',
         '{"id": "\\ud800"}', "\x00", "  "]  # fmt: skip


@st.composite
def _malformed_line(draw: st.DrawFn, base: dict[str, Any], n: int) -> str:
    """Line ``n`` of a file of ``base`` rows: the row with up to three keys replaced,
    dropped or added, or raw junk (truncated JSON, NaN, deep nesting, a surrogate escape)."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from(_JUNK))
    row: dict[str, Any] = json.loads(json.dumps(base))
    if "id" in row:
        row["id"] = f"{row['id']}-{n}"
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from(_KEYS))
        if draw(st.booleans()):
            row[key] = draw(_JSON)
        else:
            row.pop(key, None)
    if draw(st.booleans()) and isinstance(row.get("messages"), list) and row["messages"]:
        msg = row["messages"][-1]
        if isinstance(msg, dict):
            msg[draw(st.sampled_from(["role", "content", "name", "weight"]))] = draw(_JSON)
    return json.dumps(row, ensure_ascii=True)  # lone surrogates travel as \\udxxx escapes


@st.composite
def _jsonl_file(draw: st.DrawFn) -> tuple[str, bytes]:
    reader = draw(st.sampled_from(sorted(_READERS)))
    n = draw(st.integers(1, 4))
    lines = [draw(_malformed_line(_READERS[reader], i)) for i in range(n)]
    data = "\n".join(lines).encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 9)) == 0:
        data += b"\n" + draw(st.binary(min_size=1, max_size=6))
    return reader, data


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=_jsonl_file())
def test_readers_give_records_or_typed_errors(tmp_path_factory, case):
    reader, data = case
    folder = tmp_path_factory.mktemp("rows")
    path = folder / "rows.jsonl"
    path.write_bytes(data)
    kwargs = {"min_examples": 1, "count_tokens": False} if reader == "read_chat_jsonl" else {}
    try:
        out = _reader(reader)(path, **kwargs)
    except (DataError, ConfigError) as exc:
        assert isinstance(exc, ConfigError) or exc.path == str(path), exc
        assert list(folder.iterdir()) == [path]
        return
    rows = out[0] if reader == "read_chat_jsonl" else out
    assert rows
    # every record it returned is writable and reads back the same
    back = folder / "back.jsonl"
    if reader == "read_chat_jsonl":
        _reader("write_chat_jsonl")(rows, back, min_examples=1, count_tokens=False)
        assert _reader(reader)(back, **kwargs)[0] == rows
    else:
        _reader(reader.replace("read_", "write_"))(rows, back)
        assert _reader(reader)(back) == rows


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(st.one_of(st.just(CHAT), _JSON.map(lambda m: {"messages": [CHAT["messages"][0], m]})),
                     min_size=1, max_size=4))  # fmt: skip
def test_writers_write_the_whole_file_or_none(tmp_path_factory, rows):
    folder = tmp_path_factory.mktemp("write")
    path = folder / "out.jsonl"
    try:
        report = _reader("write_chat_jsonl")(rows, path, min_examples=1, count_tokens=False)
    except (DataError, ConfigError):
        assert list(folder.iterdir()) == []
        return
    assert report.n_examples == len(rows)
    assert len(path.read_bytes().splitlines()) == len(rows)
