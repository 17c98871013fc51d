"""The embedded queue publishes each message atomically: a polling worker never sees half of one."""

from __future__ import annotations

import threading
import time

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


def _options(tmp_path, polling_interval: float) -> dict:
    folder = tmp_path / "messages"
    folder.mkdir(exist_ok=True)
    return {
        "data_folder_in": str(folder),
        "data_folder_out": str(folder),
        "control_folder": str(tmp_path / "control"),
        "processed_folder": str(tmp_path / "processed"),
        "polling_interval": polling_interval,
    }


def test_one_consumer_takes_a_backlog_first_in_first_out_across_listings(tmp_path):
    """The consumer serves a cached listing; messages published while it drains come after it."""
    queue.register()
    options = _options(tmp_path, 0.005)
    with Connection("baasfs://localhost/", transport_options=options) as connection:
        producer = connection.Producer()
        for index in range(300):
            producer.publish({"n": index}, routing_key="fifo", serializer="json")
        simple = connection.SimpleQueue("fifo")
        received = []
        for index in range(300, 400):  # keep publishing while the backlog drains
            message = simple.get(timeout=5)
            received.append(message.payload["n"])
            message.ack()
            producer.publish({"n": index}, routing_key="fifo", serializer="json")
        while len(received) < 400:
            message = simple.get(timeout=5)
            received.append(message.payload["n"])
            message.ack()
    assert received == list(range(400))


def test_competing_consumers_deliver_every_message_exactly_once(tmp_path):
    """Several consumers list the same folder; only the one whose unlink succeeds delivers a file."""
    queue.register()
    options = _options(tmp_path, 0.001)
    count = 600
    with Connection("baasfs://localhost/", transport_options=options) as connection:
        producer = connection.Producer()
        for index in range(count):
            producer.publish({"n": index}, routing_key="shared", serializer="json")
    received: list[int] = []
    errors: list[BaseException] = []

    def consume() -> None:
        try:
            with Connection("baasfs://localhost/", transport_options=options) as connection:
                simple = connection.SimpleQueue("shared")
                while True:
                    try:
                        message = simple.get(timeout=0.5)
                    except simple.Empty:
                        return
                    received.append(message.payload["n"])
                    message.ack()
        except BaseException as exc:  # reported below
            errors.append(exc)

    consumers = [threading.Thread(target=consume) for _ in range(3)]
    for consumer in consumers:
        consumer.start()
    for consumer in consumers:
        consumer.join(timeout=60)
    assert errors == []
    assert sorted(received) == list(range(count))  # none lost, none twice


def test_a_publish_in_the_same_process_wakes_the_consumer_before_its_next_poll(tmp_path):
    """The worker's dispatch tailer publishes in the consumer's process: no polling interval to wait."""
    queue.register()
    options = _options(tmp_path, 2.0)  # a poll this slow would show in the latency
    latencies: list[float] = []
    with Connection("baasfs://localhost/", transport_options=options) as consumer_connection:
        simple = consumer_connection.SimpleQueue("wake")
        with Connection("baasfs://localhost/", transport_options=options) as producer_connection:
            producer = producer_connection.Producer()
            for _ in range(5):
                timer = threading.Timer(0.3, lambda: producer.publish({"at": time.monotonic()}, routing_key="wake"))
                timer.start()
                message = simple.get(timeout=10)
                latencies.append(time.monotonic() - message.payload["at"])
                message.ack()
                timer.join()
    assert max(latencies) < 0.2, latencies
