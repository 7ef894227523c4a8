"""The template sandbox and variable binding, without a store: hostile templates cannot
reach Python internals or exhaust memory; references parse strictly."""

from __future__ import annotations

from typing import Any

import pytest

from mloop.core.errors import ValidationError
from mloop.prompts.checks import PromptRef, parse_prompt_ref
from mloop.prompts.schemas import PromptContent, PromptMessage, PromptVariable
from mloop.prompts.template import (
    MAX_RENDERED_CHARS,
    bind_variables,
    check_templates,
    render_content,
    render_template,
)

HOSTILE = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ x.__class__.__base__ }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ '{0.__class__.__mro__}'.format(x) }}",
    "{{ x.format_map({}) if false else (x|attr('__class__')) }}",
    "{% set f = namespace.__init__ %}{{ f }}",
    "{{ self._TemplateReference__context }}",
]


@pytest.mark.parametrize("source", HOSTILE)
def test_hostile_templates_cannot_leave_the_sandbox(source: str) -> None:
    with pytest.raises(ValidationError) as err:
        render_template(source, {"x": "text"}, "messages[0].content")
    assert err.value.field == "messages[0].content"
    assert "<class" not in err.value.message and "uid=" not in err.value.message


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ 'a' * 1000000000 }}", "repetition"),
        ("{{ [1] * 1000000000 }}", "repetition"),
        ("{{ 1000000000 * 'a' }}", "repetition"),
        ("{{ 10 ** 100000 }}", "exponent"),
        ("{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}", "more than"),
        ("{% for i in range(10**8) %}{% endfor %}", "failed to render"),
    ],
)
def test_templates_cannot_exhaust_memory(source: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        render_template(source, {}, "text")


def test_output_up_to_the_limit_renders() -> None:
    source = "{% for i in range(n) %}{{ s }}{% endfor %}"
    out = render_template(source, {"n": MAX_RENDERED_CHARS // 1024, "s": "x" * 1024})
    assert len(out) == MAX_RENDERED_CHARS
    with pytest.raises(ValidationError, match="more than"):
        render_template(source + "!", {"n": MAX_RENDERED_CHARS // 1024, "s": "x" * 1024})


def test_variable_values_are_data_not_templates() -> None:
    out = render_template("Q: {{ q }}", {"q": "{{ 7 * 7 }} {% raw %}"})
    assert out == "Q: {{ 7 * 7 }} {% raw %}"


def test_strict_undefined_and_runtime_errors_name_the_field() -> None:
    with pytest.raises(ValidationError, match="has no attribute 'missing'") as err:
        render_template("{{ obj.missing }}", {"obj": {}}, "messages[2].content")
    assert err.value.field == "messages[2].content"
    with pytest.raises(ValidationError, match="ZeroDivisionError"):
        render_template("{{ 1 / 0 }}", {})


def test_check_templates_finds_syntax_errors_and_undeclared_variables() -> None:
    bad = PromptContent(messages=[PromptMessage(role="user", content="{% for x in %}")])
    with pytest.raises(ValidationError, match="not a valid template") as err:
        check_templates(bad)
    assert err.value.field == "messages[0].content"
    loops = PromptContent(
        text="{% for item in items %}{{ item }}{% endfor %}{% set y = 1 %}{{ y }}",
        variables={"items": PromptVariable(type="array")},
    )
    check_templates(loops)  # loop and set variables are not undeclared inputs


def test_bind_variables_defaults_optional_and_booleans() -> None:
    declared = {
        "a": PromptVariable(type="integer", default=3),
        "b": PromptVariable(type="string", required=False),
        "c": PromptVariable(type="number"),
    }
    assert bind_variables(declared, {"c": 1}) == {"a": 3, "b": None, "c": 1}
    assert bind_variables(declared, {"c": 2.5, "a": None}) == {"a": 3, "b": None, "c": 2.5}
    for value in (True, float("nan"), float("inf"), "1"):
        with pytest.raises(ValidationError, match="'c' must be number"):
            bind_variables(declared, {"c": value})


def test_text_template_renders_to_one_user_message() -> None:
    content = PromptContent(text="Hello {{ who }}", variables={"who": PromptVariable()})
    assert render_content(content, {"who": "you"}) == [{"role": "user", "content": "Hello you"}]


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("support", PromptRef("support")),
        ("support:3", PromptRef("support", version=3)),
        ("support:latest", PromptRef("support")),
        ("support@production", PromptRef("support", label="production")),
        (" a.b-c_d@staging ", PromptRef("a.b-c_d", label="staging")),
    ],
)
def test_parse_prompt_ref(ref: str, expected: PromptRef) -> None:
    assert parse_prompt_ref(ref) == expected
    assert parse_prompt_ref(str(expected)) == expected


@pytest.mark.parametrize(
    "ref",
    [
        "",
        "support:",
        "support:0",
        "support:x",
        "support:-1",
        "support@",
        "support@3",
        "../x",
        "support@latest",
        "a/b",
        "support:1234567890",
        3,
    ],
)
def test_parse_prompt_ref_refuses_malformed_references(ref: Any) -> None:
    with pytest.raises(ValidationError) as err:
        parse_prompt_ref(ref)
    assert err.value.field == "ref"


def test_a_variable_with_a_default_needs_no_value() -> None:
    from mloop.prompts.schemas import PromptVariable

    assert PromptVariable().needs_value
    assert not PromptVariable(default="Acme").needs_value  # required, but the default fills it
    assert not PromptVariable(required=False).needs_value
    assert not PromptVariable(default=0, type="integer").needs_value  # a falsy default counts
