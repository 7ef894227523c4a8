"""The doc-examples harness itself: markers, transcripts, and failures that name the page,
the line and the output."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.examples import MarkerError, parse_markdown, shell_commands
from tests.docs.pages import run_page
from tests.docs.runner import output_matches

FENCE = "```"


def page(*parts: str) -> str:
    return "\n".join(parts) + "\n"


def test_blocks_carry_their_line_language_and_marker() -> None:
    text = page(
        "# Title",
        "",
        f"{FENCE}python",
        "x = 1",
        FENCE,
        "",
        "- a list item",
        "",
        "  <!-- example: file conf/settings.yaml -->",
        f"  {FENCE}yaml",
        "  a: 1",
        "  b: [2, 3]",
        f"  {FENCE}",
        "<!-- example: syntax-only needs an OpenAI key -->",
        f"{FENCE}console",
        "$ mloop server",
        FENCE,
        FENCE,
        "plain text",
        FENCE,
    )
    blocks = parse_markdown(text, "docs/x.md")
    assert [(b.line, b.kind, b.directive, b.argument) for b in blocks] == [
        (3, "python", "", ""),
        (10, "data", "file", "conf/settings.yaml"),
        (15, "shell", "syntax-only", "needs an OpenAI key"),
        (18, "text", "", ""),
    ]
    assert blocks[1].text == "a: 1\nb: [2, 3]\n"  # the list item's indentation removed


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["<!-- example: skip because -->", f"{FENCE}python", FENCE], "unknown example marker"),
        (["<!-- example: syntax-only -->", f"{FENCE}python", FENCE], "needs a reason"),
        (["<!-- example: fails -->", "", f"{FENCE}python", FENCE], "right before a fence"),
        (["<!-- example: fails -->"], "not followed by a fence"),
        (["<!-- example: fails -->", f"{FENCE}yaml", FENCE], "applies to Python and shell"),
        (["<!-- example: fails -->", f"{FENCE}python", FENCE], "names the exception"),
        (["<!-- example: fails Oops -->", f"{FENCE}console", FENCE], "takes no argument"),
        ([f"{FENCE}python", "x = 1"], "never closed"),
        (
            ["<!-- example: file a.yaml -->", f"{FENCE}yaml", FENCE] * 2,
            "each file once: a.yaml",
        ),
    ],
)
def test_malformed_markers_are_refused_with_the_line(lines: list[str], message: str) -> None:
    with pytest.raises(MarkerError, match=message) as caught:
        parse_markdown(page(*lines), "docs/x.md")
    assert str(caught.value).startswith("docs/x.md:")


def test_a_transcript_splits_into_commands_with_their_output() -> None:
    text = page(
        f"{FENCE}console",
        "$ mloop data validate a.parquet --contract c.yaml \\",
        "      --junit r.xml",
        "ok 3 checks",
        "$ mloop version   # a comment",
        "mloop 0.1.0",
        FENCE,
    )
    (block,) = parse_markdown(text, "docs/x.md")
    commands = shell_commands(block)
    assert [(c.line, c.text, c.expected) for c in commands] == [
        (
            2,
            "mloop data validate a.parquet --contract c.yaml \\\n      --junit r.xml",
            ("ok 3 checks",),
        ),
        (5, "mloop version   # a comment", ("mloop 0.1.0",)),
    ]


def test_a_block_without_prompts_is_one_script() -> None:
    (block,) = parse_markdown(page(f"{FENCE}bash", "a=1", "echo $a", FENCE), "x.md")
    assert [(c.line, c.text) for c in shell_commands(block)] == [(2, "a=1\necho $a\n")]


def test_shown_output_matches_with_ellipses_and_any_wrapping() -> None:
    output = "Created token ci with role\nwriter.\nmlp_3yR0abcdef\n"
    assert output_matches(["Created token ci with role writer.", "mlp_3yR0..."], output)
    assert not output_matches(["Created token ci with role reader."], output)
    assert not output_matches(["mlp_3yR0...", "Created token"], output)  # order counts


def _run(tmp_path: Path, *lines: str) -> str | None:
    doc = tmp_path / "docs" / "page.md"
    doc.parent.mkdir(parents=True)
    doc.write_text(page(*lines))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    return run_page(doc, scratch, root=tmp_path).failure


def test_a_page_whose_examples_run_passes(tmp_path: Path) -> None:
    failure = _run(
        tmp_path,
        "<!-- example: file conf/name.txt -->",
        f"{FENCE}text",
        "from-a-file",
        FENCE,
        f"{FENCE}console",
        "$ export GREETING=hello && mkdir sub && cd sub",
        "$ echo $GREETING from $(basename $PWD)",
        "hello from sub",
        "$ WHERE=$(pwd) && readonly FIXED=1",
        '$ echo "not exported: $(basename $WHERE)"',
        "not exported: sub",
        FENCE,
        f"{FENCE}python",
        "import os",
        "value = os.environ['GREETING'] + ' ' + os.path.basename(os.getcwd())",
        "assert open('../conf/name.txt').read() == 'from-a-file\\n'",
        "assert os.environ['MLOOP_HOME'].endswith('.mloop')",
        FENCE,
        f"{FENCE}python",
        "assert value == 'hello sub', value",
        "import asyncio",
        "await asyncio.sleep(0)",
        FENCE,
        "<!-- example: fails -->",
        f"{FENCE}console",
        "$ ls no-such-file",
        "...No such file or directory",
        FENCE,
        "<!-- example: syntax-only talks to a server that is not there -->",
        f"{FENCE}console",
        "$ curl http://127.0.0.1:1/never",
        FENCE,
    )
    assert failure is None


def test_a_failing_python_block_names_the_page_line_and_output(tmp_path: Path) -> None:
    failure = _run(
        tmp_path,
        "# Page",
        f"{FENCE}python",
        "print('before the error')",
        "model.predict(X)",
        FENCE,
    )
    assert failure is not None
    assert failure.startswith("docs/page.md:4: raised NameError: name 'model' is not defined")
    assert "before the error" in failure
    assert 'docs/page.md", line 4' in failure  # the traceback points into the page


def test_a_failing_command_names_the_page_line_and_output(tmp_path: Path) -> None:
    failure = _run(
        tmp_path,
        f"{FENCE}console",
        "$ echo fine",
        "$ echo oops >&2; exit 3",
        FENCE,
    )
    assert failure is not None
    assert failure.startswith("docs/page.md:3: the command exited 3")
    assert "oops" in failure


def test_output_the_page_shows_must_be_printed(tmp_path: Path) -> None:
    failure = _run(tmp_path, f"{FENCE}console", "$ echo mloop 0.2.0", "mloop 0.1.0", FENCE)
    assert failure is not None
    assert failure.startswith("docs/page.md:2: the command did not print the output")
    assert "mloop 0.2.0" in failure


def test_an_example_marked_fails_must_fail(tmp_path: Path) -> None:
    failure = _run(tmp_path, "<!-- example: fails KeyError -->", f"{FENCE}python", "x = 1", FENCE)
    assert failure is not None
    assert failure.startswith("docs/page.md:2: the block should raise KeyError")


def test_an_example_marked_fails_must_raise_what_it_names(tmp_path: Path) -> None:
    lines = ["<!-- example: fails LookupError -->", f"{FENCE}python", "{}['key']", FENCE]
    assert _run(tmp_path / "subclass", *lines) is None  # KeyError is a LookupError
    lines = ["<!-- example: fails ValueError -->", f"{FENCE}python", "undefined_name", FENCE]
    failure = _run(tmp_path / "other", *lines)
    assert failure is not None
    assert "should raise ValueError but raised NameError" in failure


@pytest.mark.parametrize(
    ("lang", "text", "message"),
    [
        ("python", "def f(:", "Python syntax error"),
        ("console", "$ echo 'unclosed", "shell syntax error"),
        ("yaml", "a: [1, 2", "yaml does not parse"),
        ("json", "{'a': 1}", "json does not parse"),
    ],
)
def test_syntax_only_blocks_are_still_parsed(
    tmp_path: Path, lang: str, text: str, message: str
) -> None:
    failure = _run(
        tmp_path,
        "<!-- example: syntax-only needs a key -->" if lang in ("python", "console") else "",
        f"{FENCE}{lang}",
        text,
        FENCE,
    )
    assert failure is not None
    assert failure.startswith("docs/page.md:") and message in failure
