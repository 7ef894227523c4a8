"""The LLM gateway's declaration: the OpenAI-compatible routes, the call log, its pages."""

from mloop.core.domain import Domain

DOMAIN = Domain(
    name="gateway",
    summary="The OpenAI-compatible LLM gateway and its call log",
    tables=("mloop.llm.calls.tables", "mloop.llm.rollouts.tables"),
    http=("mloop.llm.gateway.http:gateway_http",),
    pages=("mloop.server.ui.gateway", "mloop.server.ui.route_rollouts"),
)
