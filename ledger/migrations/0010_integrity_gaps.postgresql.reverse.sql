-- Back to 0009: drop 0010's triggers and functions; restore 0002's per-posting balance check.
DROP TRIGGER IF EXISTS ledger_posting_same_program ON ledger_posting;
DROP FUNCTION IF EXISTS ledger_check_posting_program();
DROP TRIGGER IF EXISTS ledger_payoutitem_into_draft ON ledger_payoutitem;
DROP FUNCTION IF EXISTS ledger_payoutitem_into_draft();
DROP TRIGGER IF EXISTS ledger_webhookmessage_update ON ledger_webhookmessage;
DROP TRIGGER IF EXISTS ledger_webhookmessage_no_truncate ON ledger_webhookmessage;
DROP TRIGGER IF EXISTS ledger_webhookmessage_delete ON ledger_webhookmessage;
DROP FUNCTION IF EXISTS ledger_webhookmessage_delete();
DROP TRIGGER IF EXISTS ledger_payoutitem_update ON ledger_payoutitem;
DROP TRIGGER IF EXISTS ledger_payoutitem_no_truncate ON ledger_payoutitem;
DROP TRIGGER IF EXISTS ledger_payoutitem_no_delete ON ledger_payoutitem;
DROP TRIGGER IF EXISTS ledger_payoutbatch_update ON ledger_payoutbatch;
DROP TRIGGER IF EXISTS ledger_payoutbatch_no_truncate ON ledger_payoutbatch;
DROP TRIGGER IF EXISTS ledger_payoutbatch_no_delete ON ledger_payoutbatch;
DROP TRIGGER IF EXISTS ledger_reward_update ON ledger_reward;
DROP TRIGGER IF EXISTS ledger_reward_no_truncate ON ledger_reward;
DROP TRIGGER IF EXISTS ledger_reward_no_delete ON ledger_reward;
DROP TRIGGER IF EXISTS ledger_account_update ON ledger_account;
DROP TRIGGER IF EXISTS ledger_account_no_truncate ON ledger_account;
DROP TRIGGER IF EXISTS ledger_account_no_delete ON ledger_account;
DROP TRIGGER IF EXISTS ledger_accountbalance_update ON ledger_accountbalance;
DROP TRIGGER IF EXISTS ledger_accountbalance_no_truncate ON ledger_accountbalance;
DROP TRIGGER IF EXISTS ledger_accountbalance_no_delete ON ledger_accountbalance;
DROP TRIGGER IF EXISTS ledger_reconciliationrun_no_truncate ON ledger_reconciliationrun;
DROP TRIGGER IF EXISTS ledger_reconciliationrun_immutable ON ledger_reconciliationrun;
DROP TRIGGER IF EXISTS ledger_payoutcoverage_no_truncate ON ledger_payoutcoverage;
DROP TRIGGER IF EXISTS ledger_payoutcoverage_immutable ON ledger_payoutcoverage;
DROP TRIGGER IF EXISTS ledger_creditentry_no_truncate ON ledger_creditentry;
DROP TRIGGER IF EXISTS ledger_creditentry_immutable ON ledger_creditentry;
DROP TRIGGER IF EXISTS ledger_idempotencyrecord_update ON ledger_idempotencyrecord;
DROP TRIGGER IF EXISTS ledger_idempotencyrecord_no_truncate ON ledger_idempotencyrecord;
DROP TRIGGER IF EXISTS ledger_idempotencyrecord_no_delete ON ledger_idempotencyrecord;
DROP FUNCTION IF EXISTS ledger_refuse_update();
DROP TRIGGER IF EXISTS ledger_transaction_owner_moves ON ledger_transaction;
DROP FUNCTION IF EXISTS ledger_check_owner_moves();
DROP TRIGGER IF EXISTS ledger_posting_new_checked ON ledger_posting;
DROP FUNCTION IF EXISTS ledger_check_new_postings();
DROP FUNCTION IF EXISTS ledger_xid8(xid);

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
