UPDATE attempts SET connected = TRUE, updated_at = $2 WHERE id = $1
