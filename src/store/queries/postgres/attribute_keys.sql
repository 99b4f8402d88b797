SELECT DISTINCT jsonb_object_keys(attributes) FROM contacts
