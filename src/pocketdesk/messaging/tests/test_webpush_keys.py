"""VAPID keys: `pocketdesk vapid-keys` prints a usable pair; settings take a pair from the
environment (checked), keep one in var/ for demo and test, and have none in production."""

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.management import call_command
from py_vapid import Vapid

from pocketdesk.messaging.vapid import (
    VapidKeys,
    b64url_decode,
    vapid_keys_generate,
    vapid_keys_settings,
    vapid_public_key,
)

SUBJECT = "mailto:ops@example.com"


def test_the_command_prints_a_pair_to_paste(capsys):
    call_command("vapid_keys")
    lines = dict(line.split("=", 1) for line in capsys.readouterr().out.split())
    private, public = lines["PD_VAPID_PRIVATE_KEY"], lines["PD_VAPID_PUBLIC_KEY"]
    assert len(b64url_decode(private)) == 32
    assert len(b64url_decode(public)) == 65
    assert vapid_public_key(private) == public
    # pywebpush's signer reads it as it is printed.
    header = Vapid.from_string(private).sign({"sub": SUBJECT, "aud": "https://push.example"})
    assert header["Authorization"].endswith("k=" + public)


def test_a_pair_from_the_environment_is_checked():
    keys = vapid_keys_generate()
    assert (
        vapid_keys_settings(
            private_key=keys.private_key, public_key="", subject=SUBJECT, store=None
        )
        == keys
    )
    assert (
        vapid_keys_settings(
            private_key=keys.private_key, public_key=keys.public_key, subject=SUBJECT, store=None
        )
        == keys
    )
    problems = [
        (
            {"private_key": keys.private_key, "public_key": vapid_keys_generate().public_key},
            "does not belong",
        ),
        ({"private_key": "", "public_key": keys.public_key}, "without PD_VAPID_PRIVATE_KEY"),
        ({"private_key": "bm90IGEga2V5", "public_key": ""}, "not a base64url P-256"),
        ({"private_key": "A" * 43, "public_key": ""}, "not a base64url P-256"),  # zero scalar
    ]
    for given, message in problems:
        with pytest.raises(ValueError, match=message):
            vapid_keys_settings(**given, subject=SUBJECT, store=None)
    with pytest.raises(ValueError, match="PD_VAPID_SUBJECT"):
        vapid_keys_settings(
            private_key=keys.private_key, public_key="", subject="ops@example.com", store=None
        )


def test_production_without_keys_has_no_web_push(tmp_path):
    assert vapid_keys_settings(
        private_key="", public_key="", subject="not checked then", store=None
    ) == VapidKeys("", "")


def test_demo_and_test_keep_one_pair_made_once(tmp_path):
    store = tmp_path / "vapid-keys.json"

    def start(_: int) -> VapidKeys:
        return vapid_keys_settings(private_key="", public_key="", subject=SUBJECT, store=store)

    with ThreadPoolExecutor(4) as pool:
        pairs = set(pool.map(start, range(8)))
    (pair,) = pairs
    assert vapid_public_key(pair.private_key) == pair.public_key
    assert json.loads(store.read_text()) == pair._asdict()
    assert store.stat().st_mode & 0o077 == 0
    assert [p.name for p in tmp_path.iterdir()] == ["vapid-keys.json"]


def test_a_production_start_reads_the_environment(tmp_path):
    keys = vapid_keys_generate()
    script = "from django.conf import settings as s; print(repr(s.PD_VAPID_PUBLIC_KEY))"
    env = {
        **os.environ,
        "PD_MODE": "production",
        "SECRET_KEY": "x" * 50,
        "PD_VAR_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "pocketdesk.settings",
    }
    env.pop("PD_VAPID_PRIVATE_KEY", None)
    env.pop("PD_VAPID_PUBLIC_KEY", None)
    without = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert without.stdout.strip() == "''"
    assert not (tmp_path / "vapid-keys.json").exists()
    env["PD_VAPID_PRIVATE_KEY"] = keys.private_key
    env["PD_VAPID_PUBLIC_KEY"] = vapid_keys_generate().public_key
    mismatched = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True
    )
    assert mismatched.returncode != 0
    assert "ImproperlyConfigured" in mismatched.stderr
    assert "does not belong" in mismatched.stderr
