-- The server's version: as text, and as a number (`server_version_num`: 160004 for 16.4).
SELECT 'PostgreSQL ' || current_setting('server_version') AS version,
       current_setting('server_version_num')::bigint AS version_num
