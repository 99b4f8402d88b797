SELECT DISTINCT tag FROM contact_tags
