"""Contracts from YAML and Python: the model, and errors that name file, line and key."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from mloop.data import (
    Column,
    Contract,
    ContractError,
    CustomRef,
    Distribution,
    Freshness,
    RowCount,
    Rule,
    UniqueKey,
    check,
    load_contract,
    parse_contract,
)
from mloop.data.contract_yaml import MAX_CONTRACT_BYTES

FULL = """\
contract: transactions
version: 3
description: card transactions
extra_columns: warn
columns:
  amount: {type: float, nullable: false, min: 0, max: 1e5}
  country: {type: string, allowed: [DE, FR, US, NO]}
  email:
    type: string
    regex: '^[^@]+@[^@]+$'
    severity: warn
  id: {type: int, unique: true}
  note: {required: false}
  day: {type: date, min: 2024-01-01}
  score: {max: {value: 1, severity: warn}}
unique:
  - [customer_id, day]
  - {columns: email, severity: warn}
rows: {min: 1000, max: 10000000}
freshness: {column: ts, max_age: 1d12h}
rules:
  - name: discount_le_amount
    sql: discount <= amount
    description: no discount above the amount
distribution:
  - column: amount
    mean_within: 0.1
    std_within: 0.2
  - {column: country, psi_max: 0.2, severity: warn}
custom:
  - luhn_ok
  - {name: iban_ok, severity: warn}
"""


def test_full_contract_compiles_to_named_checks() -> None:
    contract = parse_contract(FULL, "t.yaml")
    assert contract.name == "transactions" and contract.version == 3
    assert contract.columns["country"].allowed == ("DE", "FR", "US", "NO")  # NO stays text
    assert contract.columns["amount"].max == 100000.0
    assert contract.columns["day"].min == dt.date(2024, 1, 1)
    assert contract.freshness == [Freshness("ts", dt.timedelta(hours=36))]
    checks = {c.name: c for c in contract.checks()}
    assert list(checks) == [
        "amount.present",
        "amount.type",
        "amount.not_null",
        "amount.min",
        "amount.max",
        "country.present",
        "country.type",
        "country.allowed",
        "email.present",
        "email.type",
        "email.regex",
        "id.present",
        "id.type",
        "id.unique",
        "day.present",
        "day.type",
        "day.min",
        "score.present",
        "score.max",
        "extra_columns",
        "unique(customer_id, day)",
        "unique(email)",
        "row_count",
        "ts.freshness",
        "discount_le_amount",
        "amount.mean",
        "amount.std",
        "country.psi",
        "luhn_ok",
        "iban_ok",
    ]
    assert checks["email.regex"].severity == "warn"
    assert checks["score.max"].severity == "warn"
    assert checks["score.present"].severity == "error"
    assert checks["unique(email)"].severity == "warn"
    assert checks["country.psi"].severity == "warn"
    assert checks["iban_ok"].severity == "warn"
    assert checks["discount_le_amount"].columns == ("discount", "amount")
    assert checks["extra_columns"].severity == "warn"
    assert checks["row_count"].params == {"min": 1000, "max": 10_000_000}


def test_python_api_builds_the_same_contract() -> None:
    @check(name="luhn_ok")
    def luhn_ok(batch: object) -> int:
        return 0

    contract = Contract(
        name="transactions",
        columns={
            "amount": Column(type="float", nullable=False, min=0, max=100_000),
            "email": Column(type="string", regex="^[^@]+@[^@]+$", severities={"regex": "warn"}),
        },
        unique=[["customer_id", "day"], "id", UniqueKey(("email",), severity="warn")],
        rows=RowCount(min=1000),
        freshness=Freshness("ts", "2d"),
        rules=[Rule("discount_le_amount", "discount <= amount")],
        distribution=[Distribution("amount", mean_within=0.1)],
        custom=[luhn_ok],
    )
    names = [c.name for c in contract.checks()]
    assert "unique(customer_id, day)" in names and "unique(id)" in names
    assert "luhn_ok" in names and "ts.freshness" in names
    assert contract.freshness == [Freshness("ts", dt.timedelta(days=2))]
    regex = next(c for c in contract.checks() if c.name == "email.regex")
    assert regex.severity == "warn"


@pytest.mark.parametrize(
    ("text", "line", "field", "message"),
    [
        (
            "contract: t\ncolumns:\n  amount:\n    type: float\n    min: abc\n",
            5,
            "columns.amount.min",
            "expected a number, got 'abc'",
        ),
        (
            "contract: t\ncolumns:\n  amount: {type: float, maxx: 3}\n",
            3,
            "columns.amount.maxx",
            "unknown check 'maxx' (did you mean 'max'?)",
        ),
        ("contract: t\nrule: []\n", 2, "rule", "unknown key 'rule' (did you mean 'rules'?)"),
        (
            "contract: t\ncolumns:\n  a: {type: flaot}\n",
            3,
            "columns.a.type",
            "unknown type 'flaot' (did you mean 'float'?)",
        ),
        (
            "contract: t\ncolumns:\n  a: {}\n  a: {}\n",
            4,
            "columns.a",
            "duplicate key 'a' (first on line 3)",
        ),
        (
            "contract: t\nrules:\n  - name: r\n    sql: 'a > 1; DROP TABLE x'\n",
            4,
            "rules[0].sql",
            "not a valid SQL expression",
        ),
        ("contract: t\nrules:\n  - name: r\n", 3, "rules[0]", "'sql' is required"),
        (
            "contract: t\ndistribution:\n  - column: a\n    psi: 0.2\n",
            4,
            "distribution[0].psi",
            "did you mean 'psi_max'?",
        ),
        (
            "contract: t\ncolumns:\n  a: {min: {value: 1, severity: warning}}\n",
            3,
            "columns.a.min.severity",
            "unknown severity 'warning' (did you mean 'warn'?)",
        ),
        (
            'contract: t\ncolumns:\n  a: {regex: "(?=x)"}\n',
            3,
            "columns.a.regex",
            "invalid regular expression",
        ),
        (
            "contract: t\nfreshness: {column: ts, max_age: 2 days}\n",
            2,
            "freshness.max_age",
            "expected a duration",
        ),
        ("contract: t\ncolumns:\n  a:\n    min: 5\n    max: 1\n", 5, "columns.a.max", "below min"),
        (
            "contract: t\ncolumns:\n  a:\n    type: string\n    allowed: [x, 1]\n",
            5,
            "columns.a.allowed[1]",
            "needs text here, got int 1",
        ),
        (
            "contract: t\ncolumns:\n  a: {unique: true}\n"
            "rules:\n  - {name: a.unique, sql: a > 1}\n",
            5,
            "rules[0].name",
            "used twice",
        ),
        ("contract: t\nrows: {min: -1}\n", 2, "rows.min", "at least 0"),
        ("contract: t\nrows: {}\n", 2, "rows", "give min, max or both"),
        ("contract: t\nunique: [[a, a]]\n", 2, "unique[0].columns", "appears twice"),
        ("contract: t\ncolumns:\n  a: {nullable: no}\n", 3, "columns.a.nullable", "true or false"),
        ("contract: t\ncolumns:\n  a: {type: date, min: 5}\n", 3, "columns.a.min", "a date"),
        ("contract: t\nextra_columns: deny\n", 2, "extra_columns", "expected one of"),
        ("columns: {}\n", 1, None, "needs a name"),
        ("contract: t\ncolumns: [\n", 3, None, "invalid YAML"),
        ("", 1, None, "empty"),
        ("- a\n", 1, None, "a mapping"),
        ("contract: t\n<<: {a: 1}\n", 2, None, "merge keys"),
    ],
)
def test_malformed_contracts_name_file_line_and_key(
    text: str, line: int, field: str | None, message: str
) -> None:
    with pytest.raises(ContractError) as info:
        parse_contract(text, "contract.yaml")
    err = info.value
    assert err.filename == "contract.yaml"
    assert err.line == line
    assert err.field == field
    assert message in err.problem
    prefix = f"contract.yaml:{line}: " + (f"{field}: " if field else "")
    assert str(err).startswith(prefix), str(err)


def test_python_api_errors_name_the_field() -> None:
    with pytest.raises(ContractError, match=r"^columns\.amount\.min: expected a number"):
        Contract(name="t", columns={}).__class__.from_dict(
            {"contract": "t", "columns": {"amount": {"type": "float", "min": "abc"}}}
        )
    with pytest.raises(ContractError, match=r"^min: expected a number, got 'abc'"):
        Column(type="float", min="abc")
    with pytest.raises(ContractError, match="unknown type 'strng'"):
        Column(type="strng")
    with pytest.raises(ContractError, match=r"^sql: function sum\(\) is not allowed"):
        Rule("r", "sum(a) > 1")
    with pytest.raises(ContractError, match="expected a Column"):
        Contract(name="t", columns={"a": {"type": "int"}})  # type: ignore[dict-item]


@pytest.mark.parametrize(
    "sql",
    [
        "a > 1; DROP TABLE t",
        "1) AS __mloop_rule FROM __mloop_probe UNION SELECT (1",
        "(SELECT count(*) FROM read_csv('/etc/passwd')) > 0",
        "EXISTS (SELECT 1)",
        "a IN (SELECT b FROM other)",
        "read_text('/etc/passwd') IS NULL",
        "row_number() OVER () > 1",
        "? > 1",
        "COLUMNS(*) > 1",
        "a > 1 /*",
        "",
        "x" * 10_001,
    ],
)
def test_rules_must_be_a_single_safe_expression(sql: str) -> None:
    with pytest.raises(ContractError) as info:
        Rule("r", sql)
    assert info.value.field == "sql"


def test_rules_may_use_scalar_sql() -> None:
    rule = Rule("r", "upper(country) IN ('DE', 'FR') AND length(\"odd \"\"name\") < 5 -- note")
    assert rule.columns == ["country", 'odd "name']


def test_yaml_scalars_follow_yaml_1_2() -> None:
    contract = parse_contract(
        "contract: t\ncolumns:\n  a: {allowed: [NO, on, yes, 010, 0x10, 1e3, true]}\n"
    )
    assert contract.columns["a"].allowed == ("NO", "on", "yes", 10, 16, 1000.0, True)


def test_oversized_and_binary_contracts_are_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("contract: t\ndescription: " + "x" * MAX_CONTRACT_BYTES + "\n")
    with pytest.raises(ContractError, match="limited to"):
        load_contract(big)
    with pytest.raises(ContractError, match="over the limit"):
        parse_contract("#" * (MAX_CONTRACT_BYTES + 1))
    with pytest.raises(ContractError, match="not UTF-8"):
        parse_contract(b"contract: \xff\n")
    with pytest.raises(ContractError, match="cannot read"):
        load_contract(tmp_path / "missing.yaml")


def test_alias_bombs_are_cut_off() -> None:
    lines = ["a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    for i, name in enumerate("bcdef"):
        prev = "abcdef"[i]
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
    with pytest.raises(ContractError, match="more than 100000 values"):
        parse_contract("\n".join(lines) + "\n")


def test_load_contract_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(FULL)
    assert load_contract(path).name == "transactions"
    path.write_text("contract: t\ncolumns:\n  a: {min: x}\n")
    with pytest.raises(ContractError, match=rf"^{path}:3: columns\.a\.min"):
        load_contract(path)


# -- the model's validators in the Python API ---------------------------------------------


def test_calls_that_do_not_fit_the_signature_raise_type_errors() -> None:
    missing_sql = r"Rule\.__init__\(\) missing 1 required positional argument: 'sql'"
    with pytest.raises(TypeError, match=missing_sql):
        Rule("r")  # type: ignore[call-arg]
    missing_two = "missing 2 required positional arguments: 'column' and 'max_age'"
    with pytest.raises(TypeError, match=missing_two):
        Freshness()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="got an unexpected keyword argument 'maxx'"):
        Column(maxx=3)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="takes from 2 to 3 positional arguments but 4 were given"):
        UniqueKey(("a",), "warn", "extra")  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("build", "field", "message"),
    [
        (lambda: Column(nullable="no"), "nullable", "expected true or false, got 'no'"),
        (lambda: Column(unique=1), "unique", "expected true or false, got int 1"),
        (lambda: Column(description=5), "description", "expected text"),
        (lambda: RowCount(min="5"), "min", "expected an integer, got '5'"),
        (lambda: RowCount(min=5, max=1), "max", "max (1) is below min (5)"),
        (lambda: Distribution("a", psi_max="0.2"), "psi_max", "expected a number, got '0.2'"),
        (lambda: Distribution("a"), "column", "give at least one of"),
        (lambda: Freshness("ts", "soon"), "max_age", "expected a duration"),
        (lambda: Rule("", "a > 1"), "name", "expected a non-empty name"),
        (lambda: Contract(name="t", version=True), "version", "expected an integer or text"),
        (lambda: Contract(name="t", unique=[["a", "a"]]), "unique[0].columns", "appears twice"),
        (lambda: Contract(name="t", rules=["a > 1"]), "rules[0]", "expected a Rule"),
        (lambda: Contract(name="t", custom=[3]), "custom[0]", "expected a check name"),
        (lambda: CustomRef("c", check="not a check"), "check", "expected an @check function"),
        (lambda: Column(severities={"regex": "warning"}), "regex.severity", "unknown severity"),
    ],
)
def test_each_field_is_validated_as_written_and_named(build: Any, field: str, message: str) -> None:
    # Pydantic's own coercions ("no" to False, "5" to 5) never apply: the field validators
    # are the whole of the validation.
    with pytest.raises(ContractError) as info:
        build()
    assert info.value.field == field
    assert message in info.value.problem


def test_defaults_and_conveniences_become_lists() -> None:
    bare = Contract(name="t")
    assert (bare.unique, bare.freshness, bare.rules, bare.custom) == ([], [], [], [])
    contract = Contract(name="t", unique=["id"], freshness=Freshness("ts", 60), custom=["c"])
    assert contract.unique == [UniqueKey(("id",))]
    assert contract.freshness == [Freshness("ts", dt.timedelta(seconds=60))]
    assert contract.custom == [CustomRef("c")]
    assert Column(allowed=["a", "b"]).allowed == ("a", "b")
