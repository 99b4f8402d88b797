UPDATE runs SET state = ?2, summary = ?3, finished_at = ?4 WHERE id = ?1
