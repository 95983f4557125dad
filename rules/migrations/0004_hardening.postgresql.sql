-- Issue 11, item 5 (rules tables; the functions come from ledger 0002 and 0010): rule versions
-- and reward links are append-only; events are never deleted, and processing changes only
-- their processing state (status, attempts, times, results, refund, error), never what was
-- received.
CREATE TRIGGER rules_ruleversion_immutable BEFORE UPDATE OR DELETE ON rules_ruleversion
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER rules_ruleversion_no_truncate BEFORE TRUNCATE ON rules_ruleversion
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER rules_rewardlink_immutable BEFORE UPDATE OR DELETE ON rules_rewardlink
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER rules_rewardlink_no_truncate BEFORE TRUNCATE ON rules_rewardlink
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER rules_event_no_delete BEFORE DELETE ON rules_event
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER rules_event_no_truncate BEFORE TRUNCATE ON rules_event
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER rules_event_update BEFORE UPDATE ON rules_event
    FOR EACH ROW WHEN (
        NEW.id IS DISTINCT FROM OLD.id OR NEW.program_id IS DISTINCT FROM OLD.program_id
        OR NEW.event_id IS DISTINCT FROM OLD.event_id OR NEW.type IS DISTINCT FROM OLD.type
        OR NEW.participant_id IS DISTINCT FROM OLD.participant_id
        OR NEW.occurred_at IS DISTINCT FROM OLD.occurred_at
        OR NEW.attributes IS DISTINCT FROM OLD.attributes OR NEW.data IS DISTINCT FROM OLD.data
        OR NEW.body_hash IS DISTINCT FROM OLD.body_hash
    ) EXECUTE FUNCTION ledger_refuse_update('processing changes only an event''s state');
