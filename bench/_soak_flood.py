"""The soak's flood: malformed messages on unique topics, from one paho-mqtt publisher process.

    python -m bench._soak_flood HOST PORT USER RATE SECONDS TAG   (password on stdin)

Publishes at QoS 1 (so that every message reaches the collector's queue and can be counted in
its ``rejected`` measurement) under ``hosiery/v1/USER/`` (the only place the broker's ACL lets
the account write), cycling through three kinds of garbage, each on a topic never used before:

* ``hosiery/v1/USER/F{tag}-{i}/counter`` with a payload that is not a reading (malformed JSON or
  wrong types);
* ``hosiery/v1/USER/bad.id.{tag}.{i}/counter`` (an invalid machine id);
* ``hosiery/v1/USER/F{tag}-{i}/counter`` with a reading whose counter is negative.

(The ACL lets a gateway account write only ``+/counter`` and ``status`` under its enterprise:
the broker drops anything else, so topics the contract does not define never reach the
collector from a gateway.)

Prints one JSON line: messages published and acknowledged by the broker, connections lost,
the seconds it took, and the rate reached.
"""

import sys
import time

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

PAYLOADS = (
    b'{"ts": "soon", "seq": -1, "boot": "b", "pairs_total": "many", "state": "knitting"}',
    b"\xff\xfe not json at all \x00\x01",
    b'{"ts": 1, "seq": 1',
    b"[1, 2, 3]",
)
NEGATIVE = b'{"ts": 1, "seq": 1, "boot": "b1", "pairs_total": -5, "state": "running"}'


MAX_OUTSTANDING = 50_000
"""Messages published and not yet acknowledged, at most: paho's message ids are 16 bits, and
beyond 65,535 outstanding a new message takes the id (and the place) of an unacknowledged one,
which then never counts as acknowledged. A broker slower than the target rate lowers the rate
reached instead."""


def topic(user: str, tag: str, i: int) -> str:
    if i % 3 == 1:
        return f"hosiery/v1/{user}/bad.id.{tag}.{i}/counter"
    return f"hosiery/v1/{user}/F{tag}-{i}/counter"


def payload(i: int) -> bytes:
    if i % 3 == 2:
        return NEGATIVE
    return PAYLOADS[i % len(PAYLOADS)]


KEEPALIVE_S = 300
"""Long enough that a publisher starved of CPU on a loaded machine is not dropped by the broker
for a missed PINGREQ (Mosquitto drops a client after 1.5 keep-alives without a packet)."""


def flood(
    host: str, port: int, user: str, password: str, rate: float, seconds: float, tag: str
) -> dict[str, float]:
    """Publish ``rate`` messages a second for ``seconds``; wait for every PUBACK (2 min).

    A connection lost under load is re-established (paho's loop reconnects; the session is kept,
    so the messages in flight are sent again and acknowledged then)."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=user, protocol=mqtt.MQTTv311, clean_session=False
    )
    client.username_pw_set(user, password)
    client.max_queued_messages_set(0)
    client.max_inflight_messages_set(65535)
    client.reconnect_delay_set(1, 2)
    acked = [0]
    disconnects = [0]

    def on_publish(*_args: object) -> None:
        acked[0] += 1

    stopping = [False]

    def on_disconnect(*_args: object) -> None:
        if not stopping[0]:  # not the publisher's own final DISCONNECT
            disconnects[0] += 1

    client.on_publish = on_publish
    client.on_disconnect = on_disconnect
    client.connect(host, port, keepalive=KEEPALIVE_S)
    client.loop_start()
    started = time.monotonic()
    sent = 0
    try:
        while True:
            elapsed = time.monotonic() - started
            if elapsed >= seconds:
                break
            due = min(int(elapsed * rate) + 1, int(seconds * rate))
            while sent < due and sent - acked[0] < MAX_OUTSTANDING:
                # Not connected: paho keeps a QoS 1 message and sends it on reconnecting.
                client.publish(topic(user, tag, sent), payload(sent), 1)
                sent += 1
            time.sleep(0.005)
        took = time.monotonic() - started
        deadline = started + seconds + 120
        while acked[0] < sent and time.monotonic() < deadline:
            time.sleep(0.01)
        until_acked = time.monotonic() - started
    finally:
        stopping[0] = True
        client.disconnect()
        client.loop_stop()
    return {
        "published": sent,
        "acknowledged": acked[0],
        "disconnects": disconnects[0],
        "seconds": round(took, 3),
        "rate": round(sent / took, 1),
        "acked_after_s": round(until_acked, 3),
    }


def main() -> int:
    host, port, user, rate, seconds, tag = sys.argv[1:7]
    password = sys.stdin.readline().strip()
    result = flood(host, int(port), user, password, float(rate), float(seconds), tag)
    sys.stdout.buffer.write(orjson.dumps(result) + b"\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
