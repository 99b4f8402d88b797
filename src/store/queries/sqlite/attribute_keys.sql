SELECT DISTINCT j.key
FROM contacts, json_each(contacts.attributes) AS j
