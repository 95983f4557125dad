-- Issue 11, item 5, for SQLite: the same refusals as the PostgreSQL variant where SQLite can state
-- them. SQLite has no deferred triggers and no transaction ids, so two rules stay PostgreSQL-only:
-- "postings only into a transaction of this database transaction" and the reward-state half of
-- "owned transactions move only through their owner" (the payout, clawback and credits half is
-- here). The commit-time balance check is PostgreSQL's too (0002); the services check first.
-- SQLite drops a table's triggers when it rebuilds the table: _sql.restore_sqlite_triggers
-- re-creates these after every migrate.

CREATE TRIGGER IF NOT EXISTS ledger_posting_currency BEFORE INSERT ON ledger_posting
WHEN NEW.currency IS NOT (SELECT currency FROM ledger_account WHERE id = NEW.account_id)
BEGIN
    SELECT RAISE(ABORT, 'a posting must be in its account''s currency');
END;

CREATE TRIGGER IF NOT EXISTS ledger_posting_at_most_500 BEFORE INSERT ON ledger_posting
WHEN (SELECT count(*) FROM ledger_posting WHERE transaction_id = NEW.transaction_id) >= 500
BEGIN
    SELECT RAISE(ABORT, 'a transaction has at most 500 postings');
END;

-- Payout, clawback and credits transactions are posted transfers no lifecycle ever moves.
CREATE TRIGGER IF NOT EXISTS ledger_transaction_owner_moves BEFORE INSERT ON ledger_transaction
WHEN NEW.kind IN ('post', 'void', 'reversal') AND EXISTS (
    SELECT 1 FROM ledger_transaction t
     WHERE t.id = COALESCE(NEW.resolves_id, NEW.reverses_id)
       AND (t.reference LIKE 'payout:%' OR t.reference LIKE 'clawback:%'
            OR t.reference LIKE 'credits:%'
            OR EXISTS (SELECT 1 FROM ledger_reward WHERE clawback_transaction_id = t.id)
            OR EXISTS (SELECT 1 FROM ledger_payoutitem WHERE transaction_id = t.id)
            OR EXISTS (SELECT 1 FROM ledger_creditentry WHERE transaction_id = t.id))
)
BEGIN
    SELECT RAISE(ABORT, 'a payout, clawback or credits transaction is never posted, voided or reversed');
END;

CREATE TRIGGER IF NOT EXISTS ledger_idempotencyrecord_no_delete BEFORE DELETE ON ledger_idempotencyrecord
BEGIN
    SELECT RAISE(ABORT, 'DELETE on ledger_idempotencyrecord is not allowed');
END;

CREATE TRIGGER IF NOT EXISTS ledger_idempotencyrecord_update BEFORE UPDATE ON ledger_idempotencyrecord
WHEN NEW.id IS NOT OLD.id
    OR NEW.program_id IS NOT OLD.program_id
    OR NEW.key IS NOT OLD.key
    OR NEW.request_hash IS NOT OLD.request_hash
    OR NEW.created_at IS NOT OLD.created_at
    OR OLD.response_status IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'UPDATE on ledger_idempotencyrecord is not allowed here: only the response of an unanswered request is written');
END;

CREATE TRIGGER IF NOT EXISTS ledger_creditentry_no_delete BEFORE DELETE ON ledger_creditentry
BEGIN
    SELECT RAISE(ABORT, 'DELETE on ledger_creditentry is not allowed');
END;

CREATE TRIGGER IF NOT EXISTS ledger_creditentry_no_update BEFORE UPDATE ON ledger_creditentry
BEGIN
    SELECT RAISE(ABORT, 'UPDATE on ledger_creditentry is not allowed');
END;

CREATE TRIGGER IF NOT EXISTS ledger_payoutcoverage_no_delete BEFORE DELETE ON ledger_payoutcoverage
BEGIN
    SELECT RAISE(ABORT, 'DELETE on ledger_payoutcoverage is not allowed');
END;

CREATE TRIGGER IF NOT EXISTS ledger_payoutcoverage_no_update BEFORE UPDATE ON ledger_payoutcoverage
BEGIN
    SELECT RAISE(ABORT, 'UPDATE on ledger_payoutcoverage is not allowed');
END;

CREATE TRIGGER IF NOT EXISTS ledger_reconciliationrun_no_delete BEFORE DELETE ON ledger_reconciliationrun
BEGIN
    SELECT RAISE(ABORT, 'DELETE on ledger_reconciliationrun is not allowed');
END;

CREATE TRIGGER IF NOT EXISTS ledger_reconciliationrun_no_update BEFORE UPDATE ON ledger_reconciliationrun
BEGIN
    SELECT RAISE(ABORT, 'UPDATE on ledger_reconciliationrun is not allowed');
END;

CREATE TRIGGER IF NOT EXISTS ledger_accountbalance_no_delete BEFORE DELETE ON ledger_accountbalance
BEGIN
    SELECT RAISE(ABORT, 'DELETE on ledger_accountbalance is not allowed');
END;

CREATE TRIGGER IF NOT EXISTS ledger_accountbalance_update BEFORE UPDATE ON ledger_accountbalance
WHEN NEW.id IS NOT OLD.id
    OR NEW.account_id IS NOT OLD.account_id
    OR NEW.shard IS NOT OLD.shard
BEGIN
    SELECT RAISE(ABORT, 'UPDATE on ledger_accountbalance is not allowed here: only the totals of a balance row change');
END;

CREATE TRIGGER IF NOT EXISTS ledger_account_no_delete BEFORE DELETE ON ledger_account
BEGIN
    SELECT RAISE(ABORT, 'DELETE on ledger_account is not allowed');
END;

CREATE TRIGGER IF NOT EXISTS ledger_account_update BEFORE UPDATE ON ledger_account
WHEN NEW.id IS NOT OLD.id
    OR NEW.program_id IS NOT OLD.program_id
    OR NEW.code IS NOT OLD.code
    OR NEW.kind IS NOT OLD.kind
    OR NEW.currency IS NOT OLD.currency
    OR NEW.no_overdraft IS NOT OLD.no_overdraft
    OR NEW.balance_shards IS NOT OLD.balance_shards
    OR NEW.created_at IS NOT OLD.created_at
BEGIN
    SELECT RAISE(ABORT, 'UPDATE on ledger_account is not allowed here: an account never changes');
END;

CREATE TRIGGER IF NOT EXISTS ledger_reward_no_delete BEFORE DELETE ON ledger_reward
BEGIN
    SELECT RAISE(ABORT, 'DELETE on ledger_reward is not allowed');
END;

CREATE TRIGGER IF NOT EXISTS ledger_reward_update BEFORE UPDATE ON ledger_reward
WHEN NEW.id IS NOT OLD.id
    OR NEW.program_id IS NOT OLD.program_id
    OR NEW.beneficiary IS NOT OLD.beneficiary
    OR NEW.amount IS NOT OLD.amount
    OR NEW.currency IS NOT OLD.currency
    OR NEW.reward_type IS NOT OLD.reward_type
    OR NEW.transaction_id IS NOT OLD.transaction_id
    OR NEW.source_key IS NOT OLD.source_key
    OR (OLD.clawback_transaction_id IS NOT NULL AND NEW.clawback_transaction_id IS NOT OLD.clawback_transaction_id)
BEGIN
    SELECT RAISE(ABORT, 'UPDATE on ledger_reward is not allowed here: a reward changes only its status, times and hold');
END;

CREATE TRIGGER IF NOT EXISTS ledger_payoutbatch_no_delete BEFORE DELETE ON ledger_payoutbatch
BEGIN
    SELECT RAISE(ABORT, 'DELETE on ledger_payoutbatch is not allowed');
END;

CREATE TRIGGER IF NOT EXISTS ledger_payoutbatch_update BEFORE UPDATE ON ledger_payoutbatch
WHEN NEW.id IS NOT OLD.id
    OR NEW.program_id IS NOT OLD.program_id
    OR NEW.currency IS NOT OLD.currency
    OR NEW.created_by IS NOT OLD.created_by
    OR NEW.created_at IS NOT OLD.created_at
BEGIN
    SELECT RAISE(ABORT, 'UPDATE on ledger_payoutbatch is not allowed here: a batch changes only along its lifecycle');
END;

CREATE TRIGGER IF NOT EXISTS ledger_payoutitem_no_delete BEFORE DELETE ON ledger_payoutitem
BEGIN
    SELECT RAISE(ABORT, 'DELETE on ledger_payoutitem is not allowed');
END;

CREATE TRIGGER IF NOT EXISTS ledger_payoutitem_update BEFORE UPDATE ON ledger_payoutitem
WHEN NEW.id IS NOT OLD.id
    OR NEW.batch_id IS NOT OLD.batch_id
    OR NEW.beneficiary IS NOT OLD.beneficiary
    OR NEW.amount IS NOT OLD.amount
    OR NEW.created_at IS NOT OLD.created_at
    OR (OLD.transaction_id IS NOT NULL AND NEW.transaction_id IS NOT OLD.transaction_id)
BEGIN
    SELECT RAISE(ABORT, 'UPDATE on ledger_payoutitem is not allowed here: a payout item is only booked, once');
END;

-- Webhook messages: only delivered ones (the retention job, webhook_messages_purge) or those of
-- an endpoint being deleted (webhook_endpoint_delete deactivates it first). SQLite cannot see
-- the job's cutoff; the job applies it.
CREATE TRIGGER IF NOT EXISTS ledger_webhookmessage_no_delete BEFORE DELETE ON ledger_webhookmessage
WHEN OLD.status IS NOT 'delivered'
    AND (SELECT active FROM ledger_webhookendpoint WHERE id = OLD.endpoint_id) IS NOT 0
BEGIN
    SELECT RAISE(ABORT, 'DELETE on ledger_webhookmessage is allowed only to the retention job and with its endpoint');
END;

CREATE TRIGGER IF NOT EXISTS ledger_webhookmessage_update BEFORE UPDATE ON ledger_webhookmessage
WHEN NEW.id IS NOT OLD.id
    OR NEW.program_id IS NOT OLD.program_id
    OR NEW.endpoint_id IS NOT OLD.endpoint_id
    OR NEW.event_id IS NOT OLD.event_id
    OR NEW.event_type IS NOT OLD.event_type
    OR NEW.payload IS NOT OLD.payload
    OR NEW.created_at IS NOT OLD.created_at
BEGIN
    SELECT RAISE(ABORT, 'UPDATE on ledger_webhookmessage is not allowed here: delivery changes only status, attempts and times');
END;

-- Found by the attack review: a payout item goes into a draft batch only (one slipped into an
-- approved batch was paid without approval), and a posting's account belongs to its
-- transaction's program.
CREATE TRIGGER IF NOT EXISTS ledger_payoutitem_into_draft BEFORE INSERT ON ledger_payoutitem
WHEN (SELECT status FROM ledger_payoutbatch WHERE id = NEW.batch_id) IS NOT 'draft'
BEGIN
    SELECT RAISE(ABORT, 'payout batch is not a draft: items are added to drafts only');
END;

CREATE TRIGGER IF NOT EXISTS ledger_posting_same_program BEFORE INSERT ON ledger_posting
WHEN (SELECT program_id FROM ledger_account WHERE id = NEW.account_id)
    IS NOT (SELECT program_id FROM ledger_transaction WHERE id = NEW.transaction_id)
BEGIN
    SELECT RAISE(ABORT, 'a posting must be on an account of its transaction''s program');
END;
