"""The rules of each deployment strategy: which variants it has, their roles and weights,
what changing weights and promoting do. Pure functions over variant lists.

- ``single``: one stable variant, all traffic;
- ``blue_green``: a stable variant (blue, all traffic) and a candidate (green, loaded beside
  it, no traffic until promoted; promoting swaps them, so switching back is instant);
- ``canary``: a stable variant and candidates, each with a percent of traffic (summing to
  100), assigned by a hash of the request key so a caller sticks to its variant;
- ``shadow``: a stable variant serving every request, and shadow variants that receive a
  copy of ``weight`` percent of requests, whose answers are recorded and never returned.
"""

from __future__ import annotations

from collections.abc import Sequence

from mloop.core.errors import ValidationError
from mloop.core.naming import check_asset_name
from mloop.serving.schemas import Strategy, Variant, VariantRole, VariantSpec

_DEFAULT_NAMES: dict[Strategy, tuple[str, str]] = {
    "single": ("stable", "candidate"),
    "blue_green": ("blue", "green"),
    "canary": ("stable", "candidate"),
    "shadow": ("stable", "shadow"),
}


def _roles(strategy: Strategy, specs: Sequence[VariantSpec]) -> list[VariantRole]:
    other: VariantRole = "shadow" if strategy == "shadow" else "candidate"
    roles: list[VariantRole] = []
    for i, spec in enumerate(specs):
        roles.append(spec.role or ("stable" if i == 0 else other))
    if roles.count("stable") != 1:
        raise ValidationError(
            f"a {strategy} deployment needs exactly one variant with role 'stable' "
            f"(got roles {roles}); the first variant is stable unless roles say otherwise",
            field="variants",
        )
    return roles


def _names(strategy: Strategy, specs: Sequence[VariantSpec], roles: list[VariantRole]) -> list[str]:
    first, second = _DEFAULT_NAMES[strategy]
    names: list[str] = []
    others = 0
    for i, (spec, role) in enumerate(zip(specs, roles, strict=True)):
        if spec.name is not None:
            names.append(check_asset_name(spec.name, f"variants[{i}].name", what="variant name"))
        elif role == "stable":
            names.append(first)
        else:
            others += 1
            names.append(second if others == 1 else f"{second}-{others}")
    if len(set(names)) != len(names):
        raise ValidationError(f"variant names must be unique, got {names}", field="variants")
    return names


def _check_shape(strategy: Strategy, roles: list[VariantRole]) -> None:
    count = len(roles)
    if strategy == "single" and count != 1:
        raise ValidationError(
            f"a single deployment has exactly one variant, got {count}; use canary, "
            "blue_green or shadow for more",
            field="variants",
        )
    if strategy == "blue_green" and sorted(roles) != ["candidate", "stable"]:
        raise ValidationError(
            "a blue_green deployment has two variants: the stable one (blue) and a "
            f"candidate (green), got roles {roles}",
            field="variants",
        )
    if strategy == "canary" and ("shadow" in roles or "candidate" not in roles):
        raise ValidationError(
            f"a canary deployment has a stable variant and candidates, got roles {roles}",
            field="variants",
        )
    if strategy == "shadow" and ("candidate" in roles or "shadow" not in roles):
        raise ValidationError(
            f"a shadow deployment has a stable variant and shadow variants, got roles {roles}",
            field="variants",
        )


def _weights(
    strategy: Strategy, specs: Sequence[VariantSpec], roles: list[VariantRole]
) -> list[int]:
    given = [spec.weight for spec in specs]
    if strategy == "canary":
        for i, (weight, role) in enumerate(zip(given, roles, strict=True)):
            if role == "candidate" and weight is None:
                raise ValidationError(
                    f"variants[{i}].weight is missing: give a canary candidate its percent of "
                    "traffic (for example 10)",
                    field=f"variants[{i}].weight",
                )
        stable = roles.index("stable")
        candidates = sum(w or 0 for i, w in enumerate(given) if i != stable)
        weights = [
            (100 - candidates if given[i] is None else int(given[i] or 0))
            if i == stable
            else int(given[i] or 0)
            for i in range(len(given))
        ]
        check_traffic_total(weights, "variants")
        return weights
    if strategy == "shadow":
        # The stable variant serves everything; a shadow's weight is the share mirrored.
        weights = []
        for i, (weight, role) in enumerate(zip(given, roles, strict=True)):
            if role == "stable":
                _fixed(weight, 100, i, "the stable variant of a shadow deployment serves all")
                weights.append(100)
            else:
                weights.append(100 if weight is None else weight)
        return weights
    fixed = []
    for i, (weight, role) in enumerate(zip(given, roles, strict=True)):
        value = 100 if role == "stable" else 0
        why = (
            "the stable variant serves all traffic"
            if role == "stable"
            else "a blue_green candidate gets no traffic until it is promoted"
        )
        _fixed(weight, value, i, why)
        fixed.append(value)
    return fixed


def _fixed(weight: int | None, value: int, index: int, why: str) -> None:
    if weight is not None and weight != value:
        raise ValidationError(
            f"variants[{index}].weight must be {value} or left out: {why}",
            field=f"variants[{index}].weight",
        )


def check_traffic_total(weights: Sequence[int], field: str) -> None:
    total = sum(weights)
    if total != 100:
        raise ValidationError(
            f"the traffic weights add up to {total}; they must add up to 100 (percent)",
            field=field,
        )


def plan_variants(
    strategy: Strategy, specs: Sequence[VariantSpec], versions: Sequence[int]
) -> list[Variant]:
    """The variants of a new deployment; ``versions`` are the specs' resolved versions."""
    roles = _roles(strategy, specs)
    _check_shape(strategy, roles)
    names = _names(strategy, specs, roles)
    weights = _weights(strategy, specs, roles)
    return [
        Variant(
            name=name,
            model=spec.model,
            version=version,
            alias=spec.alias,
            weight=weight,
            role=role,
            trusted=spec.trusted,
        )
        for spec, version, name, weight, role in zip(
            specs, versions, names, weights, roles, strict=True
        )
    ]


def reweight(
    strategy: Strategy, variants: Sequence[Variant], weights: dict[str, int]
) -> list[Variant]:
    """The variants with new weights: traffic percents (canary) or mirrored shares (shadow)."""
    known = {v.name for v in variants}
    unknown = sorted(set(weights) - known)
    if unknown:
        raise ValidationError(
            f"the deployment has no variant {unknown[0]!r} (variants: {sorted(known)})",
            field="weights",
        )
    for name, weight in weights.items():
        if not 0 <= weight <= 100:
            raise ValidationError(
                f"weights.{name} is {weight}; a weight is a percent from 0 to 100",
                field=f"weights.{name}",
            )
    if strategy == "canary":
        new = [v.model_copy(update={"weight": weights.get(v.name, v.weight)}) for v in variants]
        check_traffic_total([v.weight for v in new], "weights")
        return new
    if strategy == "shadow":
        stable = [v.name for v in variants if v.role == "stable" and v.name in weights]
        if stable and weights[stable[0]] != 100:
            raise ValidationError(
                f"weights.{stable[0]}: the stable variant of a shadow deployment serves all "
                "traffic; set the shadow variants' mirrored share instead",
                field=f"weights.{stable[0]}",
            )
        return [v.model_copy(update={"weight": weights.get(v.name, v.weight)}) for v in variants]
    raise ValidationError(
        f"a {strategy} deployment has no weights to change"
        + ("; promote the candidate to switch" if strategy == "blue_green" else ""),
        field="weights",
    )


def promote(
    strategy: Strategy, variants: Sequence[Variant], name: str | None
) -> tuple[Strategy, list[Variant]]:
    """The strategy and variants after promoting ``name`` (default: the only candidate).

    blue_green swaps the two (the old stable stays loaded as the candidate, for an instant
    switch back); canary and shadow end as a single deployment of the promoted variant.
    """
    others = [v for v in variants if v.role != "stable"]
    if not others:
        raise ValidationError(
            f"a {strategy} deployment has no candidate to promote", field="variant"
        )
    if name is None:
        if len(others) > 1:
            raise ValidationError(
                f"name the variant to promote: one of {[v.name for v in others]}",
                field="variant",
            )
        chosen = others[0]
    else:
        matches = [v for v in others if v.name == name]
        if not matches:
            raise ValidationError(
                f"variant {name!r} is not a candidate of this deployment "
                f"(candidates: {[v.name for v in others]})",
                field="variant",
            )
        chosen = matches[0]
    if strategy == "blue_green":
        swapped = [
            v.model_copy(update={"role": "stable", "weight": 100})
            if v.name == chosen.name
            else v.model_copy(update={"role": "candidate", "weight": 0})
            for v in variants
        ]
        return "blue_green", swapped
    return "single", [chosen.model_copy(update={"role": "stable", "weight": 100})]
