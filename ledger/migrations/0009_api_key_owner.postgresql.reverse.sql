DROP TRIGGER IF EXISTS ledger_payoutitem_four_eyes ON ledger_payoutitem;
DROP FUNCTION IF EXISTS ledger_payoutitem_four_eyes();
DROP TRIGGER IF EXISTS ledger_payoutbatch_four_eyes ON ledger_payoutbatch;
DROP FUNCTION IF EXISTS ledger_payoutbatch_four_eyes();
