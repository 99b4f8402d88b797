SELECT MAX(occurrence) FROM runs WHERE campaign = $1
