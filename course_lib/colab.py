"""Google Colab: the course's code lives on the student's Google Drive, where it outlives the runtime.

A student edition released with ``--repo`` starts every notebook with a setup cell (see
``course_lib/release.py``). On Colab, that cell installs the edition into the runtime, once per
runtime, then calls ``keep_course_on_drive()``, which

- mounts the student's Google Drive (Colab asks them to allow it),
- copies ``course_lib/`` to ``MyDrive/backprop-by-hand/course_lib/`` the first time; later it only adds
  files that are missing there and never replaces one, so the student's edits are never overwritten,
- and makes every ``import course_lib`` load that copy, so the notebooks check the code the student
  edits there.

A Colab runtime, the installed copy with it, is wiped when it disconnects; the Drive is not. Anywhere
but Colab (the student's computer, a JupyterHub, Binder, CI) the call does nothing.
"""

import shutil
import sys
from pathlib import Path

COLAB = "google.colab"
DRIVE = Path("/content/drive")  # where Colab's notebooks conventionally mount the Drive
COURSE_ON_DRIVE = "backprop-by-hand"  # under MyDrive/
PACKAGE = Path(__file__).resolve().parent


def on_colab():
    # Colab's kernel imports google.colab at start-up; nothing else does.
    return COLAB in sys.modules


def keep_course_on_drive():
    """On Colab: mount the Drive, keep course_lib/ there, import it from there; return that course folder.
    Elsewhere: do nothing and return None."""
    if not on_colab():
        return None
    from google.colab import drive

    drive.mount(str(DRIVE))
    course = DRIVE / "MyDrive" / COURSE_ON_DRIVE
    added = copy_missing_files(PACKAGE, course / "course_lib")
    import_course_from(course)
    where = f"MyDrive/{COURSE_ON_DRIVE}/course_lib"
    copied = f" ({len(added)} file{'s' if len(added) > 1 else ''} copied there)" if added else ""
    print(f"Your course_lib/ is on your Google Drive, in {where}{copied}. Edit your exercises there: the "
          f"file panel on the left shows it under drive/{where}.")
    return course


def copy_missing_files(package, target):
    """Copy each file of ``package`` that ``target`` lacks (caches aside); never replace a file. Returns
    the relative paths copied. A copy cut short by a disconnect is completed the next time."""
    added = []
    for file in sorted(package.rglob("*")):
        relative = file.relative_to(package)
        if file.is_dir() or "__pycache__" in relative.parts or (target / relative).exists():
            continue
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(file, target / relative)
        added.append(relative.as_posix())
    return added


def import_course_from(course):
    """Make ``import course_lib`` load ``course``/course_lib from now on.

    The course's folder goes first on sys.path, and the course_lib modules already imported (from the
    runtime's installed copy, this one included) are forgotten, so the next import reads the Drive's.
    """
    if str(course) not in sys.path:
        sys.path.insert(0, str(course))
    for name in [name for name in sys.modules if name == "course_lib" or name.startswith("course_lib.")]:
        module_file = getattr(sys.modules[name], "__file__", None)
        if not (module_file and Path(module_file).resolve().is_relative_to(course.resolve())):
            del sys.modules[name]
