-- Forgets a stopped daemon (?1), and daemons not seen since ?2.
DELETE FROM daemons WHERE id = ?1 OR seen_at < ?2
