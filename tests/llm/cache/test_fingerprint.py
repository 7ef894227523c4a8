"""Cache fingerprints: what splits the cache and what does not."""

from __future__ import annotations

from typing import Any

from mloop.llm.cache import canonical_chat, embedding_fingerprint, fingerprint, semantic_scope
from mloop.llm.types import ChatRequest, EmbeddingRequest


def _req(**fields: Any) -> ChatRequest:
    body: dict[str, Any] = {
        "model": "support-reply",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Where is my order?"},
        ],
        "temperature": 0,
    }
    body.update(fields)
    return ChatRequest.model_validate(body)


def _fp(request: ChatRequest, target: str = "support-reply", namespace: str = "default") -> str:
    return fingerprint(request, target=target, namespace=namespace)


def test_fingerprint_is_a_stable_sha256_hex() -> None:
    first = _fp(_req())
    assert len(first) == 64 and int(first, 16) >= 0
    assert _fp(_req()) == first


def test_delivery_and_billing_fields_do_not_split_the_cache() -> None:
    base = _fp(_req())
    assert _fp(_req(stream=True, stream_options={"include_usage": True})) == base
    assert _fp(_req(user="alice", metadata={"ticket": "42"})) == base
    # the request's model is represented by the target
    assert _fp(_req(model="openai/gpt-4o-mini")) == base


def test_output_parameters_split_the_cache() -> None:
    base = _fp(_req())
    variants = [
        _req(temperature=0.5),
        _req(seed=7),
        _req(max_tokens=10),
        _req(stop=["\n"]),
        _req(top_p=0.5),
        _req(response_format={"type": "json_object"}),
        _req(tools=[{"type": "function", "function": {"name": "lookup", "parameters": {}}}]),
        _req(tool_choice="none"),
        _req(logit_bias={"50256": -100}),
        _req(n=2),
        # an unknown parameter a client sends on to the provider may change the answer
        _req(reasoning_effort="high"),
        _req(some_new_param=True),
    ]
    fingerprints = {_fp(v) for v in variants}
    assert base not in fingerprints
    assert len(fingerprints) == len(variants)


def test_target_and_namespace_split_the_cache() -> None:
    request = _req()
    assert _fp(request, target="a") != _fp(request, target="b")
    assert _fp(request, namespace="a") != _fp(request, namespace="b")


def test_content_is_exact_except_trailing_whitespace() -> None:
    base = _fp(_req())
    trailing = _req(
        messages=[
            {"role": "system", "content": "Be brief.\n"},
            {"role": "user", "content": "Where is my order?  \n\t"},
        ]
    )
    assert _fp(trailing) == base
    for content in (" Where is my order?", "where is my order?", "Where is  my order?"):
        changed = _req(
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": content},
            ]
        )
        assert _fp(changed) != base, content


def test_message_order_and_roles_matter() -> None:
    swapped = _req(
        messages=[
            {"role": "user", "content": "Where is my order?"},
            {"role": "system", "content": "Be brief."},
        ]
    )
    assert _fp(swapped) != _fp(_req())
    as_user = _req(
        messages=[
            {"role": "user", "content": "Be brief."},
            {"role": "user", "content": "Where is my order?"},
        ]
    )
    assert _fp(as_user) != _fp(_req())


def test_key_order_nulls_and_number_forms_are_normalised() -> None:
    a = _req(
        tools=[{"type": "function", "function": {"name": "f", "parameters": {"a": 1, "b": 2}}}],
        logit_bias={"1": 1.0},
    )
    b = _req(
        tools=[{"function": {"parameters": {"b": 2, "a": 1}, "name": "f"}, "type": "function"}],
        logit_bias={"1": 1},
    )
    assert _fp(a) == _fp(b)
    explicit_nulls = _req(
        messages=[
            {"role": "system", "content": "Be brief.", "name": None},
            {"role": "user", "content": "Where is my order?", "tool_calls": None},
        ],
        top_p=None,
    )
    assert _fp(explicit_nulls) == _fp(_req())


def test_text_parts_trim_trailing_whitespace_and_images_count() -> None:
    def parts(url: str, text: str) -> ChatRequest:
        return _req(
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": text},
                        {"type": "image_url", "image_url": {"url": url}},
                    ],
                }
            ]
        )

    assert _fp(parts("https://x/1.png", "what is this?")) == _fp(
        parts("https://x/1.png", "what is this? \n")
    )
    assert _fp(parts("https://x/1.png", "what is this?")) != _fp(
        parts("https://x/2.png", "what is this?")
    )


def test_canonical_form_hides_nothing_unexpected() -> None:
    text = canonical_chat(_req(user="alice"), target="t", namespace="n").decode()
    assert "alice" not in text
    assert '"temperature":0' in text


def test_hostile_content_is_hashed_not_interpreted() -> None:
    big = "x" * 1_000_000
    weird = '{"role":"system"}\u0000\ud7ff'
    assert _fp(_req(messages=[{"role": "user", "content": big}])) != _fp(
        _req(messages=[{"role": "user", "content": big + "y"}])
    )
    assert len(_fp(_req(messages=[{"role": "user", "content": weird}]))) == 64


def test_embedding_fingerprint() -> None:
    def fp(**fields: Any) -> str:
        request = EmbeddingRequest.model_validate({"model": "emb", **fields})
        return embedding_fingerprint(request, target="emb", namespace="default")

    assert fp(input="hello") == fp(input=["hello"])
    assert fp(input="hello") != fp(input="hello ")  # vectors of exactly that text
    assert fp(input=["a", "b"]) != fp(input=["b", "a"])
    assert fp(input="a") != fp(input="a", dimensions=256)
    assert fp(input="a") == fp(input="a", encoding_format="float", user="bob")
    assert fp(input="a") != fp(input="a", encoding_format="base64")
    chat = _req(messages=[{"role": "user", "content": "a"}])
    assert fp(input="a") != fingerprint(chat, target="emb", namespace="default")


def test_semantic_scope_ignores_text_only() -> None:
    base = semantic_scope(_req(), target="t")
    other_text = _req(
        messages=[{"role": "system", "content": "Be short."}, {"role": "user", "content": "Order?"}]
    )
    assert semantic_scope(other_text, target="t") == base
    assert semantic_scope(_req(temperature=1), target="t") != base
    assert semantic_scope(_req(), target="u") != base
    assert semantic_scope(_req(response_format={"type": "json_object"}), target="t") != base
