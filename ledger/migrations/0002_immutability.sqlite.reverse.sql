DROP TRIGGER IF EXISTS ledger_transaction_no_update;
DROP TRIGGER IF EXISTS ledger_transaction_no_delete;
DROP TRIGGER IF EXISTS ledger_posting_no_update;
DROP TRIGGER IF EXISTS ledger_posting_no_delete;
DROP TRIGGER IF EXISTS ledger_rewardhistory_no_update;
DROP TRIGGER IF EXISTS ledger_rewardhistory_no_delete;
DROP TRIGGER IF EXISTS ledger_auditentry_no_update;
DROP TRIGGER IF EXISTS ledger_auditentry_no_delete;
