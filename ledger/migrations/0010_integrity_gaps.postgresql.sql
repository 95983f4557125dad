-- Issue 11, item 5: the database closes its remaining gaps. Every rule below holds for raw SQL
-- in committed transactions too; only a superuser who turns triggers off
-- (session_replication_role = replica) can pass them, and reconciliation then reports it.

-- 1. The balance check at commit runs once per transaction, not once per posting row over all
--    of the transaction's rows (0002's posting trigger made a 10,000-posting transaction take
--    32 s while it held its accounts' balance rows). Postings inserted later into a committed
--    transaction are refused outright (2.), so the transaction's own check sees every posting.
--    It also caps a transaction at 500 postings (the service says so first, 400).
DROP TRIGGER IF EXISTS ledger_posting_balanced ON ledger_posting;

CREATE OR REPLACE FUNCTION ledger_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
    n integer;
BEGIN
    SELECT count(*) INTO n FROM ledger_posting WHERE transaction_id = NEW.id;
    IF n < 2 THEN
        RAISE EXCEPTION 'transaction % has % posting(s); at least two are required', NEW.id, n
            USING ERRCODE = 'check_violation';
    END IF;
    IF n > 500 THEN
        RAISE EXCEPTION 'transaction % has % postings; at most 500 are allowed', NEW.id, n
            USING ERRCODE = 'check_violation';
    END IF;
    SELECT currency, SUM(CASE WHEN direction = 'debit' THEN amount ELSE -amount END) AS diff
      INTO bad
      FROM ledger_posting WHERE transaction_id = NEW.id
     GROUP BY currency
    HAVING SUM(CASE WHEN direction = 'debit' THEN amount ELSE -amount END) <> 0
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'unbalanced transaction %: debits minus credits is % %',
            NEW.id, bad.diff, bad.currency USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$;

-- 2. New postings (checked once per statement, over the statement's rows): each is in its
--    account's currency, and goes into a transaction inserted by this same database
--    transaction. "This transaction" is known from the transaction row's xmin: it is ours
--    (or one of our savepoints') exactly when pg_xact_status says 'in progress' for a row we
--    can see. xmin is a 32-bit xid; ledger_xid8 widens it with the epoch nearest ours.
CREATE OR REPLACE FUNCTION ledger_xid8(x xid) RETURNS xid8 LANGUAGE sql VOLATILE AS $$
    SELECT ((((c >> 32) + e) << 32) | x::text::bigint)::text::xid8
      FROM (SELECT pg_current_xact_id()::text::bigint AS c) s, (VALUES (-1), (0), (1)) v (e)
     WHERE (c >> 32) + e >= 0
     ORDER BY abs(((((c >> 32) + e) << 32) | x::text::bigint) - c)
     LIMIT 1
$$;

CREATE OR REPLACE FUNCTION ledger_check_new_postings() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    SELECT n.transaction_id, n.currency, a.code, a.currency AS account_currency INTO bad
      FROM new_postings n JOIN ledger_account a ON a.id = n.account_id
     WHERE n.currency <> a.currency
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'posting of transaction % has currency %, but account % has currency %',
            bad.transaction_id, bad.currency, bad.code, bad.account_currency
            USING ERRCODE = 'check_violation';
    END IF;
    SELECT t.id INTO bad
      FROM (SELECT DISTINCT transaction_id FROM new_postings) n
      JOIN ledger_transaction t ON t.id = n.transaction_id
     WHERE pg_xact_status(ledger_xid8(t.xmin)) IS DISTINCT FROM 'in progress'
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'transaction % was committed earlier: postings cannot be added to it',
            bad.id USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER ledger_posting_new_checked AFTER INSERT ON ledger_posting
    REFERENCING NEW TABLE AS new_postings
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_new_postings();

-- 3. A transaction that belongs to a reward, a payout, a clawback or credits moves only through
--    its owner: at commit, a post / void / reversal of a reward's booking must leave the reward
--    in the matching state (post: no longer pending; void or reversal: reversed), and the
--    transactions of a payout item, a clawback or a credits entry are never posted, voided or
--    reversed (no lifecycle does that). Owners are known from the rows that link them and from
--    the reference the owner gave the transaction (reward, reward:…, payout:…, clawback:…,
--    credits:…).
CREATE OR REPLACE FUNCTION ledger_check_owner_moves() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    target uuid := COALESCE(NEW.resolves_id, NEW.reverses_id);
    booking uuid;
    ref text;
    reward record;
BEGIN
    SELECT COALESCE(t.resolves_id, t.id), t.reference INTO booking, ref
      FROM ledger_transaction t WHERE t.id = target;
    SELECT r.id, r.status INTO reward FROM ledger_reward r WHERE r.transaction_id = booking;
    IF FOUND THEN
        IF (NEW.kind = 'post' AND reward.status <> 'pending')
           OR (NEW.kind IN ('void', 'reversal') AND reward.status = 'reversed') THEN
            RETURN NULL;
        END IF;
        RAISE EXCEPTION '% of transaction % refused: it belongs to reward %, which is %',
            NEW.kind, target, reward.id, reward.status
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF EXISTS (SELECT 1 FROM ledger_reward WHERE clawback_transaction_id IN (target, booking))
       OR EXISTS (SELECT 1 FROM ledger_payoutitem WHERE transaction_id IN (target, booking))
       OR EXISTS (SELECT 1 FROM ledger_creditentry WHERE transaction_id IN (target, booking))
       OR ref = 'reward' OR ref LIKE 'reward:%' OR ref LIKE 'payout:%'
       OR ref LIKE 'clawback:%' OR ref LIKE 'credits:%' THEN
        RAISE EXCEPTION '% of transaction % refused: it belongs to %, which never moves it',
            NEW.kind, target, ref USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER ledger_transaction_owner_moves AFTER INSERT ON ledger_transaction
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (NEW.kind IN ('post', 'void', 'reversal'))
    EXECUTE FUNCTION ledger_check_owner_moves();

-- 4. DELETE and TRUNCATE are refused on the records money depends on; UPDATE only changes the
--    columns a lifecycle moves (the WHEN clause names the columns that must not change).
CREATE OR REPLACE FUNCTION ledger_refuse_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'UPDATE on % is not allowed here: %', TG_TABLE_NAME, TG_ARGV[0]
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$;

-- Idempotency records: deleting one let a replay pay twice. The response is written once.
CREATE TRIGGER ledger_idempotencyrecord_no_delete BEFORE DELETE ON ledger_idempotencyrecord
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_idempotencyrecord_no_truncate BEFORE TRUNCATE ON ledger_idempotencyrecord
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_idempotencyrecord_update BEFORE UPDATE ON ledger_idempotencyrecord
    FOR EACH ROW WHEN (
        OLD.response_status IS NOT NULL
        OR NEW.id IS DISTINCT FROM OLD.id OR NEW.program_id IS DISTINCT FROM OLD.program_id
        OR NEW.key IS DISTINCT FROM OLD.key OR NEW.request_hash IS DISTINCT FROM OLD.request_hash
        OR NEW.created_at IS DISTINCT FROM OLD.created_at
    ) EXECUTE FUNCTION ledger_refuse_update('only the response of an unanswered request is written');

-- Credits entries, payout coverages and reconciliation runs are append-only.
CREATE TRIGGER ledger_creditentry_immutable BEFORE UPDATE OR DELETE ON ledger_creditentry
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_creditentry_no_truncate BEFORE TRUNCATE ON ledger_creditentry
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_payoutcoverage_immutable BEFORE UPDATE OR DELETE ON ledger_payoutcoverage
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_payoutcoverage_no_truncate BEFORE TRUNCATE ON ledger_payoutcoverage
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_reconciliationrun_immutable BEFORE UPDATE OR DELETE
    ON ledger_reconciliationrun FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_reconciliationrun_no_truncate BEFORE TRUNCATE ON ledger_reconciliationrun
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

-- Balance rows: deleting one made the next booking a 500. Only the totals change.
CREATE TRIGGER ledger_accountbalance_no_delete BEFORE DELETE ON ledger_accountbalance
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_accountbalance_no_truncate BEFORE TRUNCATE ON ledger_accountbalance
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_accountbalance_update BEFORE UPDATE ON ledger_accountbalance
    FOR EACH ROW WHEN (
        NEW.id IS DISTINCT FROM OLD.id OR NEW.account_id IS DISTINCT FROM OLD.account_id
        OR NEW.shard IS DISTINCT FROM OLD.shard
    ) EXECUTE FUNCTION ledger_refuse_update('only the totals of a balance row change');

-- Accounts never change (the booking statement caches them) and are never deleted.
CREATE TRIGGER ledger_account_no_delete BEFORE DELETE ON ledger_account
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_account_no_truncate BEFORE TRUNCATE ON ledger_account
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_account_update BEFORE UPDATE ON ledger_account
    FOR EACH ROW WHEN (
        NEW.id IS DISTINCT FROM OLD.id OR NEW.program_id IS DISTINCT FROM OLD.program_id
        OR NEW.code IS DISTINCT FROM OLD.code OR NEW.kind IS DISTINCT FROM OLD.kind
        OR NEW.currency IS DISTINCT FROM OLD.currency
        OR NEW.no_overdraft IS DISTINCT FROM OLD.no_overdraft
        OR NEW.balance_shards IS DISTINCT FROM OLD.balance_shards
        OR NEW.created_at IS DISTINCT FROM OLD.created_at
    ) EXECUTE FUNCTION ledger_refuse_update('an account never changes');

-- Rewards: the lifecycle moves status, its times, the hold and the clawback (once); what was
-- promised to whom, and its booking, never change.
CREATE TRIGGER ledger_reward_no_delete BEFORE DELETE ON ledger_reward
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_reward_no_truncate BEFORE TRUNCATE ON ledger_reward
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_reward_update BEFORE UPDATE ON ledger_reward
    FOR EACH ROW WHEN (
        NEW.id IS DISTINCT FROM OLD.id OR NEW.program_id IS DISTINCT FROM OLD.program_id
        OR NEW.beneficiary IS DISTINCT FROM OLD.beneficiary
        OR NEW.amount IS DISTINCT FROM OLD.amount OR NEW.currency IS DISTINCT FROM OLD.currency
        OR NEW.reward_type IS DISTINCT FROM OLD.reward_type
        OR NEW.transaction_id IS DISTINCT FROM OLD.transaction_id
        OR NEW.source_key IS DISTINCT FROM OLD.source_key
        OR (OLD.clawback_transaction_id IS NOT NULL
            AND NEW.clawback_transaction_id IS DISTINCT FROM OLD.clawback_transaction_id)
    ) EXECUTE FUNCTION ledger_refuse_update('a reward changes only its status, times and hold');

-- Payout batches and items: never deleted; an item is booked once and otherwise never changes.
CREATE TRIGGER ledger_payoutbatch_no_delete BEFORE DELETE ON ledger_payoutbatch
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_payoutbatch_no_truncate BEFORE TRUNCATE ON ledger_payoutbatch
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_payoutbatch_update BEFORE UPDATE ON ledger_payoutbatch
    FOR EACH ROW WHEN (
        NEW.id IS DISTINCT FROM OLD.id OR NEW.program_id IS DISTINCT FROM OLD.program_id
        OR NEW.currency IS DISTINCT FROM OLD.currency
        OR NEW.created_by IS DISTINCT FROM OLD.created_by
        OR NEW.created_at IS DISTINCT FROM OLD.created_at
    ) EXECUTE FUNCTION ledger_refuse_update('a batch changes only along its lifecycle');
CREATE TRIGGER ledger_payoutitem_no_delete BEFORE DELETE ON ledger_payoutitem
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_payoutitem_no_truncate BEFORE TRUNCATE ON ledger_payoutitem
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_payoutitem_update BEFORE UPDATE ON ledger_payoutitem
    FOR EACH ROW WHEN (
        NEW.id IS DISTINCT FROM OLD.id OR NEW.batch_id IS DISTINCT FROM OLD.batch_id
        OR NEW.beneficiary IS DISTINCT FROM OLD.beneficiary
        OR NEW.amount IS DISTINCT FROM OLD.amount
        OR NEW.created_at IS DISTINCT FROM OLD.created_at
        OR (OLD.transaction_id IS NOT NULL
            AND NEW.transaction_id IS DISTINCT FROM OLD.transaction_id)
    ) EXECUTE FUNCTION ledger_refuse_update('a payout item is only booked, once');

-- Webhook messages: delivery moves status, attempts and times; the message itself never
-- changes. They are deleted only by the retention job (delivered and older than
-- WEBHOOK_RETENTION_DAYS: webhook_messages_purge) or with their endpoint
-- (webhook_endpoint_delete); each says so for its own transaction with
-- set_config('ledger.webhook_delete', 'retention:<cutoff>' | 'endpoint:<id>', true).
CREATE OR REPLACE FUNCTION ledger_webhookmessage_delete() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    allowed text := COALESCE(current_setting('ledger.webhook_delete', true), '');
BEGIN
    IF allowed LIKE 'retention:%' AND OLD.status = 'delivered'
       AND OLD.delivered_at < substr(allowed, 11)::timestamptz THEN
        RETURN OLD;
    END IF;
    IF allowed = 'endpoint:' || OLD.endpoint_id THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'DELETE on ledger_webhookmessage is allowed only to the retention job '
        '(delivered messages older than WEBHOOK_RETENTION_DAYS) and with their endpoint'
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$;

CREATE TRIGGER ledger_webhookmessage_delete BEFORE DELETE ON ledger_webhookmessage
    FOR EACH ROW EXECUTE FUNCTION ledger_webhookmessage_delete();
CREATE TRIGGER ledger_webhookmessage_no_truncate BEFORE TRUNCATE ON ledger_webhookmessage
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_webhookmessage_update BEFORE UPDATE ON ledger_webhookmessage
    FOR EACH ROW WHEN (
        NEW.id IS DISTINCT FROM OLD.id OR NEW.program_id IS DISTINCT FROM OLD.program_id
        OR NEW.endpoint_id IS DISTINCT FROM OLD.endpoint_id
        OR NEW.event_id IS DISTINCT FROM OLD.event_id
        OR NEW.event_type IS DISTINCT FROM OLD.event_type
        OR NEW.payload IS DISTINCT FROM OLD.payload
        OR NEW.created_at IS DISTINCT FROM OLD.created_at
    ) EXECUTE FUNCTION ledger_refuse_update('delivery changes only status, attempts and times');

-- 5. Found by the attack review. A payout item goes into a draft batch only: one inserted into
--    an approved batch (with an empty added_by, which no four-eyes rule compares) was paid by
--    the batch's execution though nobody approved it. FOR SHARE waits for a concurrent status
--    change (a submit) and re-reads the batch, so an item cannot slip in beside it.
CREATE OR REPLACE FUNCTION ledger_payoutitem_into_draft() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM ledger_payoutbatch WHERE id = NEW.batch_id AND status = 'draft' FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'payout batch % is not a draft: items are added to drafts only',
            NEW.batch_id USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER ledger_payoutitem_into_draft BEFORE INSERT ON ledger_payoutitem
    FOR EACH ROW EXECUTE FUNCTION ledger_payoutitem_into_draft();

-- 6. Found by the attack review. A posting's account belongs to its transaction's program: a
--    raw transaction of one program could otherwise move money out of another program's
--    accounts (same currency), which no other rule notices.
CREATE OR REPLACE FUNCTION ledger_check_posting_program() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    SELECT n.transaction_id, a.code INTO bad
      FROM new_postings n
      JOIN ledger_account a ON a.id = n.account_id
      JOIN ledger_transaction t ON t.id = n.transaction_id
     WHERE a.program_id <> t.program_id
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'posting of transaction % is on account % of another program',
            bad.transaction_id, bad.code USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER ledger_posting_same_program AFTER INSERT ON ledger_posting
    REFERENCING NEW TABLE AS new_postings
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_posting_program();
