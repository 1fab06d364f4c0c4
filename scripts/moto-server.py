"""moto's server, handling one request at a time.

DynamoDB applies a conditional write atomically and SQS hides a received message from
other receivers; moto's threaded server interleaves requests, so two concurrent
conditional writes could both pass their condition, one message could go to two
receivers, and concurrent transactions sometimes failed with an internal error. The
store contracts race such requests on purpose. One lock around each request gives the
atomicity the real services promise; connections are still accepted side by side.

Usage: moto-server.py HOST PORT (scripts/with-moto starts it).
"""

import signal
import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple

ONE_AT_A_TIME = threading.Lock()
APP = DomainDispatcherApplication(create_backend_app)


def serialized(environ, start_response):
    with ONE_AT_A_TIME:
        # The body is produced inside the lock too: moto may build it lazily.
        return list(APP(environ, start_response))


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    run_simple(host, port, serialized, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
