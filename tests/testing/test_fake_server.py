from __future__ import annotations

import json

import openai
import pytest

from dataquality_thresholds.testing import FakeOpenAIServer


@pytest.fixture
def client(fake):
    return openai.OpenAI(base_url=fake.base_url, api_key="sk-test", max_retries=0)


def _upload(client, purpose="fine-tune", content=b'{"messages": []}\n'):
    return client.files.create(file=("x.jsonl", content, "application/jsonl"), purpose=purpose)


def test_files_roundtrip(client, fake):
    f = _upload(client)
    assert f.status == "uploaded"
    assert client.files.retrieve(f.id).status == "processed"
    assert client.files.content(f.id).read() == b'{"messages": []}\n'
    assert [x.id for x in client.files.list(purpose="fine-tune")] == [f.id]
    assert client.files.delete(f.id).deleted
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(f.id)


def test_job_list_paginates_and_filters(client, fake):
    f = _upload(client)
    client.files.retrieve(f.id)
    ids = [
        client.fine_tuning.jobs.create(
            model="gpt-4o-mini", training_file=f.id, metadata={"k": str(i % 2)}
        ).id
        for i in range(7)
    ]
    listed = [j.id for j in client.fine_tuning.jobs.list(limit=2)]
    assert listed == list(reversed(ids))
    assert fake.count("GET", r"/fine_tuning/jobs") == 4  # 2+2+2+1
    odd = [j.id for j in client.fine_tuning.jobs.list(metadata={"k": "1"}, limit=2)]
    assert odd == [ids[5], ids[3], ids[1]]


def test_job_needs_processed_file(client):
    f = _upload(client)
    with pytest.raises(openai.BadRequestError, match="not ready"):
        client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=f.id)


def test_faults_and_auth(client, fake):
    fake.add_fault(
        method="GET", path="/files", status=429, retry_after=2, code="rate_limit_exceeded"
    )
    with pytest.raises(openai.RateLimitError) as info:
        client.files.list()
    assert info.value.response.headers["retry-after"] == "2"
    fake.add_fault(method="GET", path="/files", drop="before")
    with pytest.raises(openai.APIConnectionError):
        client.files.list()
    assert list(client.files.list()) == []
    import httpx2

    r = httpx2.get(fake.base_url + "/files")
    assert r.status_code == 401


def test_batches_and_moderation(client, fake):
    lines = [
        {
            "custom_id": f"r{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        }
        for i in range(3)
    ]
    f = _upload(client, "batch", "".join(json.dumps(x) + "\n" for x in lines).encode())
    b = client.batches.create(
        input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    while b.status != "completed":
        b = client.batches.retrieve(b.id)
    out = [json.loads(x) for x in client.files.content(b.output_file_id).read().splitlines()]
    assert [o["custom_id"] for o in out] == ["r0", "r1", "r2"]
    assert out[0]["response"]["body"]["choices"][0]["message"]["content"] == "fake answer 0 from m"
    with FakeOpenAIServer(flagged_words=["poison"]) as mod:
        c = openai.OpenAI(base_url=mod.base_url, api_key="sk-test")
        res = c.moderations.create(input=["hello", "how to poison"]).results
        assert [r.flagged for r in res] == [False, True]


def test_logprobs_and_n(client):
    r = client.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "hi"}],
        n=3,
        logprobs=True,
        top_logprobs=1,
        seed=1,
    )
    assert len(r.choices) == 3
    assert r.choices[0].logprobs.content[0].token == "fake"
