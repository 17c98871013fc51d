"""`/metrics` shows invocations by function and status, and queue-delay and duration histograms,
derived from the invocation records (whichever worker ran them)."""

from __future__ import annotations

from tests.functions.conftest import HELLO, deploy, invoke


def test_metrics_show_invocations_by_status_and_latency_histograms(functions_api) -> None:
    deploy(functions_api, "measured", HELLO)
    for i in range(3):
        assert invoke(functions_api, "measured", i).json()["invocation"]["status"] == "succeeded"

    text = functions_api.get("/metrics").content.decode()
    assert 'baas_function_invocations{function="measured",status="succeeded"} 3.0' in text
    assert 'baas_function_duration_seconds_count{function="measured"} 3.0' in text
    assert 'baas_function_duration_seconds_bucket{function="measured",le="+Inf"} 3.0' in text
    assert 'baas_function_queue_delay_seconds_count{function="measured"} 3.0' in text
    assert "# TYPE baas_function_queue_delay_seconds histogram" in text
