import json

import pytest
from django.core.management import call_command

from pocketdesk.messaging.models import Channel

SID = "AC" + "3" * 32


def test_add_and_list_without_secrets(db, capsys):
    call_command(
        "channels",
        "add",
        "twilio-sms",
        "--name",
        "Line",
        "--number",
        "(415) 555-0198",
        "--account-sid",
        SID,
        "--auth-token",
        "s3cret",
        "--api-base",
        "http://127.0.0.1:9",
    )
    added = json.loads(capsys.readouterr().out)
    assert added["address"] == "+14155550198"
    call_command("channels", "list")
    listed = capsys.readouterr().out
    assert json.loads(listed)["id"] == added["id"]
    assert "s3cret" not in listed
    assert Channel.objects.get().credentials["auth_token"] == "s3cret"


def test_bad_input_exits_2_with_the_reason(db, capsys):
    with pytest.raises(SystemExit) as exited:
        call_command(
            "channels",
            "add",
            "twilio-sms",
            "--name",
            "Line",
            "--number",
            "12",
            "--account-sid",
            SID,
            "--auth-token",
            "x",
        )
    assert exited.value.code == 2
    assert "validation_error" in capsys.readouterr().err
    assert not Channel.objects.exists()
