SELECT name, skills, capacity FROM agents WHERE name = ?1
