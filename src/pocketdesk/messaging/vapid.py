"""VAPID key pairs for web push (RFC 8292): made, checked, and kept for demo and test runs.

Keys travel as base64url without padding, as browsers and the `web-push` tools print them: the
private key is the raw 32-byte P-256 scalar, the public key the 65-byte uncompressed point the
browser takes as `applicationServerKey`. No Django import: settings reads its keys through here.
"""

import base64
import binascii
import json
import os
import re
import secrets
from pathlib import Path
from typing import NamedTuple

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

# What py_vapid (behind pywebpush) accepts as the JWT's `sub`: a mailto: address or an https
# origin. Checked at start-up so a typo fails the deploy, not every push.
SUBJECT_PATTERN = re.compile(r"^(mailto:[^@\s]+@[^@\s]+|https://[\w.-]+(:\d+)?)$", re.IGNORECASE)


class VapidKeys(NamedTuple):
    private_key: str
    public_key: str


def b64url_decode(value: str) -> bytes:
    """Base64url with or without padding; ValueError when it is not."""
    text = value.strip()
    if not re.fullmatch(r"[A-Za-z0-9_-]*={0,2}", text):
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(text.rstrip("=") + "=" * (-len(text.rstrip("=")) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64url") from exc


def b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _public_point(key: ec.EllipticCurvePrivateKey) -> str:
    raw = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64url_encode(raw)


def vapid_keys_generate() -> VapidKeys:
    key = ec.generate_private_key(ec.SECP256R1())
    scalar = key.private_numbers().private_value.to_bytes(32, "big")
    return VapidKeys(b64url_encode(scalar), _public_point(key))


def vapid_private_key_load(private_key: str) -> ec.EllipticCurvePrivateKey:
    """The P-256 key behind a base64url raw scalar (or base64url DER); ValueError otherwise."""
    raw = b64url_decode(private_key)
    if len(raw) == 32:
        try:
            return ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
        except ValueError as exc:  # zero, or not below the curve's order
            raise ValueError("not a P-256 private key") from exc
    try:
        loaded = serialization.load_der_private_key(raw, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError("not a P-256 private key") from exc
    if not isinstance(loaded, ec.EllipticCurvePrivateKey) or loaded.curve.name != "secp256r1":
        raise ValueError("not a P-256 private key")
    return loaded


def vapid_public_key(private_key: str) -> str:
    return _public_point(vapid_private_key_load(private_key))


def vapid_keys_stored(path: Path) -> VapidKeys:
    """The pair kept in `path`, made on first use. Two processes starting at once agree: the
    file appears whole (written aside, then hard-linked into place) and the first one wins."""
    if not path.exists():
        keys = vapid_keys_generate()
        path.parent.mkdir(parents=True, exist_ok=True)
        aside = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        aside.write_text(json.dumps(keys._asdict()))
        aside.chmod(0o600)
        try:
            os.link(aside, path)
        except FileExistsError:
            pass
        finally:
            aside.unlink(missing_ok=True)
    stored = json.loads(path.read_text())
    return VapidKeys(str(stored["private_key"]), str(stored["public_key"]))


def vapid_keys_settings(
    *, private_key: str, public_key: str, subject: str, store: Path | None
) -> VapidKeys:
    """The pair the server signs with. Without a private key: the pair kept in `store` when one
    is given (demo and test), else none at all (no web push). ValueError names what is wrong."""
    if not private_key:
        if public_key:
            raise ValueError("PD_VAPID_PUBLIC_KEY is set without PD_VAPID_PRIVATE_KEY")
        if store is None:
            return VapidKeys("", "")
    if not SUBJECT_PATTERN.match(subject):
        raise ValueError(
            f"PD_VAPID_SUBJECT must be a mailto: address or an https:// origin, not {subject!r}"
        )
    if not private_key and store is not None:
        return vapid_keys_stored(store)
    try:
        derived = vapid_public_key(private_key)
    except ValueError as exc:
        raise ValueError(
            "PD_VAPID_PRIVATE_KEY is not a base64url P-256 private key "
            "(`pocketdesk vapid-keys` prints a pair)"
        ) from exc
    if public_key and public_key.strip().rstrip("=") != derived:
        raise ValueError("PD_VAPID_PUBLIC_KEY does not belong to PD_VAPID_PRIVATE_KEY")
    return VapidKeys(private_key.strip(), derived)
