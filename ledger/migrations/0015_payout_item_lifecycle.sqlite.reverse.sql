DROP TRIGGER IF EXISTS ledger_payoutitem_lifecycle;
