"""Adapters that let other tools' clients talk to mloop (the MLflow REST API first)."""
