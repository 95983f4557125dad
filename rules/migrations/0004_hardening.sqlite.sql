-- Issue 11, item 5, for SQLite: as the PostgreSQL variant.

CREATE TRIGGER IF NOT EXISTS rules_ruleversion_no_update BEFORE UPDATE ON rules_ruleversion
BEGIN
    SELECT RAISE(ABORT, 'UPDATE on rules_ruleversion is not allowed');
END;

CREATE TRIGGER IF NOT EXISTS rules_ruleversion_no_delete BEFORE DELETE ON rules_ruleversion
BEGIN
    SELECT RAISE(ABORT, 'DELETE on rules_ruleversion is not allowed');
END;

CREATE TRIGGER IF NOT EXISTS rules_rewardlink_no_update BEFORE UPDATE ON rules_rewardlink
BEGIN
    SELECT RAISE(ABORT, 'UPDATE on rules_rewardlink is not allowed');
END;

CREATE TRIGGER IF NOT EXISTS rules_rewardlink_no_delete BEFORE DELETE ON rules_rewardlink
BEGIN
    SELECT RAISE(ABORT, 'DELETE on rules_rewardlink is not allowed');
END;

CREATE TRIGGER IF NOT EXISTS rules_event_no_delete BEFORE DELETE ON rules_event
BEGIN
    SELECT RAISE(ABORT, 'DELETE on rules_event is not allowed');
END;

CREATE TRIGGER IF NOT EXISTS rules_event_update BEFORE UPDATE ON rules_event
WHEN NEW.id IS NOT OLD.id
    OR NEW.program_id IS NOT OLD.program_id
    OR NEW.event_id IS NOT OLD.event_id
    OR NEW.type IS NOT OLD.type
    OR NEW.participant_id IS NOT OLD.participant_id
    OR NEW.occurred_at IS NOT OLD.occurred_at
    OR NEW.attributes IS NOT OLD.attributes
    OR NEW.data IS NOT OLD.data
    OR NEW.body_hash IS NOT OLD.body_hash
BEGIN
    SELECT RAISE(ABORT, 'UPDATE on rules_event is not allowed here: processing changes only an event''s state');
END;
