-- After a bulk load: lets SQLite refresh the statistics its planner reads, where useful.
PRAGMA optimize
