"""The job table's later columns: a table an older release made is brought up to date.

The leases (``handed_until``, the claim's token and time, attempts, the last error) and
the command's correlation came after the first job table; a database made before them
keeps its rows, and gets the columns and the correlation index when a process opens
its job table (``projections.jobs.JobTable``). A fresh table has them from its CREATE.
"""

from __future__ import annotations

from projections.storage import Cursor, Database

# ``mailhost audit trace`` finds a command's jobs by their correlation id.
CORRELATION_INDEX = "mh_jobs_correlation"
# Added to tables made before claims or correlations existed (as in the CREATE).
ADDED: tuple[tuple[str, str], ...] = (
    ("handed_until", "DOUBLE PRECISION"),
    ("claim_token", "TEXT"),
    ("claimed_until", "DOUBLE PRECISION"),
    ("attempts", "INTEGER NOT NULL DEFAULT 0"),
    ("last_error", "TEXT"),
    ("correlation_id", "TEXT"),
)


def add_missing_columns(database: Database) -> None:
    """Bring a table made before claims or correlations up to date.

    The correlation index is made here, not in the schema: on an older table the
    schema runs before its column exists. On PostgreSQL a process that finds something
    missing locks the table and looks again, so two starting at once change it once.
    """
    with database.transaction() as cursor:
        missing = _missing(cursor, database.dialect)
        if missing and database.dialect == "postgres":
            cursor.execute("LOCK TABLE mh_jobs IN SHARE ROW EXCLUSIVE MODE")
            missing = _missing(cursor, database.dialect)
        for name, kind in ADDED:
            if name in missing:
                cursor.execute(f"ALTER TABLE mh_jobs ADD COLUMN {name} {kind}")
        if CORRELATION_INDEX in missing and getattr(database, "create_tables", True):
            cursor.execute(
                f"CREATE INDEX IF NOT EXISTS {CORRELATION_INDEX}"
                " ON mh_jobs (correlation_id)"
            )


def _missing(cursor: Cursor, dialect: str) -> set[str]:
    """The columns (and the correlation index) an existing table lacks; none if absent."""
    if dialect == "postgres":
        cursor.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_name = 'mh_jobs'"
        )
        present = {str(r[0]) for r in cursor.fetchall()}
        cursor.execute("SELECT to_regclass(?) IS NOT NULL", (CORRELATION_INDEX,))
    else:
        cursor.execute("PRAGMA table_info(mh_jobs)")
        present = {str(r[1]) for r in cursor.fetchall()}
        cursor.execute(
            "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'index' AND name = ?",
            (CORRELATION_INDEX,),
        )
    row = cursor.fetchone()
    if not present:
        return set()
    if row is not None and row[0]:
        present.add(CORRELATION_INDEX)
    wanted = {name for name, _ in ADDED} | {CORRELATION_INDEX}
    return wanted - present
