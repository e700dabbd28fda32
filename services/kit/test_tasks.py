from __future__ import annotations

import asyncio
import logging

import pytest

from services.kit.tasks import cancel_and_wait


async def _stubborn(release: asyncio.Event) -> None:
    """Unwinds only once `release` is set, like a driver call that outlives its cancellation."""
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        await release.wait()
        raise


async def test_a_task_that_does_not_unwind_is_left_behind_and_named(caplog: pytest.LogCaptureFixture) -> None:
    release = asyncio.Event()
    task = asyncio.create_task(_stubborn(release), name="stubborn")
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with caplog.at_level(logging.WARNING, logger="shop.tasks"):
        await cancel_and_wait(task, within=0.2)
    assert loop.time() - started < 2
    (record,) = [r for r in caplog.records if r.name == "shop.tasks"]
    assert record.__dict__["task"] == "stubborn"
    assert any("in _stubborn" in line for line in record.__dict__["waits_at"])
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_task_that_unwinds_is_waited_for_and_its_error_raised() -> None:
    async def fails_on_cancel() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await asyncio.sleep(0.05)
            raise RuntimeError("clean-up failed") from None

    task = asyncio.create_task(fails_on_cancel())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="clean-up failed"):
        await cancel_and_wait(task)
    assert task.done()
