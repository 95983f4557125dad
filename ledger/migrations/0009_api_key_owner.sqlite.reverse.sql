DROP TRIGGER IF EXISTS ledger_payoutitem_four_eyes_update;
DROP TRIGGER IF EXISTS ledger_payoutitem_four_eyes_insert;
DROP TRIGGER IF EXISTS ledger_payoutbatch_four_eyes;
