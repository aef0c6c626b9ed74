"""One normalization for the e-mail addresses and display names that identify people.

An address or name that differs from another only by an invisible character, a compatibility form
(full-width letters, ligatures) or a letter from another alphabet (Cyrillic "а" for Latin "a")
looks the same on screen, so an attacker could pass for someone else, e.g. the System
Administrator. Every place an address or name enters (user creation, sign-in, demo users, the
sign-in rate-limit key) calls these functions, so equal-looking input is stored and looked up as
one form, and look-alikes are refused with a plain message.

Python's `unicodedata` has no Script property, so a letter's script is the first word of its
Unicode name ("LATIN", "CYRILLIC", "GREEK", "CJK" ...), taken after NFKC has folded compatibility
forms. Scripts may mix only as UTS #39's "highly restrictive" level allows (Latin with Han and
the Japanese kana, with Han and Bopomofo, or with Han and Hangul), so Japanese, Chinese and
Korean names work while Latin mixed with Cyrillic or Greek does not.
"""

from __future__ import annotations

import unicodedata

EMAIL_MAX_LENGTH = 254  # the column's width and RFC 5321's limit on a path
EMAIL_LOCAL_MAX_LENGTH = 64  # RFC 5321
NAME_MAX_LENGTH = 200  # the column's width

# Refused everywhere: control, format (zero-width space, joiners, direction marks, BOM, soft
# hyphen), surrogate, private-use, unassigned, line and paragraph separators.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
# Default-ignorable or blank-looking code points outside those categories (Unicode's
# DerivedCoreProperties Default_Ignorable_Code_Point, plus the Braille blank).
_INVISIBLE_RANGES = (
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x115F, 0x1160),  # Hangul choseong/jungseong fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels
    (0x180B, 0x180F),  # Mongolian free variation selectors
    (0x2800, 0x2800),  # Braille pattern blank
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFFA0, 0xFFA0),  # half-width Hangul filler
    (0xE0000, 0xE0FFF),  # tags and variation selectors supplement
)
# UTS #39 "highly restrictive": the only script mixes allowed within one word.
_ALLOWED_MIXES = (
    frozenset({"LATIN", "CJK", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "CJK", "BOPOMOFO"}),
    frozenset({"LATIN", "CJK", "HANGUL"}),
)

INVISIBLE_EMAIL = "This e-mail address contains an invisible or control character. Type it in again by hand."
MIXED_EMAIL = ("This e-mail address mixes letters from different alphabets (for example Latin and "
               "Cyrillic), so it could pass for another address.")
SPACE_EMAIL = "This e-mail address contains a space."
INVALID_EMAIL = "This is not a valid e-mail address: it needs one @ with a name before it and a domain after it."
LONG_EMAIL = f"This e-mail address is too long (at most {EMAIL_MAX_LENGTH} characters)."
INVISIBLE_NAME = "This name contains an invisible or control character. Type it in again by hand."
MIXED_NAME = ("This name mixes letters from different alphabets within one word (for example Latin and "
              "Cyrillic), so it could pass for another name.")
LONG_NAME = f"This name is too long (at most {NAME_MAX_LENGTH} characters)."


class IdentityRejected(ValueError):
    """An e-mail address or display name refused as invalid or look-alike; the message is for people."""


def _invisible(ch: str) -> bool:
    if unicodedata.category(ch) in _INVISIBLE_CATEGORIES:
        return True
    code = ord(ch)
    return any(low <= code <= high for low, high in _INVISIBLE_RANGES)


def _script(ch: str) -> str | None:
    """The script of a letter, or None for what any script uses (digits, punctuation, marks, modifier letters)."""
    if unicodedata.category(ch) not in ("Lu", "Ll", "Lt", "Lo"):
        return None
    word = unicodedata.name(ch, "").split(" ", 1)[0]
    return word or None


def is_mixed_script(text: str) -> bool:
    """Whether `text` holds letters of more than one script, beyond the mixes UTS #39 allows."""
    scripts = {s for s in map(_script, text) if s is not None}
    return len(scripts) > 1 and not any(scripts <= allowed for allowed in _ALLOWED_MIXES)


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def normalize_email(raw: str | None) -> str:
    """The stored and looked-up form of an address: NFKC, surrounding white space dropped, lower
    case (the whole address: this app has always treated addresses case-insensitively, so people
    can type theirs in any case). Raises `IdentityRejected` for invisible or control characters,
    spaces, a missing or doubled @, and letters of mixed scripts in the local part or in the
    domain. The domain is checked whole, not label by label: "а.example" with a Cyrillic "а"
    passes for a.example; the cost is refusing the rare "пример.com" (one script per domain)."""
    address = _fold(_fold(raw or "").strip().lower())
    if any(_invisible(ch) for ch in address):
        raise IdentityRejected(INVISIBLE_EMAIL)
    if any(ch.isspace() for ch in address):
        raise IdentityRejected(SPACE_EMAIL)
    if len(address) > EMAIL_MAX_LENGTH:
        raise IdentityRejected(LONG_EMAIL)
    local, at, domain = address.rpartition("@")
    labels = domain.split(".")
    if (not at or not local or "@" in local or len(local) > EMAIL_LOCAL_MAX_LENGTH
            or not domain or any(not label for label in labels)):
        raise IdentityRejected(INVALID_EMAIL)
    if is_mixed_script(local) or is_mixed_script(domain):
        raise IdentityRejected(MIXED_EMAIL)
    return address


def shown_as_typed(raw: str | None) -> str:
    """A refused address as typed, for logs, the audit trail and rate-limit keys: lower case, at
    most 254 characters, each invisible or unprintable character written as its code ("\\u200b"),
    so the look-alike shows and the text stores anywhere (a lone surrogate or NUL cannot)."""
    typed = (raw or "").strip().lower()[:EMAIL_MAX_LENGTH]
    return "".join(ch if ch.isprintable() and not _invisible(ch) else f"\\u{ord(ch):04x}" for ch in typed)


def sign_in_key(raw: str | None) -> str:
    """The per-account rate-limit key for a typed address: its normalized form, so look-alike
    spellings of one account share one limit; input that cannot be an address keys as typed."""
    typed = (raw or "")[:4 * EMAIL_MAX_LENGTH]  # a huge body costs nothing to key
    try:
        return normalize_email(typed)
    except IdentityRejected:
        return shown_as_typed(typed)


def normalize_display_name(raw: str | None) -> str:
    """The stored form of a person's display name: NFKC, runs of white space as one space, trimmed.

    Refused: control, format (zero-width, joiners, direction marks) and other invisible
    characters, and a word (a run of letters) whose letters come from more than one script. Words
    in different scripts may stand side by side ("Anna Иванова", "Jean-Пьер"), as real names do;
    one word mixing scripts ("Аdmin" with a Cyrillic А) is what a look-alike needs. The cost:
    Persian and Indic names that use a zero-width (non-)joiner must be typed without it.
    """
    name = _fold(raw or "").strip()
    if any(_invisible(ch) for ch in name):
        raise IdentityRejected(INVISIBLE_NAME)
    name = " ".join(name.split())
    if len(name) > NAME_MAX_LENGTH:
        raise IdentityRejected(LONG_NAME)
    word: list[str] = []
    for ch in name + " ":
        if unicodedata.category(ch)[0] in "LM":
            word.append(ch)
            continue
        if is_mixed_script("".join(word)):
            raise IdentityRejected(MIXED_NAME)
        word = []
    return name
