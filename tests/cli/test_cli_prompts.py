"""``mloop prompts``: push files (with git commit), list, show, diff, label, approve, policy."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from tests.cli.cli_helpers import Cli

SUPPORT = """\
name: support-reply
description: Answers a customer
template:
  messages:
    - role: system
      content: You help customers of {{ product }}.
    - role: user
      content: "{{ question }}"
variables:
  product: {type: string, default: Acme}
  question: {type: string, description: the customer's question}
params: {model: support-route, temperature: 0.2, max_tokens: 200}
output_schema:
  type: object
  properties: {answer: {type: string}}
"""

SUMMARY = """\
name: summary
template:
  text: "Summarise in {{ words }} words: {{ doc }}"
variables:
  words: {type: integer, default: 50}
  doc: {type: string}
"""


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "product"
    (root / "prompts" / "nested").mkdir(parents=True)
    (root / "prompts" / "support.prompt.yaml").write_text(SUPPORT)
    (root / "prompts" / "nested" / "summary.yaml").write_text(SUMMARY)
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "commit", "-qm", "prompts")
    return root


def test_push_records_git_and_skips_unchanged(cli: Cli, repo: Path) -> None:
    head = _git(repo, "rev-parse", "HEAD")
    first = json.loads(cli.ok("prompts", "push", str(repo / "prompts"), "--json").stdout)
    assert [(r["name"], r["version"], r["status"]) for r in first] == [
        ("summary", 1, "created"),
        ("support-reply", 1, "created"),
    ]
    assert all(r["git_commit"] == head and r["git_dirty"] is False for r in first)
    table = cli.ok("prompts", "push", str(repo / "prompts")).stdout
    assert "unchanged" in table and "created" not in table

    shown = json.loads(cli.ok("prompts", "show", "support-reply", "--json").stdout)
    assert shown["source_path"] == "prompts/support.prompt.yaml"
    assert shown["params"]["temperature"] == 0.2
    assert shown["output_schema"]["properties"] == {"answer": {"type": "string"}}

    path = repo / "prompts" / "support.prompt.yaml"
    path.write_text(SUPPORT.replace("temperature: 0.2", "temperature: 0.5"))
    pushed = cli.ok("prompts", "push", str(repo / "prompts"), "--label", "staging").stdout
    assert "created" in pushed and "(dirty)" in pushed
    v2 = json.loads(cli.ok("prompts", "show", "support-reply@staging", "--json").stdout)
    assert (v2["version"], v2["git_dirty"], v2["labels"]) == (2, True, ["staging"])

    diff = cli.ok("prompts", "diff", "support-reply", "1", "2").stdout
    assert "params.temperature" in diff and "0.2" in diff and "0.5" in diff
    text = cli.ok("prompts", "show", "support-reply:1").stdout
    assert "You help customers of {{ product }}." in text and "[system]" in text
    listing = json.loads(cli.ok("prompts", "list", "--json").stdout)
    assert {p["name"]: p["latest_version"] for p in listing} == {"summary": 1, "support-reply": 2}


def test_malformed_files_name_file_key_and_line(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "prompts"
    folder.mkdir()
    (folder / "ok.yaml").write_text(SUMMARY)
    (folder / "bad.yaml").write_text(
        SUPPORT.replace("params: {model", "params: [model").replace("200}", "200]")
    )
    result = cli("prompts", "push", str(folder))
    assert result.exit_code == 1
    assert "bad.yaml:12: params" in result.output and "nothing was pushed" in result.output
    assert "summary" not in cli.ok("prompts", "list").stdout

    cases = {
        "typo.yaml": (SUMMARY.replace("variables:", "variabels:"), "typo.yaml:4: variabels"),
        "role.yaml": (
            SUPPORT.replace("role: user", "role: User"),
            "role.yaml:7: template.messages[1].role",
        ),
        "undeclared.yaml": (
            SUMMARY.replace("{{ doc }}", "{{ document }}"),
            "undeclared.yaml:4: variables.document",
        ),
        "type.yaml": (
            SUMMARY.replace("type: integer", "type: int"),
            "type.yaml:5: variables.words.type",
        ),
        "noname.yaml": (SUMMARY.replace("name: summary\n", ""), "noname.yaml:1: name: is missing"),
        "schema.yaml": (
            SUPPORT.replace("type: object", "type: 12"),
            "schema.yaml:14: output_schema.type",
        ),
        "yaml.yaml": ("name: [", "yaml.yaml:"),
    }
    for filename, (text, expected) in cases.items():
        single = tmp_path / filename.replace(".yaml", "")
        single.mkdir()
        (single / filename).write_text(text)
        result = cli("prompts", "push", str(single))
        assert result.exit_code == 1, filename
        assert expected in result.output, (filename, result.output)


def test_duplicate_prompt_names_are_refused(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(SUMMARY)
    (tmp_path / "b.yml").write_text(SUMMARY)
    result = cli("prompts", "push", str(tmp_path))
    assert result.exit_code == 1 and "also defined in" in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no prompt files" in cli("prompts", "push", str(empty)).output


def test_policy_approve_and_label(cli: Cli, repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cli.ok("prompts", "push", str(repo / "prompts"))
    cli.ok("prompts", "policy", "support-reply", "--require-approval-for", "production")
    assert "approval required for production" in cli.ok("prompts", "policy", "support-reply").output
    refused = cli("prompts", "label", "support-reply", "1", "production")
    assert refused.exit_code == 1
    assert "mloop prompts approve support-reply 1" in refused.output
    own = cli("prompts", "approve", "support-reply", "1")
    assert own.exit_code == 1 and "cannot approve it" in own.output
    # Another person (a different OS user for the embedded store) approves.
    monkeypatch.setattr("mloop.store.runtime._default_actor", lambda: "reviewer-bob")
    approved = cli.ok("prompts", "approve", "support-reply", "1", "--comment", "looks right")
    assert "approved by reviewer-bob" in approved.output
    cli.ok("prompts", "label", "support-reply", "1", "production")
    shown = json.loads(cli.ok("prompts", "show", "support-reply@production", "--json").stdout)
    assert shown["review_status"] == "approved"
    cli.ok("prompts", "policy", "support-reply", "--clear")
    assert "approval required for none" in cli.ok("prompts", "policy", "support-reply").output


def test_yaml_bombs_and_deep_nesting_are_refused(cli: Cli, tmp_path: Path) -> None:
    laughs = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        laughs.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    bomb = tmp_path / "bomb"
    bomb.mkdir()
    (bomb / "bomb.yaml").write_text("\n".join(laughs) + "\nname: x\ntemplate: {text: hi}\n")
    result = cli("prompts", "push", str(bomb))
    assert result.exit_code == 1 and "over 100000 values" in result.output
    deep = tmp_path / "deep"
    deep.mkdir()
    (deep / "deep.yaml").write_text(
        "name: x\ntemplate: {text: hi}\nparams: " + "[" * 200 + "]" * 200
    )
    deeper = "name: y\ntemplate: {text: hi}\nparams: " + "[" * 50_000 + "]" * 50_000
    (deep / "deeper.yaml").write_text(deeper)
    result = cli("prompts", "push", str(deep))
    assert result.exit_code == 1 and result.output.count("deeper than 64") == 2
