UPDATE inbox SET applied_at = ?2 WHERE id = ?1
