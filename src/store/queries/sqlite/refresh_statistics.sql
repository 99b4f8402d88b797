-- After a bulk load (an import, or a run planned): lets SQLite refresh the statistics its planner reads, where useful.
PRAGMA optimize
