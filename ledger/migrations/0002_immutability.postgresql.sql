-- Ledger entries, reward history and the audit log are append-only: nobody, not even raw SQL,
-- may update, delete or truncate them. Corrections are new rows.
CREATE OR REPLACE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% on % is not allowed: rows are append-only (book a correction instead)',
        TG_OP, TG_TABLE_NAME USING ERRCODE = 'integrity_constraint_violation';
END;
$$;

CREATE TRIGGER ledger_transaction_immutable BEFORE UPDATE OR DELETE ON ledger_transaction
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_transaction_no_truncate BEFORE TRUNCATE ON ledger_transaction
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_posting_immutable BEFORE UPDATE OR DELETE ON ledger_posting
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_posting_no_truncate BEFORE TRUNCATE ON ledger_posting
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_rewardhistory_immutable BEFORE UPDATE OR DELETE ON ledger_rewardhistory
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_rewardhistory_no_truncate BEFORE TRUNCATE ON ledger_rewardhistory
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_auditentry_immutable BEFORE UPDATE OR DELETE ON ledger_auditentry
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_auditentry_no_truncate BEFORE TRUNCATE ON ledger_auditentry
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

-- At commit, every transaction that received postings must balance per currency, and every
-- transaction must have at least two postings. Deferred, so the postings of one transaction
-- can be inserted one by one within the database transaction.
CREATE OR REPLACE FUNCTION ledger_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    txn_id uuid;
    bad record;
    n integer;
BEGIN
    IF TG_TABLE_NAME = 'ledger_posting' THEN
        txn_id := NEW.transaction_id;
    ELSE
        txn_id := NEW.id;
    END IF;
    SELECT currency, SUM(CASE WHEN direction = 'debit' THEN amount ELSE -amount END) AS diff
      INTO bad
      FROM ledger_posting WHERE transaction_id = txn_id
     GROUP BY currency
    HAVING SUM(CASE WHEN direction = 'debit' THEN amount ELSE -amount END) <> 0
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'unbalanced transaction %: debits minus credits is % %',
            txn_id, bad.diff, bad.currency USING ERRCODE = 'check_violation';
    END IF;
    IF TG_TABLE_NAME = 'ledger_transaction' THEN
        SELECT count(*) INTO n FROM ledger_posting WHERE transaction_id = txn_id;
        IF n < 2 THEN
            RAISE EXCEPTION 'transaction % has % posting(s); at least two are required', txn_id, n
                USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER ledger_posting_balanced AFTER INSERT ON ledger_posting
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_balanced();
CREATE CONSTRAINT TRIGGER ledger_transaction_balanced AFTER INSERT ON ledger_transaction
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_balanced();
