import json
import logging

import pytest

from outagewatch.logs import JsonFormatter, configure


def test_json_lines_carry_the_structured_fields() -> None:
    record = logging.LogRecord(
        "outagewatch.detector", logging.ERROR, __file__, 1, "outage declared: %s", ("imap",), None
    )
    record.platform = "eu-de-1"
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "outage declared: imap"
    assert line["level"] == "error"
    assert line["platform"] == "eu-de-1"
    assert line["time"].endswith("+00:00")


def test_configure_switches_format(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure("json", "info")
        logging.getLogger("outagewatch.test").info("hello %s", "world", extra={"service": "smtp"})
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert json.loads(err)["service"] == "smtp"
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
