-- Issue 14: a payout item's status moves only along its lifecycle, and its return transfer is
-- set once, together with `failed`:
--   pending -> sent (execution) -> paid | failed;  paid -> failed (returned);  failed is final.
-- So raw SQL cannot mark a returned item sent or paid again (it could then be returned twice)
-- nor forget its return (money shown paid that came back).
CREATE OR REPLACE FUNCTION ledger_payoutitem_lifecycle() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status AND NOT (
        (OLD.status = 'pending' AND NEW.status = 'sent')
        OR (OLD.status = 'sent' AND NEW.status IN ('paid', 'failed'))
        OR (OLD.status = 'paid' AND NEW.status = 'failed')
    ) THEN
        RAISE EXCEPTION 'payout item % cannot go from % to %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF (OLD.return_transaction_id IS NOT NULL
            AND NEW.return_transaction_id IS DISTINCT FROM OLD.return_transaction_id)
       OR (NEW.status = 'failed') <> (NEW.return_transaction_id IS NOT NULL) THEN
        RAISE EXCEPTION 'payout item %: a failed item has its return transfer, set once; no other has one',
            OLD.id USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER ledger_payoutitem_lifecycle BEFORE UPDATE OF status, return_transaction_id
    ON ledger_payoutitem FOR EACH ROW EXECUTE FUNCTION ledger_payoutitem_lifecycle();
