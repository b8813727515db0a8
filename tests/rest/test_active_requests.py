"""At most ``[rest] max_active_requests`` REST requests worked on at once (api/rest/active_requests.py);
waits on the client give the turn to another (a station's: test_active_requests_station.py)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from api.core.work_slots import WorkSlots, released
from api.rest.active_requests import ActiveRequests, RequestTurns


class Probe:
    """An ASGI app that counts the requests in its own code at once; each waits for ``go``,
    inside ``released()`` when the path is /outside (a stand-in for a station's answer)."""

    def __init__(self) -> None:
        self.working = self.most_working = 0
        self.outside = self.most_outside = 0
        self.go = asyncio.Event()

    async def __call__(self, scope, receive, send) -> None:
        self.working += 1
        self.most_working = max(self.most_working, self.working)
        try:
            if scope["path"] == "/outside":
                self.working -= 1
                async with released():
                    self.outside += 1
                    self.most_outside = max(self.most_outside, self.outside)
                    await self.go.wait()
                    self.outside -= 1
                self.working += 1
            else:
                await self.go.wait()
        finally:
            self.working -= 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


async def _get_all(app, paths: list[str], probe: Probe, *, until) -> list[int]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://rest") as client:
        requests = [asyncio.create_task(client.get(path)) for path in paths]
        async with asyncio.timeout(5):
            while not until():
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)   # any request that could wrongly start has started
        probe.go.set()
        return [answer.status_code for answer in await asyncio.gather(*requests)]


async def _one_turn_free(slots: WorkSlots) -> None:
    """A limit-1 pool's turn is free now, and there is only the one."""
    async with asyncio.timeout(1):
        async with slots.held():
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.05):
                    async with slots.held():
                        pass


async def test_no_more_requests_are_worked_on_at_once_than_the_limit():
    probe = Probe()
    app = ActiveRequests(probe, turns=RequestTurns(2))

    statuses = await _get_all(app, ["/inside"] * 6, probe, until=lambda: probe.working == 2)

    assert statuses == [200] * 6
    assert probe.most_working == 2


async def test_requests_waiting_outside_the_process_hold_no_turn():
    probe = Probe()
    app = ActiveRequests(probe, turns=RequestTurns(2))

    statuses = await _get_all(app, ["/outside"] * 6, probe, until=lambda: probe.outside == 6)

    assert statuses == [200] * 6
    assert probe.most_outside == 6 and probe.most_working <= 2


async def test_a_request_cancelled_while_outside_gives_back_no_turn_it_does_not_hold():
    slots = WorkSlots(2)
    waiting = asyncio.Event()

    async def cancelled_request() -> None:
        async with slots.held():
            async with released():
                waiting.set()
                await asyncio.Event().wait()

    task = asyncio.create_task(cancelled_request())
    await waiting.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    # Still two turns, not three: the cancelled request's released turn was not released twice.
    inside = 0
    most = 0
    gate = asyncio.Event()

    async def request() -> None:
        nonlocal inside, most
        async with slots.held():
            inside += 1
            most = max(most, inside)
            await gate.wait()
            inside -= 1

    tasks = [asyncio.create_task(request()) for _ in range(4)]
    await asyncio.sleep(0.05)
    gate.set()
    await asyncio.gather(*tasks)
    assert most == 2


async def test_an_answer_its_client_reads_slowly_holds_no_turn():
    async def answer(scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    app = ActiveRequests(answer, turns=RequestTurns(1))
    reader_ready = asyncio.Event()
    slow_sent: list[dict] = []

    async def slow_send(message) -> None:
        slow_sent.append(message)
        if message.get("more_body"):
            reader_ready.set()
            await asyncio.sleep(3600)   # a client that stopped reading

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {"type": "http", "path": "/export", "method": "GET", "headers": []}
    slow = asyncio.create_task(app(scope, receive, slow_send))
    await reader_ready.wait()
    quick_sent: list[dict] = []

    async def quick_send(message) -> None:
        quick_sent.append(message)

    await asyncio.wait_for(app(scope, receive, quick_send), 2)

    assert [m.get("status") for m in quick_sent if m["type"] == "http.response.start"] == [200]
    slow.cancel()



async def test_a_task_a_request_started_neither_frees_nor_keeps_the_requests_turn():
    # A request that starts a task of its own (a campaign's passes) and returns: the task's later
    # waits on stations change no turn, neither during the request nor after it.
    slots = WorkSlots(1)
    started: list[asyncio.Task] = []
    station_answers = asyncio.Event()

    async def later_task() -> None:
        async with released():
            await station_answers.wait()

    async with slots.held():
        started.append(asyncio.create_task(later_task()))
        await asyncio.sleep(0.01)   # the task waits "outside" while the request still works
        with pytest.raises(TimeoutError):   # the request's turn was not freed by its task
            async with asyncio.timeout(0.05):
                async with slots.held():
                    pass
    station_answers.set()
    await started[0]

    # One turn, free again, and only one.
    await _one_turn_free(slots)


async def test_a_request_back_from_a_station_goes_before_requests_not_yet_begun():
    slots = WorkSlots(1)
    order: list[str] = []
    station_answered, first_waits, second_works, second_may_end = (asyncio.Event() for _ in range(4))

    async def first() -> None:
        async with slots.held():
            async with released():
                first_waits.set()
                await station_answered.wait()
            order.append("first, back from its station")

    async def second() -> None:
        async with slots.held():
            second_works.set()
            await second_may_end.wait()
            order.append("second")

    async def third() -> None:
        async with slots.held():
            order.append("third, not begun until then")

    tasks = [asyncio.create_task(first())]
    await first_waits.wait()
    tasks.append(asyncio.create_task(second()))
    await second_works.wait()
    tasks.append(asyncio.create_task(third()))
    await asyncio.sleep(0.01)   # the third waits for a turn
    station_answered.set()
    await asyncio.sleep(0.01)   # the first is back, and waits for a turn after the third
    second_may_end.set()
    await asyncio.gather(*tasks)

    assert order == ["second", "first, back from its station", "third, not begun until then"]


async def test_a_request_cancelled_while_waiting_for_its_turn_takes_none():
    slots = WorkSlots(1)
    gate = asyncio.Event()

    async def holder() -> None:
        async with slots.held():
            await gate.wait()

    async def waiter() -> None:
        async with slots.held():
            pass

    holding = asyncio.create_task(holder())
    await asyncio.sleep(0)
    waiting = asyncio.create_task(waiter())
    await asyncio.sleep(0.01)
    waiting.cancel()
    gate.set()
    await holding
    with pytest.raises(asyncio.CancelledError):
        await waiting

    await _one_turn_free(slots)


async def test_a_request_cancelled_as_its_turn_came_passes_the_turn_on():
    slots = WorkSlots(1)

    async def waiter() -> None:
        async with slots.held():
            pass

    holding = slots.held()
    await holding.__aenter__()
    waiting = asyncio.create_task(waiter())
    await asyncio.sleep(0.01)
    await holding.__aexit__(None, None, None)   # the turn is handed to the waiter ...
    waiting.cancel()                            # ... which is cancelled before it could run
    with pytest.raises(asyncio.CancelledError):
        await waiting

    await _one_turn_free(slots)


async def test_the_turns_taken_and_the_requests_waiting_are_counted():
    slots = WorkSlots(1)
    gate = asyncio.Event()

    async def request() -> None:
        async with slots.held():
            await gate.wait()

    tasks = [asyncio.create_task(request()) for _ in range(3)]
    await asyncio.sleep(0.01)
    assert (slots.working, slots.waiting) == (1, 2)
    tasks[2].cancel()
    await asyncio.sleep(0)
    assert (slots.working, slots.waiting) == (1, 1)
    gate.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert (slots.working, slots.waiting) == (0, 0)
