"""``mloop alerts``: rules, channels (a test message to a local webhook), alerts listed,
acknowledged and resolved; errors exit non-zero with the field named."""

from __future__ import annotations

import json

import pytest
from tests.alerts.alerts_testing import webhook_server as local_webhook
from tests.alerts.alerts_testing import window
from tests.cli.cli_helpers import Cli
from tests.conftest import free_port

from mloop.core.config import Settings
from mloop.store.runtime import Runtime


@pytest.fixture
def cli(settings: Settings) -> Cli:
    return Cli()


def test_rules(cli: Cli) -> None:
    cli.ok("alerts", "channels", "add", "ops-log", "--kind", "log", "--level", "error")
    cli.ok(
        "alerts", "rules", "add", "churn-drift",
        "--metric", "drift.column.*.score", "--op", ">=", "--threshold", "0.3",
        "--source", "monitor", "--subject", "endpoint=churn", "-N", "2",
        "--severity", "critical", "--channel", "ops-log",
    )  # fmt: skip
    cli.ok(
        "alerts", "rules", "add", "rejections-up", "--metric", "fairness.*.rejection_rate",
        "--change", "--threshold", "0.5",
    )  # fmt: skip
    listed = json.loads(cli.ok("alerts", "rules", "list", "--json").stdout)
    by_name = {r["name"]: r for r in listed}
    assert set(by_name) == {"churn-drift", "gateway-spend-spike", "rejections-up"}
    churn = by_name["churn-drift"]
    assert (churn["operator"], churn["threshold"], churn["consecutive"]) == (">=", 0.3, 2)
    assert churn["subject"] == {"endpoint": "churn"} and churn["channels"] == ["ops-log"]
    assert by_name["rejections-up"]["kind"] == "change"
    table = cli.ok("alerts", "rules", "list").stdout
    assert "drift.column.*.score >= 0.3 for 2 windows" in table
    assert "change of fairness.*.rejection_rate > 0.5" in table
    cli.ok("alerts", "rules", "remove", "rejections-up")
    assert "rejections-up" not in cli.ok("alerts", "rules", "list").stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--metric", "m", "--threshold", "1", "-N", "0"], "consecutive"),
        (["--metric", "m", "--threshold", "1", "--cooldown", "-5"], "cooldown_seconds"),
        (["--metric", "m", "--threshold", "1", "--op", "=>"], "operator"),
        (["--metric", "m", "--threshold", "1", "--subject", "endpoint"], "KEY=VALUE"),
        (["--metric", "m", "--threshold", "1", "--channel", "nope"], "does not exist"),
        (["--metric", "m\x00", "--threshold", "1"], "metric"),
    ],
)
def test_bad_rules_exit_non_zero(cli: Cli, args: list[str], message: str) -> None:
    result = cli("alerts", "rules", "add", "r", *args)
    assert result.exit_code != 0
    assert message in result.output


def test_missing_threshold_is_a_usage_error(cli: Cli) -> None:
    result = cli("alerts", "rules", "add", "r", "--metric", "m")
    assert result.exit_code == 2 and "--threshold" in result.output


def test_channels_and_a_test_message(cli: Cli) -> None:
    with local_webhook() as hook:
        cli.ok(
            "alerts", "channels", "add", "hook", "--kind", "webhook", "--url", hook.url,
            "--header", "Authorization=Bearer abc",
        )  # fmt: skip
        listed = cli.ok("alerts", "channels", "list").stdout
        assert "secret-token" not in listed and "abc" not in listed
        assert f"{hook.url.split('/hooks')[0]}/***" in listed
        cli.ok("alerts", "channels", "test", "hook")
        assert hook.received[0].body["event"] == "test"
        assert hook.received[0].headers["authorization"] == "Bearer abc"


def test_a_failing_channel_test_exits_non_zero(cli: Cli) -> None:
    url = f"http://127.0.0.1:{free_port()}/down"
    cli.ok("alerts", "channels", "add", "down", "--kind", "webhook", "--url", url)
    result = cli("alerts", "channels", "test", "down")
    assert result.exit_code == 1 and "failed" in result.output
    failed = cli("alerts", "deliveries", "--failed", "--json")
    assert failed.exit_code == 1
    assert json.loads(failed.stdout)[0]["channel"] == "down"


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--kind", "webhook", "--url", "ftp://x"], "config.webhook.url"),
        (["--kind", "webhook"], "config.webhook.url"),
        (["--kind", "email", "--host", "h", "--from", "a@b.c"], "config.email.to"),
        (["--kind", "email", "--host", "h", "--from", "a@b.c", "--to", "x@y.z",
          "--password-env", "MLOOP_TEST_NO_SUCH_VARIABLE"], "password-env"),
        (["--kind", "pager"], "kind"),
    ],
)  # fmt: skip
def test_bad_channels_exit_non_zero(cli: Cli, args: list[str], field: str) -> None:
    result = cli("alerts", "channels", "add", "c", *args)
    assert result.exit_code != 0
    assert field in result.output


def test_list_ack_resolve(cli: Cli, runtime: Runtime) -> None:
    cli.ok("alerts", "rules", "add", "drift", "--metric", "drift.share", "--threshold", "0.3")
    [alert] = window(runtime, 0, {"drift.share": 0.5})
    listed = json.loads(cli.ok("alerts", "list", "--status", "open", "--json").stdout)
    assert [a["id"] for a in listed] == [alert.id]
    assert "endpoint=churn" in cli.ok("alerts", "list", "--subject", "endpoint=churn").stdout
    cli.ok("alerts", "ack", str(alert.id), "--note", "on it")
    cli.ok("alerts", "resolve", str(alert.id), "--note", "fixed")
    shown = cli.ok("alerts", "show", str(alert.id)).stdout
    assert "acknowledged" in shown and "on it" in shown and "fixed" in shown
    again = cli("alerts", "resolve", str(alert.id))
    assert again.exit_code == 1 and "already resolved" in again.output
    missing = cli("alerts", "ack", "999")
    assert missing.exit_code == 1 and "does not exist" in missing.output
    assert cli("alerts", "list", "--subject", "nonsense").exit_code == 1


def test_deliver_sends_what_is_due(cli: Cli, runtime: Runtime) -> None:
    with local_webhook() as hook:
        cli.ok("alerts", "channels", "add", "hook", "--kind", "webhook", "--url", hook.url)
        cli.ok(
            "alerts", "rules", "add", "drift", "--metric", "drift.share", "--threshold", "0.3",
            "--channel", "hook",
        )  # fmt: skip
        window(runtime, 0, {"drift.share": 0.5})
        result = cli.ok("alerts", "deliver")
        assert "Sent 1 of 1" in result.output
        assert hook.received[0].body["event"] == "raised"
