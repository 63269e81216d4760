"""Grid and canvas benchmark: composing a 2x2 grid of four 1024x1024 PNGs (what `--n 4` posts), and a Zoom Out's
canvas and restore, each run off the event loop as the job path runs them, while a ticker measures how late the
loop wakes (its lag).

    python bench/grid_bench.py [--grids 20] [--side 1024] [--parallel 1]

Prints time per grid (p50/p90), the grid's bytes, the event loop's worst lag, the outpaint timings and peak RSS;
the last line is JSON."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image

from bot.canvas import restore, zoom_out
from bot.grid import compose_grid

TICK = 0.005  # the ticker's sleep: lag is how much later than this it wakes


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def photo_like(side: int, seed: int) -> bytes:
    """A PNG of `side`x`side` with smooth gradients and grain, compressing about as a photo does."""
    grain = Image.effect_noise((side, side), 30 + 5 * seed)
    ramp = Image.linear_gradient("L").resize((side, side))
    picture = Image.merge("RGB", (ramp, grain, ramp.rotate(90 * (seed + 1))))
    out = io.BytesIO()
    picture.save(out, "PNG")
    return out.getvalue()


async def measure_lag(stop: asyncio.Event) -> float:
    worst = 0.0
    while not stop.is_set():
        before = time.perf_counter()
        await asyncio.sleep(TICK)
        worst = max(worst, time.perf_counter() - before - TICK)
    return worst


async def timed(work: object, *args: object) -> float:
    started = time.perf_counter()
    await asyncio.to_thread(work, *args)  # type: ignore[arg-type]
    return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--grids", type=int, default=20)
    parser.add_argument("--side", type=int, default=1024)
    parser.add_argument("--parallel", type=int, default=1, help="grids composed at once")
    args = parser.parse_args()

    images = [photo_like(args.side, seed) for seed in range(4)]
    grid_bytes = len(compose_grid(images)[0])  # warm-up, and the size of what is posted
    stop = asyncio.Event()
    lag = asyncio.create_task(measure_lag(stop))
    grid_times: list[float] = []
    for _ in range(0, args.grids, args.parallel):
        batch = await asyncio.gather(*(timed(compose_grid, images) for _ in range(args.parallel)))
        grid_times += batch
    zoom_times = [await timed(zoom_out, images[0], 2.0) for _ in range(5)]
    outpaint = await asyncio.to_thread(zoom_out, images[0], 2.0)
    restore_times = [await timed(restore, images[1], outpaint.canvas, outpaint.keep) for _ in range(5)]
    stop.set()
    worst_lag = await lag

    def ms(values: list[float], quantile: float = 0.5) -> float:
        ordered = sorted(values)
        return round(ordered[min(len(ordered) - 1, int(quantile * len(ordered)))] * 1000, 1)

    figures = {
        "grids": len(grid_times),
        "side": args.side,
        "parallel": args.parallel,
        "input_mb_each": round(statistics.mean(len(image) for image in images) / 1e6, 2),
        "grid_ms_p50": ms(grid_times),
        "grid_ms_p90": ms(grid_times, 0.9),
        "grid_kb": round(grid_bytes / 1024),
        "zoom_canvas_ms_p50": ms(zoom_times),
        "restore_ms_p50": ms(restore_times),
        "loop_lag_max_ms": round(worst_lag * 1000, 1),
        "peak_rss_mb": peak_rss_mb(),
    }
    print(f"grid of 4 x {args.side}x{args.side} ({figures['input_mb_each']} MB each), {args.parallel} at a time:")
    print(f"  per grid p50 {figures['grid_ms_p50']} ms, p90 {figures['grid_ms_p90']} ms; {figures['grid_kb']} KB JPEG")
    print(f"  zoom out canvas p50 {figures['zoom_canvas_ms_p50']} ms, restore p50 {figures['restore_ms_p50']} ms")
    print(f"  event loop worst lag {figures['loop_lag_max_ms']} ms; peak RSS {figures['peak_rss_mb']} MB")
    print(json.dumps(figures))


if __name__ == "__main__":
    asyncio.run(main())
