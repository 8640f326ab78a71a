"""async def handlers on the environment's one event loop; threads inside a handler."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

loops = []


async def handler(event, context):
    loops.append(id(asyncio.get_running_loop()))
    await asyncio.sleep(0.01)
    return {"loops_seen": len(set(loops)), "calls": len(loops)}


async def gather(event, context):
    async def square(n):
        await asyncio.sleep(0.01)
        return n * n

    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = await asyncio.gather(*(loop.run_in_executor(pool, pow, n, 3) for n in range(4)))
    awaited = await asyncio.gather(*(square(n) for n in range(4)))
    return {"threaded": threaded, "awaited": awaited}


def threads(event, context):
    with ThreadPoolExecutor(max_workers=4) as pool:
        return sorted(pool.map(lambda n: n + 1, range(8)))
