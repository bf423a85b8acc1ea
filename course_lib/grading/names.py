"""Text from submissions made safe to show and store: student ids, notes, feedback file names.

Folder names may hold any bytes but "/" and NUL, and exception messages any characters (lone
surrogates included): everything shown or stored passes through ``clean``, which keeps each character
that is text and writes the rest as an escape (``\\xff``, ``\\udcff``, ``\\n``), so two different names
stay different and nothing can break a line, a CSV row or a terminal.
"""

import hashlib
import os
import re
import unicodedata

SAFE_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}")
FORMULA_STARTS = ("=", "+", "-", "@", "'")


def clean(text, limit=None):
    """``text`` with control, format and separator characters and lone surrogates escaped; cut to
    ``limit`` characters (with "...") when given."""
    text = str(text).encode("utf-8", "backslashreplace").decode("utf-8")
    text = "".join(character if is_text(character) else escape(character) for character in text)
    if limit is not None and len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def is_text(character):
    category = unicodedata.category(character)
    return character == " " or not (category.startswith("C") or category in ("Zl", "Zp"))


def escape(character):
    code = ord(character)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def student_id(entry_name):
    """The student id of a submissions folder entry named ``entry_name`` (as os.listdir gives it): its
    text, with bytes that are not UTF-8 and control characters escaped, and backslashes doubled so that
    no two names give the same id."""
    return clean(os.fsencode(entry_name).replace(b"\\", b"\\\\").decode("utf-8", "backslashreplace"))


def feedback_name(student):
    """A file name (without extension) for a student's feedback: the id itself when it is a plain
    name, else a readable part of it and a digest of all of it (unique, at most 80 bytes)."""
    if SAFE_FILE_NAME.fullmatch(student) and not student.endswith("."):
        return student
    readable = re.sub(r"[^A-Za-z0-9._@+-]+", "_", student)[:60].strip("._") or "student"
    return f"{readable}-{hashlib.sha256(student.encode('utf-8', 'surrogatepass')).hexdigest()[:12]}"


def csv_cell(text):
    """A cell a spreadsheet shows as text: one that would start a formula is led by an apostrophe."""
    text = clean(text)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def from_csv_cell(cell):
    """The text ``csv_cell`` was given."""
    return cell[1:] if cell.startswith("'") else cell
