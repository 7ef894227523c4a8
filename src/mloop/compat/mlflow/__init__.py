"""The MLflow REST API over mloop's stores, so the stock ``mlflow`` client works unchanged.

Runs, params, metrics and tags written through this API are ordinary mloop runs: they show up
in mloop's SDK, CLI and UI, and runs logged with mloop are visible to ``mlflow.search_runs``.
The endpoints are declared in ``tracking``, ``registry``, ``logged_models`` and
``artifacts``, and served as one surface (``surface.mlflow_http``).
"""
