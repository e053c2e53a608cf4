"""moto's DynamoDB-compatible server, handling one request at a time.

DynamoDB applies each item write atomically: of two conditional updates of
one item, the second sees the first. moto's handlers run on a thread per
request with nothing to keep them apart, so two such updates served at once
can both pass their condition (a burst of 10 conditional increments with a
cap of 1 admits 2 now and then). The fleet tests race conditional writes on
purpose, so this serves moto's own app (what `moto_server` runs) under one
lock: requests still arrive on many connections at once, and each is
handled whole before the next.

Usage: python moto_server.py HOST PORT
"""

import os
import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def one_at_a_time(environ, start_response):
        with lock:
            # The whole body, made under the lock.
            return list(app(environ, start_response))

    run_simple(
        host,
        port,
        one_at_a_time,
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
