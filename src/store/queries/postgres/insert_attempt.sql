-- New attempts, one row per element of the arrays $1..$13, in one statement and in the
-- arrays' order; an attempt whose idempotency key exists is left alone.
INSERT INTO attempts (run_id, contact_id, step, step_index, channel, attempt_no, not_before, state,
                      idempotency_key, obligation, after_attempt, condition, created_at, updated_at,
                      variant, prompt)
SELECT n.run_id, n.contact_id, n.step, n.step_index, n.channel, n.attempt_no, n.not_before, 'queued',
       n.idempotency_key, n.obligation, n.after_attempt, n.condition, $14::timestamptz, $14::timestamptz, n.variant, n.prompt
FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::integer[], $5::text[], $6::integer[],
            $7::timestamptz[], $8::text[], $9::text[], $10::bigint[], $11::text[], $12::text[],
            $13::text[])
     WITH ORDINALITY AS n (run_id, contact_id, step, step_index, channel, attempt_no, not_before,
                           idempotency_key, obligation, after_attempt, condition, variant, prompt, ord)
ORDER BY n.ord
ON CONFLICT (idempotency_key) DO NOTHING
