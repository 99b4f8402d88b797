-- An agent's capacity. It runs in a BEGIN IMMEDIATE transaction, which holds SQLite's one
-- write lock from its start: no other process gives a call to anyone until it ends
-- (PostgreSQL locks the agent's row instead, FOR UPDATE).
SELECT capacity FROM agents WHERE name = ?1
