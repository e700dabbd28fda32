"""A stand-in for the payment provider's HTTP tokenization endpoint, used only while the payments
process does not serve it yet (issue 8 adds the real one; the browser test then uses that).

Same contract: POST /v1/tokens with {number, exp_month, exp_year, cvc} -> 201 {token, brand, last4,
exp_month, exp_year} or 400 {error}. It answers with the payments service's reusable test tokens, so
the order is still charged by the real payments service: 4000000000000002 -> tok_test_declined, any
other valid card -> tok_test_visa.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web

DECLINED_CARD = "4000000000000002"


def _luhn(number: str) -> bool:
    digits = [int(d) for d in reversed(number)]
    total = sum(digits[0::2]) + sum(sum(divmod(2 * d, 10)) for d in digits[1::2])
    return total % 10 == 0


async def _tokens(request: web.Request) -> web.Response:
    try:
        body = await request.json()
        number = str(body["number"])
        month, year, cvc = int(body["exp_month"]), int(body["exp_year"]), str(body["cvc"])
    except (ValueError, KeyError, TypeError):
        return web.json_response({"error": "number, exp_month, exp_year and cvc are required"}, status=400)
    if not (number.isdigit() and 12 <= len(number) <= 19 and _luhn(number)):
        return web.json_response({"error": "invalid card number"}, status=400)
    if not (1 <= month <= 12 and cvc.isdigit() and 3 <= len(cvc) <= 4):
        return web.json_response({"error": "invalid expiry or cvc"}, status=400)
    token = "tok_test_declined" if number == DECLINED_CARD else "tok_test_visa"
    card = {"brand": "visa", "last4": number[-4:], "exp_month": month, "exp_year": year}
    return web.json_response({"token": token, **card}, status=201)


@contextmanager
def provider_standin(port: int) -> Iterator[None]:
    """Serves the stand-in on 127.0.0.1:`port` in a thread while the block runs."""
    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_post("/v1/tokens", _tokens)
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.run_until_complete(runner.cleanup())
        loop.close()
