"""The process's `decisioning.container.Services` on the app: built once in `create_app`
(tests replace parts by assigning attributes of ``app.extensions[EXTENSION]``)."""

from __future__ import annotations

from flask import Flask, current_app

from chedaitong.config import Settings
from decisioning.container import Services, build_services

EXTENSION = "chedaitong.services"


def init_app(app: Flask, settings: Settings, services: Services | None = None) -> None:
    app.extensions[EXTENSION] = services or build_services(settings)


def services() -> Services:
    return current_app.extensions[EXTENSION]
