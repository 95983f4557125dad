-- Issue 14: a payout item's status moves only along its lifecycle (pending -> sent -> paid |
-- failed, paid -> failed; failed is final) and its return transfer is set once, with `failed`.
CREATE TRIGGER IF NOT EXISTS ledger_payoutitem_lifecycle
BEFORE UPDATE OF status, return_transaction_id ON ledger_payoutitem
WHEN (NEW.status IS NOT OLD.status AND NOT (
        (OLD.status = 'pending' AND NEW.status = 'sent')
        OR (OLD.status = 'sent' AND NEW.status IN ('paid', 'failed'))
        OR (OLD.status = 'paid' AND NEW.status = 'failed')))
    OR (OLD.return_transaction_id IS NOT NULL
        AND NEW.return_transaction_id IS NOT OLD.return_transaction_id)
    OR ((NEW.status = 'failed') <> (NEW.return_transaction_id IS NOT NULL))
BEGIN
    SELECT RAISE(ABORT, 'payout item: its status moves only along its lifecycle, and a failed item has its return transfer, set once');
END;
