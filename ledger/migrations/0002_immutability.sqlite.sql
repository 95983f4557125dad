-- SQLite has no TRUNCATE and no deferred constraint triggers: refuse updates and deletes.

CREATE TRIGGER IF NOT EXISTS ledger_transaction_no_update BEFORE UPDATE ON ledger_transaction
BEGIN
    SELECT RAISE(ABORT, 'UPDATE on ledger_transaction is not allowed: rows are append-only');
END;

CREATE TRIGGER IF NOT EXISTS ledger_transaction_no_delete BEFORE DELETE ON ledger_transaction
BEGIN
    SELECT RAISE(ABORT, 'DELETE on ledger_transaction is not allowed: rows are append-only');
END;

CREATE TRIGGER IF NOT EXISTS ledger_posting_no_update BEFORE UPDATE ON ledger_posting
BEGIN
    SELECT RAISE(ABORT, 'UPDATE on ledger_posting is not allowed: rows are append-only');
END;

CREATE TRIGGER IF NOT EXISTS ledger_posting_no_delete BEFORE DELETE ON ledger_posting
BEGIN
    SELECT RAISE(ABORT, 'DELETE on ledger_posting is not allowed: rows are append-only');
END;

CREATE TRIGGER IF NOT EXISTS ledger_rewardhistory_no_update BEFORE UPDATE ON ledger_rewardhistory
BEGIN
    SELECT RAISE(ABORT, 'UPDATE on ledger_rewardhistory is not allowed: rows are append-only');
END;

CREATE TRIGGER IF NOT EXISTS ledger_rewardhistory_no_delete BEFORE DELETE ON ledger_rewardhistory
BEGIN
    SELECT RAISE(ABORT, 'DELETE on ledger_rewardhistory is not allowed: rows are append-only');
END;

CREATE TRIGGER IF NOT EXISTS ledger_auditentry_no_update BEFORE UPDATE ON ledger_auditentry
BEGIN
    SELECT RAISE(ABORT, 'UPDATE on ledger_auditentry is not allowed: rows are append-only');
END;

CREATE TRIGGER IF NOT EXISTS ledger_auditentry_no_delete BEFORE DELETE ON ledger_auditentry
BEGIN
    SELECT RAISE(ABORT, 'DELETE on ledger_auditentry is not allowed: rows are append-only');
END;
