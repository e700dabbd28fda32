"""The gateway fixtures (a real gateway app in front of the in-process services, an admin)."""

from gateway.conftest import admin, api

__all__ = ["admin", "api"]
