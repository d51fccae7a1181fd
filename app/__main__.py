"""``python -m app``: serve Gateflow with the settings' host and port.

WebSocket permessage-deflate is off unless GATEFLOW_WS_DEFLATE=true: float32 frames barely compress
(a 2 MB bulk block to 78% in about 200 ms of event-loop time, during which no session gets a frame),
see bench/RESULTS.md. With the plain uvicorn CLI, pass ``--ws-per-message-deflate false`` and
``--ws-max-size`` (else uvicorn reads messages of up to 16 MiB whole before the app's own check).
GATEFLOW_PROCESSES=N runs N server processes behind the one port (uvicorn's workers); they share
classroom rooms through GATEFLOW_BROKER_URL, which N > 1 requires.
"""

from __future__ import annotations

import uvicorn

from .settings import get_settings


def main() -> None:
    settings = get_settings()
    if settings.processes > 1 and not settings.broker_url:
        raise SystemExit(
            f"GATEFLOW_PROCESSES={settings.processes} needs GATEFLOW_BROKER_URL=redis://host:port/db: "
            "classroom rooms are shared between processes through Redis (docs/docker.md, Classroom rooms)"
        )
    uvicorn.run(
        f"{__package__}.main:app",
        host=settings.host,
        port=settings.port,
        workers=settings.processes,
        ws_per_message_deflate=settings.ws_deflate,
        # a larger WebSocket message is refused by the server (close 1009) before it is read whole
        ws_max_size=settings.max_message_bytes,
    )


if __name__ == "__main__":
    main()
