"""Paraphrasing server text for the metamorphic tests (issue 22): the same server, saying what it says in other
words. Only the human text of a status line changes; its tag, status, response code, reply code and every protocol
token (capability lists, SASL challenges) stay as they are, so the wire keeps its standard signals.

A paraphrase is one consistent rewording of a server: every answer that was the same (as the differential compares
answers: case, white space and tokens with digits aside) is reworded the same way, and answers that differed stay
different. That is what "the same server in other words" means; a rewording that merged two different answers, or
split one, would be another server.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable

from hypothesis import strategies as st

# The human text of a status line, after what the protocol defines: IMAP "<tag> OK|NO|BAD|BYE|PREAUTH [CODE]",
# POP3 "+OK|-ERR [CODE]", SMTP "<reply> <enhanced code>". Continuations ("+ ", SMTP 334) carry data, not words.
_IMAP = re.compile(r"^(\S+ (?:OK|NO|BAD|BYE|PREAUTH)\b(?: \[[^\]]*\])?) ?(.*)$", re.IGNORECASE | re.DOTALL)
_POP3 = re.compile(r"^([+-](?:OK|ERR)\b(?: \[[^\]]*\])?) ?(.*)$", re.IGNORECASE | re.DOTALL)
_SMTP = re.compile(r"^((?!334)\d{3}[ -](?:[245]\.\d{1,3}\.\d{1,3}\b)?) ?(.*)$", re.DOTALL)
_PATTERNS = {"imap": _IMAP, "pop3": _POP3, "smtp": _SMTP}


def split_line(line: str, protocol: str) -> tuple[str, str] | None:
    """(what the protocol defines, the human text) of a status line; None for any other line."""
    match = _PATTERNS[protocol].match(line)
    if match is None:
        return None
    return match.group(1), match.group(2)


def same_answer_key(text: str) -> str:
    """When two texts count as the same answer (the differential's normalisation)."""
    return re.sub(r"[^\s]*\d[^\s]*", "#", re.sub(r"\s+", " ", text)).strip().lower()


def texts_of(lines: Iterable[str], protocol: str) -> list[str]:
    """The human texts of the status lines among ``lines``, in order, without repeats."""
    found: dict[str, None] = {}
    for line in lines:
        split = split_line(line, protocol)
        if split is not None:
            found.setdefault(split[1], None)
    return list(found)


Rewording = Callable[[str], str]


def rewrite(line: str, protocol: str, reword: Rewording) -> str:
    split = split_line(line, protocol)
    if split is None:
        return line
    prefix, text = split
    new = reword(text)
    if not new:
        return prefix.rstrip(" ")
    return prefix + new if prefix.endswith((" ", "-")) else f"{prefix} {new}"  # SMTP "220 ", "250-" keep theirs


# --- what Hypothesis draws --------------------------------------------------------------------------------------

WORD = st.text(alphabet=string.ascii_letters, min_size=1, max_size=9)
# Other languages, in other scripts and directions; whatever they mean, the wording tables do not know them.
FOREIGN = (
    "Anmeldung fehlgeschlagen",
    "Klartext-Anmeldung ist hier nicht erlaubt",
    "Échec de l'authentification",
    "Connexion en clair interdite, utilisez STARTTLS",
    "Autenticación fallida",
    "Accesso negato",
    "Inloggen mislukt",
    "Błąd logowania",
    "Неверный логин или пароль",
    "Вход без шифрования запрещён",
    "認証に失敗しました",
    "登录失败",
    "Kimlik doğrulama başarısız",
    "Αποτυχία ταυτοποίησης",
    "התחברות נכשלה",
    "فشل تسجيل الدخول",
)


def reworded(text: str) -> st.SearchStrategy[str]:
    """One text said otherwise: unchanged, random words, another language, case swapped, words or characters
    removed, or made longer."""
    words = text.split()
    return st.one_of(
        st.just(text),
        st.lists(WORD, min_size=1, max_size=6).map(" ".join),
        st.sampled_from(FOREIGN),
        st.just(text.swapcase()),
        st.lists(st.booleans(), min_size=len(words), max_size=len(words)).map(
            lambda keep: " ".join(w for w, k in zip(words, keep, strict=True) if k)
        ),
        st.integers(0, len(text)).map(lambda n: text[:n]),
        st.tuples(st.lists(WORD, max_size=6), st.lists(WORD, max_size=6)).map(
            lambda around: " ".join([*around[0], text, *around[1]])
        ),
        st.integers(1, 3).map(lambda n: " ".join([text] * (n + 1))),
    )


def draw_rewording(data: st.DataObject, texts: Iterable[str], label: str) -> Rewording:
    """A consistent rewording of one server's texts: one draw per answer that counts as distinct; answers that were
    the same stay the same, and different ones stay different (a clash gets a distinguishing word, without digits,
    which the comparison would drop)."""
    classes: dict[str, str] = {}  # same_answer_key -> new text
    used: set[str] = set()
    for text in texts:
        key = same_answer_key(text)
        if key in classes:
            continue
        new = data.draw(reworded(text), label=f"{label}: {text!r}")
        marker = 0
        while same_answer_key(new) in used:
            marker += 1
            new = f"{new} qz{string.ascii_lowercase[marker % 26] * (marker // 26 + 1)}"
        classes[key] = new
        used.add(same_answer_key(new))
    return lambda text: classes.get(same_answer_key(text), text)
