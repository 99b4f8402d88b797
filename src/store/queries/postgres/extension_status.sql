-- An extension of the server: whether the server has it at all, and the version installed
-- in this database (NULL when not installed). The daemon's queue needs `hstore`.
SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = $1) AS available,
       (SELECT extversion FROM pg_extension WHERE extname = $1) AS installed
