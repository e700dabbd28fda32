"""Readiness probes: the standard gRPC health check, and the gateway's GET /api/health."""

from __future__ import annotations

import asyncio

import aiohttp
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from deploy.local.process import ChildProcess


class NotReady(RuntimeError):
    """The child exited or stayed unhealthy until the deadline; the message says which."""


# Without these, a channel that found nobody listening backs off for seconds before retrying.
_CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 500),
    ("grpc.enable_http_proxy", 0),
]


def _check_alive(child: ChildProcess) -> None:
    if not child.running:
        raise NotReady(f"{child.name} exited with code {child.returncode} while starting")


async def wait_grpc_serving(child: ChildProcess, addr: str, seconds: float) -> None:
    """Polls grpc.health.v1.Health/Check(service="") until SERVING."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    last = "no answer"
    async with grpc.aio.insecure_channel(addr, options=_CHANNEL_OPTIONS) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            _check_alive(child)
            try:
                reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    _check_alive(child)  # a stale server on the port must not pass for ours
                    return
                last = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
            except grpc.aio.AioRpcError as exc:
                last = f"{exc.code().name}: {exc.details()}"
            if loop.time() > deadline:
                raise NotReady(f"{child.name} not SERVING on {addr} within {seconds:g}s (last: {last})")
            await asyncio.sleep(0.2)


async def wait_http_ok(child: ChildProcess, url: str, seconds: float) -> None:
    """Polls GET `url` until it answers 200."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    last = "no answer"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2.0)) as session:
        while True:
            _check_alive(child)
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        _check_alive(child)
                        return
                    last = f"HTTP {response.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            if loop.time() > deadline:
                raise NotReady(f"{child.name} did not answer 200 on {url} within {seconds:g}s (last: {last})")
            await asyncio.sleep(0.2)
