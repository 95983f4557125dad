-- Two-person control on payout batches, as on PostgreSQL: the approver is none of the batch's
-- creator, its submitter and the people who added its items (checked on every new approval).
-- SQLite drops a table's triggers when it rebuilds the table: _sql.restore_sqlite_triggers
-- re-creates these after every migrate.

CREATE TRIGGER IF NOT EXISTS ledger_payoutbatch_four_eyes
BEFORE UPDATE OF approved_by ON ledger_payoutbatch
WHEN NEW.approved_by <> '' AND NEW.approved_by IS NOT OLD.approved_by AND (
    NEW.approved_by = NEW.created_by
    OR NEW.approved_by = NEW.submitted_by
    OR EXISTS (
        SELECT 1 FROM ledger_payoutitem WHERE batch_id = NEW.id AND added_by = NEW.approved_by
    )
)
BEGIN
    SELECT RAISE(ABORT, 'payout batch: its creator, submitter or an item''s author cannot approve it');
END;

CREATE TRIGGER IF NOT EXISTS ledger_payoutitem_four_eyes_insert
BEFORE INSERT ON ledger_payoutitem
WHEN NEW.added_by <> '' AND EXISTS (
    SELECT 1 FROM ledger_payoutbatch WHERE id = NEW.batch_id AND approved_by = NEW.added_by
)
BEGIN
    SELECT RAISE(ABORT, 'payout batch: its approver cannot add items to it');
END;

CREATE TRIGGER IF NOT EXISTS ledger_payoutitem_four_eyes_update
BEFORE UPDATE OF added_by, batch_id ON ledger_payoutitem
WHEN NEW.added_by <> '' AND EXISTS (
    SELECT 1 FROM ledger_payoutbatch WHERE id = NEW.batch_id AND approved_by = NEW.added_by
)
BEGIN
    SELECT RAISE(ABORT, 'payout batch: its approver cannot add items to it');
END;
