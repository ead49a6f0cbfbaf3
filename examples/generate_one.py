"""Generate one wan2.7-r2v video with a plain GMICloudClient and save it.

    python examples/generate_one.py --base-url URL --api-key KEY --out clip.mp4

Against the simulator (``python -m prefect_gmicloud.simulator``) or the real API.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from prefect_gmicloud import GMICloudClient
from prefect_gmicloud.client import DEFAULT_BASE_URL, WaitPolicy
from prefect_gmicloud.models import Wan27R2VPayload
from prefect_gmicloud.transfer import download_file


async def generate(base_url: str, api_key: str, out: Path, duration: int) -> None:
    payload = Wan27R2VPayload(
        prompt="Video1 walks into a cozy cafe and hands Image1 a coffee",
        reference_video=["https://refs.example/barista.mp4"],
        reference_image=["https://refs.example/guest.png"],
        resolution="720P",
        ratio="16:9",
        duration=duration,
    )
    async with GMICloudClient(
        api_key, base_url=base_url, wait_policy=WaitPolicy(initial_interval=0.5)
    ) as client:
        request = await client.submit(payload)
        print(f"submitted {request.request_id}")
        done = await client.wait(request.request_id, on_change=lambda r: print(f"  {r.status}"))
    video = done.video
    assert video is not None, "the outcome has no video"
    # Streamed, resumable and verified; result links are public storage: never the API key.
    file = await download_file(video.url, out)
    print(f"saved {out} ({file.size} bytes, sha256 {file.sha256})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base-url", default=DEFAULT_BASE_URL)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--out", type=Path, default=Path("clip.mp4"))
    parser.add_argument("--duration", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(generate(args.base_url, args.api_key, args.out, args.duration))


if __name__ == "__main__":
    main()
