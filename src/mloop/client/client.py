"""``mloop.Client``: the explicit-object SDK, embedded or remote."""

from __future__ import annotations

from mloop.client.datasets_client import DatasetsClient
from mloop.client.prompts_client import PromptsClient
from mloop.client.registry_client import RegistryClient
from mloop.client.tracking_client import TrackingClient


class Client(TrackingClient, RegistryClient, DatasetsClient, PromptsClient):
    """Everything the SDK can do, addressed by ids and names.

    ``Client()`` uses the tracking URI in effect (``mloop.set_tracking_uri``,
    ``MLOOP_TRACKING_URI``, or the embedded store in ``MLOOP_HOME``).
    """
