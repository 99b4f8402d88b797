SELECT name, skills::text AS skills, capacity FROM agents WHERE name = $1
