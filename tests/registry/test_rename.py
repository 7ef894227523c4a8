"""Renaming a registered model on mloop's own API: what moves, what refuses it, who may."""

from __future__ import annotations

import httpx
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sqlalchemy import insert
from tests.conftest import ServerHandle
from tests.registry.registry_testing import log_classifier

import mloop
from mloop.automation import policy_tables as pt
from mloop.store.context import Context

RENAME = "/api/v1/registry/registered-models/rename"


def test_rename_on_mloops_api(
    remote: ServerHandle, data: tuple[pd.DataFrame, pd.Series], classifier: LogisticRegression
) -> None:
    features, _ = data
    mloop.register_model(f"runs:/{log_classifier(classifier, features)}/model", "churn")
    mloop.set_alias("churn", "champion", 1)
    http = httpx.Client(base_url=remote.url)

    moved = http.post(RENAME, json={"name": "churn", "new_name": "attrition"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["name"] == "attrition" and moved.json()["aliases"] == {"champion": 1}
    assert mloop.load_model("models:/attrition@champion").predict(features.head(2)).shape == (2,)
    missing = http.post(RENAME, json={"name": "churn", "new_name": "x"})
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "name"
    bad = http.post(RENAME, json={"name": "attrition", "new_name": "no spaces"})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "new_name"

    # A deployment policy names the model: the rename is refused and nothing moves.
    def add_policy(ctx: Context) -> None:
        ctx.conn.execute(
            insert(pt.deployment_policies).values(
                name="auto",
                model="attrition",
                endpoint="prod",
                spec_json="{}",
                enabled=True,
                created_by="t",
                created_at=0,
                updated_at=0,
            )
        )

    remote.runtime.run(add_policy, write=True)
    refused = http.post(RENAME, json={"name": "attrition", "new_name": "churn"})
    assert refused.status_code == 409
    assert "deployment policy 'auto'" in refused.json()["error"]["message"]
    assert mloop.Client().get_registered_model("attrition").latest_version == 1
