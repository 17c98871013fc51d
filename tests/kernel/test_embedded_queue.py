"""The embedded queue publishes each message atomically: a polling worker never sees half of one."""

from __future__ import annotations

import threading

from kombu import Connection

from baas import queue


def test_a_consumer_polling_during_heavy_publishing_only_ever_sees_whole_messages(tmp_path):
    queue.register()
    folder = tmp_path / "messages"
    folder.mkdir()
    options = {
        "data_folder_in": str(folder),
        "data_folder_out": str(folder),
        "control_folder": str(tmp_path / "control"),
        "processed_folder": str(tmp_path / "processed"),
        "polling_interval": 0.001,
    }
    payload = {"blob": "x" * 500_000}  # large enough that a non-atomic write is visibly partial
    count = 150
    received: list[dict] = []
    errors: list[BaseException] = []

    def publish() -> None:
        with Connection("baasfs://localhost/", transport_options=options) as connection:
            producer = connection.Producer()
            for index in range(count):
                producer.publish({**payload, "n": index}, routing_key="jobs", serializer="json")

    def consume() -> None:
        try:
            with Connection("baasfs://localhost/", transport_options=options) as connection:
                simple = connection.SimpleQueue("jobs")
                while len(received) < count:
                    message = simple.get(timeout=10)
                    received.append(message.payload)
                    message.ack()
        except BaseException as exc:  # reported below
            errors.append(exc)

    consumer = threading.Thread(target=consume)
    consumer.start()
    publish()
    consumer.join(timeout=30)
    assert errors == []
    assert sorted(message["n"] for message in received) == list(range(count))
    assert all(message["blob"] == payload["blob"] for message in received)
