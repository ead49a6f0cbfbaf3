"""The demo: one video generated and stored end to end, with nothing leaving this machine.

    ./dev demo [--out out]

Starts the GMI simulator (GMI Cloud's documented API on loopback, rendering real H.264 MP4s)
and a local S3-protocol server (moto), runs the ``generate_video`` flow against both (Prefect
starts a temporary API when none is configured), copies the stored video back to ``out/`` so
it can be played, and stops both servers.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import time
from pathlib import Path

from moto.server import ThreadedMotoServer

from prefect_gmicloud import GMICloudCredentials
from prefect_gmicloud.flows import generate_video
from prefect_gmicloud.simulator import Simulator, SimulatorConfig
from prefect_gmicloud.storage import S3Destination, resolve_storage

PAYLOAD = {
    "prompt": "Video1 walks into a cozy cafe and hands Image1 a coffee",
    "reference_video": ["https://refs.example/barista.mp4"],
    "reference_image": ["https://refs.example/guest.png"],
    "resolution": "720P",
    "ratio": "16:9",
    "duration": 5,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("out"))
    args = parser.parse_args()
    # moto accepts any keys; these exist only for this process.
    os.environ.update(AWS_ACCESS_KEY_ID="demo", AWS_SECRET_ACCESS_KEY="demo")  # noqa: S106
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the S3 server's access log
    s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    s3.start()
    host, port = s3.get_host_and_port()
    storage = S3Destination(bucket="gmi-demo", prefix="demo", endpoint_url=f"http://{host}:{port}")
    location = resolve_storage(storage)
    location.client.create_bucket(Bucket=storage.bucket)
    try:
        with Simulator(SimulatorConfig(queue_seconds=1.0, processing_seconds=3.0)) as simulator:
            print(f"GMI simulator on {simulator.base_url}; S3 on {storage.endpoint_url}")
            credentials = GMICloudCredentials(
                api_key=simulator.api_key, base_url=simulator.base_url
            )
            started = time.monotonic()
            result = asyncio.run(
                generate_video("wan2.7-r2v", PAYLOAD, storage, credentials, name="cafe")
            )
            calls = sum(simulator.stats.calls.values())
        assert result.video is not None
        args.out.mkdir(parents=True, exist_ok=True)
        local = args.out / "demo.mp4"
        location.client.download_file(storage.bucket, result.video.key, str(local))
    finally:
        s3.stop()
    print(f"\ndone in {time.monotonic() - started:.1f}s (GMI request {result.request_id})")
    for role, stored in result.files.items():
        print(f"  {role:<10} {stored.uri}  {stored.size:,} bytes  sha256 {stored.sha256}")
    print(f"  copied to  {local.resolve()}")
    print(f"  the simulator answered {calls} API calls")


if __name__ == "__main__":
    main()
