INSERT INTO attempts (run_id, contact_id, step, step_index, channel, attempt_no, not_before, state,
                      idempotency_key, obligation, after_attempt, condition, created_at, updated_at,
                      variant, prompt)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'queued', ?8, ?9, ?10, ?11, ?12, ?12, ?13, ?14)
ON CONFLICT (idempotency_key) DO NOTHING
