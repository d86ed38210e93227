"""A test gateway process: birth message, Last Will, readings every interval, until killed.

``python -m tests.support.gateway HOST PORT ENTERPRISE M1,M2 INTERVAL`` (from the repository
root). A machine is ``running`` unless given a state, ``M2:idle``; only a running machine's
counter grows. The integration tests kill it with SIGKILL, so the broker publishes its Last Will.
"""

import sys
import threading
import time

import orjson
import paho.mqtt.client as mqtt

from contract import counter_topic, status_topic


def main(argv: list[str]) -> int:
    host, port, enterprise, machines_arg, interval_arg = argv
    states: dict[str, str] = {}
    for item in machines_arg.split(","):
        machine, _, state = item.partition(":")
        states[machine] = state or "running"
    machines = list(states)
    interval = float(interval_arg)
    connected = threading.Event()
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=f"gw-{enterprise}", protocol=mqtt.MQTTv311
    )
    client.will_set(status_topic(enterprise), orjson.dumps({"online": False}), qos=1, retain=True)
    client.on_connect = lambda *_args: connected.set()
    client.connect(host, int(port), keepalive=5)
    client.loop_start()
    if not connected.wait(10):
        return 1
    birth = {"online": True, "ts": int(time.time() * 1000), "machines": machines}
    client.publish(status_topic(enterprise), orjson.dumps(birth), qos=1, retain=True)
    seq = 0
    totals = dict.fromkeys(machines, 0)
    print("ready", flush=True)  # noqa: T201 - the test waits for this line
    while True:
        seq += 1
        for machine in machines:
            if states[machine] == "running":
                totals[machine] += 1
            reading = {
                "ts": int(time.time() * 1000),
                "seq": seq,
                "boot": "b1",
                "pairs_total": totals[machine],
                "state": states[machine],
            }
            client.publish(counter_topic(enterprise, machine), orjson.dumps(reading), qos=1)
        time.sleep(interval)  # the gateway's reporting cadence


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
