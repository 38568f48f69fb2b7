"""The reference gateway's routing, as Starlette under uvicorn runs it, for the differential test.

Every route run is recorded with the X-Probe header of its request; GET /__runs returns them
(called on uvicorn's own port, never through the sidecar).

Usage: python gateway_app.py PORT_FILE   (binds 127.0.0.1 on an ephemeral port, writes it to PORT_FILE)
"""
import socket
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

RUNS = []


def recorder(name):
    async def run(request):
        RUNS.append({"route": name, "probe": request.headers.get("x-probe", ""), "path": request.url.path})
        return PlainTextResponse(name)

    return run


async def runs(request):
    return JSONResponse(RUNS)


app = Starlette(
    routes=[
        Route("/jobs", recorder("jobs"), methods=["POST"]),
        Route("/jobs/{id}", recorder("job"), methods=["POST"]),
        Route("/admin", recorder("admin"), methods=["GET"]),
        Route("/__runs", runs, methods=["GET"]),
    ]
)

if __name__ == "__main__":
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    with open(sys.argv[1], "w") as port_file:
        port_file.write(str(sock.getsockname()[1]))
    config = uvicorn.Config(app, log_level="warning", http="httptools")
    uvicorn.Server(config).run(sockets=[sock])
