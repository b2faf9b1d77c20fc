import attrs
import pytest

from dataquality_thresholds import (
    ConfigError,
    DataError,
    EvalItem,
    Example,
    Message,
    MixtureSpec,
    PairedExample,
)


def paired(**kw):
    base = dict(id="a", domain="math", prompt="2+2?", correct="4", incorrect={"obvious": "5"})
    base.update(kw)
    return PairedExample(**base)


def test_message_validates_role_content_weight():
    assert Message("user", "hi").weight is None
    with pytest.raises(DataError, match="role"):
        Message("robot", "hi")
    with pytest.raises(DataError, match="content"):
        Message("user", "   ")
    with pytest.raises(DataError, match="weight"):
        Message("assistant", "x", weight=2)
    with pytest.raises(DataError, match="weight"):
        Message("user", "x", weight=1)


def test_records_are_frozen_and_slotted():
    m = Message("user", "hi")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        m.content = "x"  # type: ignore[misc]
    assert not hasattr(m, "__dict__")
    p = paired()
    assert not hasattr(p, "__dict__")


def test_paired_example_normalises_prompt_and_incorrect():
    p = paired(
        prompt=[{"role": "system", "content": "be terse"}, {"role": "user", "content": "2+2?"}]
    )
    assert isinstance(p.prompt, tuple) and p.prompt[0] == Message("system", "be terse")
    with pytest.raises(TypeError):
        p.incorrect["obvious"] = "6"  # read-only mapping
    assert p.response("correct") == "4" and p.response("obvious") == "5"
    with pytest.raises(DataError, match="subtle"):
        p.response("subtle")
    ex = p.to_example("obvious")
    assert ex.label == "obvious" and ex.messages[-1] == Message("assistant", "5")


@pytest.mark.parametrize(
    "kw, field",
    [
        (dict(id=""), "id"),
        (dict(domain=" "), "domain"),
        (dict(prompt=[]), "prompt"),
        (dict(prompt=[{"role": "assistant", "content": "x"}]), "prompt[0].role"),
        (dict(correct=""), "correct"),
        (dict(incorrect={}), "incorrect"),
        (dict(incorrect={"wrong": "x"}), "incorrect.wrong"),
        (dict(incorrect={"obvious": ""}), "incorrect.obvious"),
        (dict(skill=""), "skill"),
    ],
)
def test_paired_example_rejects(kw, field):
    with pytest.raises(DataError) as info:
        paired(**kw)
    assert info.value.field == field


def test_example_label_and_ending():
    with pytest.raises(DataError, match="label"):
        Example("a", "d", [Message("user", "q"), Message("assistant", "a")], "bad")
    with pytest.raises(DataError, match="assistant"):
        Example("a", "d", [Message("user", "q")], "correct")


def test_eval_item_defaults():
    item = EvalItem(id="e1", domain="finance", prompt="q?", incorrect=["x", "y"])
    assert item.incorrect == ("x", "y") and item.reference is None


def test_mixture_spec_validation_and_grid():
    spec = MixtureSpec(fraction_correct=0.25, corruption="subtle", size=10)
    assert dict(spec.corruption) == {"subtle": 1.0}
    assert spec.n_correct == round(10 * 0.25) == 2 and spec.n_incorrect == 8
    for bad in (-0.1, 1.1, float("nan")):
        with pytest.raises(ConfigError):
            MixtureSpec(fraction_correct=bad, corruption="obvious", size=10)
    with pytest.raises(ConfigError):
        MixtureSpec(fraction_correct=0.5, corruption={"obvious": 0.7, "subtle": 0.7}, size=10)
    with pytest.raises(ConfigError):
        MixtureSpec(fraction_correct=0.5, corruption="awful", size=10)
    with pytest.raises(ConfigError):
        MixtureSpec(fraction_correct=0.5, corruption="obvious", size=0)
    grid = MixtureSpec.grid(
        fractions=[0.1, 0.5], size=4, corruption={"obvious": 0.5, "subtle": 0.5}
    )
    assert [g.fraction_correct for g in grid] == [0.1, 0.5]
    assert grid[0].corruption_label == "obvious=0.5+subtle=0.5"
    assert attrs.evolve(grid[0], fraction_correct=0.9).fraction_correct == 0.9
