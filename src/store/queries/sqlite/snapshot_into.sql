-- A consistent copy of the whole database into a new SQLite file at ?1 (a simulation's
-- copy). PostgreSQL has no counterpart: `herald migrate copy` goes the other way.
VACUUM INTO ?1
