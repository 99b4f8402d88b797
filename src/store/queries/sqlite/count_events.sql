-- Events in the ledger.
SELECT COUNT(*) FROM events
