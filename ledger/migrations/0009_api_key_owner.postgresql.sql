-- Two-person control on payout batches: the approver is none of the batch's creator (also a
-- check constraint since 0005), its submitter, and the people who added its items. Checked on
-- every new approval; approvals recorded before this migration are history and stay.
CREATE OR REPLACE FUNCTION ledger_payoutbatch_four_eyes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.approved_by <> '' AND NEW.approved_by IS DISTINCT FROM OLD.approved_by AND (
        NEW.approved_by = NEW.created_by
        OR NEW.approved_by = NEW.submitted_by
        OR EXISTS (
            SELECT 1 FROM ledger_payoutitem
            WHERE batch_id = NEW.id AND added_by = NEW.approved_by
        )
    ) THEN
        RAISE EXCEPTION 'payout batch %: % created, submitted or filled it and cannot approve it',
            NEW.id, NEW.approved_by USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER ledger_payoutbatch_four_eyes BEFORE UPDATE OF approved_by ON ledger_payoutbatch
    FOR EACH ROW EXECUTE FUNCTION ledger_payoutbatch_four_eyes();

-- An item's author is never the batch's approver, however the item got there.
CREATE OR REPLACE FUNCTION ledger_payoutitem_four_eyes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.added_by <> '' AND EXISTS (
        SELECT 1 FROM ledger_payoutbatch WHERE id = NEW.batch_id AND approved_by = NEW.added_by
    ) THEN
        RAISE EXCEPTION 'payout batch %: % approved it and cannot add items to it',
            NEW.batch_id, NEW.added_by USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER ledger_payoutitem_four_eyes BEFORE INSERT OR UPDATE OF added_by, batch_id
    ON ledger_payoutitem FOR EACH ROW EXECUTE FUNCTION ledger_payoutitem_four_eyes();
