"""Raw libzmq peer for Tools/bench-link: a ROUTER that answers every request with fixed bytes.

It has the twin's shape (pyzmq ROUTER, poll loop, one reply per request) without the protocol: no decoding,
no validation, no encoding, no physics. The bytes it answers with are a real OBSERVATION of the cell's size,
so the link benchmark compares like with like. Prints `echo ready: <endpoint>` once bound.

    python echo_router.py REPLY_BYTES
"""

from __future__ import annotations

import sys

import zmq


def main() -> None:
    reply = bytes(int(sys.argv[1]))
    context = zmq.Context()
    socket = context.socket(zmq.ROUTER)
    socket.setsockopt(zmq.LINGER, 0)
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


if __name__ == "__main__":
    main()
