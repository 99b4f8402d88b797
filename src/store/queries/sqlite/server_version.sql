-- The database engine's version: as text, and as a number (SQLite's: 3046001 for 3.46.1).
SELECT 'SQLite ' || sqlite_version() AS version,
       CAST(substr(sqlite_version(), 1, instr(sqlite_version(), '.') - 1) AS INTEGER) * 1000000
       + CAST(substr(substr(sqlite_version(), instr(sqlite_version(), '.') + 1), 1,
              instr(substr(sqlite_version(), instr(sqlite_version(), '.') + 1), '.') - 1) AS INTEGER) * 1000
       + CAST(substr(substr(sqlite_version(), instr(sqlite_version(), '.') + 1),
              instr(substr(sqlite_version(), instr(sqlite_version(), '.') + 1), '.') + 1) AS INTEGER)
       AS version_num
