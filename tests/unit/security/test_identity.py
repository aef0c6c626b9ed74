"""The one normalization of e-mail addresses and display names (issue 12 item 10)."""

from __future__ import annotations

import pytest

from core.security.identity import (
    IdentityRejected,
    is_mixed_script,
    normalize_display_name,
    normalize_email,
    shown_as_typed,
    sign_in_key,
)

ADMIN = "admin@demo.digicadence.test"


@pytest.mark.parametrize(("typed", "stored"), [
    (ADMIN, ADMIN),
    ("  Admin@Demo.DigiCadence.TEST ", ADMIN),
    ("ａｄｍｉｎ＠ｄｅｍｏ.ｄｉｇｉｃａｄｅｎｃｅ.ｔｅｓｔ", ADMIN),  # full-width forms fold to ASCII
    ("\u00a0admin@demo.digicadence.test\u3000", ADMIN),  # no-break and ideographic spaces around it
    ("ivan@пример.рф", "ivan@пример.рф"),  # one script per part is fine
    ("山田たろう@例え.jp", "山田たろう@例え.jp"),  # Han with kana, as Japanese is written
    ("o'brien+news@x.test", "o'brien+news@x.test"),
])
def test_addresses_normalize_to_one_form(typed, stored):
    assert normalize_email(typed) == stored


@pytest.mark.parametrize(("typed", "reason"), [
    (ADMIN + "\u200b", "invisible"),  # zero-width space, as in the attack review
    ("ad\u200cmin@demo.digicadence.test", "invisible"),  # zero-width non-joiner
    ("\ufeff" + ADMIN, "invisible"),  # byte-order mark
    ("admin\u00ad@demo.digicadence.test", "invisible"),  # soft hyphen
    ("admin@demo.digicadence.test\u202e", "invisible"),  # right-to-left override
    ("admin\u3164@demo.digicadence.test", "invisible"),  # Hangul filler (a letter that shows nothing)
    ("adm\x00in@demo.digicadence.test", "invisible"),
    ("adm\u2028in@demo.digicadence.test", "invisible"),
    ("\u0430dmin@demo.digicadence.test", "different alphabets"),  # Cyrillic а
    ("adm\u03b9n@demo.digicadence.test", "different alphabets"),  # Greek ι
    ("admin@d\u0435mo.digicadence.test", "different alphabets"),  # Cyrillic е in a domain label
    ("admin@\u0430.example", "different alphabets"),  # a Cyrillic label in a Latin domain
    ("ad min@demo.digicadence.test", "space"),
    ("admin", "not a valid"), ("@demo.test", "not a valid"), ("admin@", "not a valid"),
    ("a@b@demo.test", "not a valid"), ("admin@demo..test", "not a valid"), ("", "not a valid"),
    ("a" * 65 + "@x.test", "not a valid"),
    ("a@" + "b" * 254 + ".test", "too long"),
])
def test_look_alike_and_broken_addresses_are_refused(typed, reason):
    with pytest.raises(IdentityRejected, match=reason):
        normalize_email(typed)


@pytest.mark.parametrize(("typed", "stored"), [
    ("  Ada   Lovelace ", "Ada Lovelace"),
    ("Ｓｙｓｔｅｍ Ａｄｍｉｎ", "System Admin"),
    ("Anna Иванова", "Anna Иванова"),  # words in different scripts side by side
    ("Jean-Пьер", "Jean-Пьер"),  # a hyphen ends a word
    ("やまだ太郎", "やまだ太郎"), ("김민준", "김민준"), ("كريم", "كريم"), ("नमस्ते", "नमस्ते"),
    ("Zoë O’Brien", "Zoë O’Brien"), ("", ""),
])
def test_display_names_normalize(typed, stored):
    assert normalize_display_name(typed) == stored


@pytest.mark.parametrize(("typed", "reason"), [
    ("System\u200bAdministrator", "invisible"),
    ("System Administrator\u200e", "invisible"),  # left-to-right mark
    ("Ada\tLovelace", "invisible"),
    ("\u0410dmin", "different alphabets"),  # Cyrillic А in a Latin word
    ("Syst\u0435m Administrator", "different alphabets"),
    ("x" * 201, "too long"),
])
def test_look_alike_display_names_are_refused(typed, reason):
    with pytest.raises(IdentityRejected, match=reason):
        normalize_display_name(typed)


def test_mixed_script_allows_only_the_highly_restrictive_mixes():
    assert not is_mixed_script("admin") and not is_mixed_script("адмін") and not is_mixed_script("a1_b-2")
    assert not is_mixed_script("Tシャツ東京") and not is_mixed_script("한국어漢字")
    assert is_mixed_script("p\u0430ypal") and is_mixed_script("Αlpha")


def test_the_sign_in_key_is_the_normalized_address_or_what_was_typed():
    assert sign_in_key("ＡＤＭＩＮ@Demo.DigiCadence.Test") == ADMIN
    assert sign_in_key(" Not An Address ") == "not an address"
    assert sign_in_key(None) == ""
    assert sign_in_key(ADMIN + "\u200b") == ADMIN + "\\u200b"  # the invisible character shows
    assert sign_in_key("\ud800\x00@x") == "\\ud800\\u0000@x"  # and the key encodes anywhere
    assert len(sign_in_key("x" * 100_000)) == 254


def test_refused_addresses_are_shown_with_their_invisible_characters_written_out():
    assert shown_as_typed(" Admin@X.test\u200b\u202e ") == "admin@x.test\\u200b\\u202e"
