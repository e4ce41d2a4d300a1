"""FairSlots: a freed slot goes to the waiting owner holding the fewest; cancelled waiters never leak a slot."""

from __future__ import annotations

import asyncio

from judgerl.serve.fair_slots import FairSlots, current_owner


def test_slots_alternate_between_owners_and_survive_cancellation() -> None:
    async def main() -> list[str]:
        slots = FairSlots(1)
        order: list[str] = []

        async def work(owner: str, tag: str) -> None:
            current_owner.set(owner)
            async with slots:
                order.append(tag)
                await asyncio.sleep(0.01)

        big = [asyncio.create_task(work("big", f"b{i}")) for i in range(6)]
        await asyncio.sleep(0)  # the batch queues first
        small = asyncio.create_task(work("small", "s"))
        doomed = asyncio.create_task(work("other", "x"))
        await asyncio.sleep(0)
        doomed.cancel()
        await asyncio.gather(*big, small, return_exceptions=True)
        async with slots:  # nothing leaked: the one slot is free again
            pass
        return order

    order = asyncio.run(main())
    assert "x" not in order and len(order) == 7
    assert order.index("s") <= 2  # served after at most two of the batch, not after all six
