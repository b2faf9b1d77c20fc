from __future__ import annotations

import pytest

from dataquality_thresholds.backends import (
    PRICE_TABLE_DATE,
    PriceTable,
    default_epochs,
    estimate_training_cost,
)
from dataquality_thresholds.errors import ConfigError


@pytest.mark.parametrize(
    ("n", "epochs"),
    [
        (1, 25),
        (3, 25),
        (4, 25),
        (5, 20),
        (10, 10),
        (33, 3),
        (34, 3),
        (100, 3),
        (8333, 3),
        (8334, 2),
        (12_500, 2),
        (12_501, 1),
        (1_000_000, 1),
    ],
)
def test_default_epochs(n, epochs):
    assert default_epochs(n) == epochs


def test_price_lookup():
    table = PriceTable.default()
    assert table.date == PRICE_TABLE_DATE
    assert table.price("gpt-4o-2024-08-06") == 25.0
    assert table.price("ft:gpt-4o-mini-2024-07-18:org::abc") == 3.0
    assert table.price("gpt-4o-mini") == 3.0  # alias prefix of a dated snapshot
    with pytest.raises(ConfigError, match="no training price"):
        table.price("claude-3")
    assert table.with_prices({"claude-3": 1.0}).price("claude-3") == 1.0


def test_cost_arithmetic_by_hand():
    # 12_000 tokens, 10 rows -> 10 epochs; 120_000 trained tokens at $25/M = $3.00
    est = estimate_training_cost(12_000, 10, base_model="gpt-4o-2024-08-06")
    assert (est.epochs, est.trained_tokens, est.usd) == (10, 120_000, pytest.approx(3.0))
    # explicit epochs and a user price: 1_000_000 x 2 x $0.5/M = $1.00
    est = estimate_training_cost(
        1_000_000, 500, base_model="mine", n_epochs=2, prices={"mine": 0.5}
    )
    assert est.usd == pytest.approx(1.0) and est.price_date == "user"
    with pytest.raises(ConfigError):
        estimate_training_cost(10, 10, base_model="gpt-4o-2024-08-06", n_epochs=0)


def test_backend_estimate_matches_hand_count(fake, mixer, word_tokenizer):
    from dataquality_thresholds.backends.openai import OpenAIBackend

    mixture = mixer.mix(0.5)
    # chat accounting: 3 per conversation + per message (3 + role + content)
    by_hand = 0
    for ex in mixture.iter_examples():
        by_hand += 3 + sum(3 + 1 + len(m.content.split()) for m in ex.messages)
    backend = OpenAIBackend(base_url=fake.base_url, tokenizer=word_tokenizer)
    est = backend.estimate_cost(mixture)
    assert est.tokens == by_hand and est.n_examples == 30
    assert est.epochs == 3  # 30 rows x 3 = 90 < 100 -> 100 // 30 = 3
    assert est.usd == pytest.approx(by_hand * 3 * 25.0 / 1e6)
    est2 = backend.estimate_cost(mixture, base_model="gpt-4.1-nano-2025-04-14", n_epochs=5)
    assert est2.usd == pytest.approx(by_hand * 5 * 1.5 / 1e6)


def test_actual_cost_is_trained_tokens_times_price():
    from dataquality_thresholds.backends._pricing import actual_training_cost

    cost = actual_training_cost(30_000, base_model="gpt-4o-mini-2024-07-18", epochs=3)
    assert cost.actual and cost.usd == pytest.approx(30_000 * 3.0 / 1e6)
    assert cost.tokens == 10_000 and cost.epochs == 3 and cost.price_date == PRICE_TABLE_DATE


def test_sampling_prices_are_validated_and_missing_ones_named():
    with pytest.raises(ConfigError, match="sampling price"):
        PriceTable({"m": 1.0}, sampling={"m": (1.0,)})
    with pytest.raises(ConfigError, match="with_sampling_prices"):
        PriceTable.default().sampling_price("ft:unknown-model:org::x")
    assert PriceTable.of(None) == PriceTable.default()
    assert PriceTable.of({"x": 2.0}).price("x") == 2.0
