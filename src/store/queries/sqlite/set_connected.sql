UPDATE attempts SET connected = 1, updated_at = ?2 WHERE id = ?1
