"""The `hotline` command's entry point: the stop signals are taken as requests before
anything else is imported (controller/stop_requests.py says why)."""

from __future__ import annotations

import sys

from controller.stop_requests import StopRequests


def main() -> int:
    stop = StopRequests()
    stop.install()
    # Imported only now: importing builds pydantic's validators, where a KeyboardInterrupt
    # raised by Python's own handler was reported as ignored, and lost.
    from controller.cli import main as command

    return command(stop=stop)


if __name__ == "__main__":
    sys.exit(main())
