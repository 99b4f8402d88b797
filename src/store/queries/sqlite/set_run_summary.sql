UPDATE runs SET summary = ?2 WHERE id = ?1
