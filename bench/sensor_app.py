"""The app the sensor bench loads: one trivial endpoint, with or without the sensor, on uvicorn in this process.

``python -m bench.sensor_app plain`` or ``python -m bench.sensor_app sensor INGESTION_URL``: binds a loopback port
the OS picks, prints ``port N`` and serves until killed. A process of its own per variant, so the load loop and
each app never share a GIL.
"""

from __future__ import annotations

import socket
import sys
import time
from typing import Any

APP_ID = "e2015522-40cb-4cd0-a49a-45845dbe3023"


class _Credential:
    def get_token(self, *scopes: str, **kwargs: object) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken("bench", int(time.time()) + 3600)


def build(variant: str, ingestion_url: str | None) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    def orders(request: Request) -> JSONResponse:
        return JSONResponse({"orders": []})

    def cpu(request: Request) -> JSONResponse:
        """This process's CPU seconds so far: the bench reads it around the measured rounds."""
        return JSONResponse({"cpu": time.process_time()})

    app: Any = Starlette(routes=[Route("/orders", orders), Route("/__cpu", cpu)])
    if variant == "sensor":
        from tokenwarden_sensor import IngestionTarget, Sensor, SensorConfig
        from tokenwarden_sensor.asgi import TokenwardenMiddleware

        assert ingestion_url is not None
        sensor = Sensor(SensorConfig(app_id=APP_ID, app_name="bench",
                                     ingestion=IngestionTarget(endpoint=ingestion_url,
                                                               rule_id="dcr-00000000000000000000000000bench")),
                        credential=_Credential())
        sensor.start()
        app = TokenwardenMiddleware(app, sensor=sensor)
    return app


def main(argv: list[str]) -> None:
    import uvicorn

    variant = argv[0]
    app = build(variant, argv[1] if len(argv) > 1 else None)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(f"port {sock.getsockname()[1]}", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="error", access_log=False, lifespan="off"))
    server.run(sockets=[sock])


if __name__ == "__main__":
    main(sys.argv[1:])
