"""Raw libzmq peer for Tools/bench-link: a ROUTER that answers every request with fixed bytes.

It has the twin's shape (pyzmq ROUTER, poll loop, one reply per request) without the protocol: no decoding,
no validation, no encoding, no physics. The bytes it answers with are a real OBSERVATION of the cell's size,
so the link benchmark compares like with like. Prints `echo ready: <endpoint>` once bound.

    python echo_router.py REPLY_BYTES [SECRET_KEY_FILE ALLOW_LIST_FILE]

With the two files it is a CURVE server with the twin's ZAP handler (edgecell_twin.curve), as the twin with
--curve-secret-key and --curve-allow.
"""

from __future__ import annotations

import sys

import zmq


def main() -> None:
    reply = bytes(int(sys.argv[1]))
    context = zmq.Context()
    socket = context.socket(zmq.ROUTER)
    socket.setsockopt(zmq.LINGER, 0)
    zap = None
    if len(sys.argv) == 4:
        from edgecell_twin import curve

        zap = curve.ZapHandler(context, curve.AllowList(sys.argv[3]))
        curve.make_curve_server(socket, curve.load_secret_key(sys.argv[2]))
    socket.bind("tcp://127.0.0.1:0")
    print(f"echo ready: {socket.getsockopt_string(zmq.LAST_ENDPOINT)}", flush=True)
    poller = zmq.Poller()
    poller.register(socket, zmq.POLLIN)
    try:
        while True:
            if poller.poll(1000):
                identity, *_ = socket.recv_multipart(copy=True)
                socket.send_multipart([identity, reply])
    except KeyboardInterrupt:
        pass
    finally:
        if zap is not None:
            zap.stop()


if __name__ == "__main__":
    main()
