"""Canary rollouts on gateway routes: a prompt version or a target model ramped by serving's
ramp plan and health rules, judged on the call log. See docs/gateway.md, "Rolling out on a
gateway route"."""
