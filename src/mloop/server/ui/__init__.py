"""The web UI (server-rendered pages). Filled in by the UI module."""

from fastapi import FastAPI

from mloop.server.security import Authenticator
from mloop.store.runtime import Runtime


def mount_ui(app: FastAPI, runtime: Runtime, auth: Authenticator) -> None:
    return None
