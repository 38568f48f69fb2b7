"""Sends HTTP/2 requests with prior knowledge (h2c), one stream each, with headers as given.

Usage: python h2_probe.py PORT 'HEADERS_JSON' ['HEADERS_JSON' ...]
Each argument is a JSON list of [name, value] pairs sent as one request's header block, in order,
unvalidated. Prints one line per request: the response :status, or RESET:<error code>.
"""
import json
import socket
import sys

import h2.config
import h2.connection
import h2.events


def main():
    port = int(sys.argv[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    config = h2.config.H2Configuration(client_side=True, validate_outbound_headers=False,
                                       normalize_outbound_headers=False, validate_inbound_headers=False)
    conn = h2.connection.H2Connection(config=config)
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    for argument in sys.argv[2:]:
        headers = [(name, value) for name, value in json.loads(argument)]
        stream = conn.get_next_available_stream_id()
        conn.send_headers(stream, headers, end_stream=True)
        sock.sendall(conn.data_to_send())
        result = None
        while result is None:
            data = sock.recv(65536)
            if not data:
                result = "CLOSED"
                break
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived) and event.stream_id == stream:
                    result = dict(event.headers)[b":status"].decode()
                elif isinstance(event, h2.events.StreamReset) and event.stream_id == stream:
                    result = "RESET:%d" % event.error_code
                elif isinstance(event, h2.events.ConnectionTerminated):
                    result = "GOAWAY:%d" % event.error_code
            sock.sendall(conn.data_to_send())
        print(result, flush=True)
        if result.startswith(("CLOSED", "GOAWAY")):
            break


if __name__ == "__main__":
    main()
