-- A daemon says it is alive (?1 id, ?2 host, ?3 process id, ?4 now).
INSERT INTO daemons (id, host, pid, started_at, seen_at)
VALUES (?1, ?2, ?3, ?4, ?4)
ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at
