DROP TRIGGER IF EXISTS ledger_payoutitem_lifecycle ON ledger_payoutitem;
DROP FUNCTION IF EXISTS ledger_payoutitem_lifecycle();
