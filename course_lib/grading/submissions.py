"""Finding each student's ``course_lib`` package in the submissions folder, without trusting it.

Every entry of the folder is one student, named by the student id: a folder, or a ``.zip`` of one,
holding ``course_lib/`` at its top level or one folder down. Zips are unpacked by hand (no absolute
names, no ``..``, no links, bounded sizes) and the package is copied file by file, skipping links,
so a submission can never make the grader read or write outside it.
"""

import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from course_lib.grading.names import clean, student_id

PACKAGE = "course_lib"
MAX_TOTAL_BYTES = 50 * 2**20
MAX_FILES = 2000
# Finder and macOS metadata that zips and folders carry along; never a student's work.
IGNORED_NAMES = {"__MACOSX", "__pycache__", ".DS_Store"}


class InvalidSubmission(Exception):
    """The entry cannot be graded; the message is the note the gradebook shows."""


@dataclass
class Submission:
    """A student id and its entry in the folder (None when two entries claim the id)."""

    student: str
    entry: Path


def find_submissions(folder):
    """One Submission per student id, sorted; hidden files (``.name``) are not submissions."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder} is not an existing folder: give the folder of submissions, which holds one entry "
            "per student (a folder or a .zip named by the student id)."
        )
    submissions = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or entry.name in IGNORED_NAMES:
            continue
        name = entry.name[: -len(".zip")] if entry.name.lower().endswith(".zip") else entry.name
        submissions.setdefault(student_id(name), []).append(entry)
    return [Submission(student, entries[0]) if len(entries) == 1 else Submission(student, None)
            for student, entries in sorted(submissions.items())]


def unpack(submission, staging):
    """Return the folder holding the student's ``course_lib`` (unzipping into ``staging`` if needed)."""
    entry = submission.entry
    if entry is None:
        raise InvalidSubmission(
            f"two entries are named {submission.student} (a folder and a .zip?): keep only one."
        )
    if entry.is_symlink():
        raise InvalidSubmission(f"{clean(entry.name, 100)} is a symbolic link: submit a folder or a .zip.")
    if entry.is_file() and entry.name.lower().endswith(".zip"):
        extract_zip(entry, staging)
        root = staging
    elif entry.is_dir():
        root = entry
    else:
        raise InvalidSubmission(
            f"{clean(entry.name, 100)} is neither a folder nor a .zip: submit a .zip of the folder holding course_lib/."
        )
    return package_parent(root)


def package_parent(root):
    """The folder whose ``course_lib/`` is the package: ``root`` itself or its single subfolder."""
    if (root / PACKAGE).is_dir() and not (root / PACKAGE).is_symlink():
        folder = root
    else:
        candidates = [child for child in sorted(root.iterdir())
                      if child.is_dir() and not child.is_symlink() and child.name not in IGNORED_NAMES
                      and (child / PACKAGE).is_dir() and not (child / PACKAGE).is_symlink()]
        if len(candidates) != 1:
            found = "several folders hold one" if candidates else "no course_lib/ folder was found"
            raise InvalidSubmission(
                f"expected course_lib/ at the top level or one folder down, but {found}: "
                "submit the folder that contains course_lib/ (with its __init__.py)."
            )
        folder = candidates[0]
    if not (folder / PACKAGE / "__init__.py").is_file():
        raise InvalidSubmission("course_lib/ has no __init__.py: submit the whole package folder.")
    return folder


def extract_zip(path, destination):
    """Unpack ``path`` into ``destination``, refusing unsafe names, links, oversized or broken content:
    whatever the bytes of the zip, the only exception is InvalidSubmission."""
    label = clean(path.name, 100)
    try:
        archive = zipfile.ZipFile(path)
        members = archive.infolist()
    except Exception as error:  # zipfile fails on damaged bytes in many ways (IndexError, struct.error, ...)
        raise InvalidSubmission(f"{label} is not a readable .zip ({clean(error, 200)}): zip the folder again.")
    destination.mkdir(parents=True, exist_ok=True)
    with archive:
        if len(members) > MAX_FILES:
            raise InvalidSubmission(f"{label} holds {len(members)} files (at most {MAX_FILES}).")
        budget = [MAX_TOTAL_BYTES]
        for member in members:
            name = clean(member.filename, 200)
            target = destination / safe_relative_path(member.filename, label)
            if stat.S_ISLNK(member.external_attr >> 16):
                raise InvalidSubmission(f"{label} contains a link ({name}): zip plain files.")
            try:
                if member.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as source, open(target, "xb") as sink:
                    copy_bounded(source, sink, budget, label)
            except FileExistsError:
                raise InvalidSubmission(f"{label} holds {name} twice, or as a file and a folder: zip the folder "
                                        "again.") from None
            except InvalidSubmission:
                raise
            except Exception as error:  # damaged data (zlib.error, BadZipFile, ...) or a name the disk refuses
                raise InvalidSubmission(f"{label}: cannot unpack {name} ({type(error).__name__}: "
                                        f"{clean(error, 200)}): zip the folder again.") from None


def safe_relative_path(name, archive_name):
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if not parts or name.startswith(("/", "\\")) or ":" in parts[0] or ".." in parts or "\0" in name:
        raise InvalidSubmission(
            f"{archive_name} contains the unsafe path {clean(name, 200)!r} (absolute or with '..'): "
            "zip the folder itself, with relative paths."
        )
    if any(len(os.fsencode(part)) > 255 for part in parts):
        raise InvalidSubmission(f"{archive_name} contains a name longer than 255 bytes: rename it and zip again.")
    return Path(*parts)


def copy_bounded(source, sink, budget, label):
    """Copy a stream while charging its bytes to ``budget`` (a one-item list shared by all files)."""
    while chunk := source.read(2**16):
        budget[0] -= len(chunk)
        if budget[0] < 0:
            raise InvalidSubmission(
                f"{label} is larger than {MAX_TOTAL_BYTES // 2**20} MB unpacked: submit only course_lib/."
            )
        sink.write(chunk)


def copy_package(folder, destination):
    """Copy ``folder/course_lib`` to ``destination/course_lib``: plain files only, links skipped."""
    budget = [MAX_TOTAL_BYTES]
    count = 0
    source_root = folder / PACKAGE
    # os.walk does not descend into linked folders; linked files are skipped below.
    for directory, subfolders, files in os.walk(source_root):
        subfolders[:] = [name for name in subfolders if name not in IGNORED_NAMES]
        target_folder = destination / PACKAGE / Path(directory).relative_to(source_root)
        target_folder.mkdir(parents=True, exist_ok=True)
        for name in files:
            source = Path(directory, name)
            if name in IGNORED_NAMES or source.is_symlink() or not source.is_file():
                continue
            count += 1
            if count > MAX_FILES:
                raise InvalidSubmission(f"course_lib/ holds more than {MAX_FILES} files.")
            try:
                with open(source, "rb") as reader, open(target_folder / name, "wb") as writer:
                    copy_bounded(reader, writer, budget, "course_lib/")
            except OSError as error:
                raise InvalidSubmission(f"course_lib/: cannot copy {clean(source.relative_to(folder), 200)} "
                                        f"({clean(error.strerror or error, 100)}).") from None
