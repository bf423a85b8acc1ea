"""``course-lib export slurm OUT.sbatch``: the job-array script that grades a class in shards on Slurm.

The script (``scripts/grade_shards.sbatch``, documented in its header) runs ``course-lib grade --shard
I/N`` in array task I; ``course-lib merge`` then joins the shards (shards.py).
"""

import shutil
from pathlib import Path

SCRIPT = Path(__file__).with_name("scripts") / "grade_shards.sbatch"


def export(out):
    """Copy the script to ``out`` (executable); returns what to run next."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SCRIPT, out)
    out.chmod(0o755)
    return (f"wrote {out}; on the cluster, with course-lib on PATH:\n"
            f"  sbatch --array=0-$((N-1)) {out} N SUBMISSIONS RESULTS\n"
            "  course-lib merge RESULTS/shard-*.csv --out RESULTS/gradebook.csv")
