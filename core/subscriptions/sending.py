"""Sending: an e-mail over SMTP (the report attached) and a Slack-compatible webhook POST.

Real network calls with timeouts (`MailSettings.timeout_s`). What can go wrong is split in two:
`SendFailed(permanent=False)` — the server is unreachable, busy, or answered 4xx/5xx to a webhook that
may recover — is retried by core.subscriptions.delivery with backoff; `permanent=True` (SMTP refused the
address with a 5xx, mail not configured) fails the delivery at once. The e-mail's HTML escapes every
name it shows.
"""

from __future__ import annotations

import json
import smtplib
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from html import escape
from typing import Any
from urllib.parse import urlsplit

from core.config import MailSettings

NOT_CONFIGURED = "mail is not configured (set DIGICADENCE_SMTP_HOST)"
URL_MAX = 500


def webhook_url(url: Any) -> str | None:
    """An http(s) URL with a host and no credentials, or None when empty; ValueError says why not (for a
    person: report subscriptions and the security contacts both check their webhook with it)."""
    text = str(url or "").strip()
    if not text:
        return None
    if len(text) > URL_MAX or not text.isprintable() or " " in text:
        raise ValueError(f"at most {URL_MAX} characters, no spaces")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("expected an address starting with https:// (or http://) and a host")
    if parts.username or parts.password:
        raise ValueError("must not carry a user name or password")
    return text


class SendFailed(Exception):
    """A send did not go through; `permanent` says whether trying again could help."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.permanent = reason, permanent


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    html: str
    attachment: tuple[str, str, bytes] | None = None  # (filename, media type, bytes)
    unsubscribe_url: str | None = None


def report_mail(to: str, title: str, what: str, when: str, link: str, unsubscribe_url: str,
                attachment: tuple[str, str, bytes]) -> Mail:
    """The subscription e-mail: what is attached, for whom, when it comes, and the one-click unsubscribe."""
    filename = attachment[0]
    text = (f"{title}\n\n{what}\nAttached: {filename}.\nThis report was prepared for {to} with their own access "
            f"at the time of sending.\nOpen Digi-Cadence: {link}\n\nYou receive it {when}. "
            f"Unsubscribe with one click: {unsubscribe_url}\n")
    html = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport"
content="width=device-width, initial-scale=1"><title>{escape(title)}</title></head>
<body style="margin:0;background:#f4f6f8;font-family:Segoe UI,Helvetica,Arial,sans-serif;color:#1f2933">
<div style="max-width:600px;margin:0 auto;padding:24px 16px">
<div style="background:#ffffff;border-radius:8px;padding:24px;border:1px solid #d9e2ec">
<div style="font-size:13px;color:#52606d;letter-spacing:.04em;text-transform:uppercase">Digi-Cadence report</div>
<h1 style="font-size:22px;margin:8px 0 16px">{escape(title)}</h1>
<p style="font-size:15px;line-height:1.5;margin:0 0 12px">{escape(what)}</p>
<p style="font-size:15px;line-height:1.5;margin:0 0 12px">Attached: <strong>{escape(filename)}</strong>.
Prepared for {escape(to)} with their own access at the time of sending.</p>
<p style="margin:20px 0"><a href="{escape(link, quote=True)}" style="background:#1565c0;color:#ffffff;
padding:10px 18px;border-radius:6px;text-decoration:none;font-weight:600">Open Digi-Cadence</a></p>
</div>
<p style="font-size:12px;color:#52606d;line-height:1.5;margin:16px 4px">You receive this {escape(when)}.
<a href="{escape(unsubscribe_url, quote=True)}" style="color:#1565c0">Unsubscribe</a> with one click,
no sign-in needed.</p></div></body></html>"""
    return Mail(to, title, text, html, attachment, unsubscribe_url)


def notice_mail(to: str, subject: str, body: str) -> Mail:
    """A plain notice (a subscription whose recipient lost access), text and minimal HTML."""
    return Mail(to, subject, body, f"<!doctype html><html><body><p>{escape(body)}</p></body></html>")


def build_message(settings: MailSettings, mail: Mail) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = settings.mail_from, mail.to, mail.subject
    message["Message-ID"] = make_msgid(domain=settings.mail_from.rpartition("@")[2] or "localhost")
    if mail.unsubscribe_url:  # RFC 2369 / 8058: mail clients show their own unsubscribe button
        message["List-Unsubscribe"] = f"<{mail.unsubscribe_url}>"
    message.set_content(mail.text)
    message.add_alternative(mail.html, subtype="html")
    if mail.attachment is not None:
        filename, media_type, content = mail.attachment
        maintype, _, subtype = media_type.partition("/")
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return message


def send_mail(settings: MailSettings, mail: Mail) -> None:
    """Hand the message to the SMTP server; SendFailed when it did not take it."""
    if not settings.smtp_host:
        raise SendFailed(NOT_CONFIGURED, permanent=True)
    message = build_message(settings, mail)
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.timeout_s) as smtp:
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password or "")
            smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        raise SendFailed(f"the mail server refused {mail.to} ({codes[0] if codes else '?'})",
                         permanent=all(c >= 500 for c in codes)) from None
    except smtplib.SMTPResponseException as exc:
        raise SendFailed(f"the mail server answered {exc.smtp_code}: {_text(exc.smtp_error)}",
                         permanent=exc.smtp_code >= 500 and exc.smtp_code != 554) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise SendFailed(f"could not reach the mail server {settings.smtp_host}:{settings.smtp_port} "
                         f"({type(exc).__name__}: {exc})") from None


def _text(raw: bytes | str) -> str:
    return (raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw))[:300]


def post_webhook(settings: MailSettings, url: str, text: str) -> None:
    """POST `{"text": …}` (Slack's incoming-webhook shape) to `url`; SendFailed unless it answers 2xx."""
    body = json.dumps({"text": text}).encode("utf-8")
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "Digi-Cadence"})
    try:
        with urllib.request.urlopen(request, timeout=settings.timeout_s) as response:
            response.read(4096)
    except urllib.error.HTTPError as exc:
        raise SendFailed(f"the webhook answered {exc.code}", permanent=exc.code in (400, 401, 403, 404, 410)) from None
    except (urllib.error.URLError, OSError) as exc:
        raise SendFailed(f"could not reach the webhook ({type(exc).__name__}: {exc})") from None
