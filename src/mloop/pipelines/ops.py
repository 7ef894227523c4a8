"""The pipelines domain's operation set; handlers register themselves on it."""

from mloop.core.operations import OperationSet

operations = OperationSet("/api/v1/pipelines", "pipelines")
