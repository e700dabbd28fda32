"""Kit clients retry a read refused with UNAVAILABLE once (within a retry budget), never a change,
and never a deliberate answer. A real grpc.aio server on a real port refuses the first calls."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator

import grpc
import pytest

from services.kit.clients import Channels
from services.kit.config import CommonSettings
from tests.support.ports import free_port


class Refusing(grpc.GenericRpcHandler):  # type: ignore[misc]
    """Answers b"ok" once each method has refused `refusals` calls (UNAVAILABLE, no domain code)."""

    def __init__(self) -> None:
        self.refusals = 0
        self.calls: Counter[str] = Counter()
        self.answered = False

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        method: str = details.method

        async def handle(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            self.calls[method] += 1
            if self.calls[method] <= self.refusals:
                if self.answered:
                    context.set_trailing_metadata((("shop-error-code", "PROVIDER_UNAVAILABLE"),))
                await context.abort(grpc.StatusCode.UNAVAILABLE, "not now")
            return b"ok"

        return grpc.unary_unary_rpc_method_handler(handle)


@pytest.fixture
async def server() -> AsyncIterator[tuple[Refusing, Channels]]:
    handler = Refusing()
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port(f"127.0.0.1:{free_port()}")
    await server.start()
    channels = Channels(CommonSettings(catalog_addr=f"127.0.0.1:{port}"))
    yield handler, channels
    await channels.close()
    await server.stop(0)


def _call(channels: Channels, method: str) -> grpc.aio.UnaryUnaryMultiCallable:
    return channels.channel("catalog").unary_unary(f"/test.Things/{method}")


async def test_a_refused_read_is_retried_once(server: tuple[Refusing, Channels]) -> None:
    handler, channels = server
    handler.refusals = 1
    assert await _call(channels, "GetThing")(b"") == b"ok"
    assert handler.calls["/test.Things/GetThing"] == 2

    handler.refusals = 10  # still down after the retry: the caller sees UNAVAILABLE
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await _call(channels, "ListThings")(b"")
    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
    assert handler.calls["/test.Things/ListThings"] == 2


async def test_a_change_or_an_answer_is_not_retried(server: tuple[Refusing, Channels]) -> None:
    handler, channels = server
    handler.refusals = 1
    with pytest.raises(grpc.aio.AioRpcError):
        await _call(channels, "ChargeThing")(b"")
    assert handler.calls["/test.Things/ChargeThing"] == 1

    handler.answered = True  # a domain error marked UNAVAILABLE is an answer, not an outage
    with pytest.raises(grpc.aio.AioRpcError):
        await _call(channels, "GetAnswer")(b"")
    assert handler.calls["/test.Things/GetAnswer"] == 1


async def test_retries_stop_when_the_budget_is_spent(server: tuple[Refusing, Channels]) -> None:
    handler, channels = server
    handler.refusals = 1000
    for _ in range(30):
        with pytest.raises(grpc.aio.AioRpcError):
            await _call(channels, "GetThing")(b"")
    # 30 calls: the 10 saved retries and the tenth of a retry each call earns, no more.
    assert 30 + 10 <= handler.calls["/test.Things/GetThing"] <= 30 + 10 + 3
