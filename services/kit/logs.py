"""Structured logging: one JSON object per line, with the trace id of the current span and the
id of the gateway request being served (`x-request-id`, read by the kit's server interceptor and
passed on by its clients), so a request's lines in every service can be found by its id."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
from typing import Any

from opentelemetry import trace

_RESERVED = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

REQUEST_ID_KEY = "x-request-id"
# What the gateway makes or accepts from a client (gateway/middlewares.py); anything else is dropped.
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("shop_request_id", default="")


def request_id() -> str:
    """The id of the gateway request this work is for; "" when there is none."""
    return _request_id.get()


def set_request_id(value: str) -> contextvars.Token[str]:
    """Binds a request id (an unsafe one as none) for the current call; undo with reset_request_id."""
    return _request_id.set(value if _SAFE_REQUEST_ID.match(value) else "")


def reset_request_id(token: contextvars.Token[str]) -> None:
    _request_id.reset(token)


def _request_fields() -> dict[str, str]:
    value = _request_id.get()
    return {"request_id": value} if value else {}


def _trace_fields() -> dict[str, str]:
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return {}
    return {"trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x")}


class JsonFormatter(logging.Formatter):
    def __init__(self, process_name: str) -> None:
        super().__init__()
        self._process = process_name

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "service": self._process,
            "logger": record.name,
            "msg": record.getMessage(),
            **_trace_fields(),
            **_request_fields(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _RESERVED})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self, process_name: str) -> None:
        super().__init__(f"%(asctime)s %(levelname)-7s {process_name} %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        extras = {**_request_fields(), **{k: v for k, v in record.__dict__.items() if k not in _RESERVED}}
        line = super().format(record)
        return f"{line} {extras}" if extras else line


def configure(process_name: str, level: str = "INFO", fmt: str = "json") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(process_name) if fmt == "json" else TextFormatter(process_name))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Library chatter at INFO drowns the request log.
    for noisy in ("aiohttp.access", "sqlalchemy.engine", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
