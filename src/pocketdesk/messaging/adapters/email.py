"""E-mail: a support mailbox. Replies go out as MIME messages over SMTP (the channel's
`smtp_url`, else Django's default mailer); the mail server posts inbound mail, raw, to a signed
webhook, and the worker turns it into a message of the customer's thread.

The inbound webhook, which an MTA hook (e.g. a Postfix `pipe` transport running a small
script) calls once per received message::

    POST {PD_PUBLIC_URL}/webhooks/email/inbound?channel=<the channel's public id>
    Content-Type: message/rfc822
    X-Pocketdesk-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>

    <the RFC 5322 message exactly as received, headers and body>

where ``v1 = HMAC-SHA256(key=<the channel's inbound_secret>, msg=f"{t}.".encode() + body)``.
Several ``v1=`` values may be given (while a secret is rotated); one must match. A request that
is unsigned, forged, for an unknown channel or a channel without a secret, or whose ``t`` is
more than 5 minutes away from our clock gets 403 and nothing is stored. For example, with the
secret in $S::

    t=$(date +%s)
    sig=$( (printf '%s.' "$t"; cat msg.eml) | openssl dgst -sha256 -hmac "$S" -r | cut -d' ' -f1)
    curl --fail --data-binary @msg.eml -H 'Content-Type: message/rfc822' \\
         -H "X-Pocketdesk-Signature: t=$t,v1=$sig" "$URL/webhooks/email/inbound?channel=$CHANNEL"

A message is stored once per Message-ID, so the hook may retry freely (a 2xx answer means
stored). Auto-replies (RFC 3834 Auto-Submitted, Precedence: bulk/junk/auto_reply, X-Autoreply)
and bounces are stored but add nothing to any thread.

Message-ID strings (inbound and ours) are kept with their angle brackets, as they appear in
In-Reply-To/References, so a reply's references match the stored ids as they are."""

import base64
import contextlib
import functools
import hashlib
import hmac
import html
import json
import mimetypes
import re
import smtplib
import ssl
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from email import message_from_bytes
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage, Message, MIMEPart
from email.parser import BytesHeaderParser
from email.policy import SMTP
from email.policy import default as default_policy
from email.utils import format_datetime, getaddresses
from typing import Any, cast
from urllib.parse import unquote, urlsplit

import nh3
from django.core.mail import EmailMessage as DjangoEmailMessage
from django.core.mail import InvalidMailer, mailers
from django.core.mail.utils import DNS_NAME

from pocketdesk.core import clock
from pocketdesk.core.errors import ValidationFailed
from pocketdesk.customers.models import ChannelKind as ContactKind
from pocketdesk.customers.services import email_normalize
from pocketdesk.messaging.adapters import Parsed, ParsedMessage, SendError
from pocketdesk.messaging.media import media_store, media_type_of_name
from pocketdesk.messaging.models import Channel, ChannelKind, InboundEvent, Outbound

SIGNATURE_HEADER = "X-Pocketdesk-Signature"
SIGNATURE_TOLERANCE_SECONDS = 300
MIN_SECRET_LENGTH = 16
# Seconds per SMTP operation (connect, each command): well inside the outbox's SEND_TIMEOUT.
SMTP_TIMEOUT = 10.0
SMTP_SCHEMES = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}
# Provider ids (Message.provider_id, InboundEvent.provider_event_id) hold 200 characters.
MAX_ID_LENGTH = 200
MAX_REFERENCES = 50
MAX_ATTACHMENTS = 20
AUTO_PRECEDENCE = frozenset({"bulk", "junk", "auto_reply", "auto-reply"})
REPLY_PREFIX = re.compile(r"^\s*(re|aw|sv|antw|réf|ref)\s*:", re.IGNORECASE)
MESSAGE_ID = re.compile(r"<[^<>\s]+>")
# Where quoted history starts: "On … wrote:", "Le … a écrit :", Outlook's separators.
QUOTE_HEADER = re.compile(r"^(On\s.+\swrote:|Le\s.+\sa\s+écrit\s*:)$", re.IGNORECASE | re.DOTALL)
QUOTE_SEPARATOR = re.compile(
    r"^\s*(-{2,}\s*(Original Message|Message d'origine|Forwarded message)\s*-{2,}|_{10,})\s*$",
    re.IGNORECASE,
)
BLOCK_TAGS = frozenset(
    {"p", "div", "br", "li", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "table"}
    | {"ul", "ol"}
)
HIDDEN_TAGS = frozenset({"script", "style", "head", "title", "blockquote"})
BLOCK_END = re.compile(r"<br\s*/?>|</(p|div|li|tr|h[1-6]|pre|table|ul|ol)>", re.IGNORECASE)
CELL_END = re.compile(r"</t[dh]>", re.IGNORECASE)
ANY_TAG = re.compile(r"<[^>]*>")


# --- webhook signature ------------------------------------------------------------------------


def signature_valid(channel: Channel, header: str, body: bytes) -> bool:
    """Whether `header` signs `body` with the channel's inbound secret, recently enough."""
    secret = str(channel.credentials.get("inbound_secret") or "")
    if not secret or not header:
        return False
    timestamp, candidates = "", []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t":
            timestamp = value
        elif key == "v1":
            candidates.append(value)
    if not (timestamp.isascii() and timestamp.isdigit()) or not candidates:
        return False
    if abs(clock.now().timestamp() - int(timestamp)) > SIGNATURE_TOLERANCE_SECONDS:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    digest = expected.hexdigest()
    # compare_digest on every candidate: how many match must not show in the timing.
    matches = [
        hmac.compare_digest(digest.encode(), candidate.lower().encode()) for candidate in candidates
    ]
    return any(matches)


# --- raw message storage ----------------------------------------------------------------------


def _header(message: Message, name: str) -> str:
    try:
        return str(message.get(name) or "")
    except (ValueError, IndexError, AttributeError, MessageError):  # the registry choked
        return ""


def _id_key(raw: str) -> str:
    """A Message-ID as stored: with angle brackets; an over-long one by its hash."""
    value = raw.strip()
    if not value.startswith("<"):
        value = f"<{value.strip('<>')}>"
    if len(value) > MAX_ID_LENGTH:
        value = f"<{hashlib.sha256(value.encode()).hexdigest()}@long-id.invalid>"
    return value


def message_id_of(raw: bytes) -> str:
    """The message's Message-ID, or an id derived from its bytes when it has none (so that a
    retried delivery of the same bytes is still stored once)."""
    headers = BytesHeaderParser(policy=default_policy).parsebytes(raw)
    value = _header(headers, "Message-ID").strip()
    found = MESSAGE_ID.findall(value)
    if found:
        return _id_key(found[0])
    if value and "@" in value and not any(char.isspace() for char in value):
        return _id_key(value)  # a bare id, without its angle brackets
    return f"<{hashlib.sha256(raw).hexdigest()}@no-message-id.invalid>"


def raw_payload(raw: bytes) -> dict[str, Any]:
    """How a raw message is kept in an InboundEvent: as text when it is UTF-8 (most mail is
    7-bit), else base64 — JSON columns (PostgreSQL jsonb) cannot hold undecodable bytes or
    NULs, which surrogateescape would produce."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    if text and "\x00" not in text:
        return {"raw": text, "encoding": "utf-8", "size": len(raw)}
    return {"raw": base64.b64encode(raw).decode("ascii"), "encoding": "base64", "size": len(raw)}


def _raw_bytes(payload: Mapping[str, Any]) -> bytes:
    raw = str(payload.get("raw") or "")
    if payload.get("encoding") == "base64":
        return base64.b64decode(raw)
    return raw.encode("utf-8")


# --- inbound parsing ------------------------------------------------------------------------


def is_automatic(message: Message) -> bool:
    """Auto-replies (out of office, RFC 3834) and bounces: never answered, never threaded."""
    auto_submitted = _header(message, "Auto-Submitted").strip().lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return True
    if _header(message, "Precedence").strip().lower() in AUTO_PRECEDENCE:
        return True
    if message.get("X-Autoreply") is not None or message.get("X-Autorespond") is not None:
        return True
    return message.get_content_type() == "multipart/report"  # a delivery status notification


def _part_text(part: MIMEPart) -> str:
    try:
        content = part.get_content()
    except (LookupError, ValueError, AssertionError):  # unknown charset, bad encoding
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    text = content if isinstance(content, str) else ""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def html_to_text(markup: str) -> str:
    """Visible text of an HTML mail: sanitised by nh3 (scripts, styles and quoted history
    removed with their content), block ends turned into line breaks, then unescaped."""
    cleaned = nh3.clean(
        markup, tags=set(BLOCK_TAGS), clean_content_tags=set(HIDDEN_TAGS), attributes={}
    )
    text = ANY_TAG.sub("", CELL_END.sub(" ", BLOCK_END.sub("\n", cleaned)))
    lines = [" ".join(html.unescape(line).split()) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def strip_quoted(text: str) -> str:
    """The new part of a reply: without quoted lines ("> …"), the history under "On … wrote:"
    / "Le … a écrit :" / "-----Original Message-----", and the signature under "-- "."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    for index, line in enumerate(lines):
        stripped = line.strip()
        if line in ("-- ", "--") or QUOTE_SEPARATOR.match(line):
            break
        if QUOTE_HEADER.match(stripped.replace("\u00a0", " ").replace("\u202f", " ")):
            break
        following = lines[index + 1].strip() if index + 1 < len(lines) else ""
        # Clients wrap a long attribution over two lines ("On …, Name <a@b>\nwrote:").
        joined = f"{stripped} {following}".replace("\u00a0", " ").replace("\u202f", " ")
        if stripped[:3] in ("On ", "Le ") and len(joined) < 300 and QUOTE_HEADER.match(joined):
            break
        if stripped.startswith(">"):
            continue
        kept.append(line.rstrip())
    result = "\n".join(kept).strip()
    return re.sub(r"\n{3,}", "\n\n", result) or text.strip()


def _references(message: Message) -> tuple[str, ...]:
    ids: list[str] = []
    for name in ("In-Reply-To", "References"):
        for found in MESSAGE_ID.findall(_header(message, name)):
            key = _id_key(found)
            if key not in ids:
                ids.append(key)
    return tuple(ids[:MAX_REFERENCES])


@dataclass(frozen=True)
class _Attachment:
    name: str
    content_type: str
    data: bytes


def _attachment_type(part: Message, name: str) -> str:
    declared = part.get_content_type()
    if declared == "application/octet-stream":
        guessed = media_type_of_name(name) or mimetypes.guess_type(name)[0]
        return guessed or declared
    return declared


def _attachments(message: Message, body_parts: Iterable[MIMEPart]) -> list[_Attachment]:
    skip = {id(part) for part in body_parts}
    found: list[_Attachment] = []
    for part in message.walk():
        if part.is_multipart() or id(part) in skip:
            continue
        disposition = part.get_content_disposition()
        name = part.get_filename() or ""
        if disposition is None and not name and part.get_content_maintype() == "text":
            continue  # another rendering of the body, not a file
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        found.append(_Attachment(name=name, content_type=_attachment_type(part, name), data=data))
    return found


def attachments_store(message_id: str, attachments: list[_Attachment]) -> list[dict[str, Any]]:
    """Keep allowed files (messaging.media: types, 10 MB each) with the default storage; list
    the others as `too_large` or `blocked`. Paths are fixed per message and index, so a re-run
    of the same event reuses the files it stored before."""
    return [
        media_store(
            data=attachment.data,
            name=attachment.name,
            content_type=attachment.content_type,
            key=message_id,
            index=index,
        )
        for index, attachment in enumerate(attachments[:MAX_ATTACHMENTS])
    ]


# --- outbound -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    security: str  # "none", "starttls" or "tls"
    username: str
    password: str


def smtp_url_parse(url: str) -> SmtpServer:
    """smtp://[user:pass@]host[:25], smtp+starttls://…[:587] or smtps://…[:465] (implicit TLS);
    user and password percent-encoded."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SMTP_SCHEMES or not parts.hostname:
        raise ValidationFailed(
            "The SMTP URL looks like smtp://user:pass@host:port (or smtp+starttls://, smtps://).",
            field="smtp_url",
        )
    try:
        port = parts.port or SMTP_SCHEMES[scheme]
    except ValueError as exc:
        raise ValidationFailed("The SMTP URL has an invalid port.", field="smtp_url") from exc
    security = {"smtp": "none", "smtp+starttls": "starttls", "smtps": "tls"}[scheme]
    return SmtpServer(
        host=parts.hostname,
        port=port,
        security=security,
        username=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
    )


def _domain(address: str) -> str:
    domain = address.rpartition("@")[2]
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain


def message_id_for(channel: Channel, outbound: Outbound) -> str:
    """Our Message-ID for an outbound row. Derived from the row (not make_msgid's random
    part) so that a retry after a crash sends the very same Message-ID."""
    return f"<{outbound.public_id}@{_domain(channel.address)}>"


def reply_subject(subject: str, *, answers: bool, default: str) -> str:
    subject = " ".join(subject.split())
    if not subject:
        return default
    if answers and not REPLY_PREFIX.match(subject):
        return f"Re: {subject}"
    return subject


def text_to_html(text: str) -> str:
    paragraphs = re.split(r"\n\s*\n", text.strip())
    body = "".join(
        "<p>" + html.escape(paragraph).replace("\n", "<br>\n") + "</p>\n"
        for paragraph in paragraphs
    )
    head = '<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head><body>\n'
    return f"{head}{body}</body></html>\n"


def mime_build(channel: Channel, outbound: Outbound) -> EmailMessage:
    """The reply as a MIME message: text/plain with an HTML alternative, threaded by
    In-Reply-To/References from `outbound.extra`."""
    extra: Mapping[str, Any] = outbound.extra or {}
    in_reply_to = str(extra.get("in_reply_to") or "")
    references = [str(item) for item in extra.get("references") or [] if item]
    message = EmailMessage(policy=SMTP)
    message["From"] = Address(display_name=channel.name, addr_spec=channel.address)
    message["To"] = outbound.recipient
    message["Subject"] = reply_subject(
        str(extra.get("subject") or ""),
        answers=bool(in_reply_to or references),
        default=f"Your message to {channel.name}",
    )
    message["Date"] = format_datetime(clock.now())
    message["Message-ID"] = message_id_for(channel, outbound)
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = " ".join(references)
    text = outbound.text or ""
    links = [str(item["url"]) for item in outbound.media if item.get("url")]
    if links:  # files go as links: the outbox holds URLs, not bytes
        text = "\n".join([text, "", *links]).strip()
    message.set_content(text + "\n")
    message.add_alternative(text_to_html(text), subtype="html")
    return message


class _PrebuiltMessage(DjangoEmailMessage):
    """Hands the MIME message we built to a Django mailer, so both send paths send the same
    bytes (Django's EmailMessage would otherwise build its own, with its own Message-ID)."""

    def __init__(self, mime: EmailMessage, sender: str, recipient: str) -> None:
        super().__init__(from_email=sender, to=[recipient])
        self._mime = mime

    def message(self, *, policy: Any = SMTP) -> EmailMessage:
        return self._mime


def _smtp_error(exc: Exception) -> SendError:
    """4xx replies and connection trouble are tried again; 5xx replies are final."""
    reply: bytes | str
    if isinstance(exc, smtplib.SMTPRecipientsRefused) and exc.recipients:
        code, reply = next(iter(exc.recipients.values()))
    elif isinstance(exc, smtplib.SMTPResponseException):
        code, reply = exc.smtp_code, exc.smtp_error
    elif isinstance(exc, smtplib.SMTPNotSupportedError):
        return SendError("smtp_not_supported", str(exc)[:300], retryable=False)
    else:  # refused or lost connections, timeouts, TLS failures
        return SendError("smtp_unreachable", str(exc)[:300] or type(exc).__name__, retryable=True)
    detail = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return SendError(f"smtp_{code}", detail[:300], retryable=code < 500)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One context for every TLS connection: making one reads the system's CA store (20 ms)."""
    return ssl.create_default_context()


def _smtp_open(server: SmtpServer) -> smtplib.SMTP:
    """A connection to the server, secured and logged in as its URL says."""
    hostname = DNS_NAME.get_fqdn()
    connection: smtplib.SMTP
    if server.security == "tls":
        connection = smtplib.SMTP_SSL(
            server.host,
            server.port,
            local_hostname=hostname,
            timeout=SMTP_TIMEOUT,
            context=_tls_context(),
        )
    else:
        connection = smtplib.SMTP(
            server.host, server.port, local_hostname=hostname, timeout=SMTP_TIMEOUT
        )
    try:
        if server.security == "starttls":
            connection.starttls(context=_tls_context())
        if server.username:
            connection.login(server.username, server.password)
    except BaseException:
        _smtp_close(connection)
        raise
    return connection


def _smtp_close(connection: smtplib.SMTP) -> None:
    try:
        connection.quit()
    except (smtplib.SMTPException, OSError):
        connection.close()


def _smtp_send(server: SmtpServer, mime: EmailMessage, sender: str, recipient: str) -> None:
    connection = _smtp_open(server)
    try:
        connection.send_message(mime, from_addr=sender, to_addrs=[recipient])
    finally:
        _smtp_close(connection)


def _connection_kept(exc: Exception) -> bool:
    """Whether the connection is still good after a send failed with `exc`: a refused
    sender, recipient or message is reset (smtplib sends RSET) and the next one goes through;
    a lost connection or a 421 (the server is closing it) is not."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return True
    return isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code != 421


class _SmtpBatch:
    """Sends the messages of one batch over one connection to the channel's server, opened
    on first use and again after the server dropped it; if it cannot be opened, the messages
    left get that error without trying."""

    def __init__(self, server: SmtpServer) -> None:
        self.server = server
        self.connection: smtplib.SMTP | None = None
        self.unreachable: SendError | None = None

    def send(self, mime: EmailMessage | bytes, sender: str, recipient: str) -> None:
        if self.unreachable is not None:
            raise self.unreachable
        if self.connection is None:
            try:
                self.connection = _smtp_open(self.server)
            except (smtplib.SMTPException, OSError) as exc:
                self.unreachable = _smtp_error(exc)
                raise self.unreachable from exc
        try:
            if isinstance(mime, bytes):
                self.connection.sendmail(sender, [recipient], mime)
            else:
                self.connection.send_message(mime, from_addr=sender, to_addrs=[recipient])
        except (smtplib.SMTPException, OSError) as exc:
            # smtplib closes the socket itself on some replies (a 421 to RCPT).
            if not _connection_kept(exc) or self.connection.sock is None:
                self.connection.close()
                self.connection = None
            raise _smtp_error(exc) from exc

    def close(self) -> None:
        if self.connection is not None:
            _smtp_close(self.connection)
            self.connection = None


# Stand-ins for the recipient and the public id in a message template: the id as long as a
# real one (`out_` and a ULID), so that header folding is the same.
_TEMPLATE_TO = "pd-recipient@template.invalid"
_TEMPLATE_ID = "out_" + "0" * 26
# An address that goes into the To header as it is (no quoting, no encoding).
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_ADDRESS = re.compile(rf"{_ATOM}(\.{_ATOM})*@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*")
# "To: " and the address stay within the 78 characters a header line is folded at.
_PLAIN_ADDRESS_MAX = 70


class _Templates:
    """Messages of a batch that differ only by recipient and Message-ID (a fan-out's) are
    built once with the email package, then copied with those swapped in: building and
    flattening MIME was most of a batch's time. Used only where the copy is what `mime_build`
    makes for the message (a plain ASCII address short enough not to be folded); other
    messages are built in full."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.templates: dict[str, bytes | None] = {}

    def render(self, outbound: Outbound) -> tuple[bytes, str] | None:
        """The message's bytes and Message-ID, or None where it must be built in full."""
        recipient = outbound.recipient
        if (
            len(recipient) > _PLAIN_ADDRESS_MAX
            or not _PLAIN_ADDRESS.fullmatch(recipient)
            or len(outbound.public_id) != len(_TEMPLATE_ID)
            or not self.channel.address.isascii()
        ):
            return None
        key = json.dumps([outbound.text, outbound.media, outbound.extra], default=str)
        if key not in self.templates:
            stand_in = Outbound(
                recipient=_TEMPLATE_TO,
                text=outbound.text,
                media=outbound.media,
                extra=outbound.extra,
                public_id=_TEMPLATE_ID,
            )
            raw = mime_build(self.channel, stand_in).as_bytes()
            # Only where each stand-in appears once (not also in the text, say).
            once = raw.count(_TEMPLATE_TO.encode()) == raw.count(_TEMPLATE_ID.encode()) == 1
            self.templates[key] = raw if once else None
        template = self.templates[key]
        if template is None:
            return None
        raw = template.replace(_TEMPLATE_TO.encode(), recipient.encode()).replace(
            _TEMPLATE_ID.encode(), outbound.public_id.encode()
        )
        return raw, message_id_for(self.channel, outbound)


class _MailerBatch:
    """The same over Django's default mailer (one connection for the batch when it has one)."""

    def __init__(self) -> None:
        self.mailer: Any = None

    def send(self, mime: EmailMessage | bytes, sender: str, recipient: str) -> None:
        if isinstance(mime, bytes):  # templates are for SMTP connections of our own
            mime = cast(EmailMessage, message_from_bytes(mime, policy=SMTP))
        try:
            if self.mailer is None:
                mailer = mailers.default
                mailer.open()
                self.mailer = mailer
            sent = self.mailer.send_messages([_PrebuiltMessage(mime, sender, recipient)])
        except InvalidMailer as exc:
            raise SendError("mailer_misconfigured", str(exc)[:300], retryable=True) from exc
        except (smtplib.SMTPException, OSError) as exc:
            self.close()  # opened afresh for the next message
            raise _smtp_error(exc) from exc
        if not sent:
            raise SendError("mail_not_sent", "The mailer sent nothing.", retryable=True)

    def close(self) -> None:
        if self.mailer is not None:
            mailer, self.mailer = self.mailer, None
            with contextlib.suppress(smtplib.SMTPException, OSError):
                mailer.close()


class EmailAdapter:
    """Outbound mail has no provider to ask after a crash: see `find_sent`."""

    kind: str = ChannelKind.EMAIL.value

    def channel_check(
        self, address: str, credentials: Mapping[str, str]
    ) -> tuple[str, dict[str, str]]:
        mailbox = email_normalize(address, field="address")
        secret = str(credentials.get("inbound_secret") or "")
        if len(secret) < MIN_SECRET_LENGTH:
            raise ValidationFailed(
                f"An inbound secret of at least {MIN_SECRET_LENGTH} characters is required to "
                "verify the inbound mail webhook.",
                field="inbound_secret",
            )
        checked = {"inbound_secret": secret}
        smtp_url = str(credentials.get("smtp_url") or "")
        if smtp_url:
            smtp_url_parse(smtp_url)
            checked["smtp_url"] = smtp_url
        return mailbox, checked

    def parse(self, event: InboundEvent) -> list[Parsed]:
        raw = _raw_bytes(event.payload)
        message = cast(EmailMessage, message_from_bytes(raw, policy=default_policy))
        if is_automatic(message):
            return []
        senders = getaddresses([_header(message, "From")])
        display_name, sender_address = senders[0] if senders else ("", "")
        sender = email_normalize(sender_address, field="from")
        if sender == event.channel.address:
            return []  # our own mail coming back (a loop or a misrouted copy)
        message_id = event.provider_event_id or message_id_of(raw)
        plain = message.get_body(preferencelist=("plain",))
        rich = message.get_body(preferencelist=("html",))
        if plain is not None:
            text = _part_text(plain)
        elif rich is not None:
            text = html_to_text(_part_text(rich))
        else:
            text = ""
        text = strip_quoted(text) if text.strip() else ""
        media = attachments_store(
            message_id, _attachments(message, [p for p in (plain, rich) if p is not None])
        )
        stored = [item for item in media if item.get("url")]
        kind = "text"
        if not text and stored:
            images = all(item["content_type"].startswith("image/") for item in stored)
            kind = "image" if images else "file"
        return [
            ParsedMessage(
                sender_kind=ContactKind.EMAIL,
                sender=sender,
                sender_name=" ".join(display_name.split())[:200],
                provider_id=message_id,
                text=text,
                kind=kind,
                media=media,
                references=_references(message),
                subject=" ".join(_header(message, "Subject").split())[:300],
            )
        ]

    def send(self, channel: Channel, outbound: Outbound) -> str:
        """Send over the channel's SMTP server, or Django's default mailer without one; returns
        our Message-ID (with angle brackets, as inbound ids are stored)."""
        smtp_url = str(channel.credentials.get("smtp_url") or "")
        try:
            mime = mime_build(channel, outbound)
            if smtp_url:
                _smtp_send(smtp_url_parse(smtp_url), mime, channel.address, outbound.recipient)
            else:
                sent = mailers.default.send_messages(
                    [_PrebuiltMessage(mime, channel.address, outbound.recipient)]
                )
                if not sent:
                    raise SendError("mail_not_sent", "The mailer sent nothing.", retryable=True)
        except ValidationFailed as exc:  # a stored smtp_url that no longer parses
            raise SendError("smtp_url_invalid", exc.detail, retryable=False) from exc
        except InvalidMailer as exc:  # fixed in settings, then the retry goes through
            raise SendError("mailer_misconfigured", str(exc)[:300], retryable=True) from exc
        except (ValueError, MessageError) as exc:  # an address or header that cannot be sent
            raise SendError("invalid_message", str(exc)[:300], retryable=False) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise _smtp_error(exc) from exc
        return str(mime["Message-ID"])

    def send_many(
        self, channel: Channel, outbounds: Sequence[Outbound], *, deadline: float | None = None
    ) -> Iterator[str | SendError]:
        """Send a batch over ONE connection to the channel's SMTP server (or Django's default
        mailer), yielding each message's Message-ID or SendError as it is done: a message
        refused by the server does not stop the others; a connection the server drops is
        opened again for the next message (see BatchSender)."""
        smtp_url = str(channel.credentials.get("smtp_url") or "")
        batch: _SmtpBatch | _MailerBatch
        try:
            batch = _SmtpBatch(smtp_url_parse(smtp_url)) if smtp_url else _MailerBatch()
        except ValidationFailed as exc:
            error = SendError("smtp_url_invalid", exc.detail, retryable=False)
            for _ in outbounds:
                yield error
            return
        templates = _Templates(channel) if isinstance(batch, _SmtpBatch) else None
        try:
            for index, outbound in enumerate(outbounds):
                if index and deadline is not None and time.monotonic() > deadline:
                    return
                try:
                    rendered = templates.render(outbound) if templates is not None else None
                    message: EmailMessage | bytes
                    if rendered is None:
                        message = mime_build(channel, outbound)
                        message_id = str(message["Message-ID"])
                    else:
                        message, message_id = rendered
                    batch.send(message, channel.address, outbound.recipient)
                except SendError as exc:
                    yield exc
                except (ValueError, MessageError) as exc:
                    yield SendError("invalid_message", str(exc)[:300], retryable=False)
                else:
                    yield message_id
        finally:
            batch.close()

    def find_sent(self, channel: Channel, outbound: Outbound) -> str | None:
        """SMTP cannot be asked whether a message was accepted, so this is always None and the
        message is sent again. A crash between the server's acceptance and our commit may then
        deliver a duplicate — with the SAME Message-ID (it is derived from the outbound row),
        which mail clients and Gmail fold into one."""
        return None


ADAPTER = EmailAdapter()
