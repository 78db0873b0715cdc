"""The bench harness without a server: wrk report parsing (us, ms, s), run selection, discovery."""

import pytest
from _common import BenchError
from _wrk import WrkParseError, WrkResult, median_run, parse_wrk_output, run_wrk, to_ms
from run import available, fmt_ms

# Captured from wrk 4.1.0 (Debian) against a local server where some requests sleep 1.3 s.
# wrk pads "1.03s " with a trailing space; the sample keeps it.
MS_AND_S = (
    "Running 5s test @ http://127.0.0.1:18777/\n"
    "  2 threads and 16 connections\n"
    "  Thread Stats   Avg      Stdev     Max   +/- Stdev\n"
    "    Latency   292.63ms  412.95ms   1.30s    78.97%\n"
    "    Req/Sec   725.46    728.45     2.64k    85.71%\n"
    "  Latency Distribution\n"
    "     50%    4.23ms\n"
    "     75%  588.74ms\n"
    "     90%    1.03s \n"
    "     99%    1.30s \n"
    "  2719 requests in 5.01s, 300.90KB read\n"
    "  Non-2xx or 3xx responses: 46\n"
    "Requests/sec:    542.74\n"
    "Transfer/sec:     60.06KB\n"
)

# Same server, --timeout 1s: microseconds, socket timeouts and non-2xx responses.
US_AND_ERRORS = (
    "Running 3s test @ http://127.0.0.1:18777/\n"
    "  2 threads and 8 connections\n"
    "  Thread Stats   Avg      Stdev     Max   +/- Stdev\n"
    "    Latency     1.39ms    1.90ms   5.35ms   70.49%\n"
    "    Req/Sec   181.93    227.83   680.00     78.57%\n"
    "  Latency Distribution\n"
    "     50%  154.00us\n"
    "     75%    4.23ms\n"
    "     90%    4.29ms\n"
    "     99%    4.63ms\n"
    "  424 requests in 3.00s, 47.03KB read\n"
    "  Socket errors: connect 0, read 0, write 0, timeout 14\n"
    "  Non-2xx or 3xx responses: 13\n"
    "Requests/sec:    141.23\n"
    "Transfer/sec:     15.66KB\n"
)


def test_parses_milliseconds_and_seconds() -> None:
    result = parse_wrk_output(MS_AND_S)

    assert result.requests_per_s == 542.74
    assert (result.p50_ms, result.p75_ms, result.p90_ms, result.p99_ms) == (
        4.23,
        588.74,
        1030.0,
        1300.0,
    )
    assert (result.latency_avg_ms, result.latency_max_ms) == (292.63, 1300.0)
    assert (result.requests, result.duration_s) == (2719, 5.01)
    assert result.non_2xx_3xx == 46
    assert result.socket_errors == {}
    assert result.errors == 46


def test_parses_microseconds_and_errors() -> None:
    result = parse_wrk_output(US_AND_ERRORS)

    assert result.requests_per_s == 141.23
    assert result.p50_ms == 0.154
    assert result.p99_ms == 4.63
    assert result.socket_errors == {"connect": 0, "read": 0, "write": 0, "timeout": 14}
    assert result.non_2xx_3xx == 13
    assert result.errors == 27


@pytest.mark.parametrize(
    ("value", "unit", "ms"),
    [
        ("812.00", "us", 0.812),
        ("12.34", "ms", 12.34),
        ("1.50", "s", 1500.0),
        ("2.00", "m", 120_000.0),
        ("1.00", "h", 3_600_000.0),
    ],
)
def test_converts_every_wrk_time_unit_to_ms(value: str, unit: str, ms: float) -> None:
    assert to_ms(value, unit) == ms


def test_output_without_latency_distribution_is_an_error() -> None:
    without = MS_AND_S.split("  Latency Distribution\n")[0] + MS_AND_S.split("1.30s \n")[-1]

    with pytest.raises(WrkParseError, match="Latency Distribution"):
        parse_wrk_output(without)


def test_median_run_is_the_middle_one_by_requests_per_second() -> None:
    runs = [
        WrkResult(rate, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, requests=1, duration_s=1.0)
        for rate in (300.0, 100.0, 200.0, 400.0)
    ]

    assert median_run(runs[:3]).requests_per_s == 200.0
    assert median_run(runs).requests_per_s == 200.0


def test_wrk_only_loads_the_loopback_address() -> None:
    with pytest.raises(BenchError, match=r"only load http://127\.0\.0\.1"):
        run_wrk("http://example.com/healthz", seconds=1, connections=1)


def test_benches_are_the_modules_that_are_not_helpers_or_tests() -> None:
    names = available()

    assert "lookup" in names
    assert not {"run", "test_harness"} & set(names)
    assert not [name for name in names if name.startswith("_")]


def test_latency_shown_in_a_readable_unit() -> None:
    assert [fmt_ms(0.154), fmt_ms(40.17), fmt_ms(1300.0)] == ["154 µs", "40.17 ms", "1.30 s"]
