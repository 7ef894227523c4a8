"""The configuration examples in docs/gateway.md load as they are written."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from mloop.llm.config import GatewayConfig

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_the_quick_start_configuration_is_valid() -> None:
    text = (DOCS / "gateway.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.S)
    config = GatewayConfig.from_dict(yaml.safe_load(blocks[0]), source="docs/gateway.md")
    route = config.routes["support-reply"]
    assert [t.weight for t in route.targets] == [3, 1, 0]
    assert [g.check for g in route.guardrails.input] == ["pii", "injection"]
