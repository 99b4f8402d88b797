SELECT COUNT(*) FROM contacts
