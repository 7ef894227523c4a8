"""Error pages: a path no route takes is an HTML 404 page outside the API and JSON inside it;
every error page links back to the section it belongs to."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.conftest import ServerHandle
from tests.server.conftest import XSS_NAME

from mloop.server.app import create_app
from mloop.server.ui.core import CONTENT_SECURITY_POLICY
from mloop.store.runtime import Runtime


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime)) as test_client:
        yield test_client


def back_link(html: str) -> str:
    """Where the error page's "Back to ..." link leads."""
    found = re.search(r'<a href="([^"]*)" id="back-to-section">Back to (\w+)</a>', html)
    assert found, "the error page has no link back to its section"
    return found.group(1)


def active_section(html: str) -> str:
    """The label of the main navigation entry marked as the current section."""
    found = re.search(r'class="active" aria-current="page">([^<]+)</a>', html)
    assert found, "no section is marked in the navigation"
    return found.group(1)


@pytest.mark.parametrize(
    ("path", "back", "section"),
    [
        ("/no-such-page", "/", "Experiments"),
        ("/runs/abc/no/such/page", "/", "Experiments"),
        ("/experiments/1/no-such-tab", "/", "Experiments"),
        ("/models/churn/versions/1/no/such/page", "/models", "Models"),
        ("/datasets/sales/1/no/such", "/datasets", "Datasets"),
        ("/prompts/support/1/no/such", "/prompts", "Prompts"),
        ("/gateway/no-such-page", "/gateway", "Gateway"),
        ("/modelsx", "/", "Experiments"),  # a section's name as a prefix is not its section
    ],
)
def test_unknown_ui_paths_get_an_html_404_page(
    client: TestClient, path: str, back: str, section: str
) -> None:
    page = client.get(path)
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "<h1>Not found</h1>" in page.text
    assert f"There is no page at {path}." in page.text
    assert back_link(page.text) == back
    assert active_section(page.text) == section


@pytest.mark.parametrize(
    ("path", "back"),
    [
        ("/runs/" + "f" * 32, "/"),
        ("/experiments/987654", "/"),
        ("/experiments/39999125039834071", "/"),  # past the 32-bit id column
        ("/experiments/39999125039834071/logged-models", "/"),
        ("/experiments/39999125039834071/charts", "/"),
        ("/models/no-such-model", "/models"),
        ("/models/no-such-model/versions/3", "/models"),
        ("/datasets/no-such-dataset", "/datasets"),
        ("/prompts/no-such-prompt", "/prompts"),
        ("/gateway/calls/no-such-call", "/gateway"),
    ],
)
def test_missing_objects_link_back_to_their_section(
    client: TestClient, path: str, back: str
) -> None:
    page = client.get(path)
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert back_link(page.text) == back


def test_bad_input_pages_link_back_too(client: TestClient) -> None:
    page = client.get("/compare")
    assert page.status_code == 400
    assert "<h1>Bad request</h1>" in page.text
    assert back_link(page.text) == "/"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/no-such-endpoint",
        "/api/2.0/mlflow/no-such-endpoint",
        "/ajax-api/2.0/mlflow/no-such-endpoint",
        "/v1/no-such-endpoint",
        "/api/no-such-endpoint",
    ],
)
def test_api_paths_keep_their_json_errors(client: TestClient, path: str) -> None:
    # A browser's Accept header does not turn an API error into a page.
    response = client.get(path, headers={"Accept": "text/html,application/xhtml+xml,*/*"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    # MLflow's paths answer in MLflow's shape, the others in mloop's.
    code = body["error_code"] if "mlflow" in path else body["error"]["code"]
    assert code == "ENDPOINT_NOT_FOUND"


def test_a_client_asking_for_json_only_gets_json(client: TestClient) -> None:
    response = client.get("/no-such-page", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "ENDPOINT_NOT_FOUND"


def test_wrong_method_on_a_page_is_an_html_405_naming_the_methods(client: TestClient) -> None:
    page = client.delete("/models")
    assert page.status_code == 405
    assert page.headers["content-type"].startswith("text/html")
    assert "GET" in page.headers["allow"].split(", ")
    assert "<h1>Method not allowed</h1>" in page.text
    assert back_link(page.text) == "/models"


def test_the_path_is_escaped_on_the_404_page(client: TestClient) -> None:
    page = client.get(f"/models/x/{XSS_NAME}/y")
    assert page.status_code == 404
    assert XSS_NAME not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_unknown_pages_answer_404_with_authentication_on(runtime: Runtime) -> None:
    """Nothing is behind an unknown path, so no sign-in is asked for it; nobody is named."""
    with TestClient(create_app(runtime, auth_enabled=True)) as http:
        page = http.get("/datasets/a/b/c/d")
        assert page.status_code == 404
        assert back_link(page.text) == "/datasets"
        api = http.get("/api/v1/no-such-endpoint")
        assert api.status_code in (401, 404) and api.headers["content-type"] == "application/json"


@pytest.mark.browser
def test_browser_shows_the_404_page_and_follows_its_link(
    browser: Any, server: ServerHandle
) -> None:
    from selenium.webdriver.common.by import By
    from tests.server.test_ui_browser import console_errors, visit, wait

    browser.get_log("browser")  # drop messages from earlier tests
    visit(browser, f"{server.url}/models/churn/no/such/page", "not-found")
    # Chromium logs the page's own 404 status; anything else (a script, a style) is a fault.
    assert [e for e in console_errors(browser) if "/no/such/page - " not in e] == []
    assert browser.find_element(By.TAG_NAME, "h1").text == "Not found"
    assert "/models/churn/no/such/page" in browser.find_element(By.CSS_SELECTOR, ".error").text
    browser.find_element(By.ID, "back-to-section").click()
    wait(browser).until(lambda b: b.current_url == f"{server.url}/models")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Registered models"
    assert console_errors(browser) == []
